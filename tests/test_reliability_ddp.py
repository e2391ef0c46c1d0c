"""DDP faults: a peer that dies makes the other rank exit with a clear error (not hang), and ``--resume`` from
the last good checkpoint ends bit-identical to an uninterrupted 2-process run; a frozen peer fails at the
timeout.

Two Gloo ranks are started by hand (RANK/WORLD_SIZE/MASTER_*), not by torchrun, which would tear the job down
by itself; each runs the real CLI on the embedded ``digits`` data (64 samples, 4 steps per rank and epoch).
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from test_reliability_train import _assert_same_weights, _finish, _start, _state

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job(out: Path, fault: str | None = None, resume: bool = False, timeout_s: str = "15") -> tuple:
    """Start both ranks; rank 1 gets the fault. Returns (rank 0 Popen, rank 1 Popen)."""
    common = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2",
                  SNNDEPLOY_DIST_TIMEOUT_S=timeout_s)
    extra = {"SNNDEPLOY_FAULT": fault} if fault else {}
    r1 = _start(out, resume=resume, RANK="1", LOCAL_RANK="1", **extra, **common)
    r0 = _start(out, resume=resume, RANK="0", LOCAL_RANK="0", **common)
    return r0, r1


def _wait(r0, r1, timeout: float = 90) -> tuple[int, str, int]:
    """Wait for rank 0; then give rank 1 a moment if rank 0 succeeded, else kill whatever is left (a frozen
    peer)."""
    try:
        rc0, err0 = _finish(r0, timeout=timeout)
        if rc0 == 0:
            r1.wait(timeout=30)
    finally:
        for p in (r0, r1):
            if p.poll() is None:
                p.kill()
            p.communicate()
    return rc0, err0, r1.returncode


def test_ddp_peer_dies_other_rank_fails_fast_and_resume_is_bit_identical(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref_job = _job(ref)
    bad_job = _job(run, fault="sigkill@step=6")  # rank 1 dies at the 2nd step of epoch 2
    t0 = time.monotonic()
    rc0, err, rc1 = _wait(*bad_job)
    assert time.monotonic() - t0 < 90
    assert rc1 == -signal.SIGKILL
    assert rc0 == 3, err[-2000:]
    assert "Traceback" not in err and "error: rank 0/2: a peer process died" in err
    assert _state(run)["epoch"] == 0  # the last good checkpoint (epoch 1 of 3), written by rank 0
    rc0, err, rc1 = _wait(*ref_job)
    assert rc0 == 0 and rc1 == 0, err[-2000:]
    rc0, err, rc1 = _wait(*_job(run, resume=True))
    assert rc0 == 0 and rc1 == 0, err[-2000:]
    _assert_same_weights(run, ref)


def test_ddp_frozen_peer_fails_at_the_timeout(tmp_path: Path) -> None:
    """Rank 1 is frozen (SIGSTOP) at its 3rd step: rank 0 exits with code 3 once the 15 s timeout expires."""
    t0 = time.monotonic()
    rc0, err, _ = _wait(*_job(tmp_path, fault="sigstop@step=3"))
    assert rc0 == 3, err[-2000:]
    assert "Traceback" not in err and "timed out" in err.lower()
    assert time.monotonic() - t0 < 90
