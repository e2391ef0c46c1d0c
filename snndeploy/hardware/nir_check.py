"""Check a ``nir.NIRGraph`` against a hardware target: node types each importer reads, biases, reset, sizes.

Nested graphs are walked; a soft-reset neuron snndeploy exported (``LI → Threshold → Scale``, recognised by
its node metadata) is reported once, on its ``LI`` node, with the hard-reset export as the fix.

Units (``snndeploy.nirsim.unit_problems``): a time constant below the step the target's importer will use
is a warning naming the node (forward Euler's factor 1 − dt/τ turns negative; norse 1.1.0 writes τ·dt). The
step is the ``dt`` argument, else the graph's ``dt`` metadata, else ``MIN_READER_DT`` (1e-4 s, the smallest
default among NIR readers: snntorch, spikingjelly, py-spinnaker2 ``s2_nir``, NIR's ``nir_to_lava``).
"""

from __future__ import annotations

from typing import Any

from ..nirsim.units import unit_problems
from .check import CheckReport, limit_check
from .targets import HardwareTarget, get_target

__all__ = ["check_nir", "MIN_READER_DT"]

#: The smallest dt NIR readers assume by default (seconds): used when neither the caller nor the graph gives
# one.
MIN_READER_DT = 1e-4


def _snndeploy_role(node: Any) -> str:
    """The ``role`` snndeploy's NIR exporter wrote into a node's metadata (``""`` for foreign nodes)."""
    import json

    raw = (getattr(node, "metadata", None) or {}).get("snndeploy")
    if raw is None:
        return ""
    try:
        return str(json.loads(raw.decode() if isinstance(raw, bytes) else str(raw)).get("role", ""))
    except (ValueError, AttributeError):
        return ""


def _check_units(rep: CheckReport, graph: Any, dt: float | None) -> None:
    import numpy as np

    meta_dt = (getattr(graph, "metadata", None) or {}).get("dt")
    step = dt if dt is not None else (float(np.asarray(meta_dt)) if meta_dt is not None else MIN_READER_DT)
    origin = (
        "--dt"
        if dt is not None
        else ("the graph's dt" if meta_dt is not None else "1e-4 s, the smallest dt NIR readers assume")
    )
    for p in unit_problems(graph, step):
        rep.add(
            p.node,
            f"nir.units.{p.kind}",
            "warning",
            f"{p.message} (dt from {origin})",
            p.fix or "fix the file",
            "snndeploy.nirsim.units",
        )


def check_nir(graph: Any, target: str | HardwareTarget, dt: float | None = None) -> CheckReport:
    """Walk a ``nir.NIRGraph`` (nested graphs included) and check node types, reset, biases, neuron counts and
    units (τ against ``dt``, see the module docstring)."""
    import numpy as np

    t = get_target(target)
    rep = CheckReport(
        t.name,
        checked=["NIR node types", "biases", "reset", "neuron counts", "units (tau vs dt)"],
        not_checked=list(t.unsourced),
    )
    _check_units(rep, graph, dt)
    allowed = set(t.nir.get("nodes", []))
    software = set(t.nir.get("software_only_nodes", []))
    src = t.nir.get("source", "")
    neuron_types = {"LIF", "CubaLIF", "IF", "LI", "CubaLI", "I"}
    sizes: list[tuple[str, int]] = []

    def visit(prefix: str, g: Any) -> None:
        for key, node in g.nodes.items():
            name = f"{prefix}{key}"
            kind = type(node).__name__
            if kind == "NIRGraph":
                visit(f"{name}.", node)
                continue
            role = _snndeploy_role(node)
            if role.startswith("soft_lif"):
                if role == "soft_lif.li" and not {"LI", "Threshold", "Scale"} <= allowed:
                    rep.add(
                        name,
                        "nir.soft_reset",
                        "error",
                        f"soft-reset LIF exported as LI → Threshold → Scale; the {t.name} importer cannot "
                        "read it",
                        "export with to_nir(..., soft_reset='hard') (approximate: re-verify) or train with "
                        "hard reset",
                        src,
                    )
                continue
            if kind in software:
                rep.add(
                    name,
                    "nir.node",
                    "error",
                    f"{kind} imports in software on {t.name} but cannot run on chip",
                    f"export an IF/IAF network for {t.name}",
                    src,
                )
            elif kind not in allowed:
                rep.add(
                    name,
                    "nir.node",
                    "error",
                    f"{kind} is not read by the {t.name} NIR importer",
                    f"use only {', '.join(sorted(allowed))}",
                    src,
                )
            bias = getattr(node, "bias", None)
            if bias is not None and np.any(np.asarray(bias) != 0):
                if kind in t.nir.get("zero_bias_nodes", []):
                    rep.add(
                        name,
                        "nir.bias",
                        "error",
                        f"{kind} has a non-zero bias; the {t.name} importer needs 0",
                        "train without bias or fold it into the neuron",
                        src,
                    )
                elif kind in t.nir.get("dropped_bias_nodes", []):
                    rep.add(
                        name,
                        "nir.bias",
                        "warning",
                        f"{kind} bias is dropped by the {t.name} importer",
                        "train without bias",
                        src,
                    )
            if kind in neuron_types:
                size = int(np.size(getattr(node, "tau", getattr(node, "r", np.zeros(1)))))
                sizes.append((name, size))
                v_reset = getattr(node, "v_reset", None)
                if t.nir.get("reset_to_zero") and v_reset is not None and np.any(np.asarray(v_reset) != 0):
                    rep.add(
                        name,
                        "nir.reset",
                        "error",
                        f"{kind} resets to a non-zero v_reset; {t.name} resets to 0",
                        "export with v_reset = 0",
                        t.neuron_source,
                    )

    visit("", graph)
    total = sum(s for _, s in sizes)
    limit_check(rep, t, "max_neurons_total", total, "graph", "neurons", "use a smaller model")
    readout = _readout(graph, neuron_types)
    if (
        readout is not None and readout[2]
    ):  # the graph ends with a weight layer read off-chip: all neurons hidden
        name, n = readout[0], readout[1]
        hidden = total
    elif sizes:
        name, n = sizes[-1]
        hidden = total - n
    else:
        return rep
    limit_check(rep, t, "max_hidden_neurons", hidden, "graph", "hidden neurons", "use fewer hidden neurons")
    limit_check(rep, t, "max_output_neurons", n, name, "output neurons", "use fewer outputs")
    limit_check(rep, t, "max_readout_classes", n, name, "readout classes", "use at most {limit} classes")
    return rep


def _readout(graph: Any, neuron_types: set[str]) -> tuple[str, int, bool] | None:
    """``(node, size, is_weight_layer)`` of the node feeding the graph's ``Output`` (``None`` when there is
    none or its size is unknown): the readout is that node's output, whether it is a neuron layer or a
    weight layer."""
    import numpy as np

    outputs = {k for k, n in graph.nodes.items() if type(n).__name__ == "Output"}
    src = next((a for a, b in graph.edges if b in outputs), None)
    if src is None:
        return None
    node = graph.nodes[src]
    out_type = getattr(node, "output_type", None) or {}
    shape = next(iter(out_type.values()), None) if isinstance(out_type, dict) else None
    if shape is None or np.size(shape) == 0:
        weight = getattr(node, "weight", None)
        if weight is None:
            return None
        shape = np.shape(weight)[:1]
    return src, int(np.prod(np.asarray(shape))), type(node).__name__ not in neuron_types
