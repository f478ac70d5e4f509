"""What a newcomer trips on (issue 21): each test fails on the code before the fix."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import corpus_args, ctrl_c_at_marker, pause_args, run_entry


def test_slurm_launcher_without_slurm_is_one_line_and_leaves_nothing(
    mini_corpus: dict[str, Path], tmp_path: Path
) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no sbatch/srun here
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", "-m", "hydra/launcher=slurm", "sweep=recipes", "debug=limit",
         *corpus_args(mini_corpus)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: hydra/launcher=slurm") and "submitit_local" in lines[0]
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_ctrl_c_before_the_first_validation_still_writes_metrics(mini_corpus: dict[str, Path], tmp_path: Path) -> None:
    run, marker = tmp_path / "run", tmp_path / "paused"
    args = [*corpus_args(mini_corpus, 16), "data.batch_size=2", *pause_args(5, marker), f"hydra.run.dir={run}"]
    code, out = ctrl_c_at_marker(args, tmp_path, marker)
    assert code == 130, out[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["run"]["budget"]["stopped_by"] == "interrupted" and metrics["global_step"] == 5
    assert "test/f1" not in metrics and "resume with:" in out


def test_the_prompt_ends_quietly_on_ctrl_c(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    code, _, err = run_entry("train", *corpus_args(mini_corpus), "debug=limit", "test=false", f"hydra.run.dir={run}",
                             capsys=capsys)  # fmt: skip
    assert code == 0, err[-2000:]

    class CtrlC(io.StringIO):
        def readline(self, *args: object) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", CtrlC())
    code, out, err = run_entry("predict", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", capsys=capsys)
    assert code == 0 and "Traceback" not in err and "KeyboardInterrupt" not in err


def test_serve_on_a_taken_port_is_one_line_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_entry("serve", f"ckpt_path={tmp_path / 'none.ckpt'}", f"port={port}", capsys=capsys)
    assert code == 2 and "serving" not in out and err.strip().startswith(f"error: port={port}")
    assert len(err.strip().splitlines()) == 1


def test_a_missing_local_encoder_folder_is_named_as_such(mini_corpus: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code, _, err = run_entry("train", *corpus_args(mini_corpus, None), "model=bert_softmax",
                             f"pretrained_encoder={tmp_path / 'no' / 'such'}", f"hydra.run.dir={tmp_path / 'r'}",
                             capsys=capsys)  # fmt: skip
    assert code == 2 and "no such folder" in err and "unreachable" not in err


@pytest.mark.parametrize("keep", ["last", "none"])
def test_debug_runs_keep_one_checkpoint_or_none(make_cfg: Callable[..., Any], tmp_path: Path, keep: str) -> None:
    """``debug=limit`` keeps ``last.ckpt`` alone, a real file that evaluates and resumes (it kept the best and
    last.ckpt: 60-330 MB a run); ``keep_checkpoints=none`` keeps none. The record says what was kept."""
    from ner_lightning.evaluate import evaluate
    from ner_lightning.train import train

    by_loss = ["callbacks.model_checkpoint.monitor=val/loss", "callbacks.model_checkpoint.mode=max"]
    metrics, _ = train(make_cfg("debug=limit", *by_loss, f"keep_checkpoints={keep}"))
    # monitor val/loss in mode max: the best is epoch 0's, so best and last are two different files before pruning
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["run"]["keep_checkpoints"] == keep and saved["test/f1"] == pytest.approx(metrics["test/f1"])
    folder = tmp_path / "checkpoints"
    if keep == "none":
        assert not folder.exists() and saved["best_checkpoint"] is None
        return
    last = folder / "last.ckpt"
    assert [p.name for p in folder.iterdir()] == ["last.ckpt"] and not last.is_symlink()
    assert saved["best_checkpoint"] is None  # the best (epoch 0) is gone; last.ckpt holds epoch 1
    scores = evaluate(make_cfg(f"ckpt_path={last}", config_name="evaluate", small=False))
    assert 0.0 <= scores["test/f1"] <= 1.0
    _, objects = train(make_cfg("debug=limit", *by_loss, "trainer.max_epochs=3", f"ckpt_path={last}", "test=false"))
    assert objects["trainer"].current_epoch == 3 and [p.name for p in folder.iterdir()] == ["last.ckpt"]


def test_a_debug_run_whose_last_is_its_best_keeps_that_one_file(make_cfg: Callable[..., Any], tmp_path: Path) -> None:
    """When last.ckpt links to the best checkpoint (same step), the best file itself becomes last.ckpt and the
    record names it."""
    from ner_lightning.train import train

    _, objects = train(make_cfg("debug=limit", "callbacks.model_checkpoint.monitor=val/loss",
                                "callbacks.model_checkpoint.mode=min", "optimizer.lr=0.01"))  # fmt: skip
    last = tmp_path / "checkpoints" / "last.ckpt"
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [p.name for p in last.parent.iterdir()] == ["last.ckpt"] and not last.is_symlink()
    assert saved["best_checkpoint"] == str(last) == objects["trainer"].checkpoint_callback.best_model_path


def test_keep_checkpoints_takes_three_values(make_cfg: Callable[..., Any]) -> None:
    from ner_lightning.errors import ConfigError
    from ner_lightning.train import train

    with pytest.raises(ConfigError, match="keep_checkpoints=best: use all or last or none"):
        train(make_cfg("debug=limit", "keep_checkpoints=best"))
