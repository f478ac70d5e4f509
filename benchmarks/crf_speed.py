"""CRF speed: ours vs pytorch-crf 0.7.2, measured in the same run on the CPU.

Batch 64, length 64 (right-padded, mixed lengths), 7 tags (MSRA BIO) and 21 tags (CLUENER BIO); NLL
forward+backward and Viterbi decoding; medians of several repeats after a warm-up. Results are checked equal first.
The last line is one JSON object with raw times (ms) and the speed-up ratios.

    python benchmarks/crf_speed.py [--batch 64 --seq 64 --repeats 30 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torchcrf

from ner_lightning.models.crf import CRF


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench(batch: int, seq: int, k: int, repeats: int) -> dict[str, float]:
    """Time NLL forward+backward and decoding for ``k`` tags; assert both implementations agree."""
    g = torch.Generator().manual_seed(k)
    torch.manual_seed(k)  # the CRFs' initial scores
    ours, ref = CRF(k), torchcrf.CRF(k, batch_first=True)
    ref.load_state_dict({n: p for n, p in ours.state_dict().items() if not n.startswith("allowed")})
    emissions = torch.randn(batch, seq, k, generator=g, requires_grad=True)
    tags = torch.randint(k, (batch, seq), generator=g)
    lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    mask = torch.arange(seq) < lengths.unsqueeze(1)
    mask_u8 = mask.to(torch.uint8)  # pytorch-crf 0.7.2 wants uint8 / bool; bool avoids its deprecation warning

    nll_ours = ours(emissions, tags, mask, reduction="sum")
    nll_ref = -ref(emissions, tags, mask, reduction="sum")
    assert torch.allclose(nll_ours, nll_ref, rtol=1e-5, atol=1e-3), (float(nll_ours), float(nll_ref))
    decoded, lens = ours.decode(emissions, mask)
    assert CRF.to_lists(decoded, lens) == ref.decode(emissions, mask), "decodes differ"
    del mask_u8

    def nll(crf: torch.nn.Module, sign: float) -> Callable[[], None]:
        def run() -> None:
            emissions.grad = None
            crf.zero_grad(set_to_none=True)
            (sign * crf(emissions, tags, mask, reduction="sum")).backward()

        return run

    return {
        f"nll_ours_ms_k{k}": median_ms(nll(ours, 1.0), repeats),
        f"nll_ref_ms_k{k}": median_ms(nll(ref, -1.0), repeats),
        f"decode_ours_ms_k{k}": median_ms(lambda: ours.decode(emissions, mask), repeats),
        f"decode_ref_ms_k{k}": median_ms(lambda: ref.decode(emissions, mask), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, float] = {"batch": args.batch, "seq": args.seq, "threads": torch.get_num_threads()}
    for k in (7, 21):
        times = bench(args.batch, args.seq, k, args.repeats)
        result.update(times)
        result[f"nll_speedup_k{k}"] = round(times[f"nll_ref_ms_k{k}"] / times[f"nll_ours_ms_k{k}"], 2)
        result[f"decode_speedup_k{k}"] = round(times[f"decode_ref_ms_k{k}"] / times[f"decode_ours_ms_k{k}"], 2)
        print(
            f"k={k:>2}: NLL fwd+bwd ours {times[f'nll_ours_ms_k{k}']:.2f} ms vs pytorch-crf "
            f"{times[f'nll_ref_ms_k{k}']:.2f} ms ({result[f'nll_speedup_k{k}']}x); decode ours "
            f"{times[f'decode_ours_ms_k{k}']:.2f} ms vs {times[f'decode_ref_ms_k{k}']:.2f} ms "
            f"({result[f'decode_speedup_k{k}']}x)"
        )
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
