"""A tiny real run must learn: scores an all-O or random tagger cannot reach (a key-only check passes those)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_train


def test_a_short_real_run_learns(msra_slice: dict[str, Path], tmp_path: Path) -> None:
    """1,400 real MSRA training sentences, 5 epochs of a small BiLSTM+CRF on the CPU (about 20 s).

    Untrained, the same model scores F1 < 0.01 (random emissions) and an all-O tagger scores 0; after these 5
    epochs it reaches about 0.3 on dev and test (measured: dev 0.31, test 0.21 after 4 epochs at lr 5e-3).
    """
    proc = run_train(
        "data=bio", f"data.train_path={msra_slice['train']}", f"data.test_path={msra_slice['test']}",
        "data.dev_size=200", "data.progress=false", "data.batch_size=32", "model.encoder.embedding_dim=64",
        "model.encoder.hidden_size=64", "optimizer.lr=0.01", "trainer.max_epochs=5", "~logger",
        "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["val_best/f1"] > 0.2 and metrics["test/f1"] > 0.15, metrics
    assert metrics["test/precision"] > 0.15 and metrics["test/recall"] > 0.1  # not all-O, not all-entity
    assert metrics["global_step"] == 5 * -(-1400 // 32)
    # test entities seen in the training split (same type and text) and unseen ones: every gold entity in one group
    # (the test file's B- tags), and the seen ones are the easier (a model memorises them first)
    lines = [line for line in msra_slice["test"].read_text().splitlines() if line.strip()]
    gold = sum(line.split()[-1].startswith("B-") for line in lines)
    assert metrics["test/seen_entities"] + metrics["test/unseen_entities"] == gold
    assert metrics["test/seen_entities"] > 0 and metrics["test/unseen_entities"] > 0
    assert metrics["test/seen_f1"] > metrics["test/unseen_f1"] >= 0
    assert "entities seen in the training split (same type and text): F1" in proc.stdout + proc.stderr
