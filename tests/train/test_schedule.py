"""An LR schedule is never laid out over more steps than the run has without one line saying so."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_entry, sweep_args


def _lines(err: str, needle: str) -> list[str]:
    return [line for line in err.splitlines() if needle in line]


def test_time_capped_run_says_its_schedule_did_not_finish(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [
        *sweep_args(mini_corpus, tmp_path),
        "experiment=optimized",  # OneCycle over max_epochs x batches = 50 x 18 = 900 steps
        "data.batch_size=8",
        "trainer.max_epochs=50",
        "trainer.max_time=00:00:00:02",
        "~logger",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    code, out, err = run_entry("train", *args, capsys=capsys)
    assert code == 0, err
    start = _lines(err, "trainer.max_time may stop the run before it ends")
    assert len(start) == 1 and "900 steps" in start[0], err[-2000:]
    end = _lines(err, "of the 900 its LR schedule was laid out over")
    assert len(end) == 1, err[-2000:]


def test_tiny_run_says_its_schedule_was_stretched(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [
        *sweep_args(mini_corpus, tmp_path),
        "experiment=optimized",
        "data.batch_size=64",  # 3 batches x 2 epochs = 6 steps
        "trainer.max_epochs=2",
        "~logger",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    code, out, err = run_entry("train", *args, capsys=capsys)
    assert code == 0, err
    assert len(_lines(err, "this run has only 6 optimizer steps")) == 1, err[-2000:]
    assert len(_lines(err, "training stopped at step 6 of the 100")) == 1
