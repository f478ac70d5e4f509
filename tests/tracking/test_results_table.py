"""scripts/results_table.py: benchmark records become the rows they hold (no recipe left out)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "results_table.py"


def _table_module() -> object:
    spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_speed_records_show_every_recipe_and_the_interleaved_shares() -> None:
    rows = _table_module().benchmark_rows  # type: ignore[attr-defined]
    timed = {"benchmark": "train_speed", "command": "python benchmarks/train_speed.py", "result": {
        "matmul_gflop_per_s": 100.0, "lexicon_packed_train_sents_per_s": 26.2,
        "lexicon_unpacked_train_sents_per_s": 41.3, "train_speedup_lexicon": 1.58,
        "train_speedup_lexicon_spread": [1.46, 1.59], "lexicon_unpacked_lstm_gflop_per_s": 45.7,
        "lexicon_unpacked_matmul_fraction": 0.27,
    }}  # fmt: skip
    lines = rows([("speed", timed)])
    assert any(line.startswith("| lexicon | 26.2 | 41.3 | 1.58x | 1.46-1.59 |") for line in lines), lines
    across = {"benchmark": "train_speed", "command": "python benchmarks/train_speed.py --across", "result": {
        "across_mode": "bf16 + fused Adam", "across_baseline_train_sents_per_s": 136.4,
        "across_lexicon_train_sents_per_s": 111.7, "across_lexicon_over_baseline": 0.84,
        "across_lexicon_over_baseline_spread": [0.77, 0.9],
    }}  # fmt: skip
    lines = rows([("across", across)])
    assert "| baseline | 136.4 | 100 % | |" in lines
    assert "| lexicon | 111.7 | 84 % | 77-90 % |" in lines
    assert not any("packed sents/s" in line for line in lines)  # not the packed-vs-unpacked table


def test_lexicon_records_show_each_splits_unknown_shares() -> None:
    rows = _table_module().benchmark_rows  # type: ignore[attr-defined]
    record = {"benchmark": "lexicon", "result": {
        "load": {"words": 349045, "load_s": 0.8, "load_mb": 120.0},
        "setup": {"plain": {"setup_s": 5.0}, "features": {"setup_s": 9.0, "unknown": {
            "train": {"bigrams": 0.072, "word_memberships": 0.01},
            "test": {"bigrams": 0.1315, "word_memberships": 0.023},
        }}, "ratio": 1.8},
    }}  # fmt: skip
    lines = rows([("lexicon", record)])
    test = "| test split: bigrams / SoftLexicon word memberships unknown to the vocabulary | 13.2 % / 2.3 % | - |"
    assert test in lines
    assert any(line.startswith("| train split:") and "7.2 % / 1.0 %" in line for line in lines)
    assert any("| 5.00 s -> 9.00 s (1.80x) | <= 2x |" in line for line in lines)  # an older record: no rounds
    record["result"]["setup"]["rounds"] = [[5.0, 9.5], [4.8, 9.0], [5.2, 8.6]]
    assert any("(1.80x; median of 3: 1.90x, 1.88x, 1.65x) | <= 2x |" in line for line in rows([("lexicon", record)]))


def test_training_rows_show_seen_and_unseen_scores_where_recorded() -> None:
    rows = _table_module().training_rows  # type: ignore[attr-defined]
    metrics = {"test/f1": 0.9, "val_best/f1": 0.93, "test/seen_f1": 0.961, "test/unseen_f1": 0.759,
               "test/seen_entities": 4437.0, "test/unseen_entities": 1755.0}  # fmt: skip
    new, old = rows([("new", {"metrics": metrics}), ("old", {"metrics": {"test/f1": 0.9}})])[2:]
    assert new.endswith("| 96.10 / 75.90 (1,755) |") and old.endswith("| - |")
    assert new.count("|") == old.count("|") == rows([])[0].count("|")


def test_the_recipe_shows_data_seed_and_callback_overrides_but_not_progress() -> None:
    text = _table_module().model_text  # type: ignore[attr-defined]
    command = (
        "python -m ner_lightning.train experiment=lexicon data.dev_size=0 data.lexicon_tags=true seed=7 "
        "callbacks.early_stopping.patience=8 +callbacks.ema.decay=0.999 data.progress=false "
        "trainer.max_time=00:02:25:00"
    )
    got = text({"command": command})
    expected = ("experiment=lexicon", "data.dev_size=0", "data.lexicon_tags=true", "seed=7", "patience=8")
    for shown in (*expected, "+callbacks.ema.decay=0.999"):
        assert f"{shown}`" in got
    assert "progress" not in got and "max_time" not in got
