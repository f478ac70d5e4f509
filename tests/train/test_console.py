"""What a newcomer sees (issue 21): the console of train (in a terminal, with its progress bar), evaluate, predict
and export holds the run's own lines, not library tips, deprecation warnings or a logger version."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import corpus_args

NOISE = [
    "GPU available", "TPU available", "💡", "Tip:", "litlogger", "_pytree", "LeafSpec", "Warning", "warn(",
    "`Trainer.fit` stopped", "Loading `train_dataloader`", "v_num", "anonymous setting", "Loading weights",
    "Writing model shards", "Traceback",
]  # fmt: skip
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def in_terminal(args: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Run ``python -m ner_lightning.ARGS`` with stdout and stderr on a pseudo-terminal; its exit code and output."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    proc = subprocess.Popen([sys.executable, "-m", *args], stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def noise_in(text: str) -> list[str]:
    return [n for n in NOISE if n in text]


@pytest.fixture(scope="module")
def terminal_run(mini_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("console")
    args = [a for a in corpus_args(mini_corpus) if a != "trainer.enable_progress_bar=false"]
    code, out = in_terminal(
        ["ner_lightning.train", *args, "data.batch_size=8", "trainer.max_epochs=2", f"hydra.run.dir={tmp}/run"],
        tmp,
    )  # fmt: skip
    assert code == 0, out[-3000:]
    return tmp / "run", out


def test_train_in_a_terminal_shows_its_own_lines_only(terminal_run: tuple[Path, str]) -> None:
    _, out = terminal_run
    assert "━" in out, "the progress bar is drawn (a terminal)"
    assert not noise_in(out), noise_in(out)
    plain = ANSI.sub("", out)
    at = plain.index("speed: ")
    # printed above the live progress bar, on a line of its own (not glued to "train/loss_step: 549.2")
    assert plain[at - 1] in "\r\n", repr(plain[at - 80 : at + 20])


def test_evaluate_predict_export_print_no_library_noise(terminal_run: tuple[Path, str], tmp_path: Path) -> None:
    ckpt = terminal_run[0] / "checkpoints" / "last.ckpt"
    for args in (
        ["ner_lightning.evaluate", f"ckpt_path={ckpt}", "data.progress=false", f"hydra.run.dir={tmp_path}/ev"],
        ["ner_lightning.predict", f"ckpt_path={ckpt}", "text=北京欢迎你"],
        ["ner_lightning.export", f"ckpt_path={ckpt}", f"output={tmp_path}/m.onnx", "parity_max=10"],
    ):
        proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not noise_in(proc.stdout + proc.stderr), (args[0], noise_in(proc.stdout + proc.stderr), proc.stderr)


def test_resume_command_has_single_spaces() -> None:
    from ner_lightning.runs.folder import resume_command

    assert resume_command([], "run/last.ckpt") == "python -m ner_lightning.train ckpt_path=run/last.ckpt"
    assert resume_command(["a=1", "b=2"], "x") == "python -m ner_lightning.train a=1 b=2 ckpt_path=x"


def test_wandb_logger_leaves_out_lightnings_anonymous_none(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import WandbLogger as LightningWandb

    from ner_lightning.runs.tracking import WandbLogger

    # Lightning always passes anonymous (None), which W&B warns about; if this stops holding, drop the subclass
    assert LightningWandb(offline=True, save_dir=str(tmp_path))._wandb_init["anonymous"] is None
    assert "anonymous" not in WandbLogger(offline=True, save_dir=str(tmp_path))._wandb_init


def test_one_callback_counts_sentences_and_batch_time(terminal_run: tuple[Path, str]) -> None:
    """The speed line and the run record's budget read one count (RunReport is the TrainThroughput), stored in the
    checkpoint under the key older checkpoints used, so a resumed run keeps counting."""
    import json

    import torch

    from ner_lightning.runs.callbacks import TrainThroughput
    from ner_lightning.runs.console import RunReport

    assert issubclass(RunReport, TrainThroughput) and RunReport(".", {}).state_key == "TrainThroughput"
    run, _ = terminal_run
    budget = json.loads((run / "metrics.json").read_text())["run"]["budget"]
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")["callbacks"]
    counts = [v for k, v in state.items() if k == "TrainThroughput"]
    assert len(counts) == 1 and counts[0]["sentences"] == budget["sentences_seen"] > 0
