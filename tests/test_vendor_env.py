"""The vendor venv recipes' digest: what the code does rebuilds a venv, how its lines are wrapped does not."""

from __future__ import annotations

import pytest

from snndeploy.hardware.vendor.env import VendorRecipe, _code_text, get_recipe


def _patch_a(site):
    """Fix the vendor's import.

    Two lines of docstring."""
    (site / "x.py").write_text("a = (1 +\n     2)\n")


def _patch_b(site):
    """Fix the vendor's import, rewrapped into one line."""
    (site / "x.py").write_text("a = (1 +\n     2)\n")


def _patch_c(site):
    """Fix the vendor's import."""
    (site / "x.py").write_text("a = (1 +\n     3)\n")


def _recipe(patch, probe="import json\nprint(json.dumps({}))\n", **kw):
    return VendorRecipe("t", "test", (("install", "x"),), probe, patch=patch, **kw)


def test_layout_and_docstrings_do_not_change_the_digest():
    assert _code_text("def f(x):\n    '''d'''\n    return (x +\n  1)\n") == _code_text(
        "def f(x):\n    return x + 1"
    )
    a = _recipe(_patch_a).digest()
    b = _recipe(_patch_a, probe="import json\n\nprint(json.dumps(\n    {}))\n").digest()
    assert a == b


@pytest.mark.parametrize("change", ["patch", "probe", "steps", "revision", "env"])
def test_what_the_code_does_changes_the_digest(change):
    base = _recipe(_patch_b)
    other = {
        "patch": _recipe(_patch_c),
        "probe": _recipe(_patch_b, probe="import json\nprint(json.dumps({'a': 1}))\n"),
        "steps": VendorRecipe("t", "test", (("install", "y"),), base.probe, patch=_patch_b),
        "revision": _recipe(_patch_b, revision=2),
        "env": _recipe(_patch_b, env={"PIP_NO_BUILD_ISOLATION": "0"}),
    }[change]
    assert other.digest() != base.digest()


def test_code_that_does_not_parse_is_hashed_as_written():
    assert _code_text("not python (") == "not python ("


@pytest.mark.parametrize("name", ["lava", "xylosim", "sinabs"])
def test_every_recipe_has_a_stable_digest(name):
    recipe = get_recipe(name)
    assert recipe.digest() == recipe.digest() and len(recipe.digest()) == 16
