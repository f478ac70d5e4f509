"""Heads: hidden states -> loss and tag ids. Softmax (token classification) or CRF.

Both take hidden states ``(batch, seq, dim)``, a bool ``mask`` ``(batch, seq)`` (right-padded, first step on) and
labels ``(batch, seq)`` with -100 where there is no label. ``decode`` returns ``(batch, seq)`` tag ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from ner_lightning.base.labels import IGNORE_INDEX
from ner_lightning.errors import ConfigError
from ner_lightning.models.crf import CRF, allowed_transitions


class _Projection(nn.Module):
    """Optional LayerNorm (seed 000 §5.1), dropout and the linear classifier."""

    def __init__(self, input_dim: int, num_labels: int, layer_norm: bool, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(input_dim) if layer_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(input_dim, num_labels)

    def forward(self, hidden: Tensor) -> Tensor:
        # shape: (batch, seq, num_labels)
        return self.classifier(self.dropout(self.norm(hidden)))


class SoftmaxHead(nn.Module):
    """Linear classifier with token-level cross-entropy (seed 000 §7.2: no CRF).

    Args:
        input_dim: hidden size of the encoder.
        labels: label names in id order.
        layer_norm: LayerNorm before the classifier.
        dropout: dropout before the classifier.
    """

    def __init__(self, input_dim: int, labels: Sequence[str], layer_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj = _Projection(input_dim, len(labels), layer_norm, dropout)

    def loss(self, hidden: Tensor, mask: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy over labelled tokens."""
        logits = self.proj(hidden)
        labels = labels.masked_fill(~mask, IGNORE_INDEX)
        return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)

    def decode(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """Per-token argmax, ``(batch, seq)``; 0 on padding."""
        return self.proj(hidden).argmax(-1).masked_fill(~mask, 0)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by learning-rate group."""
        return {"head": list(self.parameters())}


class CRFHead(nn.Module):
    """Linear emissions + our :class:`~ner_lightning.models.crf.CRF`.

    Args:
        input_dim: hidden size of the encoder.
        labels: label names in id order.
        scheme: tag scheme of ``labels`` (for constraints).
        layer_norm: LayerNorm before the classifier (seed 000 §5.1).
        dropout: dropout before the classifier.
        reduction: CRF loss reduction (seed 000: ``sum`` baseline, ``mean`` optimized §5.3).
        constrained_decoding: forbid illegal transitions when decoding.
        constrained_training: also forbid them in the likelihood.
        init_illegal: start illegal transition scores at -10000 (seed 000 §4.2).

    The defaults are the BERT+CRF head's (``conf/model/bert_crf.yaml``); ``conf/model/bilstm_crf.yaml`` sets seed
    000's ``reduction=sum`` and ``init_illegal=True``. Every config states all of them.
    """

    def __init__(
        self,
        input_dim: int,
        labels: Sequence[str],
        scheme: str = "BIO",
        layer_norm: bool = False,
        dropout: float = 0.0,
        reduction: Literal["sum", "mean", "token_mean"] = "mean",
        constrained_decoding: bool = True,
        constrained_training: bool = False,
        init_illegal: bool = False,
    ) -> None:
        super().__init__()
        if reduction not in ("sum", "mean", "token_mean"):
            raise ConfigError(f"model.head.reduction={reduction!r}: expected 'sum', 'mean' or 'token_mean'")
        self.proj = _Projection(input_dim, len(labels), layer_norm, dropout)
        need = constrained_decoding or constrained_training or init_illegal
        constraints = allowed_transitions(scheme, labels) if need else None
        self.crf = CRF(len(labels), constraints, constrain_training=constrained_training, init_illegal=init_illegal)
        # constraints used only to initialise the scores are not enforced afterwards
        self.crf.has_constraints = constrained_decoding or constrained_training
        self.reduction = reduction

    def loss(self, hidden: Tensor, mask: Tensor, labels: Tensor) -> Tensor:
        """CRF negative log-likelihood (-100 labels must lie under the padding)."""
        return self.crf(self.proj(hidden), labels, mask, reduction=self.reduction)

    def decode(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """Viterbi tag ids ``(batch, seq)``; 0 on padding."""
        tags, _ = self.crf.decode(self.proj(hidden), mask)
        return tags

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by learning-rate group: the classifier in ``head``, transitions in ``crf``."""
        return {"head": list(self.proj.parameters()), "crf": list(self.crf.parameters())}


def build_head(kind: str, input_dim: int, labels: Sequence[str], scheme: str, **kwargs: object) -> nn.Module:
    """``softmax`` or ``crf`` head (``model.head.type``)."""
    heads = {
        "softmax": lambda: SoftmaxHead(input_dim, labels, **kwargs),
        "crf": lambda: CRFHead(input_dim, labels, scheme, **kwargs),
    }  # type: ignore[arg-type]
    if kind not in heads:
        raise ConfigError(f"model.head.type={kind!r}: expected 'softmax' or 'crf'")
    try:
        return heads[kind]()
    except TypeError as err:  # a key the head does not take
        raise ConfigError(f"model.head: {err}") from None


__all__ = ["CRFHead", "SoftmaxHead", "build_head"]
