"""The project's model builders (mlp / vgg / resnet18) through fold → NIR file → nirsim and ONNX."""

import onnxruntime as ort
import pytest
import torch

from exporters.fold import fold
from exporters.nir import read_nir, to_nir, write_nir
from exporters.onnx import export_onnx_step, prepare, run_onnx_step
from snndeploy.models import ModelConfig, build_model
from snndeploy.nirsim import simulate

CASES = [("mlp", (1,), n) for n in ("lif", "clif", "klif", "ilif")] + [
    ("vgg", (1, 8, 8), "clif"), ("vgg", (1, 8, 8), "lif"), ("resnet18", (3, 8, 8), "lif")]


def _model(name, shape, neuron, seed=0):
    torch.manual_seed(seed)
    m = build_model(
        ModelConfig(name, shape, 4, neuron=neuron, width=1 / 16, depth=2 if name == "vgg" else None)
    )
    with torch.no_grad():
        for p in m.modules():
            if isinstance(p, (torch.nn.Conv2d, torch.nn.Linear)):
                p.weight.mul_(2.0)
    return m.eval()


@pytest.mark.parametrize("name,shape,neuron", CASES)
def test_builders_round_trip_through_a_nir_file(tmp_path, name, shape, neuron):
    model = _model(name, shape, neuron)
    x = torch.rand(4, 3, *shape) * 3
    folded, report = fold(model, x)
    write_nir(tmp_path / "m.nir", to_nir(folded, shape, T=4, report=report, flat=name == "resnet18"))
    y = simulate(read_nir(tmp_path / "m.nir"), x)
    with torch.no_grad():
        assert torch.equal(y, folded(x))


@pytest.mark.parametrize("name,shape,neuron", [("mlp", (1,), "ilif"), ("resnet18", (3, 8, 8), "clif")])
def test_builders_export_to_onnx(tmp_path, name, shape, neuron):
    model = _model(name, shape, neuron)
    c = export_onnx_step(model, tmp_path / "s.onnx", shape)
    x = torch.rand(5, 4, *shape) * 3
    out = run_onnx_step(ort.InferenceSession(str(tmp_path / "s.onnx")), x, c)
    with torch.no_grad():
        ref = prepare(model)(x).numpy()
    assert abs(out["y"] - ref).max() < 1e-4
