"""Integer Xylo model: hand-computed rules, typed errors, and spike/state identity with the vendor's C++
xylosim.

Vendor cross-check (``vendor_python("xylosim")``): 320 random networks over the three chips (grid-edge
weights, shifts that wrap, saturating and silent inputs, T up to 100), 3 full-size networks, the hand-computed
cases and the written artifacts reloaded by rockpool, all in one driver call; spikes and every recorded state
must be equal.
"""

from __future__ import annotations

import numpy as np
import pytest

from snndeploy.errors import InvalidInputError
from snndeploy.hardware.chips import ChipMappingError, get_chip
from snndeploy.hardware.chips.xylo import XYLO_CHIPS, XyloNetwork
from snndeploy.hardware.chips.xylo_fuzz import first_mismatch, random_case, random_input, random_network
from snndeploy.hardware.chips.xylo_intops import saturating_accumulate, shift_decay, wrap
from snndeploy.hardware.chips.xylo_vendor import VendorJob, read_artifact, vendor_batch, write_artifacts


def net1(**kw):
    """1 input → 1 hidden → 1 readout; keyword arguments override the parameters."""
    p = dict(chip="xylo_audio2", weights_in=[[[100]]], weights_rec=[[[0]]], weights_out=[[10]],
             dash_syn=[[1]], dash_mem=[2], threshold=[300], bias=[0], dash_syn_out=[1], dash_mem_out=[1],
             threshold_out=[15], bias_out=[0], weight_shift_in=2, weight_shift_rec=0, weight_shift_out=0)
    p.update(kw)
    return XyloNetwork(**p)


def events(*counts, n_in=1):
    return np.array(counts, np.int64).reshape(len(counts), 1, n_in)


# -- integer helpers -----------------------------------------------------------------------------------------
def test_shift_decay_rounds_down_and_moves_at_least_one():
    x = np.array([5, 1, -1, -5, 0, 32767, -32768])
    assert shift_decay(x, np.array([1, 3, 3, 1, 4, 15, 15])).tolist() == [2, 1, -1, -3, 0, 1, -1]


def test_wrap_is_a_c_cast_to_int16():
    assert wrap(np.array([127 << 8, 127 << 9, -128 << 8, -128 << 9, 127 << 15, 40000]), 16).tolist() == [
        32512, -512, -32768, 0, -32768, 40000 - 65536]


def test_saturating_adds_do_not_commute():
    w = np.array([[1000], [-1000]])
    assert (saturating_accumulate(np.array([[32000]]), np.array([[1, 1]]), w, -32768, 32767).tolist()
            == [[31767]])
    assert (saturating_accumulate(np.array([[32000]]), np.array([[1, 1]]), w[::-1], -32768, 32767).tolist()
            == [[32000]])


@pytest.mark.parametrize("rows", [3, 300])  # the clamp-composition tree and the in-place loop
def test_saturating_accumulate_matches_the_sequential_definition(rows):
    rng = np.random.default_rng(rows)
    x0 = rng.integers(-32768, 32768, size=(rows, 5))
    counts = rng.integers(0, 32, size=(rows, 37)) * (rng.random((rows, 37)) < 0.6)
    w = rng.integers(-32768, 32768, size=(37, 5))
    want = x0.copy()
    for b in range(rows):
        for m in range(5):
            for k in range(37):
                for _ in range(counts[b, k]):
                    want[b, m] = min(max(want[b, m] + w[k, m], -32768), 32767)
    assert np.array_equal(saturating_accumulate(x0, counts, w, -32768, 32767), want)


