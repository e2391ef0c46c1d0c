"""Unit problems of NIR files: nirsim warns on τ < dt (naming the node and norse's τ·dt), hw-check's NIR route
reports it, batch axes in Input types and 0-dim parameters are found; random inputs for graphs without a
dataset; negative Flatten dimensions run as NIR defines them."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from snndeploy.errors import InvalidInputError
from snndeploy.hardware.nir_check import check_nir
from snndeploy.nirsim import NIRUnitWarning, random_input, simulate, unit_problems


def _lif_graph(tau: float, n: int = 3) -> nir.NIRGraph:
    return nir.NIRGraph.from_list(
        nir.Affine(weight=np.eye(n, dtype=np.float32), bias=np.zeros(n, np.float32)),
        nir.LIF(
            tau=np.full(n, tau, np.float32),
            r=np.ones(n, np.float32),
            v_leak=np.zeros(n, np.float32),
            v_threshold=np.ones(n, np.float32),
            v_reset=np.zeros(n, np.float32),
        ),
    )


def test_nirsim_warns_on_tau_below_dt_naming_the_node_and_the_likely_cause():
    g = _lif_graph(1e-5)
    with pytest.warns(NIRUnitWarning, match=r"tau = 1e-05 is below dt = 0\.001.*multiplied tau by dt"):
        simulate(g, torch.rand(3, 2, 3), dt=1e-3)


def test_no_warning_when_the_units_are_fine(recwarn):
    simulate(_lif_graph(2e-3), torch.rand(3, 2, 3), dt=1e-3)
    assert not [w for w in recwarn if issubclass(w.category, NIRUnitWarning)]


def test_unit_problems_finds_zero_dim_parameters_and_batch_axes():
    g = _lif_graph(2e-3)
    lif = next(n for n in g.nodes.values() if isinstance(n, nir.LIF))
    lif.tau = np.float32(2e-3)
    g.nodes["input"] = nir.Input(input_type={"input": np.array([1, 3])})
    kinds = {p.kind for p in unit_problems(g, 1e-3)}
    assert kinds == {"zero_dim_parameters", "batch_axis_in_input"}
    assert unit_problems(_lif_graph(1e-5), None) == []  # no dt: τ cannot be judged


@pytest.mark.parametrize("target", ["spinnaker2", "loihi2"])
def test_hw_check_nir_route_warns_on_tau_below_dt(target):
    rep = check_nir(_lif_graph(1e-5), target)  # no dt anywhere: 1e-4 s, the smallest reader default
    rules = [v for v in rep.violations if v.rule == "nir.units.tau_below_dt"]
    assert rules and rules[0].severity == "warning" and "1e-4 s" in rules[0].message
    assert not [v for v in check_nir(_lif_graph(2e-3), target).violations if v.rule.startswith("nir.units")]


def test_random_input_is_seeded_and_shaped_like_the_graph():
    g = _lif_graph(2e-3, n=4)
    a, b = random_input(g, T=5, batch=3, seed=1), random_input(g, T=5, batch=3, seed=1)
    assert a.shape == (5, 3, 4) and torch.equal(a, b) and 0 <= float(a.min()) and float(a.max()) < 2
    s = random_input((2, 2), T=2, batch=2, kind="spikes", rate=1.0)
    assert torch.equal(s, torch.ones(2, 2, 2, 2))
    with pytest.raises(InvalidInputError):
        random_input(g, T=0)


def test_negative_flatten_dims_mean_the_same_axes():
    shape = np.array([2, 3, 3])
    for start, end in ((0, -1), (-3, -1), (1, 2), (-2, -1)):
        g = nir.NIRGraph.from_list(
            nir.Input(input_type={"input": shape}),
            nir.Flatten(input_type={"input": shape}, start_dim=start, end_dim=end),
        )
        x = torch.rand(2, 4, 2, 3, 3)
        y = simulate(g, x, dt=1e-3)
        ref = torch.flatten(x, start + 2 if start >= 0 else start, end + 2 if end >= 0 else end)
        assert torch.equal(y, ref), (start, end)
