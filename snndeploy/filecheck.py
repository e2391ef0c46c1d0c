"""Validation of foreign model files before use: NIR (HDF5 layout and graph) and ONNX.

Everything here runs BEFORE the expensive or unsafe step (reading HDF5 datasets into memory, building an
onnxruntime session, simulating): sizes are checked against ``snndeploy.limits`` first, then structure, dtypes
and finiteness. Errors name the file and the field (node / dataset / initializer).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .errors import ExportError, InvalidFileError, ResourceLimitError
from .limits import check_elements, check_file_size, get_limits, numel

__all__ = ["scan_nir_hdf5", "validate_nir_graph", "validate_onnx", "ONNX_OPS"]

# ONNX operators the exporters emit (collected over every tiny model × neuron, step and unrolled, folded or
# not); anything else (custom domains, control flow with subgraphs, ...) is refused.
ONNX_OPS = frozenset({
    "Add", "AveragePool", "Cast", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Flatten", "Gather",
    "Gemm", "GreaterOrEqual", "Greater", "Identity", "Mul", "Relu", "Reshape", "Shape", "Sigmoid", "Slice",
    "Sub", "Unsqueeze", "Squeeze", "Where", "MatMul", "Neg", "Clip", "Expand", "Transpose",
})
_MAX_DEPTH = 32


def scan_nir_hdf5(path: str | os.PathLike[str]) -> None:
    """Walk a NIR HDF5 file's layout without reading data: depth, dataset sizes and dtypes within limits.

    Raises:
        ExportError: unreadable HDF5 / unexpected object. ResourceLimitError: a dataset (or their sum) is too
            big.
    """
    import h5py

    check_file_size(path, "NIR file")
    total = 0

    def walk(group: Any, where: str, depth: int) -> None:
        nonlocal total
        if depth > _MAX_DEPTH:
            raise ExportError(f"{path}: group {where!r} nests deeper than {_MAX_DEPTH} levels")
        for key in group:
            obj = group.get(key, getlink=False)
            name = f"{where}/{key}"
            if isinstance(obj, h5py.Group):
                walk(obj, name, depth + 1)
            elif isinstance(obj, h5py.Dataset):
                is_str = h5py.check_string_dtype(obj.dtype) is not None
                if obj.dtype.kind not in "biufSU" and not is_str:
                    raise ExportError(f"{path}: dataset {name!r} has unsupported dtype {obj.dtype}")
                check_elements(int(obj.size), f"{path}: dataset {name!r}")
                total += int(obj.size)
            else:
                raise ExportError(f"{path}: {name!r} is neither a group nor a dataset")
        check_elements(total, f"{path}: all datasets", "max_graph_elements")

    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise ExportError(f"{path}: not a NIR file: no 'node' group")
            walk(f["node"], "node", 0)
    except (ExportError, ResourceLimitError):
        raise
    except Exception as exc:  # h5py raises OSError/RuntimeError/KeyError/ValueError on corrupted files
        raise ExportError(f"{path}: not a NIR (HDF5) file (unreadable): "
                          f"{type(exc).__name__}: {exc}") from None


def _shape_of(value: Any, what: str) -> tuple[int, ...]:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise ExportError(f"{what} must be a 1-D integer shape, got {arr.dtype} {arr.shape}")
    dims = tuple(int(v) for v in arr.reshape(-1))
    if any(d < 0 for d in dims):
        raise ExportError(f"{what} has a negative dimension {list(dims)}")
    return dims


def validate_nir_graph(graph: Any, where: str = "") -> int:
    """Check every node of a ``nir.NIRGraph`` (nested graphs too): parameter arrays numeric, finite and within
    ``max_tensor_elements``; declared input/output shapes non-negative; total declared elements within
    ``max_graph_elements``; edges are pairs of node names. Returns the total declared output elements.

    Raises:
        ExportError naming the node and field; ResourceLimitError for sizes beyond the limits.
    """
    import nir

    prefix = f"{where}: " if where else ""
    if not isinstance(graph, nir.NIRGraph):
        raise ExportError(f"{prefix}expected a nir.NIRGraph, got {type(graph).__name__}")
    total = 0
    for name, node in graph.nodes.items():
        label = f"{prefix}node {name!r}"
        if isinstance(node, nir.NIRGraph):
            total += validate_nir_graph(node, f"{prefix}node {name!r}".rstrip(": "))
            continue
        if not isinstance(node, nir.NIRNode):
            raise ExportError(f"{label} is a {type(node).__name__}, not a NIR node")
        for field, value in vars(node).items():
            if field in ("input_type", "output_type"):
                if not isinstance(value, dict):
                    raise ExportError(f"{label}: field {field!r} must be a dict of shapes")
                for port, shape in value.items():
                    n = numel(_shape_of(shape, f"{label}: {field}[{port!r}]"))
                    check_elements(n, f"{label}: {field}[{port!r}]")
                    if field == "output_type":
                        total += n
            elif isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and field != "metadata"):
                arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
                if arr.dtype.kind == "O":
                    raise ExportError(f"{label}: field {field!r} holds objects, not numbers")
                if arr.dtype.kind not in "biuf":
                    continue  # strings (e.g. padding='same') are checked by the node's executor
                check_elements(arr.size, f"{label}: field {field!r}")
                if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                    bad = int((~np.isfinite(arr)).sum())
                    raise ExportError(f"{label}: field {field!r} has {bad} non-finite value(s) (NaN/inf)")
                if field.startswith("tau") and arr.size and not (arr > 0).all():
                    raise ExportError(f"{label}: field {field!r} (a time constant) must be > 0, got "
                                      f"{arr.min()}")
            elif isinstance(value, float) and not np.isfinite(value):
                raise ExportError(f"{label}: field {field!r} is {value}")
    for edge in graph.edges:
        if not (isinstance(edge, (tuple, list)) and len(edge) == 2 and all(isinstance(e, str) for e in edge)):
            raise ExportError(f"{prefix}edge {edge!r} is not a pair of node names")
    check_elements(total, f"{prefix or 'NIR graph: '}all node outputs", "max_graph_elements")
    return total


def validate_onnx(path: str | os.PathLike[str]) -> Any:
    """Load and check an ONNX file snndeploy wrote, without running it: size, protobuf, no external data, only
    the operators of ``ONNX_OPS`` in the default domain, no functions or subgraphs, initializers within
    ``max_tensor_elements`` and finite, the ``snndeploy_contract`` metadata consistent with the graph's inputs
    and outputs, and ``onnx.checker``. Returns ``(model, contract)``.

    Raises:
        InvalidFileError naming the file and field; ResourceLimitError for sizes beyond the limits.
    """
    import onnx

    where = f"ONNX file {str(path)!r}"
    if not os.path.isfile(path):
        raise InvalidFileError(f"{where} does not exist")
    check_file_size(path, "ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, RuntimeWarning-as-error, ...
        raise InvalidFileError(f"{where} is not a valid ONNX protobuf: {type(exc).__name__}: {exc}") from None
    g = model.graph
    if not g.node or not g.input or not g.output:
        raise InvalidFileError(f"{where}: field 'graph' is empty (no nodes, inputs or outputs)")
    if len(model.functions):
        raise InvalidFileError(f"{where}: field 'functions' is not allowed (local functions)")
    for t in _check_nodes(g, where):
        _check_tensor(t, where)
    contract = _check_contract(model, where)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError and protobuf errors
        raise InvalidFileError(f"{where} fails onnx.checker: "
                               f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
    return model, contract


def _check_nodes(g: Any, where: str) -> list[Any]:
    """Operators in the default domain and in ``ONNX_OPS``, no subgraph attributes; returns every tensor the
    graph holds (initializers and tensor attributes)."""
    import onnx

    tensors = list(g.initializer)
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            raise InvalidFileError(f"{where}: node {node.name!r} uses custom domain {node.domain!r}")
        if node.op_type not in ONNX_OPS:
            raise InvalidFileError(f"{where}: node {node.name!r} has operator {node.op_type!r}, which "
                                   "snndeploy's exporters never emit; allowed: "
                                   f"{', '.join(sorted(ONNX_OPS))}")
        for attr in node.attribute:
            if attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                raise InvalidFileError(f"{where}: node {node.name!r} attribute {attr.name!r} holds a "
                                       "subgraph")
            if attr.type == onnx.AttributeProto.TENSOR:
                tensors.append(attr.t)
    return tensors


def _check_tensor(t: Any, where: str) -> None:
    """No external data, at most ``max_tensor_elements``, well-formed, finite."""
    import onnx
    from onnx import numpy_helper

    if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
        raise InvalidFileError(f"{where}: tensor {t.name!r} refers to external data (refused)")
    n, limit = numel(t.dims), get_limits().max_tensor_elements
    if n > limit:
        raise ResourceLimitError(f"{where}: tensor {t.name!r} declares {n:.3g} elements, above the limit "
                                 f"max_tensor_elements={limit:.3g}")
    try:
        arr = numpy_helper.to_array(t)
    except Exception as exc:
        raise InvalidFileError(f"{where}: tensor {t.name!r} is malformed: {exc}") from None
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidFileError(f"{where}: tensor {t.name!r} has non-finite values (NaN/inf)")


def _check_contract(model: Any, where: str) -> dict[str, Any]:
    """The ``snndeploy_contract`` metadata: valid JSON, inputs/outputs matching the graph, state shapes,
    kind."""
    g = model.graph
    meta = {p.key: p.value for p in model.metadata_props}
    if "snndeploy_contract" not in meta:
        raise InvalidFileError(f"{where}: field 'metadata_props' lacks 'snndeploy_contract' (not written by "
                               "snndeploy)")
    try:
        contract = json.loads(meta["snndeploy_contract"])
    except ValueError as exc:
        raise InvalidFileError(f"{where}: field 'snndeploy_contract' is not valid JSON: {exc}") from None
    if not isinstance(contract, dict):
        raise InvalidFileError(f"{where}: field 'snndeploy_contract' must be a JSON object")
    names_in = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
    names_out = [o.name for o in g.output]
    for key, names in (("inputs", names_in), ("outputs", names_out)):
        if contract.get(key) != names:
            raise InvalidFileError(f"{where}: field 'snndeploy_contract.{key}' {contract.get(key)!r} does "
                                   f"not match the graph's {key} {names!r}")
    if not names_in or names_in[0] != "x" or "y" not in names_out:
        raise InvalidFileError(f"{where}: the graph must take input 'x' and produce output 'y'")
    shapes = contract.get("state_shapes", {})
    if not isinstance(shapes, dict) or not all(
        isinstance(s, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in s)
        for s in shapes.values()
    ):
        raise InvalidFileError(f"{where}: field 'snndeploy_contract.state_shapes' must map names to "
                               "int lists")
    for p, s in shapes.items():
        check_elements(numel(s), f"{where}: field 'snndeploy_contract.state_shapes[{p!r}]'")
    kind = contract.get("kind", "step")
    if kind not in ("step", "unrolled"):
        raise InvalidFileError(f"{where}: field 'snndeploy_contract.kind' must be 'step' or 'unrolled', got "
                               f"{kind!r}")
    return contract
