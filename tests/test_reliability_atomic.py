"""Atomic artifact writes: every writer sits inside ``snndeploy.io.atomic_write``/``atomic_path`` (checked on
the source), and a crash mid-export leaves the previous file intact and no temporary file behind (checked by
making each real writer fail half-way)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nir
import onnx
import pytest
import torch

from exporters.fold import fold
from exporters.nir import read_nir, to_nir, write_nir
from exporters.onnx import export_onnx_step
from exporters.zoo import input_shape_of, tiny_model
from snndeploy.checkpoint import read_checkpoint, save_checkpoint
from snndeploy.errors import ExportError
from snndeploy.io import atomic_write
from snndeploy.models import ModelConfig, build_model

ROOT = Path(__file__).resolve().parents[1]
# calls that produce an artifact: attribute or function names
WRITERS = {"savefig", "save", "write", "dump", "export", "write_text", "write_bytes", "to_csv", "savez",
           "tofile"}
WRITER_MODULES = {"torch", "nir", "onnx", "json", "np", "numpy", "fig", "plt", "torch.onnx"}
ATOMIC = {"atomic_write", "atomic_path"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _unguarded_writes(tree: ast.AST) -> list[int]:
    """Line numbers of artifact writes (``torch.save``, ``nir.write``, ``json.dump``, ``open(.., 'w')``, ...)
    that are not lexically inside a ``with atomic_write(...)``/``atomic_path(...)`` block."""
    bad: list[int] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.With):
            names = {_dotted(i.context_expr.func).split(".")[-1] for i in node.items
                     if isinstance(i.context_expr, ast.Call)}
            guarded = guarded or bool(names & ATOMIC)
        if isinstance(node, ast.Call) and not guarded:
            name = _dotted(node.func)
            head, _, attr = name.rpartition(".")
            if attr in WRITERS and head in WRITER_MODULES:
                bad.append(node.lineno)
            if name == "open" and any(isinstance(a, ast.Constant) and isinstance(a.value, str) and
                                      ("w" in a.value or "a" in a.value) for a in node.args[1:2]):
                bad.append(node.lineno)
            if attr in ("write_text", "write_bytes"):
                bad.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return bad


def test_every_artifact_write_in_the_package_is_atomic() -> None:
    offenders = []
    for base in ("snndeploy", "exporters"):
        for path in sorted((ROOT / base).rglob("*.py")):
            if path.name == "io.py" and path.parent.name == "snndeploy":
                continue
            if path.parent.name == "drivers" and path.parent.parent.name == "vendor":
                continue  # vendor drivers run in the vendors' venvs (no snndeploy there); they write one file
                # into a temporary directory the caller owns and reads only after the driver exited
            for line in _unguarded_writes(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], f"writes outside snndeploy.io.atomic_write/atomic_path: {offenders}"


def test_the_scanner_catches_an_unguarded_write() -> None:
    src = ("import torch, json\ndef f(o, p):\n    torch.save(o, p)\n    with open(p, 'w') as fh:\n"
           "        json.dump(o, fh)\n")
    assert _unguarded_writes(ast.parse(src)) == [3, 4, 5]
    ok = "def f(o, p):\n    with atomic_path(p) as t:\n        torch.save(o, t)\n"
    assert _unguarded_writes(ast.parse(ok)) == []


def _half_then_fail(real_path_arg: int = 1):
    """A writer that writes half a file to the path it was given, then raises (a crash mid-write)."""
    def writer(*args, **kwargs):
        target = Path(str(args[real_path_arg]))
        target.write_bytes(b"half a file")
        raise OSError("disk full (simulated)")
    return writer


def _no_temp_left(d: Path) -> None:
    assert [p.name for p in d.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")] == []


@pytest.fixture
def folded():
    model = tiny_model("mlp", "lif", seed=0)
    f, report = fold(model, torch.rand(3, 4, *input_shape_of("mlp")))
    return f, report


def test_crash_in_nir_write_keeps_the_previous_file(tmp_path: Path, folded, monkeypatch) -> None:
    f, report = folded
    path = tmp_path / "model.nir"
    write_nir(path, to_nir(f, input_shape_of("mlp"), report=report))
    before = path.read_bytes()
    monkeypatch.setattr(nir, "write", _half_then_fail(0))
    with pytest.raises(OSError, match="disk full"):
        write_nir(path, to_nir(f, input_shape_of("mlp"), report=report))
    assert path.read_bytes() == before
    read_nir(path)  # still a valid graph
    _no_temp_left(tmp_path)


def test_crash_in_onnx_save_keeps_the_previous_file(tmp_path: Path, folded, monkeypatch) -> None:
    f, _ = folded
    path = tmp_path / "model.onnx"
    export_onnx_step(f, path, input_shape_of("mlp"))
    before = path.read_bytes()
    monkeypatch.setattr(onnx, "save", _half_then_fail(1))
    with pytest.raises(ExportError, match="disk full"):  # the exporter names the file and the cause
        export_onnx_step(f, path, input_shape_of("mlp"))
    assert path.read_bytes() == before
    _no_temp_left(tmp_path)


def test_crash_in_torch_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    cfg = ModelConfig("mlp", (1, 8, 8), 10, "clif", width=0.25)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model=build_model(cfg), config=cfg, epoch=4)
    monkeypatch.setattr(torch, "save", _half_then_fail(1))
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=build_model(cfg), config=cfg, epoch=5)
    assert read_checkpoint(path)["epoch"] == 4
    _no_temp_left(tmp_path)


def test_exception_mid_json_dump_keeps_the_previous_report(tmp_path: Path) -> None:
    path = tmp_path / "verify.json"
    with atomic_write(path) as fh:
        json.dump({"ok": True}, fh)

    class Boom:
        pass

    with pytest.raises(TypeError), atomic_write(path) as fh:
        json.dump({"ok": False, "x": Boom()}, fh)  # json writes '{"ok": false, "x": ' and then fails
    assert json.loads(path.read_text()) == {"ok": True}
    _no_temp_left(tmp_path)
