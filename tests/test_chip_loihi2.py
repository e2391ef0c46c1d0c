"""Loihi 2 integer model (``snndeploy.hardware.chips.loihi2``): hand-computed cases for every fixed-point
rule, typed errors for bad parameters and inputs, and the same hand cases through lava's own models (vendor
venv).

Each hand case is (network, input [T, B, N_in], expected spikes / u / v of layer 0 or 1 for sample 0 or all);
the numbers were worked out by hand from the equations in ``loihi2.py``'s docstring (see the comments).
"""

from __future__ import annotations

import numpy as np
import pytest

from snndeploy.errors import InvalidInputError, InvalidParameterError
from snndeploy.hardware.chips import get_chip
from snndeploy.hardware.chips.loihi2 import (
    EXCITATORY,
    INHIBITORY,
    Loihi2Layer,
    Loihi2Network,
    effective_weights,
)
from snndeploy.hardware.chips.loihi2_support import SUPPORT

BIG = 2**17 - 1


def net(*layers: Loihi2Layer, bits: int = 0) -> Loihi2Network:
    return Loihi2Network(tuple(layers), input_message_bits=bits)


def lay(w, name: str = "l0", **kw) -> Loihi2Layer:
    kw.setdefault("vth", BIG)
    return Loihi2Layer(name, np.asarray(w), **kw)


def col(values) -> np.ndarray:
    """[T] values of one input channel → [T, 1, 1]."""
    return np.asarray(values, dtype=np.int64).reshape(-1, 1, 1)


# (id, network, x, layer, field, expected [T] of sample 0 neuron 0, or [T, B] when 2-D)
HAND = [
    # one step of delay; strict v > vth << 6 (64); reset to 0; no leak (dv = 0); du = 4095: u = a << 6
    ("delay_threshold", net(lay([[2]], vth=1)), col([1, 1, 1, 1]), 0, "spikes", [0, 1, 1, 1]),
    ("delay_threshold_u", net(lay([[2]], vth=1)), col([1, 1, 1, 1]), 0, "u", [0, 128, 128, 128]),
    # v = 128 is not > 128: fires one step later, at v = 256
    ("strict_equal", net(lay([[2]], vth=2)), col([1, 1, 1, 1]), 0, "spikes", [0, 0, 1, 0]),
    ("strict_equal_v", net(lay([[2]], vth=2)), col([1, 1, 1, 1]), 0, "v", [0, 128, 0, 128]),
    # far above threshold: still one spike per step, then v = 0
    ("one_spike", net(lay([[254]], vth=1)), col([1, 1, 0]), 0, "spikes", [0, 1, 1]),
    # MIXED, num_weight_bits 7 drops 2 bits, floor: -7 -> -8 (so a = -8 + 4 = -4 with both inputs on)
    (
        "truncate_floor",
        net(lay([[-7, 7]], num_weight_bits=7)),
        np.ones((2, 1, 2), np.int64),
        0,
        "u",
        [0, -256],
    ),
    # weight_exp -1 floors the summed input: 3 >> 1 = 1, -3 >> 1 = -2, (3 + 3) >> 1 = 3
    ("exp_neg_pos", net(lay([[3]], weight_exp=-1)), col([1, 0]), 0, "u", [0, 64]),
    ("exp_neg_neg", net(lay([[-3]], weight_exp=-1)), col([1, 0]), 0, "u", [0, -128]),
    ("exp_neg_sum", net(lay([[3, 3]], weight_exp=-1)), np.ones((2, 1, 2), np.int64), 0, "u", [0, 192]),
    ("exp_pos", net(lay([[3]], weight_exp=2)), col([1, 0]), 0, "u", [0, 768]),
    # sign-magnitude decay: -65*2048 >> 12 -> -32 (floor would give -33); bias -65 each step
    ("decay_trunc_neg", net(lay([[1]], dv=2048, bias_mant=-65)), col([0, 0, 0]), 0, "v", [-65, -97, -113]),
    ("decay_trunc_pos", net(lay([[1]], dv=2048, bias_mant=65)), col([0, 0, 0]), 0, "v", [65, 97, 113]),
    # current decay du = 2047 halves u; dv = 4095 keeps v·1 >> 12 = 0 of v
    ("current_decay", net(lay([[10]], du=2047, dv=4095)), col([1, 0, 0, 0]), 0, "u", [0, 640, 320, 160]),
    # u is not reset by a spike
    ("u_not_reset", net(lay([[10]], du=2047, dv=4095, vth=1)), col([1, 0, 0, 0]), 0, "u", [0, 640, 320, 160]),
    (
        "u_not_reset_s",
        net(lay([[10]], du=2047, dv=4095, vth=1)),
        col([1, 0, 0, 0]),
        0,
        "spikes",
        [0, 1, 1, 1],
    ),
    # bias 3 << 2 = 12 per step, threshold 64: fires when v reaches 72 (t = 5), restarts from 0
    (
        "bias_exp",
        net(lay([[0]], vth=1, bias_mant=3, bias_exp=2)),
        col([0] * 8),
        0,
        "v",
        [12, 24, 36, 48, 60, 0, 12, 24],
    ),
    # 24-bit current wrap (graded input, batch of 4): 2^23 stays, 2^23 + 64 wraps, -2^23 wraps to +2^23
    (
        "u_wrap",
        net(lay([[1]], dv=4095), bits=24),
        np.array([[131072, 131073, -131072, -131073], [0, 0, 0, 0]]).reshape(2, 4, 1),
        0,
        "u",
        [[0, 0, 0, 0], [8388608, -8388544, 8388608, 8388544]],
    ),
    # v saturates at ±(2^23 − 1); +(2^23 − 1) always exceeds the largest threshold 131071 << 6 = 8388544, so
    # the positive side is seen as a spike and v = 0; 8388544 itself is not above it
    (
        "v_sat_pos",
        net(lay([[1]], dv=4095), bits=24),
        np.array([[131072, 131073, -131072, -131073], [0, 0, 0, 0]]).reshape(2, 4, 1),
        0,
        "spikes",
        [[0, 0, 0, 0], [1, 0, 1, 0]],
    ),
    ("v_sat_neg", net(lay([[1]]), bits=24), col([-131071] * 3), 0, "v", [0, -8388544, -8388607]),
    # int32 wrap: 255·(2^23 − 1) << 7 wraps to -1073774464, << 6 wraps again to -2088960
    (
        "int32_wrap",
        net(lay([[255]], weight_exp=7, dv=4095), bits=24),
        col([2**23 - 1, 0]),
        0,
        "u",
        [0, -2088960],
    ),
    # two layers: the second layer's spikes lag the input by two steps
    (
        "two_layers",
        net(lay([[2]], vth=1), lay([[2]], name="l1", vth=1)),
        col([1] * 5),
        1,
        "spikes",
        [0, 0, 1, 1, 1],
    ),
]


