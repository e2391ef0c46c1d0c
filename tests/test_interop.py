"""The interop matrix's CI subset against the installed peers: each peer's export profile, imported with the
peer's own code, spikes exactly like the folded model wherever the peer's semantics can represent it (every
hooked layer and the output); every other cell is named; peer-written files reproduce the writer's own
output after the declared corrections; the measured findings ``verify`` prints agree with a re-measurement."""

from __future__ import annotations

import logging
import warnings

import nir
import numpy as np
import pytest
import torch

from exporters.fold import fold
from exporters.nir import contract_of
from exporters.nir_profiles import PROFILES, export_for, fold_r_into_weights, get_profile
from exporters.nir_profiles.rewrites import batch_safe_flatten
from exporters.zoo import input_shape_of, tiny_model
from snndeploy.errors import ExportError
from snndeploy.verify.interop import export_cell, write_cell
from snndeploy.verify.peers import FINDINGS_PATH, KNOWN_DIFFERENCES, PEERS, load_findings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def _need(peer: str) -> None:
    pytest.importorskip(PEERS[peer].package)


# (peer, model, neuron): cells whose semantics the peer represents; 1,000 inputs for MLPs, fewer for conv nets
# (CI time; benchmarks/interop_matrix.py runs 1,000 everywhere).
REPRESENTABLE = [
    ("norse", "mlp", "lif_hard", 1000),
    ("norse", "conv", "lif_hard", 200),
    ("norse", "mlp", "klif", 300),
    ("spikingjelly", "mlp", "lif_hard", 1000),
    ("spikingjelly", "conv", "lif_hard", 200),
    ("spikingjelly", "residual", "lif_hard", 100),
    ("snntorch", "mlp", "lif_hard", 1000),
    ("snntorch", "conv", "lif_hard", 200),
    ("snntorch", "residual", "lif_hard", 100),
]


@pytest.mark.parametrize("peer,model,neuron,samples", REPRESENTABLE)
def test_profile_export_spikes_identically_in_the_peer(peer, model, neuron, samples):
    _need(peer)
    cell = export_cell(peer, model, neuron, samples=samples, T=8)
    assert cell.representable, cell.reason
    assert cell.status == "identical", (cell.status, cell.reason, cell.layers)
    assert (
        cell.agreement == 1.0 and cell.output_identical and cell.layers and set(cell.layers.values()) == {1.0}
    )


@pytest.mark.parametrize("peer", ["sinabs", "rockpool"])
def test_dialect_profiles_are_exact_as_the_peers_semantics(peer):
    """sinabs/rockpool cannot represent a single-spike neuron; their files reproduce the profile's emulation
    of the peer's own multi-spike neuron exactly, and the cell names why it differs from snndeploy."""
    _need(peer)
    cell = export_cell(peer, "mlp", "lif_soft", samples=300, T=8)
    assert cell.vs_emulation == 1.0
    assert cell.status in ("identical", "not representable")
    if cell.status != "identical":
        assert "spikes differently" in cell.reason


@pytest.mark.parametrize(
    "peer,model,neuron,words",
    [
        ("norse", "mlp", "lif_soft", "soft reset"),
        ("spikingjelly", "mlp", "lif_soft", "soft reset"),
        ("snntorch", "mlp", "clif", "soft reset"),
        ("norse", "residual", "lif_hard", "pre-order"),
        ("sinabs", "conv", "lif_soft", "any(node.v_leak)"),
        ("rockpool", "conv", "lif_soft", "Conv2d"),
    ],
)
def test_cells_that_cannot_be_represented_are_named(peer, model, neuron, words):
    _need(peer)
    cell = export_cell(peer, model, neuron, samples=32, T=6)
    assert cell.status in ("not representable", "fails"), cell.status
    assert words in cell.reason, cell.reason


