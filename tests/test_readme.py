"""The README's Python quick start runs as written (with one training epoch)."""

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "TrainConfig(epochs=8)" in code
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code.replace("TrainConfig(epochs=8)", "TrainConfig(epochs=1)"), str(README), "exec"), {})
    assert (tmp_path / "model.nir").stat().st_size > 0 and (tmp_path / "model_step.onnx").stat().st_size > 0
    assert "'passed': True" in capsys.readouterr().out


def test_readme_names_exactly_two_setup_commands():
    setup = README.read_text().split("## Set-up", 1)[1].split("##", 1)[0]
    assert re.findall(r"^make (\w+)", setup, re.M) == ["demo", "test"]
