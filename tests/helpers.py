"""Helpers shared by test modules (importable as ``helpers``; fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def sweep_args(corpus: dict[str, Path], sweep: Path, tiny: Path | None = None) -> list[str]:
    """Command-line overrides for a quick multirun on the mini corpus into ``sweep`` (``tiny``: the tiny BERT to
    use as ``pretrained_encoder``; otherwise BiLSTMs of size 8)."""
    size = [f"pretrained_encoder={tiny}"] if tiny else ["model.encoder.embedding_dim=8", "model.encoder.hidden_size=8"]
    return [
        "data=bio",
        f"data.train_path={corpus['train']}",
        f"data.test_path={corpus['test']}",
        "data.dev_size=20",
        "data.progress=false",
        *size,
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    ]


def run_train(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ner_lightning.train ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env=env,
    )
