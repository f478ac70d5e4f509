"""Viterbi decoding for :meth:`ner_lightning.models.crf.CRF.decode`: a tensor version (GPU, tracing) and a numpy
version (CPU eager), performing the same float operations in the same order, so both return pytorch-crf's paths.

Why three Viterbis (this module's two and the scripted one of :mod:`ner_lightning.inference.viterbi`, which an ONNX
graph needs to decode any length): on a CPU the numpy one decodes a batch several times faster than the tensor one
(``python benchmarks/crf_speed.py``: ``decode_torch_vs_numpy_*``), and the tensor one runs on a GPU. One test holds
all three to pytorch-crf's paths (``tests/models/test_crf.py``).

Scores are kept as ``(tags, batch)`` and candidates as ``(from, to, batch)``: the max over the previous tag runs over
the outermost dimension and vectorises over a contiguous ``(to, batch)`` block (a max with indices over an inner
dimension of 7-21 tags is several times slower on CPU). No back-pointers are stored: backtracking recomputes the best
previous tag from the same sums (same floats, first index on ties, like pytorch-crf's ``max``). The emission is added
after the max, as pytorch-crf does, so rounding matches too. Steps past a sequence's end are computed and ignored:
each sequence's final score is read at its own last position and its backtrack starts there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def viterbi_torch(emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor) -> Tensor:
    """Best paths with tensor ops (traceable for a fixed padded length).

    Args:
        emissions: ``(batch, seq, tags)`` float scores.
        mask: ``(batch, seq)`` bool, right-padded, first step on.
        start: ``(tags,)``; end: ``(tags,)``; trans: ``(tags, tags)`` with ``trans[i, j]`` for ``i -> j``.

    Returns:
        ``(batch, seq)`` long tags; positions past a sequence's end repeat its last tag.
    """
    batch, seq, k = emissions.shape
    lengths = mask.sum(1)
    # shape: (from, to, 1)
    trans_3d = trans.unsqueeze(2)
    # shape: (seq, tags, batch)
    emit = emissions.permute(1, 2, 0).contiguous().unbind(0)
    # shape: (tags, batch)
    score = start.unsqueeze(1) + emit[0]
    scores = [score]
    for t in range(1, seq):
        # shape: (from, to, batch) -> (to, batch)
        score = (score.unsqueeze(1) + trans_3d).amax(dim=0) + emit[t]
        scores.append(score)
    # shape: (batch, seq, tags)
    history = torch.stack(scores, dim=0).permute(2, 0, 1).contiguous()
    # shape: (batch, tags): the score at each sequence's own last position
    final = history.gather(1, (lengths - 1).view(batch, 1, 1).expand(batch, 1, k)).squeeze(1)
    # shape: (batch,)
    cur = (final + end).argmax(dim=1)
    out = [cur]
    trans_t = trans.t().contiguous()  # (to, from)
    steps = history.unbind(1)
    for t in range(seq - 2, -1, -1):
        # shape: (batch, from) -> (batch,); steps past a sequence's end keep its last tag
        prev = (steps[t] + trans_t.index_select(0, cur)).argmax(dim=1)
        cur = torch.where(mask[:, t + 1], prev, cur)
        out.append(cur)
    return torch.stack(out[::-1], dim=1)


def viterbi_numpy(emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor) -> Tensor:
    """:func:`viterbi_torch` in numpy (CPU tensors in and out): numpy's per-call cost on these small arrays is a
    fraction of torch's, which dominates a 64-step decode."""
    e = emissions.detach().numpy()
    m = mask.numpy()
    s, en, tr = (x.detach().numpy() for x in (start, end, trans))
    batch, seq, _ = e.shape
    # shape: (seq, tags, batch)
    emit = np.ascontiguousarray(e.transpose(1, 2, 0))
    trans_3d = tr[:, :, None]
    score = s[:, None] + emit[0]
    scores = [score]
    for t in range(1, seq):
        # shape: (from, to, batch) -> (to, batch)
        score = (score[:, None, :] + trans_3d).max(axis=0) + emit[t]
        scores.append(score)
    # shape: (seq, batch, tags)
    history = np.ascontiguousarray(np.stack(scores).transpose(0, 2, 1))
    rows = np.arange(batch)
    lengths = m.sum(1)
    cur = (history[lengths - 1, rows] + en).argmax(axis=1)
    out = [cur]
    trans_t = np.ascontiguousarray(tr.T)
    for t in range(seq - 2, -1, -1):
        prev = (history[t] + trans_t[cur]).argmax(axis=1)
        cur = np.where(m[:, t + 1], prev, cur)
        out.append(cur)
    return torch.from_numpy(np.stack(out[::-1], axis=1).astype(np.int64))
