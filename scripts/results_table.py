"""Generate ``results/README.md`` from the run records in ``results/*.json`` (never type figures by hand).

python scripts/results_table.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ner_lightning.runs.records import budget_text  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"


def hardware_text(h: object) -> str:
    """Recorded hardware: a dict from ``compare --record`` or a line written with an older record."""
    if not isinstance(h, dict):
        return str(h or "-")
    gpus = ", ".join(h.get("gpus") or [])
    return f"{gpus or h.get('cpu', '?')}, {h.get('torch_threads', '?')} torch thread(s)"


def commit_text(record: dict) -> str:
    """The commit a run started from (short), marked when the tree had uncommitted changes."""
    commit = str(record.get("commit") or "")[:7] or "-"
    return commit + (" + uncommitted changes" if record.get("dirty") else "")


def model_text(record: dict) -> str:
    """The recipe and its sizes: ``experiment=... (the overrides that change what is trained: model, optimizer,
    schedule, precision, data, callbacks, seed), 5.0M / 5.0M``; the time cap shows in the budget column."""
    command = record.get("command") or ""
    keep = ("experiment=", "model=", "model.", "pretrained_encoder=", "trainer.precision=", "optimizer.", "scheduler=")
    keep += ("data.", "callbacks.", "seed=")
    quiet = ("data.progress=", "data.num_workers=")  # how it runs, not what it trains
    chosen = [a for a in command.split() if a.lstrip("+").startswith(keep)]  # +key=: an added key
    parts = [a for a in chosen if not a.lstrip("+").startswith(quiet)] or ["defaults"]
    m = record.get("metrics") or {}
    sizes = ""
    if "params" in m and "trainable_params" in m:
        sizes = f", {m['params'] / 1e6:.1f}M / {_millions(m['trainable_params'])}"
    return " ".join(f"`{p}`" for p in parts) + sizes


def _millions(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.0f}k"


def _lstm_rate(res: dict, recipe: str) -> str:
    rate = res.get(f"{recipe}_unpacked_lstm_gflop_per_s")
    if rate is None:
        return "-"
    return f"{rate} ({res[f'{recipe}_unpacked_matmul_fraction']:.0%} of {res['matmul_gflop_per_s']})"


def training_rows(records: list[tuple[str, dict]]) -> list[str]:
    rows = [
        "| record | commit | recipe (params / trainable) | budget | hardware | val F1 (best) | test F1 "
        "| LOC | ORG | PER | test F1 on entities seen in training / unseen (unseen entities) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records:
        m = r.get("metrics") or {}
        if "test/f1" not in m:
            continue

        def pct(key: str, m: dict = m) -> str:
            return f"{100 * m[key]:.2f}" if key in m else "-"

        b = r.get("budget")
        budget = budget_text(b) if isinstance(b, dict) else b or r.get("note") or "-"
        novelty = "-"  # records made before the test split's seen/unseen scores
        if "test/unseen_f1" in m:
            novelty = f"{pct('test/seen_f1')} / {pct('test/unseen_f1')} ({int(m['test/unseen_entities']):,})"
        rows.append(
            f"| {name} | {commit_text(r)} | {model_text(r)} | {budget} "
            f"| {hardware_text(r.get('hardware'))} | {pct('val_best/f1')} | {pct('test/f1')} "
            f"| {pct('test/f1_LOC')} | {pct('test/f1_ORG')} | {pct('test/f1_PER')} | {novelty} |"
        )
    return rows


def inference_rows(records: list[tuple[str, dict]]) -> list[str]:
    rows = [
        "| record | model | backend | sentences/s | × eager | p50 ms | × eager | p95 ms | MB | F1 | drop | mismatched"
        " |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records:
        for model in r.get("models", []):
            label = f"{model['encoder']}+{model['head']} ({model['params'] / 1e6:.1f}M)"
            for backend, x in model["rows"].items():
                rows.append(
                    f"| {name} | {label} | {backend} | {x['sentences_per_s']:.1f} | {x['throughput_x']:.2f} | "
                    f"{x['p50_ms']:.2f} | {x['latency_x']:.2f} | {x['p95_ms']:.2f} | {x['bytes'] / 1e6:.1f} | "
                    f"{x['f1']:.2f} | {x['f1_drop']:.2f} | {x['mismatched_sentences']} / {model['sentences']} |"
                )
    return rows


def server_rows(records: list[tuple[str, dict]]) -> list[str]:
    rows = [
        "| record | backend | client | sentence | concurrency | requests/s | p50 ms | p99 ms | % of batch mode |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records:
        for backend, server in (r.get("server") or {}).items():
            for level in ("c1", "c8", "c32"):
                x = server[level]
                rows.append(
                    f"| {name} | {backend} | {server.get('client', '-')} | {server.get('sentence_chars', '-')} chars "
                    f"| {level[1:]} | {x['requests_per_s']:.1f} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | "
                    f"{100 * x['vs_batch_mode']:.0f} |"
                )
    return rows


def benchmark_rows(records: list[tuple[str, dict]]) -> list[str]:
    """Key figures of ``benchmarks/*.py --record`` results: each with its command, commit and hardware."""
    lines: list[str] = []
    for name, r in records:
        kind, res = r.get("benchmark"), r.get("result") or {}
        if not kind:
            continue
        lines += [
            f"### {name} (`{r.get('command', kind)}`)",
            "",
            f"commit {r.get('commit')}; {hardware_text(r.get('hardware'))}",
            "",
        ]
        if kind == "train_speed" and "across_mode" in res:  # recipes against each other, interleaved
            first = next(k for k in res if k.startswith("across_") and k.endswith("_train_sents_per_s"))
            first = first.removeprefix("across_").removesuffix("_train_sents_per_s")
            lines += [
                f"| recipe ({res['across_mode']}, interleaved) | train sents/s | share of {first}'s | rounds min-max |",
                "|---|---|---|---|",
                f"| {first} | {res[f'across_{first}_train_sents_per_s']} | 100 % | |",
            ]
            for key in (k for k in res if k.startswith("across_") and k.endswith(f"_over_{first}")):
                recipe = key.removeprefix("across_").removesuffix(f"_over_{first}")
                lo, hi = res[f"{key}_spread"]
                lines.append(
                    f"| {recipe} | {res[f'across_{recipe}_train_sents_per_s']} | {100 * res[key]:.0f} % | "
                    f"{100 * lo:.0f}-{100 * hi:.0f} % |"
                )
        elif kind == "train_speed":
            lines += [
                "| recipe | packed sents/s | unpacked sents/s | speed-up | rounds min-max | unpacked LSTM GFLOP/s "
                "(share of this core's fp32 matmul rate) |",
                "|---|---|---|---|---|---|",
            ]
            low = any(k.endswith("_bf16") for k in res)
            if low:  # the header gains a column: the unpacked step under bf16 autocast
                lines[-2] = lines[-2] + " bf16 autocast (not exact): sents/s, speed-up, max BiLSTM output error |"
                lines[-1] = lines[-1] + "---|"
            recipes = [k.removeprefix("train_speedup_") for k in res if k.startswith("train_speedup_")]
            for recipe in (r for r in recipes if not r.endswith(("_spread", "_bf16"))):
                if f"train_speedup_{recipe}" in res:
                    lo, hi = res[f"train_speedup_{recipe}_spread"]
                    bf16 = (
                        f" {res.get(f'{recipe}_unpacked_bf16_train_sents_per_s')}, "
                        f"{res.get(f'train_speedup_{recipe}_bf16')}x, {res.get(f'{recipe}_bf16_max_abs_diff')} |"
                    )
                    lines.append(
                        f"| {recipe} | {res[f'{recipe}_packed_train_sents_per_s']} | "
                        f"{res[f'{recipe}_unpacked_train_sents_per_s']} | {res[f'train_speedup_{recipe}']}x | "
                        f"{lo}-{hi} | {_lstm_rate(res, recipe)} |" + (bf16 if low else "")
                    )
        elif kind == "crf_speed":
            lines += ["| setting | tags | NLL fwd+bwd vs pytorch-crf | decode vs pytorch-crf |", "|---|---|---|---|"]
            for key in sorted(k for k in res if k.startswith("nll_speedup_") and not k.endswith("_spread")):
                setting = key.removeprefix("nll_speedup_")
                lines.append(
                    f"| {setting.rsplit('_k', 1)[0]} | {setting.rsplit('_k', 1)[1]} | {res[key]}x | "
                    f"{res[f'decode_speedup_{setting}']}x |"
                )
        elif kind == "data_scale":
            lines += [
                "| scale | sentences | setup s | pass over batches s | peak MB over interpreter |",
                "|---|---|---|---|---|",
            ]
            for scale, x in (res.get("scales") or {}).items():
                lines.append(
                    f"| {scale} | {x['sentences']:,} | {x['setup_s']:.1f} | {x['epoch_s']:.1f} | {x['peak_mb']:.0f} |"
                )
            ratios = ", ".join(f"{k} {v}" for k, v in res.items() if "ratio" in k)
            lines += ["", f"Per-unit ratios (1.0 = linear): {ratios}."]
        elif kind == "lexicon":
            load, setup, pred = res["load"], res["setup"], res.get("predict")
            rounds = setup.get("rounds") or []
            each = f"; median of {len(rounds)}: " + ", ".join(f"{f / p:.2f}x" for p, f in rounds) if rounds else ""
            lines += [
                "| measure | figure | target |",
                "|---|---|---|",
                f"| jieba lexicon: load + matcher ({load['words']:,} words) | {load['load_s']:.2f} s, "
                f"{load['load_mb']:.0f} MB | <= 5 s, <= 200 MB |",
                f"| MSRA data setup, plain -> bigrams + SoftLexicon | {setup['plain']['setup_s']:.2f} s -> "
                f"{setup['features']['setup_s']:.2f} s ({setup['ratio']:.2f}x{each}) | <= 2x |",
            ]
            for split, unknown in (setup["features"].get("unknown") or {}).items():
                lines.append(
                    f"| {split} split: bigrams / SoftLexicon word memberships unknown to the vocabulary | "
                    f"{100 * unknown['bigrams']:.1f} % / {100 * unknown['word_memberships']:.1f} % | - |"
                )
            if pred:
                lines.append(
                    f"| predict {pred['sentences']:,} MSRA test sentences, batch 64: share spent on features | "
                    f"{pred['features_s']:.2f} of {pred['predict_s']:.2f} s "
                    f"({100 * pred['features_share']:.1f} %) | <= 20 % |"
                )
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=RESULTS, help="folder of JSON records (default: results/)")
    results = parser.parse_args().dir
    records = [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(results.glob("*.json"))]
    hardware = {name: hardware_text(r.get("hardware")) for name, r in records}
    text = [
        "# Recorded runs",
        "",
        "Generated by `python scripts/results_table.py` from the JSON records beside this file; each record names its",
        "commit, command, hardware and budget.",
        "",
        "## Training (real MSRA, official test split)",
        "",
        *training_rows(records),
        "",
        "## Inference (`benchmarks/inference.py`, MSRA official test, CPU)",
        "",
        *[f"- {n}: {h}" for n, h in hardware.items() if any(x.get("models") for m, x in records if m == n)],
        "",
        *inference_rows(records),
        "",
        "## Server (`ner_lightning.serve`, one sentence per request, client on the same machine)",
        "",
        "`% of batch mode`: requests/s over the same backend's batch-mode sentences/s on the same sentence.",
        "",
        *server_rows(records),
        "",
        "## Benchmarks (`benchmarks/*.py --record`)",
        "",
        *benchmark_rows(records),
    ]
    (results / "README.md").write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {results / 'README.md'} from {len(records)} records")


if __name__ == "__main__":
    main()
