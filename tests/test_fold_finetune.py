"""Fold-aware fine-tuning: distils the source, never ends worse than it started, leaves inputs untouched."""

import pytest
import torch

from exporters.fold import finetune, fold
from exporters.zoo import tiny_model
from snndeploy.errors import ExportError


def _mse(a, b, x):
    with torch.no_grad():
        return float(((a(x).mean(0) - b(x).mean(0)) ** 2).mean())


def test_finetune_improves_or_keeps_the_distillation_error():
    source = tiny_model("mlp", "clif", batch_norm=False)
    x = torch.rand(6, 192, 6) * 3
    folded, _ = fold(source, x[:, :64])
    before_state = {k: v.clone() for k, v in folded.state_dict().items()}
    res = finetune(folded, source, x, epochs=3, lr=3e-3, batch_size=64)
    assert len(res.history) == 3 and all(h >= 0 for h in res.history)
    assert _mse(res.model, source, x) <= _mse(folded, source, x)
    assert res.after["mean_spike_agreement"] > 0.5 and "prediction_agreement" in res.before
    for k, v in folded.state_dict().items():  # the input model is not modified
        assert torch.equal(v, before_state[k])
    assert not any(p.requires_grad for p in res.model.parameters())
    assert res.to_dict()["history"] == res.history


def test_finetune_with_labels_reports_accuracy():
    source = tiny_model("mlp", "ilif", batch_norm=False)
    x, y = torch.rand(5, 64, 6) * 3, torch.randint(0, 3, (64,))
    folded, _ = fold(source, x)
    res = finetune(folded, source, x, y, epochs=1, ce_weight=0.5)
    assert 0.0 <= res.after["accuracy_folded"] <= 1.0 and "accuracy_source" in res.before


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"inputs": torch.zeros(3, 6)}, "inputs"),
        ({"labels": torch.zeros(5, dtype=torch.long)}, "labels"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_finetune_refuses_bad_arguments(kwargs, match):
    source = tiny_model("mlp", "lif", batch_norm=False)
    folded, _ = fold(source)
    args = {"inputs": torch.rand(4, 8, 6)}
    args.update(kwargs)
    with pytest.raises(ExportError, match=match):
        finetune(folded, source, **args)


def test_finetune_repairs_a_poor_fold():
    """From a deliberately bad fold (soft reset by 3θ) the distillation error drops by more than half."""
    from exporters.lifspec import FoldedLIF, LIFSpec
    from snndeploy.models.tree import neuron_paths, set_module

    source = tiny_model("mlp", "clif", batch_norm=False)
    x = torch.rand(8, 256, 6) * 3
    folded, _ = fold(source)
    for path, _ in list(neuron_paths(folded)):
        set_module(folded, path, FoldedLIF(LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=3.0)))
    res = finetune(folded, source, x, epochs=5, lr=3e-3, batch_size=64)
    assert _mse(res.model, source, x) < 0.5 * _mse(folded, source, x)


def _poor_fold(source):
    from exporters.lifspec import FoldedLIF, LIFSpec
    from snndeploy.models.tree import neuron_paths, set_module

    folded, _ = fold(source)
    for path, _ in list(neuron_paths(folded)):
        set_module(folded, path, FoldedLIF(LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=3.0)))
    return folded


def test_spike_distillation_raises_the_spike_agreement_of_a_poor_fold():
    """The per-layer spike term moves the weights towards the source's spikes (surrogate gradients through
    FoldedLIF); every epoch lowers the disagreement here, and the kept epoch is the best one."""
    torch.manual_seed(0)
    source = tiny_model("mlp", "clif", batch_norm=False)
    x = torch.rand(8, 256, 6) * 3
    folded = _poor_fold(source)
    res = finetune(folded, source, x, epochs=4, lr=3e-3, logit_weight=0.0, spike_weight=1.0, select="spikes")
    assert len(res.selection) == 5 and res.selection[0] == pytest.approx(
        1 - res.before["total_spike_agreement"]
    )
    assert res.after["total_spike_agreement"] > res.before["total_spike_agreement"] + 0.005
    assert res.best_epoch == min(range(5), key=lambda i: res.selection[i])
    assert 1 - res.after["total_spike_agreement"] == pytest.approx(min(res.selection))


def test_select_spikes_never_returns_lower_agreement_and_keep_best_false_returns_the_last_epoch():
    source = tiny_model("mlp", "clif", batch_norm=False)
    x = torch.rand(6, 128, 6) * 3
    folded, _ = fold(source, x[:, :64])
    best = finetune(folded, source, x, epochs=2, lr=3e-2, spike_weight=1.0, select="spikes")
    assert best.after["total_spike_agreement"] >= best.before["total_spike_agreement"]
    last = finetune(folded, source, x, epochs=2, lr=3e-2, spike_weight=1.0, select="spikes", keep_best=False)
    assert last.best_epoch == 2
    assert 1 - last.after["total_spike_agreement"] == pytest.approx(last.selection[-1])
    assert [m.detach_reset for m in last.model.modules() if hasattr(m, "detach_reset")] == [False, False]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"logit_weight": 0.0}, "needs a loss"),
        ({"spike_weight": -1.0}, "spike_weight"),
        ({"logit_weight": True}, "logit_weight"),
        ({"select": "loss"}, "select"),
    ],
)
def test_finetune_refuses_bad_loss_settings(kwargs, match):
    source = tiny_model("mlp", "clif", batch_norm=False)
    folded, _ = fold(source)
    with pytest.raises(ExportError, match=match):
        finetune(folded, source, torch.rand(4, 8, 6), **kwargs)


def test_spike_distillation_needs_the_source_layers_at_the_folded_paths():
    source = tiny_model("mlp", "clif", batch_norm=False)
    folded, _ = fold(source)
    other = torch.nn.Sequential(torch.nn.Identity(), *list(source))  # the same layers, shifted by one path
    with pytest.raises(ExportError, match="no neuron layer at"):
        finetune(folded, other, torch.rand(4, 8, 6), spike_weight=1.0)
