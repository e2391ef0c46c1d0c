"""Driver for the ``sinabs`` vendor venv: run integer Speck networks through sinabs' own ``DynapcnnNetwork``.

Run as ``python sinabs_run.py IN.npz OUT.npz`` by ``snndeploy.hardware.vendor.run_driver`` (imports only
sinabs, nir, torch and numpy; never snndeploy; the real samna is kept out by ``sinabs_guard``).
``__meta__["mode"]``:

- ``"run"``: ``meta["cases"]`` is a list of networks, each ``{"input_shape": [C, H, W], "batch": B, "T": T,
  "layers": [{"kind": "conv"|"linear", "stride", "padding", "pool", "bias": bool}, ...], "discretize": bool,
  "place": bool}``; arrays ``c{i}_x`` (``[T, B, C, H, W]`` event counts), ``c{i}_l{j}_w``, ``c{i}_l{j}_b``
  (float32 parameters) and ``c{i}_l{j}_th`` (float32 ``[threshold, min_v_mem]``). For each case the driver
  builds ``nn.Sequential(Conv2d | Flatten+Linear, IAFSqueeze(spike_threshold, min_v_mem), [SumPool2d], ...)``,
  hands it to ``DynapcnnNetwork(snn, input_shape, batch_size, discretize)`` (sinabs
  ``backend/dynapcnn/dynapcnn_network.py``; with ``discretize=True`` each ``DynapcnnLayer`` runs
  ``discretize_conv_spike_``), zeroes every ``v_mem`` and runs its forward pass (``DynapcnnNetworkModule``:
  per layer conv → IAFSqueeze → sum pooling). It writes back, per case and layer: ``c{i}_l{j}_s`` the IAF's
  output spikes ``[T, B, *]`` (a forward hook on ``spk``), ``c{i}_l{j}_v`` the recorded ``v_mem`` after every
  step (``record_states``), ``c{i}_l{j}_qw``/``_qb``/``_qth`` the parameters the layer ended with (after
  sinabs' discretisation); and in the meta, per case, the core placement of
  ``ChipFactory("speck2fmodule").get_config_builder().map_layers_to_cores`` (or its error).
- ``"artifact"``: ``meta["nir"]`` (a NIR file in the sinabs dialect) and ``meta["batch"]``; array ``x``. Loads
  it with ``nir.read(type_check=False)`` + ``sinabs.from_nir``, builds ``DynapcnnNetwork(discretize=True)``,
  places it and runs ``x`` as above (outputs ``a_l{j}_s``, ``a_l{j}_v``, ``a_l{j}_q*``; the imported module
  types in the meta).

- ``"probe"``: ``meta["files"]``, each ``{"nir", "input_shape", "type_check"}``: reads each file and reports
  (meta only) whether ``nir.read``, ``sinabs.from_nir`` and ``DynapcnnNetwork`` accept it, the imported module
  types, the number of DYNAP-CNN layers and the placement: how the vendor NIR dialect is measured.

The float32 forward is exact on integer-valued tensors while every partial sum stays below 2**24 (see
``snndeploy/hardware/chips/speck.py``).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import sys

import sinabs_guard

sinabs_guard.install()

import nir  # noqa: E402
import numpy as np  # noqa: E402
import sinabs  # noqa: E402
import sinabs.layers as sl  # noqa: E402
import torch  # noqa: E402
from sinabs.backend.dynapcnn import DynapcnnNetwork  # noqa: E402
from sinabs.backend.dynapcnn.chip_factory import ChipFactory  # noqa: E402
from torch import nn  # noqa: E402

DEVICE = "speck2fmodule"


def _build(case: dict, arrays: dict, prefix: str) -> nn.Sequential:
    c, h, w = case["input_shape"]
    shape = (c, h, w)
    mods: list[nn.Module] = []
    for j, spec in enumerate(case["layers"]):
        weight = torch.from_numpy(arrays[f"{prefix}_l{j}_w"].astype(np.float32))
        bias = arrays.get(f"{prefix}_l{j}_b")
        thr, min_v = (float(v) for v in arrays[f"{prefix}_l{j}_th"])
        conv_later = any(lyr["kind"] == "conv" for lyr in case["layers"][j + 1:])
        if spec["kind"] == "linear" and conv_later:
            # A torch Linear outputs [N, out], which a later Conv2d cannot take: write it as the conv sinabs
            # makes of it anyway (dynapcnn_layer.py convert_linear_to_conv: kernel = the whole input).
            conv = nn.Conv2d(shape[0], weight.shape[0], (shape[1], shape[2]), bias=bias is not None)
            conv.weight.data = weight.reshape(weight.shape[0], *shape)
            if bias is not None:
                conv.bias.data = torch.from_numpy(bias.astype(np.float32))
            mods.append(conv)
            shape = (weight.shape[0], 1, 1)
        elif spec["kind"] == "linear":
            lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
            lin.weight.data = weight
            if bias is not None:
                lin.bias.data = torch.from_numpy(bias.astype(np.float32))
            # One Flatten before a run of Linear layers: a second one (a no-op on [N, F]) makes sinabs' graph
            # extraction report a cycle (measured, sinabs 3.1.3 + nirtorch 2.6).
            mods += [lin] if j and case["layers"][j - 1]["kind"] == "linear" else [nn.Flatten(), lin]
            shape = (weight.shape[0], 1, 1)
        else:
            k, s, p = weight.shape[-1], spec["stride"], spec["padding"]
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], k, stride=s, padding=p, bias=bias is not None)
            conv.weight.data = weight
            if bias is not None:
                conv.bias.data = torch.from_numpy(bias.astype(np.float32))
            mods.append(conv)
            shape = (weight.shape[0], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        mods.append(sl.IAFSqueeze(batch_size=case["batch"], spike_threshold=torch.tensor(thr),
                                  min_v_mem=min_v))
        if spec["pool"] > 1:
            mods.append(sl.SumPool2d(spec["pool"]))
            shape = (shape[0], shape[1] // spec["pool"], shape[2] // spec["pool"])
    return nn.Sequential(*mods)


def _place(net: DynapcnnNetwork) -> dict:
    try:
        cores = ChipFactory(DEVICE).get_config_builder().map_layers_to_cores(net.dynapcnn_layers)
    except Exception as exc:  # sinabs raises ValueError("No valid mapping found ...") for oversized networks
        return {"fits": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"fits": True, "cores": {str(k): int(v) for k, v in cores.items()}}


def _run(net: DynapcnnNetwork, x: np.ndarray, out: dict, prefix: str) -> None:
    """Forward ``x`` [T, B, C, H, W] through ``net`` from zero state; write spikes, v_mem and parameters."""
    T, B = x.shape[:2]
    xt = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1)).astype(np.float32))
    xt = xt.reshape(B * T, *x.shape[2:])
    layers = [net.dynapcnn_layers[i] for i in sorted(net.dynapcnn_layers)]
    recorded: list[torch.Tensor] = []
    hooks = [lyr.spk.register_forward_hook(lambda m, a, y: recorded.append(y.detach().clone()))
             for lyr in layers]
    for lyr in layers:
        lyr.spk.record_states = True
        # Zero state of the right batch (a stale or mis-sized v_mem is resampled at random by sinabs).
        lyr.spk.init_state_with_shape((B, *lyr.get_neuron_shape()))
    try:
        with torch.no_grad():
            net(xt)
    finally:
        for hk in hooks:
            hk.remove()
    for j, (lyr, s) in enumerate(zip(layers, recorded, strict=True)):
        s = s.reshape(B, T, *s.shape[1:]).transpose(0, 1)
        v = lyr.spk.recordings["v_mem"].transpose(0, 1)  # [B, T, ...] -> [T, B, ...]
        out[f"{prefix}_l{j}_s"] = s.numpy().astype(np.float64)
        out[f"{prefix}_l{j}_v"] = v.numpy().astype(np.float64)
        out[f"{prefix}_l{j}_qw"] = lyr.conv.weight.detach().numpy().astype(np.float64)
        bias = lyr.conv.bias
        out[f"{prefix}_l{j}_qb"] = (bias.detach().numpy() if bias is not None
                                    else np.zeros(lyr.conv.out_channels)).astype(np.float64)
        th = lyr.spk.spike_threshold.detach().reshape(-1)[0]
        mv = torch.as_tensor(lyr.spk.min_v_mem).detach().reshape(-1)[0]
        out[f"{prefix}_l{j}_qth"] = np.array([float(th), float(mv)])


def _mode_run(arrays: dict, meta: dict) -> tuple[dict, dict]:
    out: dict = {}
    results = []
    for i, case in enumerate(meta["cases"]):
        snn = _build(case, arrays, f"c{i}")
        net = DynapcnnNetwork(snn, input_shape=tuple(case["input_shape"]), batch_size=case["batch"],
                              discretize=bool(case.get("discretize", True)))
        info = _place(net) if case.get("place") else {}
        info["pools"] = [[int(p) for p in np.ravel(lyr.pool)]
                         for _, lyr in sorted(net.dynapcnn_layers.items())]
        _run(net, arrays[f"c{i}_x"], out, f"c{i}")
        results.append(info)
    return out, {"cases": results}


def _mode_artifact(arrays: dict, meta: dict) -> tuple[dict, dict]:
    graph = nir.read(meta["nir"], type_check=False)
    snn = sinabs.from_nir(graph, batch_size=int(meta["batch"]))
    x = arrays["x"]
    net = DynapcnnNetwork(snn, input_shape=tuple(int(v) for v in x.shape[2:]), batch_size=int(meta["batch"]),
                          discretize=True)
    out: dict = {}
    _run(net, x, out, "a")
    imported = [type(m).__name__ for m in snn.modules() if m is not snn]
    return out, {"place": _place(net), "modules": imported}


def _probe_one(path: str, input_shape: list, type_check: bool) -> dict:
    report: dict = {}
    try:
        graph = nir.read(path, type_check=type_check)
        report["read"] = "ok"
    except Exception as exc:
        report["read"] = f"{type(exc).__name__}: {exc}"
        return report
    try:
        snn = sinabs.from_nir(graph, batch_size=1)
        report["modules"] = [type(m).__name__ for m in snn.modules() if m is not snn]
        report["from_nir"] = "ok"
    except Exception as exc:
        report["from_nir"] = f"{type(exc).__name__}: {exc}"
        return report
    try:
        net = DynapcnnNetwork(snn, input_shape=tuple(input_shape), batch_size=1, discretize=True)
        report["dynapcnn"] = "ok"
        report["layers"] = len(net.dynapcnn_layers)
        report["place"] = _place(net)
    except Exception as exc:
        report["dynapcnn"] = f"{type(exc).__name__}: {exc}"
    return report


def _mode_probe(arrays: dict, meta: dict) -> tuple[dict, dict]:
    """What sinabs makes of NIR files: whether nir.read, sinabs.from_nir and DynapcnnNetwork accept each, the
    imported module types, the number of DYNAP-CNN layers and the placement."""
    return {}, {"reports": [_probe_one(f["nir"], f["input_shape"], bool(f.get("type_check", False)))
                            for f in meta["files"]]}


def main(src: str, dst: str) -> None:
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"]))
    torch.set_num_threads(1)
    mode = meta.get("mode", "run")
    if mode == "run":
        out, out_meta = _mode_run(arrays, meta)
    elif mode == "artifact":
        out, out_meta = _mode_artifact(arrays, meta)
    elif mode == "probe":
        out, out_meta = _mode_probe(arrays, meta)
    else:
        raise SystemExit(f"sinabs_run: unknown mode {mode!r}")
    out_meta["versions"] = {p: md.version(p) for p in ("sinabs", "nir", "nirtorch", "torch")}
    np.savez(dst, __meta__=np.array(json.dumps(out_meta)), **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