@pytest.mark.parametrize("peer", ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool"])
def test_peer_written_files_reproduce_the_writers_output_after_corrections(peer):
    _need(peer)
    cell = write_cell(peer, samples=200, T=16)
    assert cell.agreement is not None and cell.agreement >= 0.999, cell


def test_norse_written_file_without_its_correction_diverges():
    _need("norse")
    cell = write_cell("norse", samples=64, T=16, corrected=False)
    assert cell.agreement < 0.9  # τ·dt: the state is multiplied by 1 − dt/τ = −99 each step


def test_profiles_record_what_they_approximate_with_the_measured_cost():
    folded, report = fold(tiny_model("mlp", "lif", batch_norm=False, backend="torch"))
    x = torch.rand(6, 64, *input_shape_of("mlp")) * 2
    exp = export_for(folded, input_shape_of("mlp"), "norse", calibration=x, report=report)
    c = contract_of(exp.graph)
    assert not c["exact"] and c["profile"]["name"] == "norse" and not exp.representable
    assert all(
        "soft reset exported as a hard reset" in layer["profile_approximation"] for layer in c["layers"]
    )
    measured = c["profile"]["measured"]
    assert 0.0 < measured["spike_agreement"] < 1.0 and measured["samples"] == 64
    assert all(type(n).__name__ != "LI" for n in exp.graph.nodes.values())
    hard, _ = fold(tiny_model("mlp", "lif", batch_norm=False, backend="torch", v_reset=0.0))
    ok = export_for(hard, input_shape_of("mlp"), "norse", calibration=x)
    assert ok.representable and ok.section["measured"]["spike_agreement"] == 1.0


def test_snntorch_profile_uses_its_hard_coded_dt_and_spikingjelly_its_threshold():
    folded, _ = fold(tiny_model("mlp", "lif", batch_norm=False, backend="torch", v_reset=0.0))
    g = export_for(folded, input_shape_of("mlp"), "snntorch", dt=1e-3).graph
    assert contract_of(g)["dt"] == 1e-4 and float(np.asarray(g.metadata["dt"])) == 1e-4
    lif = next(n for n in g.nodes.values() if isinstance(n, nir.LIF))
    np.testing.assert_allclose(np.asarray(lif.r) * 1e-4 / np.asarray(lif.tau), 1.0, rtol=1e-6)  # w = 1
    sj = export_for(folded, input_shape_of("mlp"), "spikingjelly").graph
    theta = folded[1].spec.v_threshold
    assert all(
        float(n.v_threshold.flat[0]) == np.float32(theta) for n in sj.nodes.values() if isinstance(n, nir.LIF)
    )


def test_batch_safe_flatten_and_fold_r_keep_the_function():
    nodes = {"f": nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0, end_dim=-1)}
    batch_safe_flatten(nodes, [], {})
    f = nodes["f"]
    assert (f.start_dim, f.end_dim) == (-3, -1) and list(f.output_type["output"]) == [16]
    x = torch.rand(5, 4, 2, 2)
    assert torch.equal(torch.nn.Flatten(f.start_dim, f.end_dim)(x), x.flatten(1))
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    g = nir.NIRGraph.from_list(
        nir.Affine(weight=w, bias=np.ones(2, np.float32)),
        nir.LIF(
            tau=np.full(2, 2e-3),
            r=np.full(2, 2.0),
            v_leak=np.zeros(2),
            v_threshold=np.ones(2),
            v_reset=np.zeros(2),
        ),
    )
    out = fold_r_into_weights(g)
    aff, lif = (n for n in out.nodes.values() if isinstance(n, (nir.Affine, nir.LIF)))
    np.testing.assert_array_equal(aff.weight, w * 2)
    np.testing.assert_array_equal(aff.bias, np.full(2, 2.0, np.float32))
    np.testing.assert_array_equal(lif.r, np.ones(2))


def test_unknown_profile_is_a_typed_error_listing_the_known_ones():
    with pytest.raises(ExportError, match="norse"):
        get_profile("nosuchpeer")
    assert {"norse", "spikingjelly", "snntorch", "sinabs", "rockpool", "spyx"} <= set(PROFILES.keys())


def test_known_differences_are_the_measured_findings():
    findings = load_findings()
    if not findings:
        pytest.skip(f"{FINDINGS_PATH} not generated (run benchmarks/interop_matrix.py)")
    assert findings["generated_by"] == "benchmarks/interop_matrix.py"
    for peer, lines in findings["peers"].items():
        assert KNOWN_DIFFERENCES[peer] and all(
            line in known for line, known in zip(lines, KNOWN_DIFFERENCES[peer], strict=True)
        )
    # re-measure the recorded MLP export cells of installed peers whose versions match the findings
    for cell in findings["cells"]:
        if (
            cell["direction"] != "export"
            or cell["model"] != "mlp"
            or cell["neuron"] not in ("lif_hard", "lif_soft")
        ):
            continue
        peer = cell["peer"]
        adapter = PEERS.find(peer)
        if adapter is None or cell["status"] == "not run":
            continue
        pytest.importorskip(adapter.package)
        from importlib.metadata import version

        if version(peer) not in findings["versions"].get(peer, ""):
            continue
        again = export_cell(peer, "mlp", cell["neuron"], samples=cell["samples"], T=cell["T"])
        assert (again.status, again.agreement) == (cell["status"], cell["agreement"]), (peer, cell["neuron"])


def test_peer_profiles_refuse_chip_neurons_with_the_way_out():
    from exporters.fold.api import fold
    from exporters.nir_profiles import export_for
    from snndeploy.errors import ExportError
    from snndeploy.models.layers import TimeDistributed
    from snndeploy.neurons import IAF

    folded, _ = fold(torch.nn.Sequential(TimeDistributed(torch.nn.Linear(4, 5, bias=False)), IAF()))
    with pytest.raises(ExportError, match="layer 1: IAF is a chip-faithful neuron.*to_nir"):
        export_for(folded, (4,), "norse")
