"""Encoded splits stored compactly: one flat ``int32`` array of ids (and of label ids) with offsets, instead of a
list of per-sentence dicts of Python ints (~36 bytes per character as Python objects vs 4-6 bytes here)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


class EncodedSplit(Sequence[dict[str, Any]]):
    """Sentences as flat arrays; ``split[i]`` is ``{"input_ids", "labels", "index"}`` (array views, ``index = i``).

    Args:
        ids: encoded sentences (each a sequence of character ids).
        labels: label-id sequences of the same lengths, or ``None`` for unlabelled text.
    """

    def __init__(self, ids: Iterable[Sequence[int]], labels: Iterable[Sequence[int]] | None = None) -> None:
        chunks = [np.asarray(s, dtype=np.int32) for s in ids]
        lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
        self.offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
        self.labels: np.ndarray | None = None
        if labels is not None:
            tags = [np.asarray(s, dtype=np.int16) for s in labels]
            self.labels = np.concatenate(tags) if tags else np.zeros(0, dtype=np.int16)
            if len(self.labels) != len(self.ids):
                raise ValueError("labels and ids differ in length")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        labels = None if self.labels is None else self.labels[a:b]
        return {"input_ids": self.ids[a:b], "labels": labels, "index": i}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def lengths(self) -> list[int]:
        """Characters per sentence."""
        return np.diff(self.offsets).tolist()

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return self.ids.nbytes + self.offsets.nbytes + (0 if self.labels is None else self.labels.nbytes)
