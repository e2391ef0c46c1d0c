"""Structured hostile inputs: NIR graphs with cycles, missing edges, unknown node types, mismatched shapes and
NaN/inf parameters; ONNX files with unexpected operators or names; declared sizes beyond the resource
limits."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import nir
import numpy as np
import onnx
import pytest
import torch
from fuzz_targets import TARGETS, _seed_onnx, _vec, nir_graphs, run_case
from hypothesis import HealthCheck, given, settings

from exporters.nir import read_nir
from snndeploy.errors import ExportError, InvalidFileError, ResourceLimitError, SnnDeployError
from snndeploy.limits import resource_limits
from snndeploy.nirsim import NIRSimulator


def _simulate(g: nir.NIRGraph) -> None:
    with resource_limits(max_sim_elements=1 << 20):
        sim = NIRSimulator(g, dt=1e-3)
        sim(torch.rand(4, 2, *sim.input_shape))


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(g=nir_graphs())
def test_random_nir_graphs_run_or_raise_typed(g: nir.NIRGraph) -> None:
    """In memory: success or ``SnnDeployError``; NaN/inf parameters are always refused."""
    has_nonfinite = any(not np.isfinite(np.asarray(a, dtype=np.float64)).all()
                        for node in g.nodes.values() for a in vars(node).values() if isinstance(a, np.ndarray)
                        and a.dtype.kind == "f")
    try:
        _simulate(g)
    except SnnDeployError as exc:
        if has_nonfinite:
            assert "non-finite" in str(exc) or "edge" in str(exc) or "node" in str(exc)
        return
    assert not has_nonfinite, "a graph with NaN/inf parameters was simulated"


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(g=nir_graphs())
def test_random_nir_graphs_through_files(tmp_path: Path, g: nir.NIRGraph) -> None:
    """Written with ``nir.write`` (when NIR accepts it) then read back: success or ``SnnDeployError``."""
    path = tmp_path / "g.nir"
    try:
        nir.write(path, g)
    except Exception:  # NIR itself refuses to serialise some graphs: nothing of ours to test
        return
    try:
        _simulate(read_nir(path, type_check=False))
    except SnnDeployError:
        pass


def test_unknown_node_type_in_file_is_named(tmp_path: Path) -> None:
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2, dtype=np.float32)),
                               nir.Threshold(threshold=_vec(0.5, 2)))
    path = tmp_path / "g.nir"
    nir.write(path, g)
    with h5py.File(path, "r+") as f:
        node = next(k for k in f["node/nodes"] if f[f"node/nodes/{k}/type"][()] in (b"Linear", "Linear"))
        del f[f"node/nodes/{node}/type"]
        f[f"node/nodes/{node}/type"] = "Wormhole"
    with pytest.raises(ExportError, match=rf"node '{node}' has unknown type 'Wormhole'"):
        read_nir(path)


def test_missing_edge_target_and_cycle_without_entry_are_refused() -> None:
    lin = nir.Linear(weight=np.eye(2, dtype=np.float32))
    inp, out = (nir.Input(input_type={"input": np.array([2])}),
                nir.Output(output_type={"output": np.array([2])}))
    g = nir.NIRGraph(nodes={"in": inp, "a": lin, "out": out}, edges=[("in", "a"), ("a", "ghost")],
                     type_check=False)
    with pytest.raises(ExportError, match="ghost"):
        _simulate(g)
    # a cycle a <-> b fed by nothing: 'b' has only a delayed input at t = 0 / no incoming edge from outside
    g = nir.NIRGraph(nodes={"in": inp, "a": lin, "b": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                            "out": out},
                     edges=[("a", "b"), ("b", "a"), ("b", "out")], type_check=False)
    with pytest.raises(ExportError):
        _simulate(g)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_parameters_are_refused_naming_node_and_field(bad: float) -> None:
    w = np.eye(2, dtype=np.float32)
    w[1, 0] = bad
    g = nir.NIRGraph.from_list(nir.Linear(weight=w), nir.Threshold(threshold=_vec(0.5, 2)))
    with pytest.raises(ExportError, match=r"field 'weight' has 1 non-finite value"):
        NIRSimulator(g, dt=1e-3)


def test_a_graph_declaring_1e12_neurons_is_refused_before_allocating(tmp_path: Path) -> None:
    n = 10**12
    g = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([n])}),
               "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("in", "out")], type_check=False,
    )
    with pytest.raises(ResourceLimitError, match="1e\\+12 elements"):
        NIRSimulator(g, dt=1e-3)
    path = tmp_path / "huge.nir"
    nir.write(path, g)
    with pytest.raises(ResourceLimitError):
        read_nir(path, type_check=False)


def test_compressed_hdf5_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    """A 3·10^9-element dataset (12 GB of float32) stored in a few kB is refused from its declared shape,
    unread."""
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2, dtype=np.float32)))
    path = tmp_path / "bomb.nir"
    nir.write(path, g)
    with h5py.File(path, "r+") as f:
        node = next(iter(f["node/nodes"]))
        f.create_dataset(f"node/nodes/{node}/bias", shape=(3 * 10**9,), dtype="f4", chunks=(10**6,),
                         compression="gzip")
    assert path.stat().st_size < 10**6
    with pytest.raises(ResourceLimitError, match="bias"):
        read_nir(path)


def test_nirsim_refuses_T_B_N_beyond_the_limit() -> None:
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(4, dtype=np.float32)),
                               nir.Threshold(threshold=_vec(0.5, 4)))
    sim = NIRSimulator(g, dt=1e-3)
    with resource_limits(max_sim_elements=1000), pytest.raises(ResourceLimitError, match="max_sim_elements"):
        sim(torch.zeros(100, 10, 4))
    sim(torch.zeros(2, 2, 4))  # small runs still work


def _onnx_case(tmp_path: Path, edit) -> Path:
    m = onnx.load_from_string(_seed_onnx())
    edit(m)
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return path


def _rename_input(m: onnx.ModelProto) -> None:
    old = m.graph.input[0].name
    m.graph.input[0].name = "evil"
    for node in m.graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = "evil"


def _unexpected_op(m: onnx.ModelProto) -> None:
    m.graph.node[0].op_type = "If"


def _custom_domain(m: onnx.ModelProto) -> None:
    m.graph.node[0].domain = "com.evil"


def _external_data(m: onnx.ModelProto) -> None:
    t = m.graph.initializer[0]
    t.data_location = onnx.TensorProto.EXTERNAL
    t.external_data.add(key="location", value="/etc/passwd")


def _nan_weight(m: onnx.ModelProto) -> None:
    t = m.graph.initializer[0]
    arr = onnx.numpy_helper.to_array(t).copy()
    arr.flat[0] = np.nan
    t.CopyFrom(onnx.numpy_helper.from_array(arr, t.name))


def _gigantic_initializer(m: onnx.ModelProto) -> None:
    t = m.graph.initializer[0]
    del t.dims[:]
    t.dims.extend([10**6, 10**6])


def _bad_contract(m: onnx.ModelProto) -> None:
    for p in m.metadata_props:
        if p.key == "snndeploy_contract":
            c = json.loads(p.value)
            c["outputs"] = ["y", "mystery"]
            p.value = json.dumps(c)


def _no_contract(m: onnx.ModelProto) -> None:
    del m.metadata_props[:]


@pytest.mark.parametrize("edit, error, match", [
    (_rename_input, InvalidFileError, "does not match|input 'x'"),
    (_unexpected_op, InvalidFileError, "operator 'If'"),
    (_custom_domain, InvalidFileError, "custom domain 'com.evil'"),
    (_external_data, InvalidFileError, "external data"),
    (_nan_weight, InvalidFileError, "non-finite"),
    (_gigantic_initializer, ResourceLimitError, "1e\\+12 elements"),
    (_bad_contract, InvalidFileError, "snndeploy_contract.outputs"),
    (_no_contract, InvalidFileError, "lacks 'snndeploy_contract'"),
])
def test_hostile_onnx_files_are_refused_before_running(tmp_path: Path, edit, error, match) -> None:
    path = _onnx_case(tmp_path, edit)
    with pytest.raises(error, match=match):
        TARGETS["onnx"].consume(path)


def test_checkpoint_with_a_gigantic_stride0_tensor_is_refused(tmp_path: Path) -> None:
    """A 10^12-element view over 4 floats (stride 0) would materialise 4 TB on the first operation."""
    from snndeploy.checkpoint import read_checkpoint

    seed = tmp_path / "seed.pt"
    seed.write_bytes(TARGETS["checkpoint"].seed())
    obj = torch.load(seed, weights_only=True)
    key = next(iter(obj["model_state"]))
    obj["model_state"][key] = torch.zeros(4).as_strided((10**6, 10**6), (0, 0))
    path = tmp_path / "bomb.pt"
    torch.save(obj, path)
    assert path.stat().st_size < 10**6
    with pytest.raises(ResourceLimitError, match=key):
        read_checkpoint(path)


def test_checkpoint_with_nan_weights_or_absurd_width_is_refused(tmp_path: Path) -> None:
    from snndeploy.checkpoint import load

    seed = tmp_path / "seed.pt"
    seed.write_bytes(TARGETS["checkpoint"].seed())
    obj = torch.load(seed, weights_only=True)
    key = next(k for k, v in obj["model_state"].items() if v.is_floating_point())
    obj["model_state"][key] = obj["model_state"][key].clone().fill_(float("nan"))
    torch.save(obj, tmp_path / "nan.pt")
    with pytest.raises(SnnDeployError, match=rf"model_state.{key}' has non-finite"):
        load(tmp_path / "nan.pt")
    obj = torch.load(seed, weights_only=True)
    obj["model_config"]["width"] = 10**5
    torch.save(obj, tmp_path / "wide.pt")
    with pytest.raises(ResourceLimitError, match="model_config"):
        load(tmp_path / "wide.pt")


@pytest.mark.parametrize("labels", [["a", "b", "c", "d"], [[1, 2]] * 4, [10**30] * 4, None])
def test_cifar_batch_with_wrong_typed_labels_is_refused(tmp_path: Path, labels) -> None:
    obj = {b"data": np.zeros((4, 3072), np.uint8), b"labels": labels}
    outcome = run_case(TARGETS["cifar"], pickle.dumps(obj), tmp_path)
    assert outcome == "error:DatasetError"


def test_cifar_pickle_that_imports_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    assert run_case(TARGETS["cifar"], pickle.dumps({b"data": Evil()}), tmp_path) == "error:DatasetError"


@pytest.mark.parametrize("name", ["profile", "target"])
def test_toml_nesting_bomb_and_oversized_file_are_refused(tmp_path: Path, name: str) -> None:
    assert run_case(TARGETS[name], b"a = " + b"[" * 100_000, tmp_path).startswith("error:")
    assert run_case(TARGETS[name], b"# pad\n" * 400_000, tmp_path) == "error:ResourceLimitError"
