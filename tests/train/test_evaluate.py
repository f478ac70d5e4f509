"""``evaluate`` scores whole splits and says how many sentences every score is over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpus_args, run_entry


def _scores(out: str) -> tuple[str, dict[str, float]]:
    lines = [line for line in out.splitlines() if line.strip()]
    return next(line for line in lines if line.startswith("test (")), json.loads(lines[-1])


def test_evaluate_scores_the_whole_split_not_the_training_runs_sample_cap(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    args = [*corpus_args(mini_corpus), "trainer.max_epochs=1", "data.max_test_samples=5"]
    code, out, err = run_entry("train", *args, f"hydra.run.dir={run}", capsys=capsys)
    assert code == 0, err[-3000:]
    total = sum(1 for block in mini_corpus["test"].read_text(encoding="utf-8").split("\n\n") if block.strip())
    assert total > 5
    # the training run's test line and metrics.json say it was 5 of the split's sentences
    assert f"5 of {total:,} sentences): F1" in out + err
    assert json.loads((run / "metrics.json").read_text())["test/sentences"] == 5
    ckpt = f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"
    # before: evaluate inherited data.max_test_samples=5 and printed a "test" F1 of 5 sentences, saying nothing
    code, out, err = run_entry("evaluate", ckpt, "trainer.enable_progress_bar=false", capsys=capsys)
    assert code == 0, err[-3000:]
    line, scores = _scores(out)
    assert scores["test/sentences"] == total and f"{total:,} sentences): F1" in line and " of " not in line
    # the whole split's entities, each seen in the training split (same type and text) or not
    gold = sum(row.split()[-1].startswith("B-") for row in mini_corpus["test"].read_text().splitlines() if row.strip())
    assert scores["test/seen_entities"] + scores["test/unseen_entities"] == gold
    assert 0 <= scores["test/unseen_f1"] <= 1 and 0 <= scores["test/seen_f1"] <= 1
    assert "seen" not in line  # the test line's per-type scores are entity types only
    # a cap asked for here is applied, and said
    code, out, err = run_entry(
        "evaluate", ckpt, "data.max_test_samples=3", "trainer.enable_progress_bar=false", capsys=capsys
    )
    line, scores = _scores(out)
    assert code == 0 and scores["test/sentences"] == 3 and f"3 of {total:,} sentences): F1" in line
