"""Why a peer differs or cannot run is said once per cause, blocking causes first, and never cut mid-word."""

from __future__ import annotations

from snndeploy.cli.render import _clip
from snndeploy.verify.runners import group_layer_notes

NOTES = [
    "layer 2: subtracts exactly θ (approximate)",
    "layer 6: subtracts exactly θ (approximate)",
    "layer_2: LIF import raises for a 3-dimensional parameter array: not importable",
    "layer_6: LIF import raises for a 3-dimensional parameter array: not importable",
    "a note without a layer",
]


def test_notes_of_several_layers_become_one_clause():
    assert group_layer_notes(NOTES) == (
        "layers 2, 6: subtracts exactly θ (approximate); "
        "layers 2, 6: LIF import raises for a 3-dimensional parameter array: not importable; "
        "a note without a layer"
    )


def test_blocking_notes_lead_when_asked():
    assert group_layer_notes(NOTES, blocking_first=True).startswith("layers 2, 6: LIF import raises")
    assert group_layer_notes(["layer 3: only one"]) == "layer 3: only one"
    assert group_layer_notes([]) == ""


def test_long_reasons_are_cut_after_a_clause_and_say_where_the_rest_is():
    short = "one clause; two"
    assert _clip(short) == short
    text = "; ".join(f"clause number {i} with some words" for i in range(40))
    clipped = _clip(text, limit=120)
    assert clipped.endswith(" … (the whole reason: verify.md)")
    body = clipped.removesuffix(" … (the whole reason: verify.md)")
    assert text.startswith(body) and body.endswith("with some words") and len(body) <= 120
