"""Fuzzing every file kind snndeploy reads: mutated bytes must give success or an ``SnnDeployError``, nothing
else.

Short runs for CI (hypothesis example counts below); ``benchmarks/fuzz.py`` runs the same targets much longer
and prints the case counts recorded in docs/reliability.md.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fuzz_targets import MUTATIONS, TARGETS, mutate, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# examples per file kind: sized so that the whole file stays well under 60 s on 2 CPU cores
EXAMPLES = {"checkpoint": 150, "nir": 200, "onnx": 300, "profile": 300, "target": 300, "cifar": 300,
            "nmnist": 200}


@pytest.mark.parametrize("name", list(TARGETS))
def test_seed_file_is_accepted(name: str, tmp_path: Path) -> None:
    """The unmutated seed of each kind loads: the fuzz cases start from a valid file."""
    assert run_case(TARGETS[name], TARGETS[name].seed(), tmp_path) == "ok"


@pytest.mark.parametrize("name", list(TARGETS))
@pytest.mark.parametrize("kind", ["truncate", "empty", "wrong_type"])
def test_broken_files_raise_a_typed_error(name: str, kind: str, tmp_path: Path) -> None:
    """Truncated to half (+1 byte, off any record boundary), empty, or another kind's bytes: always refused
    with an snndeploy error."""
    t = TARGETS[name]
    data = (t.seed()[: len(t.seed()) // 2 + 1] if kind == "truncate"
            else mutate(t.seed(), kind, random.Random(1)))
    if kind == "wrong_type":  # pick a different kind deterministically
        other = next(o for o in TARGETS.values() if o.suffix != t.suffix and o.name != name)
        data = other.seed()
    assert run_case(t, data, tmp_path).startswith("error:")


def _fuzz(name: str):
    @settings(max_examples=EXAMPLES[name], deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(kind=st.sampled_from(MUTATIONS), seed=st.integers(0, 2**32 - 1))
    def run(tmp_path: Path, kind: str, seed: int) -> None:
        t = TARGETS[name]
        outcome = run_case(t, mutate(t.seed(), kind, random.Random(seed)), tmp_path)
        assert outcome == "ok" or outcome.startswith("error:")

    return run


test_fuzz_checkpoint = _fuzz("checkpoint")
test_fuzz_nir = _fuzz("nir")
test_fuzz_onnx = _fuzz("onnx")
test_fuzz_profile = _fuzz("profile")
test_fuzz_target = _fuzz("target")
test_fuzz_cifar = _fuzz("cifar")
test_fuzz_nmnist = _fuzz("nmnist")
