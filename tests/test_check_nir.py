"""``snndeploy check-nir``: peer-written files against the writer's own output (exit 0 after the declared
corrections, 1 with the unit problem shown loudly without them), unusable input (exit 2), usage errors
without a traceback, and the library report (corrections, peers node by node, energy, hw-check)."""

from __future__ import annotations

import logging
import warnings

import nir
import numpy as np
import pytest
import torch

from snndeploy.cli.app import main
from snndeploy.errors import InvalidInputError
from snndeploy.pipeline.check_nir import check_nir_file
from snndeploy.verify.peers import PEERS
from snndeploy.verify.peers.writers import write_sample

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def _files(tmp_path, peer, samples=48):
    pytest.importorskip(PEERS[peer].package)
    s = write_sample(peer, T=16, batch=samples)
    nir.write(tmp_path / f"{peer}.nir", s.graph)
    np.save(tmp_path / "x.npy", s.x.numpy())
    np.save(tmp_path / "y.npy", s.expected.numpy())
    return tmp_path / f"{peer}.nir", tmp_path / "x.npy", tmp_path / "y.npy"


def _cli(f, x, y, *extra):
    return main(["check-nir", str(f), "--input", str(x), "--expected", str(y), "--peers", "", *extra])


@pytest.mark.parametrize("peer", ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool"])
def test_peer_written_file_passes_with_the_writers_corrections(peer, tmp_path, capsys):
    f, x, y = _files(tmp_path, peer)
    assert _cli(f, x, y, "--writer", peer, "--out", str(tmp_path / "rep")) == 0
    out = capsys.readouterr().out
    assert "nirsim vs the writer's output: 100.000%" in out or "99.9" in out
    report = (tmp_path / "rep" / "check_nir.json").read_text()
    assert '"passed": true' in report and f'"writer": "{peer}"' in report


def test_norse_file_without_correction_fails_and_says_why(tmp_path, capsys):
    f, x, y = _files(tmp_path, "norse")
    assert _cli(f, x, y) == 1
    cap = capsys.readouterr()
    assert "UNIT PROBLEM" in cap.out and "below dt" in cap.out and "--writer norse" in cap.out
    assert "error:" in cap.err and "Traceback" not in cap.err


def test_corrections_are_listed_and_peers_compared_node_by_node(tmp_path):
    f, x, y = _files(tmp_path, "norse")
    rep = check_nir_file(
        f,
        writer="norse",
        x=torch.from_numpy(np.load(x)),
        expected=torch.from_numpy(np.load(y)),
        peers=["norse", "nosuchpeer"],
    )
    assert rep.passed and rep.agreement == 1.0 and rep.dt == 1e-3 and "convention" in rep.dt_source
    assert any("tau divided by dt" in c for c in rep.corrections)
    assert [p["kind"] for p in rep.unit_problems].count("tau_below_dt") == 2 and not rep.remaining_problems
    norse, missing = rep.peers
    assert norse.status == "ok" and norse.nodes  # norse reads its own file with the same τ·dt convention
    assert missing.status == "unavailable" and "nosuchpeer" in missing.detail
    assert rep.energy and "totals" in rep.energy
    assert set(rep.hardware) >= {"loihi2", "speck", "spinnaker2"}


def test_random_input_when_none_is_given(tmp_path):
    f, _, _ = _files(tmp_path, "snntorch")
    rep = check_nir_file(f, writer="snntorch", T=5, samples=7, peers=[], energy=False, hardware=False)
    assert (
        (rep.T, rep.samples) == (5, 7)
        and rep.expected is None
        and rep.passed
        and "random" in rep.input_source
    )


def test_batch_axis_in_rockpools_input_type_is_found_and_corrected(tmp_path):
    f, x, y = _files(tmp_path, "rockpool")
    rep = check_nir_file(
        f,
        writer="rockpool",
        x=torch.from_numpy(np.load(x)),
        expected=torch.from_numpy(np.load(y)),
        peers=[],
        energy=False,
        hardware=False,
    )
    assert any("type check fails" in finding for finding in rep.findings)
    assert any("batch axis removed" in c for c in rep.corrections)
    assert "inferred" in rep.dt_source and abs(rep.dt - 1e-3) < 1e-9 and rep.passed


def test_unusable_inputs_exit_2_without_traceback(tmp_path, capsys):
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    assert main(["check-nir", str(tmp_path / "junk.nir")]) == 2
    assert main(["check-nir", str(tmp_path / "missing.nir")]) == 2
    f, x, _ = _files(tmp_path, "snntorch")
    np.save(tmp_path / "bad.npy", np.zeros((4, 2, 5), np.float32))
    assert main(["check-nir", str(f), "--input", str(tmp_path / "bad.npy"), "--peers", ""]) == 2
    assert main(["check-nir", str(f), "--writer", "nosuchwriter", "--peers", ""]) == 2
    assert main(["check-nir"]) == 2  # usage error: missing argument
    assert main(["check-nir", str(f), "--nosuchoption"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_expected_of_the_wrong_shape_is_a_typed_error(tmp_path):
    f, x, _ = _files(tmp_path, "snntorch")
    with pytest.raises(InvalidInputError, match="--expected"):
        check_nir_file(
            f,
            writer="snntorch",
            x=torch.from_numpy(np.load(x)),
            expected=torch.zeros(3, 3, 3),
            peers=[],
            energy=False,
            hardware=False,
        )


@pytest.mark.parametrize("peer", ["norse", "snntorch", "spikingjelly", "sinabs", "rockpool"])
def test_the_writer_is_recognised_and_suggested(peer, tmp_path):
    f, _, _ = _files(tmp_path, peer, samples=4)
    rep = check_nir_file(f, T=3, samples=2, peers=[], energy=False, hardware=False)
    hint = [f for f in rep.findings if f"looks like a {peer} file" in f]
    assert hint and f"--writer {peer}" in hint[0]
    assert not rep.corrections  # nothing is corrected unless asked
