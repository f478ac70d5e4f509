"""Kill a real training process (``kill -9``), resume it from ``last.ckpt``, and get the uninterrupted run's state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch


def _args(corpus: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "ner_lightning.train", "data=bio", f"data.train_path={corpus['train']}",
        f"data.test_path={corpus['test']}", "data.dev_size=100", "data.max_train_samples=500", "data.progress=false",
        "model.encoder.embedding_dim=32", "model.encoder.hidden_size=32", "model.encoder.dropout=0",
        "optimizer.lr=0.03", "trainer.max_epochs=4", "~logger", "trainer.enable_progress_bar=false", "test=false",
        "callbacks.early_stopping.patience=100", f"hydra.run.dir={out}", *extra,
    ]  # fmt: skip


def _wait_for_checkpoint(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if path.is_file():
            time.sleep(0.5)  # let the write finish; the next epoch is under way
            try:
                torch.load(path, weights_only=True, map_location="cpu")
                return
            except Exception:  # noqa: BLE001 - still being written
                continue
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail("no last.ckpt appeared")


def test_kill_9_then_resume_equals_an_uninterrupted_run(msra_slice: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run(_args(msra_slice, tmp_path / "full"), capture_output=True, text=True, env=env, cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        _args(msra_slice, killed_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    last = killed_dir / "checkpoints" / "last.ckpt"
    _wait_for_checkpoint(last, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(last, weights_only=True, map_location="cpu")
    assert killed_at["global_step"] < 4 * -(-500 // 64)  # it really was interrupted before the end

    resumed = subprocess.run(
        _args(msra_slice, tmp_path / "resumed", f"ckpt_path={last}"),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # the resumed run continues in the killed run's folder (no second folder for one run)
    assert not (tmp_path / "resumed").exists()

    a = json.loads((tmp_path / "full" / "metrics.json").read_text())
    b = json.loads((killed_dir / "metrics.json").read_text())
    assert b["global_step"] == a["global_step"] and b["epochs"] == a["epochs"]
    for key in ("val/f1_best", "val_best/f1", "val_last/f1", "val_last/loss"):
        assert b[key] == pytest.approx(a[key], abs=1e-4), key
    sa = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    sb = torch.load(killed_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert sb["global_step"] == sa["global_step"]
    for (ka, ta), (kb, tb) in zip(sa["state_dict"].items(), sb["state_dict"].items()):
        assert ka == kb and torch.allclose(ta.float(), tb.float(), atol=1e-4), ka
    opt_a, opt_b = sa["optimizer_states"][0]["state"], sb["optimizer_states"][0]["state"]
    assert opt_a.keys() == opt_b.keys()
    for i in opt_a:
        assert int(opt_a[i]["step"]) == int(opt_b[i]["step"])
        assert torch.allclose(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"], atol=1e-6, rtol=1e-3)


def test_kill_9_while_checkpointing_every_step_on_another_filesystem(
    msra_slice: dict[str, Path], tmp_path: Path
) -> None:
    """The run folder on tmpfs (another filesystem than $TMPDIR, as a cluster's scratch disk), last.ckpt written at
    every step: each kill leaves a loadable last.ckpt, nothing in $TMPDIR, and the resume works."""
    import random
    import shutil

    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (tmpfs /dev/shm) here")
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(private_tmp)}
    run = shm / f"ner-kill-{os.getpid()}" / "run"
    every_step = "callbacks.model_checkpoint.last_every_minutes=0.00001"
    last = run / "checkpoints" / "last.ckpt"
    rng = random.Random(0)
    try:
        for trial in range(3):
            resume = [f"ckpt_path={last}", "resume_changes=allow"] if trial else []
            proc = subprocess.Popen(
                _args(msra_slice, run, every_step, *resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, env=env, cwd=tmp_path,
            )  # fmt: skip
            _wait_for_checkpoint(last, proc)
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            torch.load(last, weights_only=True, map_location="cpu")  # whole, every time
            staged = [p for p in private_tmp.iterdir() if not p.name.startswith("torchinductor")]  # torch's cache
            assert not staged, f"checkpoints were staged in $TMPDIR: {staged}"
        done = subprocess.run(
            _args(msra_slice, run, every_step, f"ckpt_path={last}", "resume_changes=allow"),
            capture_output=True, text=True, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads((run / "metrics.json").read_text())["global_step"] == 4 * -(-500 // 64)
        assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".tmp-")]
    finally:
        shutil.rmtree(run.parent, ignore_errors=True)
