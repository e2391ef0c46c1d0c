"""Typed errors of snndeploy.

Library code raises these and never prints; the CLI maps every ``SnnDeployError`` to exit code 2 with a
one-line message (``--debug`` shows the traceback). Each error subclasses the builtin a caller would expect
(``ValueError``, ``TypeError``, ...), so plain ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "SnnDeployError",
    "InvalidParameterError",
    "InvalidInputError",
    "UnknownNameError",
    "CheckpointError",
    "DatasetError",
    "ExportError",
    "VerificationError",
    "HardwareConstraintError",
    "InvalidFileError",
    "ResourceLimitError",
    "TrainingInterrupted",
    "DistributedError",
]


class SnnDeployError(Exception):
    """Base class of every error snndeploy raises on purpose."""

    exit_code: int = 2


class InvalidParameterError(SnnDeployError, ValueError):
    """A constructor or function argument is out of its valid range (the message names the argument)."""


class InvalidInputError(SnnDeployError, ValueError):
    """A tensor passed in has the wrong rank, dtype or non-finite values (the message names the input)."""


class UnknownNameError(SnnDeployError, KeyError):
    """A name (neuron, model, dataset, backend, ...) is not registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class CheckpointError(SnnDeployError, ValueError):
    """A checkpoint file is missing, corrupted, foreign or unsafe (the message names the file and field)."""


class DatasetError(SnnDeployError, ValueError):
    """A dataset directory is missing or malformed (the message names the directory and file)."""


class ExportError(SnnDeployError, ValueError):
    """A model cannot be folded or exported as asked (the message names the layer or node)."""


class VerificationError(SnnDeployError):
    """Spikes of two runtimes disagree beyond policy (exit code 1, the first divergence in the message)."""

    exit_code = 1


class HardwareConstraintError(SnnDeployError):
    """A model breaks a hardware target's constraints (exit code 1, like a failed verification)."""

    exit_code = 1


class InvalidFileError(SnnDeployError, ValueError):
    """A model or data file (ONNX, ...) is unreadable, malformed or unsafe (the message names the file and
    field)."""


class ResourceLimitError(SnnDeployError, ValueError):
    """An input declares sizes beyond a configured resource limit (refused before allocating; see
    ``snndeploy.limits``)."""


class TrainingInterrupted(SnnDeployError):
    """Training stopped on SIGINT/SIGTERM after saving a resumable checkpoint (exit code 130: rerun with
    --resume)."""

    exit_code = 130


class DistributedError(SnnDeployError, RuntimeError):
    """A distributed peer died or a collective timed out (the message names the rank and the timeout)."""

    exit_code = 3
