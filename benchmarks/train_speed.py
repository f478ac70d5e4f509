"""Training throughput of the BiLSTM+CRF recipes on this CPU: the unpacked BiLSTM (CPU default) vs the packed one.

Same run, same weights, same real MSRA training batches, same optimizer. The batches are one epoch's
length-bucketed training batches (as in training) picked at evenly spaced quantiles of their padded length, so
their mix of short and long batches is the epoch's (the packed LSTM's cost grows with the square of the length; a
few random batches would misstate it). each round times one full training step (forward, CRF loss,
backward, Adam step) per batch with the packed LSTM and with the unpacked one, alternating batch by batch (ABAB), so
load on a shared machine hits both alike. Reports the median over rounds of sentences/s and of the speed-up, with the
spread (min-max of the per-round ratios). Outputs are checked equal first. It also reports how fast the unpacked
step does the LSTM's multiply-adds against this core's fp32 matmul rate (measured in the same run): the ceiling
any exact fp32 LSTM implementation meets. The last line is one JSON object.

``--bf16`` also times the unpacked step under bfloat16 autocast (what ``trainer.precision=bf16-mixed`` does on a
CPU; the CRF runs in float32 either way) as a third, interleaved model: ``train_speedup_<recipe>_bf16`` against the
same packed fp32 step, and how far its BiLSTM outputs are from float32 (``<recipe>_bf16_max_abs_diff``): not exact.

    python benchmarks/train_speed.py [--threads 1 --batches 12 --rounds 3 --recipes baseline optimized] [--bf16]

``--fused`` (with ``--bf16``) adds the bf16 step with fused Adam (``optimizer.fused=true``, one kernel per step
instead of a dozen passes over every parameter): ``fused_adam_speedup_<recipe>_bf16`` against the default Adam.
``--recipes lexicon`` times the character model with bigram and lexicon features.

``--across`` times the recipes against each other instead: each recipe's training step as training runs it on a
CPU (unpacked BiLSTM; bf16 autocast with ``--bf16``, fused Adam with ``--fused``), the recipes alternating batch by
batch (ABAB, the order flipping every batch), so a speed ratio between recipes carries no load drift:
``across_<recipe>_over_<first recipe>`` is the median of the per-round sentences/s ratios, with their spread.

    python benchmarks/train_speed.py --across --recipes baseline lexicon --bf16 --fused --batches 8
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import ratio, write_record  # noqa: E402

from ner_lightning.runs.build import build_datamodule, build_model  # noqa: E402
from ner_lightning.runs.config import config_dir  # noqa: E402


def recipe_batches(
    experiment: str, sentences: int | None, batches: int, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[object, object, list[dict]]:
    """The recipe's config, datamodule and ``batches`` of one epoch's training batches at evenly spaced quantiles
    of padded length (seed 0)."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                f"experiment={experiment}",
                "data.progress=false",
                f"data.max_train_samples={sentences or 'null'}",
                "data.max_eval_samples=64",
                "paths.output_dir=outputs/benchmarks",
                *overrides,
            ],
        )
    dm = build_datamodule(cfg)
    dm.setup()
    torch.manual_seed(0)
    epoch = sorted(dm.train_dataloader(), key=lambda b: int(b["mask"].size(1)))
    if batches <= 0:
        return cfg, dm, []
    picks = [round((i + 0.5) * len(epoch) / batches - 0.5) for i in range(batches)]
    return cfg, dm, [epoch[i] for i in picks]


