"""One run per folder: a resume that would silently change the run's recipe is one error line with the command
that resumes it as it was; a new run never writes into a folder that already holds a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import corpus_args, run_entry
from omegaconf import OmegaConf

from ner_lightning.runs.folder import RunFolderClaim, recipe_changes


def _args(corpus: dict[str, Path]) -> list[str]:
    return [*corpus_args(corpus), "test=false"]


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-3000:]
    return lines[0]


def test_resume_with_another_recipe_is_one_line_naming_the_keys_and_the_right_command(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    code, _, err = run_entry(
        "train", *_args(mini_corpus), "optimizer.lr=0.01", "data.batch_size=16", "trainer.max_epochs=1",
        f"hydra.run.dir={run}", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    last, steps = run / "checkpoints" / "last.ckpt", json.loads((run / "metrics.json").read_text())["global_step"]
    # the same model shapes, so the weights would load: before, this trained on silently with lr 1.5e-3 and
    # batches of 64, in the first run's folder (whose saved config still said 0.01 and 16)
    code, _, err = run_entry(
        "train", *_args(mini_corpus), "trainer.max_epochs=2", f"ckpt_path={last}",
        f"hydra.run.dir={tmp_path / 'fresh'}", capsys=capsys,
    )  # fmt: skip
    line = _one_error(err)
    assert code == 2 and "optimizer.lr: run 0.01, now 0.0015" in line and "data.batch_size: run 16, now 64" in line
    assert json.loads((run / "metrics.json").read_text())["global_step"] == steps, "nothing was trained"
    # the command the error prints resumes the run as it was, with this call's longer max_epochs
    command = line.split("resume with: ", 1)[1].split(" (or resume_changes=allow")[0].split()
    assert command[:3] == ["python", "-m", "ner_lightning.train"] and "trainer.max_epochs=2" in command
    assert "trainer.max_epochs=1" not in command and "optimizer.lr=0.01" in command
    code, _, err = run_entry("train", *command[3:], f"hydra.run.dir={tmp_path / 'fresh2'}", capsys=capsys)
    assert code == 0, err[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 2 * steps and metrics["epochs"] == 2, "resumed in the run's own folder, to epoch 2"


def test_a_new_run_in_a_folder_holding_a_run_is_one_line_and_changes_nothing(
    mini_corpus: dict[str, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "ner_lightning.train", *_args(mini_corpus), "trainer.max_epochs=1"]
    first = subprocess.run([*cmd, f"hydra.run.dir={run}"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    saved = {p: p.read_bytes() for p in [run / "metrics.json", run / ".hydra" / "config.yaml"]}
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    # before: exit 0, a second checkpoint set beside the first (-v1), metrics.json and .hydra/ overwritten
    second = subprocess.run(
        [*cmd, "seed=7", f"hydra.run.dir={run}"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    line = _one_error(second.stderr)
    assert second.returncode == 2 and f"hydra.run.dir={run.resolve()}" in line and "already holds a run" in line
    assert all(path.read_bytes() == data for path, data in saved.items()), "the first run's files were changed"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ckpts


def test_two_runs_claiming_one_folder_in_the_same_second(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Hydra's default folder is outputs/<date>/<time>: two runs started in the same second share it. The first
    claims it before Hydra writes anything; the second stops with one line."""
    config = OmegaConf.create({"task_name": "train", "ckpt_path": None, "hydra": {"run": {"dir": str(tmp_path / "r")}}})
    RunFolderClaim().on_run_start(config)
    assert (tmp_path / "r" / "train.log").is_file()
    with pytest.raises(SystemExit) as stop:
        RunFolderClaim().on_run_start(config)
    assert stop.value.code == 2 and "already holds a run (train.log)" in capsys.readouterr().err
    # other entry points and resumes into the run's own folder are not claims
    RunFolderClaim().on_run_start(OmegaConf.merge(config, {"task_name": "evaluate"}))
    RunFolderClaim().on_run_start(OmegaConf.merge(config, {"ckpt_path": str(tmp_path / "r" / "checkpoints" / "x")}))


def test_recipe_changes_ignore_how_long_and_where_a_run_trains() -> None:
    saved = {
        "seed": 42,
        "optimizer": {"lr": 0.001},
        "trainer": {"max_epochs": 10, "devices": 1, "precision": "32-true"},
        "paths": {"output_dir": "/a"},
        "callbacks": {"pause": {"step": 3}},
    }
    now = OmegaConf.create(
        {
            "seed": 42,
            "optimizer": {"lr": 1e-3},
            "trainer": {"max_epochs": 30, "devices": 2, "precision": "32-true"},
            "paths": {"output_dir": "/b"},
            "callbacks": {},
        }
    )
    assert recipe_changes(now, saved) == []
    now.trainer.precision = "bf16-mixed"
    now.seed = 1
    assert recipe_changes(now, saved) == ["seed: run 42, now 1", "trainer.precision: run '32-true', now 'bf16-mixed'"]
    del now.optimizer.lr
    assert "optimizer.lr: run 0.001, now (unset)" in recipe_changes(now, saved)
