"""CRF speed: ours vs pytorch-crf 0.7.2 in the settings the shipped configs train with, measured in the same run.

Batch 64, length 64 (right-padded, mixed lengths), 7 tags (MSRA BIO) and 21 tags (CLUENER BIO); NLL
forward+backward and Viterbi decoding. Settings: ``plain`` (no constraints), ``baseline`` (BiLSTM+CRF: illegal
scores initialised to -10000, summed loss, constrained decoding), ``optimized`` (the same with a mean loss),
``bert_crf`` (constrained decoding, mean loss, no -10000 init). pytorch-crf gets the same scores (the constrained
ones when decoding), results are checked equal first, and ours and the reference alternate call by call (ABAB);
each figure is a median over repeats, each ratio the median of per-round ratios with its min-max spread.
One thread by default. The last line is one JSON object with times (ms) and ratios per setting.

    python benchmarks/crf_speed.py [--batch 64 --seq 64 --repeats 30 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torchcrf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved, median_ms, ratio, write_record  # noqa: E402

from ner_lightning.inference.viterbi import viterbi_decode  # noqa: E402
from ner_lightning.models.crf import CRF, allowed_transitions  # noqa: E402
from ner_lightning.models.viterbi import viterbi_numpy, viterbi_torch  # noqa: E402

# setting -> (constraints, init_illegal, reduction)
SETTINGS = {
    "plain": (False, False, "sum"),
    "baseline": (True, True, "sum"),
    "optimized": (True, True, "mean"),
    "bert_crf": (True, False, "mean"),
}
TYPES = ["LOC", "ORG", "PER", "ADDRESS", "BOOK", "COMPANY", "GAME", "GOV", "MOVIE", "NAME"]


def bio_labels(k: int) -> list[str]:
    """``O`` plus B-/I- tags of ``(k - 1) // 2`` entity types."""
    return ["O"] + [f"{p}-{t}" for t in TYPES[: (k - 1) // 2] for p in ("B", "I")]


def reference(ours: CRF, constrained: bool) -> torchcrf.CRF:
    """pytorch-crf holding our scores (with illegal moves at -10000 when ``constrained``)."""
    ref = torchcrf.CRF(ours.num_tags, batch_first=True)
    start, end, trans = ours.scores(constrained)
    with torch.no_grad():
        ref.start_transitions.copy_(start)
        ref.end_transitions.copy_(end)
        ref.transitions.copy_(trans)
    return ref


def bench(batch: int, seq: int, k: int, setting: str, repeats: int) -> dict[str, float | list[float]]:
    """Time NLL fwd+bwd and decoding for one setting; assert both implementations agree first."""
    constrained, init_illegal, reduction = SETTINGS[setting]
    g = torch.Generator().manual_seed(k)
    torch.manual_seed(k)  # the CRFs' initial scores
    labels = bio_labels(k)
    constraints = allowed_transitions("BIO", labels) if constrained else None
    ours = CRF(k, constraints=constraints, init_illegal=init_illegal)
    ref_nll, ref_decode = reference(ours, False), reference(ours, True)
    emissions = torch.randn(batch, seq, k, generator=g, requires_grad=True)
    tags = torch.randint(k, (batch, seq), generator=g)
    lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    mask = torch.arange(seq) < lengths.unsqueeze(1)

    nll_ours = ours(emissions, tags, mask, reduction=reduction)
    nll_ref = -ref_nll(emissions, tags, mask, reduction=reduction)
    assert torch.allclose(nll_ours, nll_ref, rtol=1e-5, atol=1e-3), (setting, float(nll_ours), float(nll_ref))
    decoded, lens = ours.decode(emissions, mask)
    assert CRF.to_lists(decoded, lens) == ref_decode.decode(emissions, mask), f"{setting}: decodes differ"

    def nll(crf: torch.nn.Module, sign: float) -> Callable[[], None]:
        def run() -> None:
            emissions.grad = None
            crf.zero_grad(set_to_none=True)
            (sign * crf(emissions, tags, mask, reduction=reduction)).backward()

        return run

    nll_t = interleaved({"ours": nll(ours, 1.0), "ref": nll(ref_nll, -1.0)}, repeats)
    dec_t = interleaved(
        {"ours": lambda: ours.decode(emissions, mask), "ref": lambda: ref_decode.decode(emissions, mask)}, repeats
    )
    nll_r, dec_r = ratio(nll_t["ref"], nll_t["ours"]), ratio(dec_t["ref"], dec_t["ours"])
    key = f"{setting}_k{k}"
    # why three Viterbis: the CPU eager one (numpy) against the tensor one (GPU) and the scripted one (ONNX graph)
    start, end, trans = ours.scores(True, emissions.dtype)
    em = emissions.detach()
    three = {
        "numpy": lambda: viterbi_numpy(em, mask, start, end, trans),
        "torch": lambda: viterbi_torch(em, mask, start, end, trans),
        "scripted": lambda: viterbi_decode(em, mask, start, end, trans),
    }
    assert all(torch.equal(f().masked_fill(~mask, 0), three["numpy"]().masked_fill(~mask, 0)) for f in three.values())
    vit_t = interleaved(three, repeats)
    vs_torch, vs_scripted = ratio(vit_t["torch"], vit_t["numpy"]), ratio(vit_t["scripted"], vit_t["numpy"])
    return {
        f"decode_numpy_ms_{key}": median_ms(vit_t["numpy"]),
        f"decode_torch_ms_{key}": median_ms(vit_t["torch"]),
        f"decode_scripted_ms_{key}": median_ms(vit_t["scripted"]),
        f"decode_torch_vs_numpy_{key}": vs_torch["median"],
        f"decode_scripted_vs_numpy_{key}": vs_scripted["median"],
        f"nll_ours_ms_{key}": median_ms(nll_t["ours"]),
        f"nll_ref_ms_{key}": median_ms(nll_t["ref"]),
        f"decode_ours_ms_{key}": median_ms(dec_t["ours"]),
        f"decode_ref_ms_{key}": median_ms(dec_t["ref"]),
        f"nll_speedup_{key}": nll_r["median"],
        f"nll_speedup_{key}_spread": [nll_r["min"], nll_r["max"]],
        f"decode_speedup_{key}": dec_r["median"],
        f"decode_speedup_{key}_spread": [dec_r["min"], dec_r["max"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--record", default=None, help="also write the result with commit and hardware here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, object] = {"batch": args.batch, "seq": args.seq, "threads": args.threads}
    targets = {"nll": {7: 2.0, 21: 2.0}, "decode": {7: 5.0, 21: 3.0}}
    met = True
    for setting in args.settings:
        for k in (7, 21):
            r = bench(args.batch, args.seq, k, setting, args.repeats)
            result.update(r)
            key = f"{setting}_k{k}"
            ok = all(r[f"{kind}_speedup_{key}"] >= targets[kind][k] for kind in targets)
            met &= ok
            print(
                f"{setting:>9} k={k:>2}: NLL fwd+bwd {r[f'nll_ours_ms_{key}']:.2f} ms vs pytorch-crf "
                f"{r[f'nll_ref_ms_{key}']:.2f} ms ({r[f'nll_speedup_{key}']}x, rounds "
                f"{r[f'nll_speedup_{key}_spread'][0]}-{r[f'nll_speedup_{key}_spread'][1]}); decode "
                f"{r[f'decode_ours_ms_{key}']:.2f} vs {r[f'decode_ref_ms_{key}']:.2f} ms "
                f"({r[f'decode_speedup_{key}']}x){'' if ok else '  BELOW TARGET'}; Viterbi numpy "
                f"{r[f'decode_numpy_ms_{key}']:.2f} ms, tensor {r[f'decode_torch_vs_numpy_{key}']}x that, scripted "
                f"{r[f'decode_scripted_vs_numpy_{key}']}x",
                flush=True,
            )
    result["targets_met"] = met
    write_record(args.record, "crf_speed", sys.argv, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
