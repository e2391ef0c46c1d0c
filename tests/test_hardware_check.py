"""Hardware target profiles and the model / NIR checks: every target exercised, each rule can fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from exporters.fold.api import fold
from exporters.nir import to_nir
from snndeploy.errors import InvalidParameterError, UnknownNameError
from snndeploy.hardware import builtin_targets, check_model, check_nir, get_target, load_target
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, LIF

TARGETS = ["loihi2", "xylo_audio2", "xylo_audio3", "xylo_imu", "speck", "spinnaker2"]


def mlp(n_in=16, hidden=32, n_out=4, **lif) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        TimeDistributed(nn.Linear(n_in, hidden, bias=False)), LIF(**lif),
        TimeDistributed(nn.Linear(hidden, n_out, bias=False)), LIF(**lif),
    )


def rules(report, severity=None) -> set[tuple[str, str]]:
    return {(v.layer, v.rule) for v in report.violations if severity is None or v.severity == severity}


def test_builtin_targets_are_complete_and_sourced():
    targets = builtin_targets()
    assert sorted(targets) == sorted(TARGETS)
    for t in targets.values():
        assert (t.neuron_source and t.layers_source and t.weights.source and t.threshold.source
                and t.decay_source)
        assert all(lim.source for lim in t.limits.values())
    assert get_target("xylo").name == "xylo_audio2"
    assert get_target("Xylo-IMU").name == "xylo_imu"
    with pytest.raises(UnknownNameError, match="loihi2"):
        get_target("truenorth2")


def test_documented_numbers():
    t = builtin_targets()
    assert (t["loihi2"].weights.min, t["loihi2"].weights.max, t["loihi2"].weights.step) == (-256, 254, 2)
    assert t["loihi2"].threshold.max == 2**17 - 1 and t["loihi2"].decay_format == "fraction_4096"
    assert [t[n].limit("max_hidden_neurons").value
            for n in ("xylo_audio2", "xylo_audio3", "xylo_imu")] == [1000, 992, 496]
    assert [t[n].limit("max_output_neurons").value
            for n in ("xylo_audio2", "xylo_audio3", "xylo_imu")] == [8, 32, 16]
    assert t["xylo_audio2"].decay_max == 15 and t["xylo_audio2"].resets == ("subtract",)
    assert t["speck"].limit("max_layers").value == 9 and not t["speck"].leak
    assert t["spinnaker2"].weights.min == -127 and t["loihi2"].limit("max_neurons_total").secondary
    assert "neurons per core" in t["loihi2"].unsourced and check_model(mlp(), "loihi2").not_checked


# expected errors of the same LIF MLP (soft reset, τ = 2) on each target
EXPECTED = {
    "loihi2": {("1", "neuron.reset"), ("3", "neuron.reset")},  # Loihi resets to 0
    "xylo_audio2": set(),
    "xylo_audio3": set(),
    "xylo_imu": set(),
    "speck": {("1", "neuron.model"), ("3", "neuron.model")},  # IAF only: the leak would be lost
    "spinnaker2": set(),
}


@pytest.mark.parametrize("target", TARGETS)
def test_soft_reset_lif_mlp_on_every_target(target):
    model = mlp()
    x = torch.rand(4, 3, 16)
    rep = check_model(model, target, x)
    assert rules(rep, "error") == EXPECTED[target]
    assert rep.ok == (not EXPECTED[target])
    for v in rep.violations:
        assert v.fix and v.source and v.layer


def test_hard_reset_to_zero_fits_loihi_not_xylo():
    model = mlp(v_reset=0.0)
    assert check_model(model, "loihi2").ok
    assert ("1", "neuron.reset") in rules(check_model(model, "xylo"), "error")


@pytest.mark.parametrize("target", TARGETS)
def test_unfolded_cnn_violations(target):
    model = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), TimeDistributed(nn.BatchNorm2d(4)), CLIF(),
        Residual(nn.Sequential(TimeDistributed(nn.Conv2d(4, 4, 3, padding=1)), LIF())),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Conv2d(4, 4, 3, stride=3, padding=1)), LIF(),
        TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(16, 5)),
    )
    rep = check_model(model, target, torch.rand(2, 1, 2, 8, 8))
    found = rules(rep, "error")
    assert ("1", "layer.batchnorm") in found  # BatchNorm must be folded everywhere
    assert ("2", "neuron.model") in found  # CLIF is nowhere a native neuron
    conv_ok = target in ("loihi2", "speck", "spinnaker2")
    assert (("0", "layer.type") in found) == (not conv_ok)
    assert (("3", "layer.residual") in found) == (target == "loihi2")
    assert (("4", "layer.type") in found) == (target != "speck")  # only Speck sum-pools (AvgPool → SumPool)
    assert (("5", "conv.stride") in found) == (target == "speck")  # Speck strides are 1, 2, 4, 8
    assert (("8", "layers.output_from_neurons") in found) == target.startswith("xylo")
    if not target.startswith("xylo"):
        assert ("8", "layers.output_from_neurons") in rules(rep, "warning")


def test_xylo_sizes_and_topology():
    rep = check_model(mlp(n_in=20, hidden=1001, n_out=9), "xylo_audio2", torch.rand(2, 1, 20))
    assert {("0", "max_input_channels"), ("model", "max_hidden_neurons"),
            ("3", "max_output_neurons")} <= rules(rep, "error")
    torch.manual_seed(0)
    deep = nn.Sequential(
        TimeDistributed(nn.Linear(16, 70, bias=False)), LIF(),
        TimeDistributed(nn.Linear(70, 70, bias=False)), LIF(),
        TimeDistributed(nn.Linear(70, 8, bias=False)), LIF(),
    )
    assert ("2", "max_fan_out") in rules(check_model(deep, "xylo_audio2", torch.rand(2, 1, 16)), "error")
    # 1024 there
    assert ("2", "max_fan_out") not in rules(check_model(deep, "xylo_audio3", torch.rand(2, 1, 16)))
    wide = mlp(hidden=200, n_out=8)
    assert {("1", "max_input_targets"), ("1", "max_output_sources")} <= rules(
        check_model(wide, "xylo_audio3", torch.rand(2, 1, 16)), "error")
    assert ("1", "max_input_targets") not in rules(check_model(wide, "xylo_audio2", torch.rand(2, 1, 16)))
    two_weights = nn.Sequential(TimeDistributed(nn.Linear(4, 4, bias=False)),
                                TimeDistributed(nn.Linear(4, 4, bias=False)), LIF())
    found = rules(check_model(two_weights, "spinnaker2"), "error")
    assert ("1", "layer.consecutive_weights") in found
    assert ("model", "layers.min_neuron_layers") in rules(check_model(two_weights, "xylo"), "error")
    assert ("1", "layer.consecutive_weights") not in rules(check_model(two_weights, "loihi2"))


def test_decay_encoding_warnings():
    assert rules(check_model(mlp(v_reset=0.0, tau=2.0), "loihi2")) == set()  # 4096/2 exact
    rep = check_model(mlp(v_reset=0.0, tau=3.0), "loihi2")
    assert ("1", "decay.format") in rules(rep, "warning") and rep.ok
    assert ("1", "decay.format") not in rules(check_model(mlp(tau=4.0), "xylo"))  # 2**2 exact
    assert ("1", "decay.format") in rules(check_model(mlp(tau=3.0), "xylo"), "warning")
    assert ("1", "decay.range") in rules(check_model(mlp(tau=2.0**16), "xylo"), "error")
    assert ("1", "decay.format") not in rules(check_model(mlp(tau=3.0), "spinnaker2"))  # float decay


def test_weight_and_threshold_ranges():
    model = mlp(v_threshold=1.0)
    with torch.no_grad():
        model[0].layer.weight.fill_(1e-4)
        model[0].layer.weight[0, 0] = 1.0  # one big weight: the others round to 0 on 8 bits ...
    rep = check_model(model, "xylo")
    assert ("0", "weights.resolution") in rules(rep, "warning")
    with torch.no_grad():
        model[0].layer.weight.fill_(1e-6)  # ... and θ = 1 is 1.27e8 LSBs: beyond the 16-bit threshold
    assert ("1", "threshold.range") in rules(check_model(model, "xylo"), "error")  # no weight survives
    assert ("1", "threshold.range") not in rules(check_model(model, "spinnaker2"))  # float threshold


def test_a_threshold_beyond_its_bits_warns_while_weights_survive():
    """As the mappers do (Loihi 2 caps vth, "weights use x of the grid"): a warning with the cost, an error
    only when no weight survives at the coarser scale."""
    model = mlp(v_threshold=1.0)
    with torch.no_grad():
        model[0].layer.weight.fill_(2e-5)  # θ = 1 is 254/5e-4 = 5.1e5 weight LSBs > 131,071 (17-bit vth)
        model[0].layer.weight[0, :8] = 5e-4  # at the coarser scale 1/131,071: 66 LSBs; the rest 2.6
    rep = check_model(model, "loihi2")
    found = [v for v in rep.violations if v.rule == "threshold.range"]
    assert [v.severity for v in found] == ["warning"], [v.message for v in found]
    assert "weights use" in found[0].message and "round to 0" in found[0].message
    with torch.no_grad():
        model[0].layer.weight.zero_()
    assert ("0", "weights.zero") in rules(check_model(model, "loihi2"), "error")


def test_speck_shapes_memory_and_readout():
    model = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 8, 3, padding=1, bias=False)), LIF(),
        TimeDistributed(nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)), LIF(),
        TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(8 * 64 * 64, 20, bias=False)), LIF(),
    )
    rep = check_model(model, "speck", torch.rand(1, 1, 2, 128, 128))
    found = rules(rep, "error")
    assert ("0", "max_output_feature_map") in found  # 128x128 output > 64x64
    assert ("2", "max_output_feature_map") not in found
    assert ("6", "max_readout_classes") in found  # 20 classes > 15
    assert ("0", "cores.memory") in found  # 8·2^(0+7)... neuron memory 8·128·128 = 128 Ki > 64 Ki


def test_secondary_limit_is_a_warning(tmp_path):
    text = get_target("loihi2").path
    src = open(text).read().replace("value = 1000000", "value = 10")
    path = tmp_path / "small_loihi.toml"
    path.write_text(src)
    rep = check_model(mlp(v_reset=0.0), load_target(path), torch.rand(2, 1, 16))
    assert ("model", "max_neurons_total") in rules(rep, "warning") and rep.ok


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('bits = 8\nmin = -256', 'bits = "eight"\nmin = -256', "weights.bits"),
        ('format = "fraction_4096"', 'format = "exp"', "decay.format"),
        ('reset = ["zero"]', 'reset = ["sometimes"]', "neuron.reset"),
        ('value = 1000000', 'value = -3', "limits.max_neurons_total.value"),
        ('residual = "no"', 'residual = 0', "layers.residual"),
        ('min = -256\nmax = 254', 'min = 254\nmax = -256', "weights"),
        ('name = "loihi2"', 'name = "loihi2"\nlimts = 3', "limts"),
    ],
)
def test_bad_target_toml_names_file_and_key(tmp_path, old, new, key):
    text = open(get_target("loihi2").path).read()
    assert old in text
    path = tmp_path / "bad_target.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(InvalidParameterError) as exc:
        load_target(path)
    assert str(path) in str(exc.value) and repr(key) in str(exc.value)


def _nir_graph(bias: float = 0.0, v_reset: float = 0.0, neuron: str = "LIF", n_out: int = 4):
    nir = pytest.importorskip("nir")
    w = np.ones((n_out, 3), dtype=np.float32)
    if neuron == "LIF":
        cell = nir.LIF(tau=np.full(n_out, 0.02), r=np.ones(n_out), v_leak=np.zeros(n_out),
                       v_threshold=np.ones(n_out), v_reset=np.full(n_out, v_reset))
    else:
        cell = nir.IF(r=np.ones(n_out), v_threshold=np.ones(n_out), v_reset=np.full(n_out, v_reset))
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "fc": nir.Affine(weight=w, bias=np.full(n_out, bias, dtype=np.float32)),
        "lif": cell,
        "output": nir.Output(output_type=np.array([n_out])),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


@pytest.mark.parametrize("target", TARGETS)
def test_check_nir_every_target(target):
    rep = check_nir(_nir_graph(), target)
    expected = {"speck": {("lif", "nir.node")}}.get(target, set())  # LIF imports in software only on Speck
    assert rules(rep, "error") == expected


def test_check_nir_bias_reset_and_sizes():
    assert ("fc", "nir.bias") in rules(check_nir(_nir_graph(bias=0.5), "loihi2"), "error")
    assert ("fc", "nir.bias") in rules(check_nir(_nir_graph(bias=0.5), "xylo"), "warning")
    assert ("lif", "nir.reset") in rules(check_nir(_nir_graph(v_reset=0.2), "loihi2"), "error")
    assert ("lif", "nir.node") in rules(check_nir(_nir_graph(neuron="IF"), "xylo"), "error")
    assert check_nir(_nir_graph(neuron="IF"), "speck").ok
    assert ("lif", "max_output_neurons") in rules(check_nir(_nir_graph(n_out=9), "xylo_audio2"), "error")


def test_check_nir_of_snndeploy_export():
    folded, _ = fold(mlp())  # soft reset → LI → Threshold → Scale
    graph = to_nir(folded, (16,))
    rep = check_nir(graph, "xylo")
    assert {r for _, r in rules(rep, "error")} == {"nir.soft_reset"}
    assert len(rep.errors) == 2  # one per neuron layer, not one per node
    hard = to_nir(folded, (16,), soft_reset="hard")
    assert check_nir(hard, "xylo").ok and check_nir(hard, "spinnaker2").ok
    assert ("lif" in {type(n).__name__.lower() for n in hard.nodes.values()})


def test_readout_size_of_a_model_ending_in_weights():
    """Ending with a Linear (read off-chip): every neuron layer is hidden and the readout is that Linear's
    size."""
    def model(classes):
        torch.manual_seed(0)
        return nn.Sequential(TimeDistributed(nn.Linear(16, 128, bias=False)), LIF(),
                             TimeDistributed(nn.Linear(128, classes, bias=False)))

    x = torch.rand(2, 1, 16)
    assert ("2", "max_readout_classes") not in rules(check_model(model(10), "speck", x))
    assert ("2", "max_readout_classes") in rules(check_model(model(20), "speck", x), "error")
    xylo = rules(check_model(model(10), "xylo_audio2", x), "error")
    # 10 > 8 outputs
    assert ("2", "max_output_neurons") in xylo and ("2", "layers.output_from_neurons") in xylo


def test_check_nir_readout_of_a_graph_ending_in_weights():
    """A NIR graph whose Output is fed by an Affine (read off-chip): the readout is the Affine's size and the
    last neuron layer is hidden (it used to be counted as the readout: "readout classes 16 > 15" for 10
    classes)."""
    nir = pytest.importorskip("nir")

    def graph(hidden: int, classes: int):
        nodes = {
            "input": nir.Input(input_type=np.array([3])),
            "fc1": nir.Affine(weight=np.ones((hidden, 3), np.float32), bias=np.zeros(hidden, np.float32)),
            "if1": nir.IF(r=np.ones(hidden), v_threshold=np.ones(hidden), v_reset=np.zeros(hidden)),
            "fc2": nir.Affine(weight=np.ones((classes, hidden), np.float32),
                              bias=np.zeros(classes, np.float32)),
            "output": nir.Output(output_type=np.array([classes])),
        }
        return nir.NIRGraph(nodes=nodes,
                            edges=[("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "output")])

    assert not {r for r in rules(check_nir(graph(16, 10), "speck")) if r[1] == "max_readout_classes"}
    assert ("fc2", "max_readout_classes") in rules(check_nir(graph(10, 16), "speck"), "error")
    # Xylo: the 16 neurons are hidden (≤ 1000) and the readout is fc2's 10 > 8 outputs
    xylo = rules(check_nir(graph(16, 10), "xylo_audio2"), "error")
    assert ("fc2", "max_output_neurons") in xylo and ("graph", "max_hidden_neurons") not in xylo