def lstm_train_flops(lstm: torch.nn.LSTM, batches: list[dict]) -> float:
    """Multiply-add FLOPs of the BiLSTM's forward and backward (3x forward) over ``batches`` at padded length."""
    total = 0.0
    for batch in batches:
        b, t = batch["mask"].shape
        for layer in range(lstm.num_layers):
            inp = lstm.input_size if layer == 0 else 2 * lstm.hidden_size
            # 2 directions x 2 FLOPs per multiply-add x (batch x steps) x 4 gates x (input + hidden) x hidden
            total += 3 * 2 * 2 * b * t * 4 * lstm.hidden_size * (inp + lstm.hidden_size)
    return total


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """This core's fp32 matrix-multiply throughput (GFLOP/s, best of ``repeats``): the ceiling for an LSTM step."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def training_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: dict, bf16: bool) -> float:
    """Seconds of one training step (forward, CRF loss, backward, optimizer step) on ``batch``."""
    model.train()
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = model.encoder(batch["input_ids"], batch["mask"])
        loss = model.head.loss(hidden, batch["mask"], batch["labels"])
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def across(args: argparse.Namespace, result: dict[str, object]) -> None:
    """The recipes' training steps interleaved batch by batch: sentences/s of each and ratios to the first."""
    runs = {}
    for experiment in args.recipes:
        cfg, dm, batches = recipe_batches(experiment, args.sentences, args.batches)
        torch.manual_seed(0)
        model = build_model(cfg, dm)
        model.encoder.impl = "unpacked"  # the CPU default (impl: auto)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=args.fused)
        runs[experiment] = (model, opt, batches, sum(int(b["mask"].size(0)) for b in batches))
        training_step(model, opt, batches[0], args.bf16)  # warm-up
    names = list(runs)
    speeds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        spent = dict.fromkeys(names, 0.0)
        for i in range(args.batches):
            for name in names if (r + i) % 2 == 0 else names[::-1]:
                model, opt, batches, _ = runs[name]
                spent[name] += training_step(model, opt, batches[i], args.bf16)
        for name in names:
            speeds[name].append(runs[name][3] / spent[name])
        line = ", ".join(f"{n} {speeds[n][-1]:.1f} sents/s" for n in names)
        print(f"round {r + 1}/{args.rounds}: {line}", flush=True)
    mode = ("bf16" if args.bf16 else "fp32") + (" + fused Adam" if args.fused else "")
    result["across_mode"] = mode
    for name in names:
        result[f"across_{name}_train_sents_per_s"] = round(statistics.median(speeds[name]), 1)
    for name in names[1:]:
        # sentences/s of this recipe over the first's, per round: ratio(first's speeds, ...) would invert it
        share = ratio(speeds[name], speeds[names[0]])
        result[f"across_{name}_over_{names[0]}"] = share["median"]
        result[f"across_{name}_over_{names[0]}_spread"] = [share["min"], share["max"]]
        print(
            f"{name}: {result[f'across_{name}_train_sents_per_s']} sents/s = {share['median']:.0%} of "
            f"{names[0]}'s {result[f'across_{names[0]}_train_sents_per_s']} (rounds {share['min']:.0%}-"
            f"{share['max']:.0%}; {mode}, {args.batches} batches a round, {args.threads} thread(s), interleaved)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--batches", type=int, default=12, help="training batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=None, help="first MSRA training sentences (default: all)")
    parser.add_argument("--recipes", nargs="+", default=["baseline", "optimized"])
    parser.add_argument("--bf16", action="store_true", help="also time the unpacked step under bf16 autocast")
    parser.add_argument(
        "--fused", action="store_true", help="with --bf16: also time that step with fused Adam (optimizer.fused)"
    )
    parser.add_argument("--across", action="store_true", help="time the recipes against each other, interleaved")
    parser.add_argument("--record", default=None, help="also write the result with commit and hardware here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, object] = {"threads": args.threads, "batches": args.batches, "rounds": args.rounds}
    if args.across:
        across(args, result)
        write_record(args.record, "train_speed", sys.argv, result)
        print(json.dumps(result))
        return
    result["matmul_gflop_per_s"] = round(matmul_gflops(), 1)
    for experiment in args.recipes:
        cfg, dm, batches = recipe_batches(experiment, args.sentences, args.batches)
        sentences = sum(int(b["mask"].size(0)) for b in batches)
        lengths = [int(b["mask"].size(1)) for b in batches]
        torch.manual_seed(0)
        packed = build_model(cfg, dm)
        packed.encoder.impl = "packed"
        unpacked = copy.deepcopy(packed)
        unpacked.encoder.impl = "unpacked"
        models = {"packed": packed, "unpacked": unpacked}
        if args.bf16:
            models["unpacked_bf16"] = copy.deepcopy(unpacked)
        if args.bf16 and args.fused:
            models["unpacked_bf16_fused"] = copy.deepcopy(unpacked)
        with torch.no_grad():  # same numbers first (eval mode: no dropout)
            outs = [m.eval().encoder(batches[0]["input_ids"], batches[0]["mask"]) for m in (packed, unpacked)]
            assert torch.allclose(outs[0], outs[1], atol=1e-5), "packed and unpacked outputs differ"
            if args.bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    low = models["unpacked_bf16"].eval().encoder(batches[0]["input_ids"], batches[0]["mask"])
                real = batches[0]["mask"]  # [B, T]: the real positions
                diff = (low.float() - outs[0])[real].abs()
                result[f"{experiment}_bf16_max_abs_diff"] = round(float(diff.max()), 4)
                result[f"{experiment}_bf16_mean_abs_diff"] = round(float(diff.mean()), 5)
        optims = {
            name: torch.optim.Adam(m.parameters(), lr=1e-4, fused=name.endswith("fused")) for name, m in models.items()
        }

        def step(name: str, batch: dict, models: dict = models, optims: dict = optims) -> float:
            return training_step(models[name], optims[name], batch, "bf16" in name)

        for name in models:  # warm-up
            step(name, batches[0])
        totals: dict[str, list[float]] = {name: [] for name in models}
        for r in range(args.rounds):
            spent = dict.fromkeys(models, 0.0)
            for i, batch in enumerate(batches):
                order = list(models) if (r + i) % 2 == 0 else list(models)[::-1]
                for name in order:
                    spent[name] += step(name, batch)
            for name in models:
                totals[name].append(spent[name])
            speeds = ", ".join(f"{name} {sentences / spent[name]:.1f} sents/s" for name in models)
            print(f"{experiment} round {r + 1}/{args.rounds}: {speeds}", flush=True)
        speed = ratio(totals["packed"], totals["unpacked"])
        for name in models:
            result[f"{experiment}_{name}_train_sents_per_s"] = round(sentences / statistics.median(totals[name]), 1)
        result[f"train_speedup_{experiment}"] = speed["median"]
        result[f"train_speedup_{experiment}_spread"] = [speed["min"], speed["max"]]
        if args.bf16:
            low = ratio(totals["packed"], totals["unpacked_bf16"])
            result[f"train_speedup_{experiment}_bf16"] = low["median"]
            result[f"train_speedup_{experiment}_bf16_spread"] = [low["min"], low["max"]]
        if "unpacked_bf16_fused" in models:  # fused Adam against the same bf16 step with the default Adam
            fused = ratio(totals["unpacked_bf16"], totals["unpacked_bf16_fused"])
            result[f"fused_adam_speedup_{experiment}_bf16"] = fused["median"]
            result[f"fused_adam_speedup_{experiment}_bf16_spread"] = [fused["min"], fused["max"]]
        result[f"{experiment}_batch_lengths"] = [min(lengths), round(statistics.mean(lengths), 1), max(lengths)]
        # the unpacked step's LSTM arithmetic alone, per second of the whole step, against this core's matmul rate:
        # near 1 means the step is bound by the LSTM's multiply-adds, not by how padding or packing is handled
        rate = lstm_train_flops(unpacked.encoder.lstm, batches) / statistics.median(totals["unpacked"]) / 1e9
        result[f"{experiment}_unpacked_lstm_gflop_per_s"] = round(rate, 1)
        result[f"{experiment}_unpacked_matmul_fraction"] = round(rate / result["matmul_gflop_per_s"], 2)
        print(
            f"{experiment}: unpacked {result[f'{experiment}_unpacked_train_sents_per_s']} sents/s vs packed "
            f"{result[f'{experiment}_packed_train_sents_per_s']} ({speed['median']}x, rounds "
            f"{speed['min']}-{speed['max']}x; {len(batches)} batches at length quantiles of one epoch, "
            f"{sentences} sentences, padded length min/mean/max {result[f'{experiment}_batch_lengths']}, "
            f"{args.threads} thread(s)); the unpacked step does the LSTM's arithmetic at {rate:.1f} GFLOP/s = "
            f"{result[f'{experiment}_unpacked_matmul_fraction']:.0%} of this core's fp32 matmul rate "
            f"({result['matmul_gflop_per_s']} GFLOP/s)",
            flush=True,
        )
        if args.bf16:
            print(
                f"{experiment} under bf16 autocast (not exact: BiLSTM outputs off by up to "
                f"{result[f'{experiment}_bf16_max_abs_diff']}): "
                f"{result[f'{experiment}_unpacked_bf16_train_sents_per_s']} sents/s, "
                f"{result[f'train_speedup_{experiment}_bf16']}x the packed fp32 step",
                flush=True,
            )
    write_record(args.record, "train_speed", sys.argv, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
