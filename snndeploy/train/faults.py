"""Interruption handling for the trainer: SIGINT/SIGTERM become a clean stop, and fault injection for tests.

``StopOnSignal`` installs handlers that only set a flag; the trainer checks it after every optimizer step,
saves a mid-epoch checkpoint (``partial_epoch``: epoch, steps done, running sums) and raises
``TrainingInterrupted``, so ``--resume`` continues at the next batch and ends bit-identical (CPU) to an
uninterrupted run.

Fault injection (``SNNDEPLOY_FAULT=<signal>@step=<n>``, e.g. ``sigkill@step=13``; ``sigstop`` freezes the
process, a hung peer) makes this process send itself
``signal`` after its ``n``-th optimizer step (counted from 1 in this process), so tests kill a run at an exact
point mid-epoch instead of racing a timer. Unset (the default) it costs nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..errors import InvalidParameterError

__all__ = ["StopOnSignal", "fault_hook", "FAULT_ENV"]

FAULT_ENV = "SNNDEPLOY_FAULT"
_SIGNALS = {"sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM, "sigint": signal.SIGINT,
            "sigstop": signal.SIGSTOP}


class StopOnSignal:
    """Context manager: while active, SIGINT and SIGTERM set ``self.signum`` instead of killing the process.

    A second SIGINT while a stop is pending raises ``KeyboardInterrupt`` (the user insists). Outside the main
    thread (where handlers cannot be installed) it does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


def fault_hook() -> Callable[[int], None] | None:
    """The fault injector configured by ``SNNDEPLOY_FAULT`` (``None`` when unset): called with the step
    count."""
    raw = os.environ.get(FAULT_ENV, "").strip().lower()
    if not raw:
        return None
    sig_name, _, rest = raw.partition("@step=")
    if sig_name not in _SIGNALS or not rest.isdigit():
        raise InvalidParameterError(f"{FAULT_ENV} must look like sigkill@step=13 "
                                    f"(sigkill/sigterm/sigint/sigstop), got {raw!r}")
    sig, at = _SIGNALS[sig_name], int(rest)

    def hook(step: int) -> None:
        if step == at:
            os.kill(os.getpid(), sig)

    return hook