def _field(run, layer: int, name: str) -> np.ndarray:
    return run.spikes[layer] if name == "spikes" else run.states[name][layer]


def _expected(got: np.ndarray, want) -> tuple[np.ndarray, np.ndarray]:
    want = np.asarray(want)
    return (got[:, 0, 0] if want.ndim == 1 else got[:, :, 0]), want


@pytest.mark.parametrize("case", HAND, ids=[c[0] for c in HAND])
def test_loihi2_hand_cases(case):
    _, network, x, layer, name, want = case
    got, want = _expected(_field(network.run(x), layer, name), want)
    np.testing.assert_array_equal(got, want)


def test_loihi2_hand_cases_match_lava(vendor_python):
    """The same hand cases through lava's own fixed_pt models give the hand-computed values."""
    vendor_python("lava")
    from snndeploy.hardware.chips.loihi2_vendor import vendor_run_many

    runs, _ = vendor_run_many([(c[1], c[2]) for c in HAND])
    for case, run in zip(HAND, runs, strict=True):
        got, want = _expected(_field(run, case[3], case[4]), case[5])
        np.testing.assert_array_equal(got, want, err_msg=case[0])


def test_effective_weights_clip_and_truncate():
    w = np.array([[7, -7, 255, -256]])
    np.testing.assert_array_equal(effective_weights(w, 7, None), [[4, -8, 252, -256]])  # MIXED: 2 bits, floor
    np.testing.assert_array_equal(effective_weights(np.array([[-5, 255, 3]]), 8, EXCITATORY), [[0, 255, 3]])
    # INHIBITORY: magnitude clipped to 255 and truncated toward 0
    np.testing.assert_array_equal(
        effective_weights(np.array([[-256, -7, 5]]), 7, INHIBITORY), [[-254, -6, 0]]
    )
    np.testing.assert_array_equal(
        effective_weights(np.array([[-7, 0]]), 7, None), [[-6, 0]]
    )  # auto: INHIBITORY


