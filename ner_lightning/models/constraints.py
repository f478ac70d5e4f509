"""Tag-scheme constraints for the CRF: which start, end and pairwise transitions BIO / BIOES allow."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ner_lightning.base.labels import normalize_scheme


def allowed_transitions(scheme: str, labels: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    """Which transitions a tag scheme allows, like allennlp's ``allowed_transitions`` with start/end.

    Args:
        scheme: ``BIO`` (IOB2) or ``BIOES``.
        labels: tag names in id order, e.g. ``['O', 'B-LOC', 'I-LOC']``.

    Returns:
        ``(start, end, transitions)`` bool tensors of shapes ``(tags,)``, ``(tags,)``, ``(tags, tags)``;
        ``transitions[i, j]`` is True when tag ``j`` may follow tag ``i``.

    Raises:
        ValueError: for another scheme or a label that is not ``O`` / ``<prefix>-<TYPE>`` of the scheme.
    """
    scheme = normalize_scheme(scheme)
    if scheme not in ("BIO", "BIOES"):
        raise ValueError(f"constraints are defined for BIO and BIOES, got {scheme!r}")
    parsed: list[tuple[str, str | None]] = []
    for label in labels:
        if label == "O":
            parsed.append(("O", None))
        elif len(label) > 2 and label[1] == "-" and label[0] in ("BI" if scheme == "BIO" else "BIES"):
            parsed.append((label[0], label[2:]))
        else:
            raise ValueError(f"label {label!r} is not a {scheme} tag")
    k = len(parsed)
    start = torch.zeros(k, dtype=torch.bool)
    end = torch.zeros(k, dtype=torch.bool)
    trans = torch.zeros(k, k, dtype=torch.bool)
    for j, (pj, tj) in enumerate(parsed):
        start[j] = pj in ("O", "B", "S")
        end[j] = pj in ("O", "B", "I") if scheme == "BIO" else pj in ("O", "E", "S")
        for i, (pi, ti) in enumerate(parsed):
            if scheme == "BIO":
                trans[i, j] = pj != "I" or (pi in ("B", "I") and ti == tj)
            else:  # BIOES: inside an entity only I-/E- of the same type may follow
                if pi in ("B", "I"):
                    trans[i, j] = pj in ("I", "E") and ti == tj
                else:
                    trans[i, j] = pj in ("O", "B", "S")
    return start, end, trans


__all__ = ["allowed_transitions"]
