"""Training throughput (sentences/s on this CPU) of the BiLSTM+CRF recipes, with our CRF and with pytorch-crf.

Same run, same batches (real MSRA training sentences, batch 64, length-bucketed), same model weights: for
``experiment=baseline`` and ``experiment=optimized`` it times full optimizer steps (forward, CRF loss, backward,
step) with our CRF and with ``pytorch-crf`` 0.7.2 swapped in, and Viterbi decoding of the same batches. The last
line is one JSON object.

    python benchmarks/train_speed.py [--steps 20 --batches-from 2000 --threads 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable

import torch
import torchcrf
from hydra import compose, initialize_config_dir
from torch import Tensor, nn

from ner_lightning.config import config_dir
from ner_lightning.data.datamodule import BioDataModule
from ner_lightning.train import build_model


class TorchCRFAdapter(nn.Module):
    """pytorch-crf behind our CRF's interface (NLL with a reduction, padded decode)."""

    def __init__(self, ours: nn.Module) -> None:
        super().__init__()
        self.crf = torchcrf.CRF(ours.num_tags, batch_first=True)
        self.crf.load_state_dict({k: v for k, v in ours.state_dict().items() if not k.startswith("allowed")})

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        tags = tags.masked_fill(~mask, 0)
        if reduction == "token_mean":
            return -self.crf(emissions, tags, mask, reduction="sum") / mask.sum()
        return -self.crf(emissions, tags, mask, reduction=reduction)

    def decode(self, emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        paths = self.crf.decode(emissions, mask)
        out = torch.zeros(mask.shape, dtype=torch.long)
        for i, p in enumerate(paths):
            out[i, : len(p)] = torch.tensor(p)
        return out, mask.sum(1)


def timed(fn: Callable[[], None], steps: int) -> float:
    """Seconds for ``steps`` calls after two warm-up calls."""
    for _ in range(2):
        fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batches-from", type=int, default=2000, help="training sentences to draw batches from")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, float | int] = {"threads": torch.get_num_threads(), "batch": 64, "steps": args.steps}
    for experiment in ("baseline", "optimized"):
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose(
                "config",
                overrides=[
                    f"experiment={experiment}",
                    "data.progress=false",
                    f"data.max_train_samples={args.batches_from}",
                    "data.max_eval_samples=64",
                    "paths.output_dir=outputs/benchmarks",
                ],
            )
        dm = BioDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
        dm.setup()
        batches = [b for _, b in zip(range(args.steps), dm.train_dataloader())]
        sentences = sum(b["mask"].size(0) for b in batches)
        torch.manual_seed(0)
        ours = build_model(cfg, dm)
        variants = {"ours": ours, "pytorch_crf": copy.deepcopy(ours)}
        variants["pytorch_crf"].head.crf = TorchCRFAdapter(ours.head.crf)
        for name, model in variants.items():
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            it = iter(batches * 3)

            def step(model: nn.Module = model, opt: torch.optim.Optimizer = opt, it=it) -> None:  # noqa: ANN001
                batch = next(it)
                loss = model.head.loss(model.encoder(batch["input_ids"], batch["mask"]), batch["mask"], batch["labels"])
                opt.zero_grad()
                loss.backward()
                opt.step()

            train_s = timed(step, len(batches) - 2)
            model.eval()
            with torch.no_grad():
                hidden = [(model.head.proj(model.encoder(b["input_ids"], b["mask"])), b["mask"]) for b in batches]
            feed = iter(hidden * 3)
            decode_s = timed(lambda f=feed, m=model: m.head.crf.decode(*next(f)), len(batches) - 2)
            n = sentences * (len(batches) - 2) / len(batches)
            result[f"{experiment}_{name}_train_sents_per_s"] = round(n / train_s, 1)
            result[f"{experiment}_{name}_decode_sents_per_s"] = round(n / decode_s, 1)
        for kind in ("train", "decode"):
            ratio = (
                result[f"{experiment}_ours_{kind}_sents_per_s"] / result[f"{experiment}_pytorch_crf_{kind}_sents_per_s"]
            )
            result[f"{experiment}_{kind}_speedup"] = round(ratio, 2)
        print(
            f"{experiment}: train {result[f'{experiment}_ours_train_sents_per_s']} sents/s with our CRF vs "
            f"{result[f'{experiment}_pytorch_crf_train_sents_per_s']} with pytorch-crf "
            f"({result[f'{experiment}_train_speedup']}x); CRF decode {result[f'{experiment}_decode_speedup']}x"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