def test_loihi2_batch_rows_are_independent():
    rng = np.random.default_rng(0)
    network = net(
        lay(rng.integers(-256, 256, (5, 4)), vth=3, dv=300, du=100),
        lay(rng.integers(-256, 256, (3, 5)), name="l1", vth=2, dv=50),
    )
    x = (rng.random((20, 3, 4)) < 0.5).astype(np.int64)
    whole = network.run(x)
    for b in range(3):
        one = network.run(x[:, b : b + 1])
        for a, c in zip(whole.spikes + whole.states["v"], one.spikes + one.states["v"], strict=True):
            np.testing.assert_array_equal(a[:, b : b + 1], c)


@pytest.mark.parametrize(
    "kwargs, field, limit",
    [
        ({"vth": 2**17}, "vth", "131071"),
        ({"vth": -1}, "vth", "0"),
        ({"du": 4096}, "du", "4095"),
        ({"dv": -1}, "dv", "4095"),
        ({"bias_mant": 4096}, "bias_mant", "4095"),
        ({"bias_mant": [0, -4097]}, "bias_mant[1]", "-4096"),
        ({"bias_exp": 8}, "bias_exp", "7"),
        ({"weight_exp": 8}, "weight_exp", "7"),
        ({"num_weight_bits": 0}, "num_weight_bits", "1"),
        ({"sign_mode": 4}, "sign_mode", "3"),
        ({"weights": [[256, 0]]}, "weights[0, 0]", "255"),
        ({"weights": [[0, -257]]}, "weights[0, 1]", "-256"),
        ({"weights": [[0.5, 1.0]]}, "weights", "integers"),
        ({"weights": [1, 2]}, "weights", "[N_out, N_in]"),
        ({"bias_mant": [1, 2, 3]}, "bias_mant", "(2,)"),
    ],
)
def test_loihi2_layer_rejects_bad_parameters(kwargs, field, limit):
    args = {"weights": [[1, 2], [3, 4]], "vth": 10, **kwargs}
    with pytest.raises(InvalidParameterError) as err:
        Loihi2Layer("hidden", np.asarray(args.pop("weights")), **args)
    msg = str(err.value)
    assert "'hidden'" in msg and field in msg and limit in msg, msg


def test_loihi2_network_rejects_bad_structure():
    with pytest.raises(InvalidParameterError, match="'b'.*3 inputs.*'a' has 2 neurons"):
        net(lay(np.ones((2, 2), int), name="a"), lay(np.ones((1, 3), int), name="b"))
    with pytest.raises(InvalidParameterError, match="unique"):
        net(lay([[1]]), lay([[1]]))
    with pytest.raises(InvalidParameterError, match="input_message_bits = 25"):
        net(lay([[1]]), bits=25)
    with pytest.raises(InvalidParameterError, match="non-empty"):
        Loihi2Network(())


@pytest.mark.parametrize(
    "x, bits, match",
    [
        (np.full((2, 1, 1), 2), 0, r"input\[0, 0, 0\] = 2 is outside \[0, 1\]"),
        (np.zeros((2, 1, 3)), 0, r"\[T, B, 1\]"),
        (np.zeros((2, 1)), 0, r"\[T, B, 1\]"),
        (np.full((1, 1, 1), 0.5), 24, "not an integer"),
        (np.full((1, 1, 1), 2**23), 24, "24-bit graded"),
        (np.array([[["a"]]]), 24, "integers"),
    ],
)
def test_loihi2_run_rejects_bad_input(x, bits, match):
    with pytest.raises(InvalidInputError, match=match):
        net(lay([[1]]), bits=bits).run(x)


def test_loihi2_record_round_trip_and_registry():
    network = net(
        lay(
            [[3, -4]],
            vth=7,
            dv=11,
            du=5,
            bias_mant=[2],
            bias_exp=[3],
            weight_exp=-2,
            num_weight_bits=6,
            sign_mode="mixed",
        ),
        bits=8,
    )
    back = Loihi2Network.from_dict(network.to_dict())
    assert back.to_dict() == network.to_dict() and back.layers[0].sign_mode == 1
    x = np.arange(6).reshape(3, 1, 2)
    for a, b in zip(network.run(x).states["v"], back.run(x).states["v"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert get_chip("loihi2") is SUPPORT and SUPPORT.vendor_env == "lava" and SUPPORT.compare is not None
    with pytest.raises(InvalidParameterError, match="missing field 'vth'"):
        Loihi2Network.from_dict({"layers": [{"name": "x", "weights": [[1]]}]})
