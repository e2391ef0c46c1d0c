"""Quantising float LIF MLPs onto Xylo (``map_model``), the agreement report, and rockpool's NIR dialect."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snndeploy.errors import ExportError, InvalidInputError
from snndeploy.hardware.chips import ChipMappingError
from snndeploy.hardware.chips.xylo_agree import compare_mapping
from snndeploy.hardware.chips.xylo_map import map_model
from snndeploy.hardware.chips.xylo_nir import to_rockpool_nir, write_rockpool_nir
from snndeploy.hardware.chips.xylo_vendor import VendorJob, vendor_batch
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import CLIF, LIF


def lin(n_in, n_out, w=None, bias=False):
    layer = nn.Linear(n_in, n_out, bias=bias)
    if w is not None:
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(w, dtype=torch.float32).reshape(n_out, n_in))
    return TimeDistributed(layer)


def lif(tau=2.0, **kw):
    return LIF(tau=tau, backend="torch", **kw)


def mlp(sizes=(6, 20, 12, 4), tau=2.0, spiking_out=True, gain=2.0, v_reset=None):
    torch.manual_seed(0)
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(lin(a, b))
        with torch.no_grad():
            layers[-1].layer.weight.mul_(gain)
        if k < len(sizes) - 2 or spiking_out:
            layers.append(lif(tau, v_reset=v_reset))
    return nn.Sequential(*layers)


def spikes_in(t=30, b=8, n=6, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, n, generator=g) < p).float()


def test_hand_computed_parameters():
    # hidden: c = (32767/8)/θ = 4095.875 -> θ_int = 4096; W·c = 2047.9 needs 16.06 x 127.49 -> shift 5,
    # w = rint(2047.9 / 32) = 64; readout: 0.8·c = 3276.7 -> shift 5, w = rint(102.4) = 102;
    # τ 2 -> dash 1, τ 4 -> 2
    model = nn.Sequential(lin(1, 1, [0.5]), lif(2.0), lin(1, 1, [0.8]), lif(4.0))
    m = map_model(model, spikes_in(n=1), "xylo_audio2", synapse="charge")
    net = m.network
    assert (net.weights_in.ravel().tolist(), net.weight_shift_in) == ([64], 5)
    assert (net.weights_out.ravel().tolist(), net.weight_shift_out) == ([102], 5)
    assert (net.threshold.tolist(), net.threshold_out.tolist()) == ([4096], [4096])
    assert (net.dash_mem.tolist(), net.dash_mem_out.tolist(),
            net.dash_syn.ravel().tolist()) == ([1], [2], [1])
    assert (net.bias.tolist(), m.input_mode, m.delay, m.readout) == ([0], "events", 1, "spike")


def test_stacked_layers_delays_are_exact():
    # one neuron per layer, W = 2.2θ, τ = 2: each input event makes exactly one spike in every layer, on
    # the chip one step later per recurrent hop; align() undoes the delays, so the float and chip spikes
    # are identical
    model = nn.Sequential(lin(1, 1, [2.2]), lif(), lin(1, 1, [2.2]), lif(), lin(1, 1, [2.2]), lif())
    x = torch.zeros(12, 1, 1)
    x[2] = x[7] = 1
    m = map_model(model, x, "xylo_audio2", synapse="charge")
    assert [(la.population, la.start, la.delay) for la in m.layers] == [("hidden", 0, 0), ("hidden", 1, 1),
                                                                         ("readout", 0, 2)]
    run = m.network.run(m.encode(x))
    assert run.spikes[0].shape[0] == 14  # two zero steps appended for the readout's delay
    assert np.flatnonzero(run.spikes[0][:, 0, 1]).tolist() == [3, 8]  # layer 2, raw: one step late
    assert np.flatnonzero(run.spikes[1][:, 0, 0]).tolist() == [4, 9]
    rep = compare_mapping(m, model, x)
    assert [la.agreement for la in rep.layers] == [1.0, 1.0, 1.0]
    assert [la.rate_chip for la in rep.layers] == pytest.approx([2 / 12] * 3)


def test_agreement_report_on_a_folded_model():
    from exporters.fold import fold

    model = mlp()
    x = spikes_in()
    folded, _ = fold(model, x)
    m = map_model(folded, x, "xylo_audio3")
    labels = torch.arange(8) % 4
    rep = compare_mapping(m, folded, x, labels)
    assert len(rep.layers) == 3 and all(0.8 < la.agreement <= 1.0 for la in rep.layers)
    assert rep.accuracy is not None and 0.0 <= rep.prediction_agreement <= 1.0
    assert {n.field for n in m.notes} >= {"synapse"}  # the synapse approximation is always reported
    json.dumps(rep.to_dict())
    # the unfolded LIF model maps to the same network
    m2 = map_model(model, x, "xylo_audio3", synapse=m.synapse_gain == 1.0 and "charge" or "instant")
    assert np.array_equal(m2.network.weights_rec, m.network.weights_rec)


def test_vmem_readout_for_a_final_linear():
    model = mlp(spiking_out=False)
    x = spikes_in()
    m = map_model(model, x, "xylo_imu")
    assert m.readout == "vmem" and m.delay == 2
    assert m.network.dash_mem_out.tolist() == [15] * 4 and m.network.threshold_out.tolist() == [32767] * 4
    # one scale for every class (the classes are compared by their last Vmem): w_out = rint(W·c), one c
    w = model[-1].layer.weight.detach().double().numpy().T
    w_out = m.network.weights_out[-12:]
    per_class = (w_out * w).sum(0) / (w * w).sum(0)  # least-squares scale of each class's column
    assert per_class.max() / per_class.min() < 1.01
    rep = compare_mapping(m, model, x)
    assert len(rep.layers) == 2 and rep.prediction_agreement >= 0.5


def test_graded_inputs_are_scaled_event_counts():
    model = mlp()
    x = torch.rand(10, 4, 6) * 3.0
    m = map_model(model, x, "xylo_audio2")
    assert m.input_mode == "graded" and m.input_scale == pytest.approx(float(x.max()) / 15)
    counts = m.encode(x)
    assert counts.shape == (12, 4, 6) and counts.min() >= 0 and counts.max() == 15
    assert torch.allclose(m.decode(counts), torch.from_numpy(np.rint(x.numpy() / m.input_scale)).float()
                          * m.input_scale)
    with pytest.raises(InvalidInputError, match=r"expected finite \[T, B, \*\] with 6 features"):
        m.encode(torch.zeros(3, 1, 5))
    ev = map_model(model, spikes_in(), "xylo_audio2")
    with pytest.raises(InvalidInputError, match=r"integer counts in \[0, 15\]"):
        ev.encode(torch.full((2, 1, 6), 0.5))


def test_signed_inputs_use_two_channels_per_feature():
    model = mlp((3, 8, 4))
    x = torch.randn(10, 4, 3)
    m = map_model(model, x, "xylo_imu")
    assert m.input_mode == "signed" and m.input_scale == pytest.approx(float(x.abs().max()) / 15)
    w = m.network.weights_in[:, :, 0]
    assert w.shape[0] == 6 and np.array_equal(w[0::2], -w[1::2])
    counts = m.encode(x)
    assert counts.shape == (11, 4, 6) and counts.max() == 15
    assert not np.any((counts[..., 0::2] > 0) & (counts[..., 1::2] > 0))  # one sign per feature and step
    want = np.rint(x.numpy() / m.input_scale) * m.input_scale
    assert np.allclose(m.decode(counts).numpy(), want, atol=1e-6)
    with pytest.raises(ChipMappingError, match=r"'signed' needs 2 x 9 = 18 input channels > 16"):
        map_model(mlp((9, 8, 4)), torch.randn(5, 2, 9), "xylo_audio2", input_mode="signed")
    graded = map_model(mlp((9, 8, 4)), torch.randn(5, 2, 9), "xylo_audio2")  # auto: 18 channels do not fit
    assert graded.input_mode == "graded" and any(n.field == "x" for n in graded.notes)


def test_tau_rounding_warns_with_layer_tau_and_approximation():
    model = nn.Sequential(lin(2, 3), lif(3.0), lin(3, 2), lif(4.0))
    notes = [n for n in map_model(model, spikes_in(n=2), "xylo_audio2").notes if n.field == "tau"]
    assert len(notes) == 1 and notes[0].layer == "1" and "tau = 3 steps becomes 2**2 = 4" in notes[0].message
    hard = map_model(mlp(v_reset=0.0), spikes_in(), "xylo_audio2").notes
    assert any(n.field == "reset" and "subtraction" in n.message for n in hard)


@pytest.mark.parametrize("model, match", [
    (lambda: nn.Sequential(TimeDistributed(nn.Conv2d(1, 2, 3)), lif(), lin(2, 2), lif()), r"layer 0: Conv2d"),
    (lambda: nn.Sequential(lin(6, 4), lin(4, 4), lif(), lin(4, 2), lif()),
     r"layer 1: Linear follows Linear 0"),
    (lambda: nn.Sequential(lin(6, 4), TimeDistributed(nn.BatchNorm1d(4)), lif(), lin(4, 2), lif()),
     r"layer 1: BatchNorm1d must be folded"),
    (lambda: nn.Sequential(lin(6, 4), CLIF(backend="torch"), lin(4, 2), lif()), r"layer 1: CLIF .* fold"),
    (lambda: nn.Sequential(lin(6, 4), lif()),
     r"1 Linear stage\(s\); Xylo needs a hidden layer and a readout"),
    (lambda: mlp((17, 4, 2)), r"input channels = 17 > 16"),
    (lambda: mlp((6, 600, 500, 2)), r"hidden neurons = 1100 > 1000"),
    (lambda: mlp((6, 4, 9)), r"output neurons = 9 > 8 on xylo_audio2"),
    (lambda: mlp(tau=2.0 ** 16), r"tau = 65536 steps needs a bit-shift decay of 16.*limit 1 <= dash <= 15"),
    (lambda: mlp(tau=1.2), r"tau = 1.2 steps needs a bit-shift decay of 0.263"),
    (lambda: nn.Sequential(lin(6, 2, [1e6] * 12), lif(), lin(2, 2), lif()),
     r"layer 1: threshold = 0 in chip units is outside \[1, 32767\]"),
])
def test_unmappable_models_are_typed_errors(model, match):
    m = model()
    n_in = next(mod for mod in m.modules() if isinstance(mod, (nn.Linear, nn.Conv2d)))
    n = n_in.in_features if isinstance(n_in, nn.Linear) else 9
    with pytest.raises(ChipMappingError, match=match):
        map_model(m, spikes_in(n=n) if isinstance(n_in, nn.Linear) else None, "xylo_audio2")


def test_window_limit_on_audio3_and_bad_target():
    with pytest.raises(ChipMappingError,
                       match=r"first hidden layer \(input window\) = 200 > 128 on xylo_audio3"):
        map_model(mlp((6, 200, 20, 4)), spikes_in(), "xylo_audio3")
    with pytest.raises(ChipMappingError, match=r"target 'loihi2' is not a Xylo chip"):
        map_model(mlp(), spikes_in(), "loihi2")


# -- rockpool's NIR dialect (vendor venv) --------------------------------------------------------------------
def _nir_model(v_reset):
    torch.manual_seed(1)
    model = nn.Sequential(lin(4, 6, bias=True), lif(4.0, v_reset=v_reset), lin(6, 5),
                          lif(2.0, v_reset=v_reset), lin(5, 3), lif(8.0, v_reset=v_reset))
    return model


def test_rockpool_reads_the_rewritten_nir(vendor_python, tmp_path):
    from exporters.nir import to_nir

    vendor_python("xylosim")
    jobs, models = [], []
    for v_reset in (None, 0.0):
        model = _nir_model(v_reset)
        graph = to_nir(model, (4,), dt=1e-3)
        raw = write_rockpool_nir(graph, tmp_path / f"raw_{v_reset}.nir")  # as snndeploy writes it
        fixed = write_rockpool_nir(to_rockpool_nir(graph), tmp_path / f"rockpool_{v_reset}.nir")
        jobs += [VendorJob("nir", None, path=raw), VendorJob("nir", spikes_in(20, 2, 4).numpy(), path=fixed)]
        models.append(model)
    m = map_model(models[0], spikes_in(n=4), "xylo_audio2")
    jobs.append(VendorJob("spec", m.encode(spikes_in(n=4)), network=m.network))
    res = vendor_batch(jobs)
    assert res[0]["modules"][0].startswith("error: NotImplementedError: Cannot convert <class "
                                           "'nir.ir.linear.Scale'>")
    assert res[2]["modules"][0].startswith("error: AttributeError: 'LIF' object has no attribute 'tau_mem'")
    for model, r in zip(models, (res[1], res[3]), strict=True):
        assert r["modules"].count("LIFTorch") == 3 and r["modules"].count("LinearTorch") == 3
        spec = r["spec"]
        lins = [mod for mod in model.modules() if isinstance(mod, nn.Linear)]
        w = [mod.weight.detach().double().numpy() for mod in lins]
        assert float(spec["dt"]) == pytest.approx(1e-3, rel=1e-6)
        # rockpool's mapper sees our Euler decays (dash = log2 τ) and Xylo's fastest synapse (dash_syn = 1)
        assert np.allclose(spec["dash_mem"], [2] * 6 + [1] * 5) and np.allclose(spec["dash_mem_out"], [3] * 3)
        assert np.allclose(spec["dash_syn"], 1) and np.allclose(spec["dash_syn_out"], 1)
        assert np.allclose(spec["weights_in"].reshape(4, 11)[:, :6], w[0].T, atol=1e-6)
        assert np.allclose(spec["weights_rec"].reshape(11, 11)[:6, 6:], w[1].T, atol=1e-6)
        assert np.allclose(spec["weights_out"][6:], w[2].T, atol=1e-6)
        assert np.allclose(spec["threshold"], 1.0) and np.allclose(spec["threshold_out"], 1.0)
        b = lins[0].bias.detach().double().numpy()
        assert np.allclose(spec["bias"][:6], b, atol=1e-6) and np.allclose(spec["bias"][6:], 0)
        assert r["spikes"].shape == (20, 2, 3)
    run = m.network.run(m.encode(spikes_in(n=4)))
    assert all(np.array_equal(a, b) for a, b in zip(run.spikes, res[4].spikes, strict=True))


def test_to_rockpool_nir_refuses_what_rockpool_cannot_read():
    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([3])}),
                            "if": nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3)),
                            "output": nir.Output({"output": np.array([3])})},
                     edges=[("input", "if"), ("if", "output")], metadata={"dt": 1e-3})
    with pytest.raises(ExportError, match=r"node 'if' \(IF\) has no rockpool equivalent"):
        to_rockpool_nir(g)
    with pytest.raises(ExportError, match="no dt"):
        to_rockpool_nir(nir.NIRGraph(nodes={}, edges=[]))
