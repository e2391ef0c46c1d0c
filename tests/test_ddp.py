"""DDP: two CPU processes (Gloo) launched by torchrun train a few steps and end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

WORKER = textwrap.dedent(
    """
    import os, sys
    import torch
    from snndeploy.data import load_dataset
    from snndeploy.models import ModelConfig, build_model
    from snndeploy.train import TrainConfig, train

    torch.set_num_threads(1)
    out = sys.argv[1]
    data = load_dataset("digits", time_steps=2, limit=96)
    config = ModelConfig("mlp", (1, 8, 8), 10, "clif", width=0.25, dropout=0.1)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1, device="cpu", backend="auto",
                      dist_timeout_s=60)
    res = train(config, data, cfg, out_dir=out)
    rank = int(os.environ["RANK"])
    torch.save(
        {"state": res.model.state_dict(), "world": int(os.environ["WORLD_SIZE"]),
         "train_samples": [r["train_samples"] for r in res.history], "history": len(res.history)},
        f"{out}/rank{rank}.pt",
    )
    """
)


def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    assert r0["history"] == r1["history"] == 2
    # each rank trained on half of the 96 samples; the summed count is the whole set
    assert r0["train_samples"] == r1["train_samples"] == [96, 96]
    s0, s1 = r0["state"], r1["state"]
    assert s0.keys() == s1.keys()
    for k in s0:  # parameters and BatchNorm buffers
        assert torch.equal(s0[k], s1[k]), k
    # the weights moved away from their (seeded) initialisation
    from snndeploy.models import ModelConfig, build_model

    torch.manual_seed(1)
    init = build_model(ModelConfig("mlp", (1, 8, 8), 10, "clif", width=0.25, dropout=0.1)).state_dict()
    assert not torch.equal(init["1.layer.weight"], s0["1.layer.weight"])
    # rank 0 alone wrote the checkpoint and metrics
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1
    for k in s0:
        assert torch.equal(ckpt["model_state"][k], s0[k]), k
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl", "rank0.pt", "rank1.pt"]
