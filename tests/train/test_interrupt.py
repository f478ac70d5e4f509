"""Ctrl-C keeps the work: a real SIGINT mid-epoch leaves a resumable last.ckpt, scores the best checkpoint, and a
resume continues in the same run folder; resuming a finished run is one line. The console of a short run shows
the run folder and an ETA, and no dependency warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import corpus_args, ctrl_c_at_marker, pause_args, record_args, run_entry, trained_sentences, wait_for


def _args(corpus: dict[str, Path]) -> list[str]:
    return [*corpus_args(corpus, 16), "data.batch_size=2"]  # 70 batches an epoch: a SIGINT lands mid-epoch


def _tests_path() -> str:
    """``PYTHONPATH`` for a subprocess that imports ``helpers`` (the tests folder first)."""
    return os.pathsep.join(p for p in (str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")) if p)


def test_sigint_keeps_a_resumable_checkpoint_and_resume_continues_in_the_run_folder(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run, marker, batches = tmp_path / "run", tmp_path / "paused", tmp_path / "batches"
    args = [*_args(mini_corpus), "trainer.max_epochs=50", *record_args(batches)]
    # step 100 = batch 30 of epoch 1, after the first validation (a best to score)
    code, out = ctrl_c_at_marker([*args, *pause_args(100, marker), f"hydra.run.dir={run}"], tmp_path, marker)
    assert code == 130, out[-3000:]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["run"]["budget"]["stopped_by"] == "interrupted" and "test/f1" in metrics
    assert metrics["global_step"] == 100, "the interrupt lands mid-epoch (70 batches an epoch)"
    log = run / "train.log"
    assert "interrupted at step" in log.read_text() and "resume with:" in out

    # resume: same folder, earlier curves kept, training continues from the interrupted step
    code, out, err = run_entry(
        "train", *_args(mini_corpus), "trainer.max_epochs=3", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        f"hydra.run.dir={tmp_path / 'fresh'}", *record_args(batches), capsys=capsys,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    assert not (tmp_path / "fresh").exists(), "the resumed run must not open a second run folder"
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed["global_step"] == 3 * 70 and resumed["run"]["budget"]["stopped_by"] == "max_epochs"
    assert (run / "csv" / "metrics.csv").is_file() and (run / "csv" / "resumed_1" / "metrics.csv").is_file()
    # the interrupted epoch, split over two processes, trained every sentence exactly once (not its first batches
    # twice and its last never)
    assert sorted(trained_sentences(batches, 1)) == list(range(140)), "epoch 1 across the interrupt"
    assert sorted(trained_sentences(batches, 2)) == list(range(140))

    # resuming the finished run: one line, nothing retrained or re-tested
    code, out, err = run_entry(
        "train", *_args(mini_corpus), "trainer.max_epochs=3", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        capsys=capsys,
    )  # fmt: skip
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "already finished" in lines[0], err


def test_short_run_console_shows_folder_eta_and_no_dependency_warnings(
    mini_corpus: dict[str, Path], tmp_path: Path
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *_args(mini_corpus), "debug=limit", f"hydra.run.dir={tmp_path}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert f"run folder: {tmp_path}" in console
    assert "ETA: ~" in console and "training batches per epoch" in console
    for noise in ("Warning", "warn(", "deprecated", "Total FLOPs", "GPU available", "Tip:", "💡"):
        assert noise not in console, f"{noise!r} in the console:\n{console}"
    assert "run folder:" in (tmp_path / "train.log").read_text()
    # the test scores: one line in percent (the epoch lines' unit), not Lightning's table of raw fractions
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "test (epoch_" in console and f"F1 {metrics['test/f1']:.2%}" in console
    assert "Test metric" not in console and f"results: {tmp_path / 'metrics.json'}" in console


def test_last_checkpoint_is_written_mid_epoch_on_a_time_interval(mini_corpus: dict[str, Path], tmp_path: Path) -> None:
    """A long epoch is never lost: with the interval at ~0.01 s, last.ckpt is written during the first epoch;
    the process is killed (-9) while paused at step 50 and the checkpoint holds a mid-epoch step."""
    import torch

    run, marker = tmp_path / "run", tmp_path / "paused"
    cmd = [sys.executable, "-m", "ner_lightning.train", *_args(mini_corpus), "trainer.max_epochs=1"]
    cmd += ["callbacks.model_checkpoint.last_every_minutes=0.0002", f"hydra.run.dir={run}", *pause_args(50, marker)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": _tests_path()}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(marker, proc)  # paused inside the loop at step 50: no write in progress
    proc.kill()
    proc.wait(timeout=60)
    last = run / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert 0 < state["global_step"] <= 50, state["global_step"]  # 70 batches an epoch: saved mid-epoch


def test_last_checkpoint_links_to_an_identical_best_and_never_overwrites_it(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """At a step where the best checkpoint was just saved, last.ckpt is a link to it (one copy on disk); a later
    real save of last.ckpt replaces the link, leaving the best file as it was."""
    import torch

    from ner_lightning.runs.tracking import disk_use

    run = tmp_path / "run"
    args = [*_args(mini_corpus), "data.batch_size=16", "trainer.max_epochs=1", f"hydra.run.dir={run}"]
    code, out, err = run_entry("train", *args, capsys=capsys)
    assert code == 0, err[-2000:]
    last = run / "checkpoints" / "last.ckpt"
    best = Path(json.loads((run / "metrics.json").read_text())["best_checkpoint"])
    assert last.is_symlink() and last.resolve() == best.resolve()
    total, ckpts = disk_use(run / "checkpoints")
    assert ckpts == best.stat().st_size  # one copy
    before = best.read_bytes()
    # one more epoch whose validation is not better can only write last.ckpt as a real file
    code, out, err = run_entry(
        "train", *_args(mini_corpus), "data.batch_size=16", "trainer.max_epochs=2", "optimizer.lr=1e-12",
        "resume_changes=allow", f"ckpt_path={last}", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err[-2000:]
    assert best.read_bytes() == before, "the best checkpoint was overwritten through the link"
    changes = json.loads((run / "metrics.json").read_text())["run"]["resume_changes"]
    assert changes == ["optimizer.lr: run 0.0015, now 1e-12"], "a resume's deliberate change is recorded"
    from ner_lightning.compare import compare

    (row,) = compare([run])["rows"]  # and a comparison says so (the run's .hydra/ holds the first part's settings)
    assert row["budget"] == "full; CHANGED ON RESUME: optimizer.lr"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 2 * 9


@pytest.mark.parametrize(("rank0_says", "step", "saves"), [(False, 40, 0), (True, 40, 1), (True, 41, 0)])
def test_mid_epoch_save_under_ddp_follows_rank_0(tmp_path: Path, rank0_says: bool, step: int, saves: int) -> None:
    """Saving is collective: a process whose own clock says "due" must not save unless rank 0 (broadcast) says so,
    and the question is asked only every ``DDP_CHECK_STEPS`` steps, so all processes save at the same step."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    from ner_lightning.runs.callbacks import RunCheckpoint

    ckpt = RunCheckpoint(dirpath=tmp_path, last_every_minutes=1e-9)  # this process's clock: always due
    asked: list[bool] = []
    strategy = SimpleNamespace(broadcast=lambda obj, src=0: asked.append(obj) or rank0_says)
    trainer = SimpleNamespace(
        world_size=2, global_step=step, strategy=strategy, fast_dev_run=False, sanity_checking=False,
        state=SimpleNamespace(fn=TrainerFn.FITTING),
    )  # fmt: skip
    saved: list[int] = []
    ckpt._save_last_now = lambda t: saved.append(t.global_step)  # type: ignore[method-assign]
    module = SimpleNamespace(automatic_optimization=True)
    ckpt.on_train_batch_end(trainer, module, None, None, 0)  # starts the clock
    ckpt.on_train_batch_end(trainer, module, None, None, 1)
    assert len(saved) == saves and len(asked) == (step % RunCheckpoint.DDP_CHECK_STEPS == 0)


def test_progress_bar_shows_f1_in_percent_like_the_epoch_lines() -> None:
    from types import SimpleNamespace

    from ner_lightning.runs.console import progress_bar

    trainer = SimpleNamespace(loggers=[], progress_bar_metrics={"val/f1": 0.0252, "train/loss_step": 549.2})
    shown = progress_bar().get_metrics(trainer, None)
    assert shown["val/f1"] == "2.52%" and shown["train/loss_step"] == 549.2
