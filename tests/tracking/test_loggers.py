"""TensorBoard + CSV together (logger=many) and the seed summary of compare."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_train, sweep_args

from ner_lightning.compare import compare


def test_many_loggers_write_csv_and_tensorboard_with_transition_images(
    mini_corpus: dict[str, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = [a for a in sweep_args(mini_corpus, tmp_path) if not a.startswith("hydra.sweep.dir")]
    proc = run_train("debug=limit", "logger=many", "trainer.max_epochs=1", *args, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "csv" / "metrics.csv").is_file() and (run / "csv" / "hparams.yaml").is_file()
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: dict[str, set[str]] = {"images": set(), "scalars": set()}
    for event_file in events:  # fit and test write separate files
        acc = EventAccumulator(str(event_file), size_guidance={"images": 0})
        acc.Reload()
        for kind in tags:
            tags[kind] |= set(acc.Tags()[kind])
    assert {"crf/transitions", "test/confusion"} <= tags["images"]
    assert {"val/f1", "test/f1", "train/loss_epoch"} <= tags["scalars"]
    confusion = json.loads((run / "confusion.json").read_text())
    assert (run / "confusion.png").is_file() and len(confusion["counts"]) == len(confusion["labels"]) == 7
    assert sum(map(sum, confusion["counts"])) > 0
    assert len((run / "transitions.jsonl").read_text().strip().splitlines()) == 1  # the numbers, once per epoch


def _fake_run(folder: Path, seed: int, test_f1: float) -> None:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(f"- experiment=baseline\n- seed={seed}\n")
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "val/f1_best": test_f1 + 0.01,
                "test/f1": test_f1,
                "params": 10,
                "trainable_params": 10,
                "epochs": 1,
                "fit_time_s": 2.0,
                "train_sentences": 8,
            }
        )
    )


def test_seed_sweep_is_summarised_as_mean_and_std(tmp_path: Path) -> None:
    for i, (seed, f1) in enumerate([(1, 0.80), (2, 0.82), (3, 0.84)]):
        _fake_run(tmp_path / str(i), seed, f1)
    result = compare([tmp_path])
    assert [r["run"] for r in result["rows"]] == ["seed=1", "seed=2", "seed=3"]
    (group,) = result["seeds"]
    assert group["runs"] == 3 and group["test_f1"] == "82.00 ± 1.63"
    assert "## Over seeds (mean ± std)" in (tmp_path / "comparison.md").read_text()
    assert result["rows"][0]["train_sents_per_s"] == 4.0