# -- hand-computed network rules -----------------------------------------------------------------------------
HAND = {
    # 3 events x (100 << 2): i = 1200 - 600 = 600; v = 600 >= 300 -> 2 spikes (multi-spike, subtract); the
    # readout sees them one step later: i_out = 20 - 10, v_out = 10 < 15; next i_out = 10 + 10 - 10 = 10,
    # v_out = 10 - 5 + 10 = 15 >= 15 -> 1 spike (the comparison is >=).
    "multi_spike_delay": (net1(), events(3, 0, 0),
                          {"s": [2, 1, 0], "i": [600, 300, 150], "v": [0, 0, 150], "so": [0, 0, 1],
                           "io": [0, 10, 10], "vo": [0, 10, 0]}),
    # 127 << 8 = 32512 per event, 15 events saturate i at 32767; dash 15 decays by 1; v = 32766 -> 31 spikes
    # (the cap), v = 32766 - 31000; 200 events count as 15.
    "saturation_and_cap": (net1(weights_in=[[[127]]], weight_shift_in=8, dash_syn=[[15]], dash_mem=[15],
                                threshold=[1000]), events(200),
                           {"s": [31], "i": [32766], "v": [1766]}),
    # two synapses of 25600 - 1 each: dv = sat(0 + 51198) = 32767, then + bias -1000 -> v = 31767 (the
    # increment saturates before the bias is added; one sum would give 32767).
    "increment_saturates_first": (net1(weights_in=[[[100, 100]]], weights_rec=np.zeros((1, 1, 2), int),
                                       weight_shift_in=8, dash_syn=[[15, 15]], threshold=[32767],
                                       bias=[-1000]),
                                  events(1), {"v": [31767], "i": [25599], "i2": [25599], "s": [0]}),
    # -128 << 8 = -32768; v reaches -32768; with dash_mem 0 the decrement -dec(v) = 32768 wraps to -32768 in
    # int16, so v stays at -32768 (without the wrap it would be -32767).
    "int16_wrap_of_decrement": (net1(weights_in=[[[-128]]], weight_shift_in=8, dash_syn=[[15]], dash_mem=[0],
                                     bias=[-1]), events(1, 0),
                                {"v": [-32768, -32768], "i": [-32767, -32766]}),
    # weight shift 9 wraps 127 << 9 = 65024 to -512: input inhibits.
    "shifted_weight_wraps": (net1(weights_in=[[[127]]], weight_shift_in=9, dash_syn=[[15]]), events(1),
                             {"i": [-511], "v": [-511], "s": [0]}),
    # v == threshold fires; a readout fires at most once per step and keeps the rest.
    "readout_one_spike": (net1(weights_in=[[[100]]], threshold=[100], weight_shift_in=0, weights_out=[[127]],
                               weight_shift_out=4, dash_syn=[[1]], threshold_out=[10]), events(2, 0),
                          {"s": [1, 0], "so": [0, 1], "vo": [0, 1006]}),
    # chained hidden neurons through W_rec: one step per hop.
    "recurrent_chain": (XyloNetwork("xylo_audio2", [[[100], [0]]], [[[0], [100]], [[0], [0]]], [[0], [100]],
                                    [[1], [1]], [1, 1], [50, 50], [0, 0], [1], [1], [50], [0]),
                        events(1, 0, 0, 0), {"s": [[1, 0], [0, 1], [0, 0], [0, 0]], "so": [0, 0, 1, 0]}),
}
_KEY = {"s": ("spikes", 0), "so": ("spikes", 1), "v": ("v", 0), "vo": ("v", 1), "i": ("i", 0), "io": ("i", 1),
        "i2": ("i2", 0)}


def _get(run, key):
    what, k = _KEY[key]
    arr = run.spikes[k] if what == "spikes" else run.states[what][k]
    return arr[:, 0, :]


@pytest.mark.parametrize("name", list(HAND))
def test_hand_computed(name):
    net, x, want = HAND[name]
    run = net.run(x)
    for key, values in want.items():
        got = _get(run, key)
        assert (got.reshape(len(values), -1).tolist()
                == np.array(values).reshape(len(values), -1).tolist()), key


def test_dash_syn_zero_wipes_the_input():
    run = net1(dash_syn=[[0]]).run(events(15, 15))
    assert run.states["i"][0].max() == 0 and run.spikes[0].max() == 0


def test_batch_samples_are_independent():
    rng = np.random.default_rng(3)
    net = random_network(rng, "xylo_audio2", max_hidden=20, p_big=0)
    x = random_input(rng, net.n_in, 30, 1).repeat(3, axis=1)
    x[:, 1] = 0
    run = net.run(x)
    alone = net.run(x[:, :1])
    assert np.array_equal(run.spikes[0][:, 0], alone.spikes[0][:, 0])
    assert np.array_equal(run.spikes[0][:, 0], run.spikes[0][:, 2])


# -- typed errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, match", [
    ({"weights_in": [[[128]]]}, r"weights_in: value 128 .* outside \[-128, 127\]"),
    ({"weights_out": [[-129]]}, r"weights_out: value -129"),
    ({"dash_mem": [16]}, r"dash_mem: value 16 .* \[0, 15\]"),
    ({"threshold": [0]}, r"threshold: value 0 .* \[1, 32767\]"),
    ({"bias_out": [40000]}, r"bias_out: value 40000 .* \[-32768, 32767\]"),
    ({"weight_shift_rec": 16}, r"weight_shift_rec: value 16 .* \[0, 15\]"),
    ({"weight_shift_in": 1.5}, r"weight_shift_in: must be an integer"),
    ({"weights_in": [[[1.5]]]}, r"weights_in: must hold integers"),
    ({"dash_mem": [1, 1]}, r"dash_mem: shape \(2,\) .* expected \(1,\)"),
    ({"chip": "xylo_nano"}, r"unknown chip 'xylo_nano'"),
    ({"chip": "xylo_imu", "weights_in": [[[1, 1]]], "weights_rec": np.zeros((1, 1, 2), int),
      "dash_syn": [[1, 1]]}, r"synapses: 2 is outside \[1, 1\] on xylo_imu"),
    ({"weights_in": np.ones((17, 1, 1), int)}, r"N_in: 17 is outside \[1, 16\]"),
    ({"weights_out": np.ones((1, 9), int), "dash_syn_out": [1] * 9, "dash_mem_out": [1] * 9,
      "threshold_out": [1] * 9, "bias_out": [0] * 9}, r"N_out: 9 is outside \[1, 8\] on xylo_audio2"),
])
def test_bad_network_is_a_typed_error_naming_field_value_limit(change, match):
    with pytest.raises(ChipMappingError, match=match):
        net1(**change)


