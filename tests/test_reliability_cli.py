"""The CLI on hostile files: one line on stderr naming the file and field, exit code 2, no traceback;
``--debug`` re-raises the typed error (traceback)."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

from snndeploy.checkpoint import save_checkpoint
from snndeploy.cli.app import main
from snndeploy.errors import CheckpointError, ExportError
from snndeploy.models import ModelConfig, build_model


def _checkpoint(path: Path) -> Path:
    cfg = ModelConfig("mlp", (1, 8, 8), 10, "clif", width=0.25)
    save_checkpoint(path, model=build_model(cfg), config=cfg, epoch=0)
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_truncated_checkpoint_exits_2_with_one_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = _checkpoint(tmp_path / "c.pt")
    bad.write_bytes(bad.read_bytes()[:1000])
    assert main(["export", str(bad), "--out", str(tmp_path / "m.nir")]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("error: checkpoint") and "c.pt" in line and "corrupted" in line
    assert not (tmp_path / "m.nir").exists()


def test_debug_shows_the_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError):
        main(["--debug", "export", str(bad), "--out", str(tmp_path / "m.nir")])


def test_nir_with_nan_parameters_exits_2_naming_node_and_field(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    w = np.eye(4, dtype=np.float32)
    w[0, 0] = np.nan
    g = nir.NIRGraph.from_list(nir.Linear(weight=w), nir.Threshold(threshold=np.full(4, 0.5, np.float32)))
    g.metadata["dt"] = 1e-3
    path = tmp_path / "g.nir"
    nir.write(path, g)
    assert main(["energy", str(path), "--out", str(tmp_path / "e")]) == 2
    line = _one_error_line(capsys)
    assert "g.nir" in line and "field 'weight'" in line and "non-finite" in line
    with pytest.raises(ExportError):
        main(["--debug", "energy", str(path), "--out", str(tmp_path / "e")])


def test_file_beyond_the_size_limit_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    good = _checkpoint(tmp_path / "c.pt")
    monkeypatch.setenv("SNNDEPLOY_MAX_FILE_BYTES", "1000")
    assert main(["export", str(good), "--out", str(tmp_path / "m.nir")]) == 2
    assert "above the limit max_file_bytes=1000" in _one_error_line(capsys)


@pytest.mark.parametrize("argv", [
    ["verify", "--nir", "x.nir"],            # missing checkpoint argument
    ["hw-check", "x.pt"],                    # missing --target
    ["energy", "x.pt", "--limit", "many"],   # bad option value
    ["no-such-command"],
])
def test_usage_errors_exit_2_without_traceback(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error" in err
