"""``snndeploy verify`` exit codes: 0 when spikes agree, 1 with the first divergence named, 2 for unusable
input."""

from __future__ import annotations

import copy

import nir
import numpy as np
import pytest
import torch

from snndeploy.checkpoint import save_checkpoint
from snndeploy.cli.app import main
from snndeploy.models import ModelConfig, build_model


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig("mlp", (6,), 3, neuron="lif", neuron_kwargs={"v_reset": 0.0}, width=0.125)
    return save_checkpoint(tmp_path / "ckpt.pt", model=build_model(cfg), config=cfg, epoch=0)


def _verify(ckpt, out, *extra):
    return main(["verify", str(ckpt), "--data", "random", "--samples", "24", "--T", "5", "--out", str(out),
                 "--peers", "", *extra])


def test_exact_model_passes_and_writes_report(checkpoint, tmp_path):
    assert _verify(checkpoint, tmp_path / "ok") == 0
    for name in (
        "verify.json",
        "verify.md",
        "agreement.png",
        "model.nir",
        "model_flat.nir",
        "model_step.onnx",
    ):
        assert (tmp_path / "ok" / name).stat().st_size > 0


def test_altered_nir_file_exits_1_and_names_the_divergence(checkpoint, tmp_path, capsys):
    assert _verify(checkpoint, tmp_path / "a") == 0
    graph = nir.read(tmp_path / "a" / "model.nir")
    bad = copy.deepcopy(graph)
    aff = next(n for n in bad.nodes.values() if isinstance(n, nir.Affine))
    aff.weight = np.asarray(aff.weight) * -1.0
    nir.write(tmp_path / "bad.nir", bad)
    assert _verify(checkpoint, tmp_path / "b", "--nir", str(tmp_path / "bad.nir")) == 1
    err = capsys.readouterr().err
    assert "nirsim" in err and "first divergence at layer" in err


def test_unusable_inputs_exit_2(tmp_path, checkpoint):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert _verify(tmp_path / "junk.pt", tmp_path / "x") == 2
    assert _verify(tmp_path / "missing.pt", tmp_path / "y") == 2
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    assert _verify(checkpoint, tmp_path / "z", "--nir", str(tmp_path / "junk.nir")) == 2
    assert main(["verify", str(checkpoint), "--data", "nosuchdata", "--out", str(tmp_path / "w")]) == 2
