"""Seed 003's comparison on real MSRA, offline: BiLSTM+CRF recipes vs e5-small-offline taggers, same budget.

Every row trains on the same MSRA training subset for the same number of epochs (dev: a fixed slice of train) and is
scored on the full official test set (4,631 sentences). Each row is a real ``python -m ner_lightning.train`` run in
``outputs/benchmarks/msra_table/<row>/``; the table is built from their ``metrics.json``. The last line is JSON.

    python benchmarks/msra_table.py [--train 4000 --epochs 2 --rows baseline,bert_crf_x100 ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

E5 = "model.encoder.pretrained=e5-small-offline"
ROWS: dict[str, list[str]] = {
    "bilstm_crf_baseline": ["experiment=baseline"],
    "bilstm_crf_optimized": ["experiment=optimized"],
    "bilstm_crf_baseline_lac": ["experiment=baseline", "model.encoder.pretrained_embeddings=lac"],
    "e5_softmax": ["experiment=bert", E5],
    "e5_crf_lr_x1": ["experiment=bert_crf", E5, "model.crf_lr_mult=1"],
    "e5_crf_lr_x100": ["experiment=bert_crf", E5, "model.crf_lr_mult=100"],
    "e5_lora_crf": ["experiment=bert_lora", E5],
    # seed 003: one encoder layer, main lr 1e-3, CRF lr x10
    "e5_1layer_crf_lr_x10": [
        "experiment=bert_crf",
        E5,
        "model.encoder.num_layers=1",
        "optimizer.lr=1e-3",
        "model.lr_mult.head=1",
        "model.crf_lr_mult=10",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="training sentences (first N of the train split)")
    parser.add_argument("--dev", type=int, default=500, help="dev sentences used for model selection")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--out", default="outputs/benchmarks/msra_table")
    args = parser.parse_args()
    out = Path(args.out)
    table = []
    for name in args.rows.split(","):
        run_dir = out / name
        cmd = [
            sys.executable,
            "-m",
            "ner_lightning.train",
            *ROWS[name],
            f"data.max_train_samples={args.train}",
            f"data.max_eval_samples={args.dev}",
            f"trainer.max_epochs={args.epochs}",
            "data.progress=false",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "stdout.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        if proc.returncode != 0:
            print(f"{name}: failed ({proc.stderr.strip().splitlines()[-1:]})", flush=True)
            table.append({"row": name, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        m = json.loads((run_dir / "metrics.json").read_text())
        row = {
            "row": name,
            "test_f1": round(100 * m["test/f1"], 2),
            "val_f1": round(100 * m["val/f1_best"], 2),
            "params": m["params"],
            "trainable_params": m["trainable_params"],
            "fit_min": round(m["fit_time_s"] / 60, 1),
            "wall_min": round(wall / 60, 1),
        }
        table.append(row)
        print(
            f"{name}: test F1 {row['test_f1']} (val {row['val_f1']}), {row['trainable_params']:,} trainable of "
            f"{row['params']:,}, fit {row['fit_min']} min",
            flush=True,
        )
    header = "| row | test F1 | best val F1 | params | trainable | fit (min) |\n|---|---|---|---|---|---|"
    lines = [
        f"| {r['row']} | {r.get('test_f1', 'failed')} | {r.get('val_f1', '')} | {r.get('params', 0):,} | "
        f"{r.get('trainable_params', 0):,} | {r.get('fit_min', '')} |"
        for r in table
    ]
    report = (
        f"MSRA: first {args.train} training sentences, {args.epochs} epochs, dev {args.dev}, official test "
        f"(4,631 sentences)\n\n{header}\n" + "\n".join(lines) + "\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(report, encoding="utf-8")
    print(report)
    print(json.dumps({"train": args.train, "epochs": args.epochs, "rows": table}))


if __name__ == "__main__":
    main()
