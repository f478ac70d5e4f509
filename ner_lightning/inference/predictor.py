"""Text in, entities out: windows for long text, batches sorted by length, offsets into the original string.

Backend-free (numpy and the package's tag/vocabulary code only): :class:`Predictor` does everything but run the
network, which a backend supplies in :meth:`Predictor.tag_ids` (PyTorch checkpoint or ONNX Runtime session).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

import numpy as np

from ner_lightning.base.windows import window_owner, windows
from ner_lightning.data.features import encode_items, pack_items
from ner_lightning.data.tags import tags_to_spans
from ner_lightning.data.vocab import vocab_from_dict


class Entity(TypedDict):
    """One entity: ``text == original[start:end]`` (character offsets, end exclusive)."""

    type: str
    text: str
    start: int
    end: int


def merge_windows(n: int, pieces: Sequence[tuple[int, int, Sequence[int]]]) -> list[int]:
    """One tag id per character from overlapping windows: each character takes the window where it is most central.

    Every character of ``[0, n)`` is covered and tagged exactly once.
    """
    owner = window_owner(n, [(start, end) for start, end, _ in pieces])
    return [int(pieces[k][2][pos - pieces[k][0]]) for pos, k in enumerate(owner)]


class Predictor:
    """Tag texts with a trained model.

    Args:
        labels: label names in id order.
        vocab: the vocabulary's ``to_dict()`` form (character or pretrained-tokenizer vocabulary).
        scheme: tag scheme of ``labels`` (``BIO`` or ``BIOES``).
        max_chars: longest piece the model gets; longer texts go in overlapping windows.
        stride: distance between windows (default: half a window).
        batch_size: pieces per forward pass (pieces are sorted by length first).
    """

    def __init__(
        self,
        labels: Sequence[str],
        vocab: dict[str, Any],
        scheme: str,
        max_chars: int,
        stride: int | None = None,
        batch_size: int = 64,
    ) -> None:
        self.labels = list(labels)
        self.vocab = vocab_from_dict(vocab)
        self.scheme = scheme
        self.max_chars = int(max_chars)
        self.stride = int(stride or max(1, self.max_chars // 2))
        self.batch_size = batch_size
        self.last_rate: float | None = None  # sentences per second of the last predict()

    def tag_ids(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Tag ids ``(batch, seq)`` for ``input_ids`` ``(batch, seq)`` (or ``(batch, seq, F)`` with features) int64
        and bool ``mask`` ``(batch, seq)``."""
        raise NotImplementedError

    def predict(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> list[list[Entity]]:
        """Entities of each text, with offsets into that text. Empty or whitespace-only texts give ``[]``."""
        tags = self.predict_tags(texts, batch_size, progress)
        return [entities(text, t, self.labels, self.scheme) for text, t in zip(texts, tags)]

    def predict_tags(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> list[list[int]]:
        """One tag id per character of each text (``O``'s id, 0, for whitespace-only texts)."""
        start_time = time.perf_counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}, not a string")
        pieces = [
            (i, a, b)
            for i, text in enumerate(texts)
            if text.strip()
            for a, b in windows(len(text), self.max_chars, self.stride)
        ]
        order = sorted(range(len(pieces)), key=lambda j: pieces[j][2] - pieces[j][1])
        results: list[Sequence[int]] = [()] * len(pieces)
        size = batch_size or self.batch_size
        for first in _progress(range(0, len(order), size), progress, len(pieces), size):
            chunk = order[first : first + size]
            chars = [list(texts[pieces[j][0]][pieces[j][1] : pieces[j][2]]) for j in chunk]
            # shape: (batch, seq) ids, or (batch, seq, F) with bigram / lexicon features; mask (batch, seq)
            ids, mask = pack_items(encode_items(self.vocab, chars))
            tagged = self.tag_ids(ids, mask)
            for row, j in enumerate(chunk):
                results[j] = tagged[row, : len(chars[row])].tolist()
        per_text: list[list[tuple[int, int, Sequence[int]]]] = [[] for _ in texts]
        for (i, a, b), tags in zip(pieces, results):
            per_text[i].append((a, b, tags))
        out = [merge_windows(len(t), per_text[i]) if per_text[i] else [0] * len(t) for i, t in enumerate(texts)]
        elapsed = time.perf_counter() - start_time
        self.last_rate = len(texts) / elapsed if elapsed > 0 else None
        return out


def entities(text: str, tag_ids: Sequence[int], labels: Sequence[str], scheme: str) -> list[Entity]:
    """Entities of ``text`` from one tag id per character (ill-formed sequences read as the repair policy does)."""
    spans, _ = tags_to_spans([labels[i] for i in tag_ids], scheme, "repair")
    return [Entity(type=t, text=text[s:e], start=s, end=e) for t, s, e in spans]


def _progress(batches: Iterable[int], show: bool, total: int, size: int) -> Iterable[int]:
    if not show:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, total=-(-total // size), desc="tagging", unit=" batch", mininterval=0.5)
