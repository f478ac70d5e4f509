"""W&B without an API key: offline automatically, one line saying so, one run per multirun job; no network."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import run_train, sweep_args


def test_multirun_with_wandb_offline_makes_one_run_per_job(mini_corpus: dict[str, Path], tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update({"HOME": str(tmp_path), "WANDB_DISABLE_GIT": "true", "WANDB_SILENT": "true"})
    proc = run_train(
        "-m",
        "experiment=baseline,optimized",
        "debug=limit",
        "logger=[csv,wandb]",
        "trainer.limit_train_batches=2",
        "trainer.max_epochs=1",
        *sweep_args(mini_corpus, sweep),
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "W&B: no API key (set WANDB_API_KEY or run `wandb login`); logging offline to" in proc.stdout + proc.stderr
    runs = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        found = list((job / "wandb").glob("offline-run-*"))
        assert len(found) == 1, list((job / "wandb").iterdir())
        assert list(found[0].glob("*.wandb")), "the offline run holds its log file"
        runs.append(found[0].name.rsplit("-", 1)[-1])
    assert len(runs) == 2 and runs[0] != runs[1]  # two jobs, two distinct runs (wandb.finish between them)
