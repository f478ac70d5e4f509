"""Encoded splits stored compactly: one flat ``int32`` array of ids (and of label ids) with offsets, instead of a
list of per-sentence dicts of Python ints (~36 bytes per character as Python objects vs 4-6 bytes here)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ner_lightning.data.lexicon import dense_sets


class EncodedSplit(Sequence[dict[str, Any]]):
    """Sentences as flat arrays; ``split[i]`` is ``{"input_ids", "labels", "index"}`` (array views, ``index = i``),
    plus ``bigram_ids`` ``(len,)`` and ``lex_ids`` ``(len, 4, K)`` when the split carries those features.

    Args:
        ids: encoded sentences (each a sequence of character ids).
        labels: label-id sequences of the same lengths, or ``None`` for unlabelled text.
        bigrams: bigram-id sequences of the same lengths (optional).
        lexicon: SoftLexicon memberships, flat: ``(offsets, codes, words)`` with ``offsets`` ``(n + 1,)`` into
            ``codes`` / ``words``, each sentence's ``code = position * 4 + set`` sorted (see
            :mod:`ner_lightning.data.lexicon`); densified per item.
        none_id: the word id of an empty SoftLexicon set.
    """

    def __init__(
        self,
        ids: Iterable[Sequence[int]],
        labels: Iterable[Sequence[int]] | None = None,
        bigrams: Iterable[Sequence[int]] | None = None,
        lexicon: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        none_id: int = 1,
    ) -> None:
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
        self.bigrams: np.ndarray | None = None
        if bigrams is not None:
            self.bigrams = _flat(bigrams, np.int32)
            if len(self.bigrams) != len(self.ids):
                raise ValueError("bigrams and ids differ in length")
        self.none_id = none_id
        self.lex_offsets: np.ndarray | None = None
        if lexicon is not None:
            offsets, codes, words = lexicon
            if len(offsets) != len(self.offsets):
                raise ValueError("lexicon offsets and sentences differ in number")
            self.lex_offsets = np.asarray(offsets, dtype=np.int64)
            self.lex_codes = np.asarray(codes, dtype=np.int32)
            self.lex_words = np.asarray(words, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        labels = None if self.labels is None else self.labels[a:b]
        item = {"input_ids": self.ids[a:b], "labels": labels, "index": i}
        if self.bigrams is not None:
            item["bigram_ids"] = self.bigrams[a:b]
        if self.lex_offsets is not None:
            c, d = int(self.lex_offsets[i]), int(self.lex_offsets[i + 1])
            item["lex_ids"] = dense_sets(b - a, self.lex_codes[c:d], self.lex_words[c:d], self.none_id)
        return item

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def lengths(self) -> list[int]:
        """Characters per sentence."""
        return np.diff(self.offsets).tolist()

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        extra = [self.labels, self.bigrams]
        if self.lex_offsets is not None:
            extra += [self.lex_offsets, self.lex_codes, self.lex_words]
        return self.ids.nbytes + self.offsets.nbytes + sum(a.nbytes for a in extra if a is not None)


def _flat(chunks: Iterable[Sequence[int]], dtype: type) -> np.ndarray:
    """One flat array of the concatenated sequences."""
    parts = [np.asarray(c, dtype=dtype) for c in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
