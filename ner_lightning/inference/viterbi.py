"""Viterbi decoding written for export: a TorchScript loop over time, so an ONNX graph decodes any length and batch
(a traced decoder would be fixed to the traced length; training and eager decoding use
:mod:`ner_lightning.models.viterbi`).

It returns exactly :meth:`ner_lightning.models.crf.CRF.decode`'s tags (same operations in the same order): padded
steps keep the last real score and an identity back-pointer, so every row backtracks from the last position.
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.jit.script
def viterbi_decode(emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor) -> Tensor:
    """Best tag ids ``(batch, seq)`` (0 on padding).

    Args:
        emissions: ``(batch, seq, tags)`` float scores.
        mask: ``(batch, seq)`` bool, right-padded, first step on.
        start / end: ``(tags,)`` start and end scores (constraints already applied).
        trans: ``(tags, tags)`` transition scores ``from -> to`` (constraints already applied).
    """
    batch, seq, k = emissions.size(0), emissions.size(1), emissions.size(2)
    trans_t = trans.t().contiguous()
    # shape: (batch, tags)
    score = start.unsqueeze(0) + emissions[:, 0]
    identity = torch.arange(k, device=emissions.device).unsqueeze(0).expand(batch, k)
    history: list[Tensor] = []
    for t in range(1, seq):
        # shape: (batch, to, from) -> best previous tag per current tag
        best, idx = (score.unsqueeze(1) + trans_t.unsqueeze(0)).max(dim=2)
        on = mask[:, t].unsqueeze(1)
        score = torch.where(on, best + emissions[:, t], score)
        history.append(torch.where(on, idx, identity))
    # shape: (batch, 1)
    cur = (score + end.unsqueeze(0)).argmax(dim=1, keepdim=True)
    path: list[Tensor] = [cur]
    for i in range(len(history)):
        cur = history[len(history) - 1 - i].gather(1, cur)
        path.append(cur)
    # shape: (batch, seq): the path was collected from the last position backwards
    tags = torch.flip(torch.cat(path, dim=1), [1])
    return tags.masked_fill(~mask, 0)
