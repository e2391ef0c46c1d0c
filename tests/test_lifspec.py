"""``FoldedLIF`` (the module that runs a ``LIFSpec``) keeps its old name ``SpecLIF`` as a deprecated alias."""

from __future__ import annotations

import pytest

import exporters
from exporters import lifspec
from exporters.lifspec import FoldedLIF


def test_the_old_name_warns_and_is_the_same_class():
    with pytest.warns(DeprecationWarning, match="SpecLIF is now FoldedLIF"):
        assert lifspec.SpecLIF is FoldedLIF
    with pytest.warns(DeprecationWarning):
        assert exporters.SpecLIF is FoldedLIF


def test_other_missing_names_still_raise():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        lifspec.NoSuchThing  # noqa: B018
    with pytest.raises(AttributeError):
        exporters.NoSuchThing  # noqa: B018
