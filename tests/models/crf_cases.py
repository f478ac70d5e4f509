"""Shared CRF test cases: seeded CRFs and inputs, a decode module for tracing, and one path's score."""

from __future__ import annotations

import torch

from ner_lightning.models.crf import CRF

BIO_LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def seeded_crf(k: int, seed: int = 0, **kwargs: object) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(k, **kwargs).double()
    with torch.no_grad():  # larger scores than the default init make the tests sharper
        for p in (crf.start_transitions, crf.end_transitions, crf.transitions):
            p.normal_()
    return crf


def random_inputs(batch: int, seq: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(batch, seq, k, generator=g, dtype=torch.float64)
    tags = torch.randint(k, (batch, seq), generator=g)
    lengths = torch.randint(1, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    mask = torch.arange(seq) < lengths.unsqueeze(1)
    return emissions, tags, mask


class Decoder(torch.nn.Module):
    """``crf.decode`` as a module, for tracing and export."""

    def __init__(self, crf: CRF) -> None:
        super().__init__()
        self.crf = crf

    def forward(self, e: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.crf.decode(e, m)


def path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...], constrained: bool = False) -> torch.Tensor:
    start, end, trans = crf.scores(constrained, torch.float64)
    score = start[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        score = score + trans[path[t - 1], path[t]] + emissions[t, path[t]]
    return score + end[path[-1]]


MSRA_BIO = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
