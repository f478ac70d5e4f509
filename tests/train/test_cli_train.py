"""The train entry point as a user runs it: one-line GPU error, multirun sweeps over experiments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def run_train(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_gpu_is_one_clear_line(tmp_path: Path) -> None:
    proc = run_train("model=bilstm_crf", "trainer=rtx4090", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: no CUDA GPU found for trainer=rtx4090 (trainer.accelerator=gpu); use trainer=cpu on this machine"
    )


def test_multirun_over_every_experiment(mini_corpus: dict[str, Path], tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        "-m",
        "experiment=glob(*)",
        "debug=fdr",
        "data=bio",
        f"data.train_path={mini_corpus['train']}",
        f"data.test_path={mini_corpus['test']}",
        "data.dev_size=20",
        "data.progress=false",
        "model.encoder.embedding_dim=8",
        "model.encoder.hidden_size=8",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    experiments = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == len(experiments)
    for job, name in zip(jobs, experiments):
        assert f"experiment={name}" in (job / ".hydra" / "overrides.yaml").read_text()
        assert (job / ".hydra" / "config.yaml").is_file() and (job / "metrics.json").is_file()