def test_size_and_window_limits():
    n = XYLO_CHIPS["xylo_audio2"].max_hidden + 1
    kw = dict(weights_in=np.zeros((1, n, 1), int), weights_rec=np.zeros((n, n, 1), int),
              weights_out=np.zeros((n, 1), int), dash_syn=np.ones((n, 1), int), dash_mem=np.ones(n, int),
              threshold=np.ones(n, int), bias=np.zeros(n, int))
    with pytest.raises(ChipMappingError, match=r"N_hid: 1001 is outside \[1, 1000\]"):
        net1(**kw)
    w_in = np.zeros((1, 200, 1), int)
    w_in[0, 150] = 1
    kw = {k: v[..., :200] if k == "weights_in" else v for k, v in kw.items()}
    kw = dict(weights_in=w_in, weights_rec=np.zeros((200, 200, 1), int), weights_out=np.zeros((200, 1), int),
              dash_syn=np.ones((200, 1), int), dash_mem=np.ones(200, int), threshold=np.ones(200, int),
              bias=np.zeros(200, int))
    net1(**kw)  # Audio 2: every hidden neuron takes input
    with pytest.raises(ChipMappingError, match=r"first 128"):
        net1(chip="xylo_audio3", **kw)
    w_out = np.zeros((200, 1), int)
    w_out[10, 0] = 1
    with pytest.raises(ChipMappingError, match=r"last 128"):
        net1(chip="xylo_imu", **{**kw, "weights_in": np.zeros((1, 200, 1), int), "weights_out": w_out})


@pytest.mark.parametrize("x, match", [
    (np.full((2, 1, 1), -1), r"event count -1 is outside \[0, 255\]"),
    (np.full((2, 1, 1), 256), r"event count 256"),
    (np.zeros((2, 1, 2), int), r"expected \[T, B, 1\]"),
    (np.zeros((2, 1)), r"expected \[T, B, 1\]"),
    (np.full((2, 1, 1), 0.5), r"must be integers"),
])
def test_bad_input_is_a_typed_error(x, match):
    with pytest.raises(InvalidInputError, match=match):
        net1().run(x)


def test_registered_for_the_three_targets():
    for target in ("xylo_audio2", "xylo_audio3", "xylo_imu"):
        support = get_chip(target)
        assert support.name == "xylo" and support.vendor_env == "xylosim"


def test_spec_round_trip(tmp_path):
    net = random_network(np.random.default_rng(5), "xylo_audio3", p_big=0)
    paths = write_artifacts(net, tmp_path)
    for p in paths:
        back = read_artifact(p, "xylo_audio3")
        for k, v in net.to_spec().items():
            assert np.array_equal(np.asarray(getattr(back, k) if k.startswith("weight_shift")
                                             else back.to_spec()[k]),
                                  np.asarray(v)), (p.name, k)


# -- vendor cross-check --------------------------------------------------------------------------------------
def test_identical_to_xylosim_on_random_networks_and_artifacts(vendor_python, tmp_path):
    vendor_python("xylosim")
    rng = np.random.default_rng(2026)
    cases = [random_case(rng, max_t=100, max_hidden=48, p_big=0.0) for _ in range(320)]
    for chip in XYLO_CHIPS:  # one network per chip at its full size
        net = random_network(rng, chip, max_hidden=XYLO_CHIPS[chip].max_hidden, p_big=1.0)
        cases.append((net, random_input(rng, net.n_in, max_t=20, max_batch=1)))
    cases += [(net, x) for net, x, _ in HAND.values()]
    jobs = [VendorJob("spec", x, network=net) for net, x in cases]
    files = []
    for k, (net, x) in enumerate(cases[:3] + cases[-len(HAND):-len(HAND) + 2]):
        for path in write_artifacts(net, tmp_path / f"a{k}"):
            files.append((net, x))
            jobs.append(VendorJob("file", x, path=path, chip=net.chip))
    results = vendor_batch(jobs)
    bad = []
    for k, ((net, x), ref) in enumerate(zip(cases + files, results, strict=True)):
        miss = first_mismatch(net.run(x), ref)
        if miss is not None:
            bad.append((k, net.chip, miss))
    assert not bad, f"{len(bad)} of {len(jobs)} cases differ from xylosim; first: {bad[0]}"
    # the random set really exercises the rules (not only silent networks)
    assert sum(int(r.spikes[0].max()) > 1 for r in results[:320]) > 30  # multi-spike steps
    assert sum(int(np.abs(r.states["i"][0]).max()) == 32767 or int(r.states["i"][0].min()) == -32768
               for r in results[:320] if r.states["i"][0].size) > 20  # saturated currents
