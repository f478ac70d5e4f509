"""Start rows for the BiLSTM's character, bigram and word tables (``model.encoder.char_vectors`` / ``bigram_vectors``
/ ``word_vectors``).

The sources and how a token without its own vector starts are in :mod:`ner_lightning.assets.vectors`; the rows
of the special ids (padding, ``[UNK]``, ``NONE``) keep the encoder's own initialisation.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

END = "</s>"  # the bigram token's end-of-text half (ner_lightning.data.features.END)


def feature_starts(config: dict[str, Any], vocab: dict[str, Any]) -> dict[str, Tensor]:
    """Pop ``char_vectors`` / ``bigram_vectors`` / ``word_vectors`` from the encoder ``config``; the start tables.

    Returns:
        ``{"char_start": (chars, embedding_dim), "bigram_start": (bigrams, bigram_dim), "word_start": (words,
        word_dim)}`` for the sources given: the rows of the vocabulary's tokens (character and bigram ids from 2,
        word ids from 3 on).
    """
    from ner_lightning.assets.vectors import PACKAGED, source_vectors, start_table, wanted_by
    from ner_lightning.errors import ConfigError

    features = vocab.get("features") or {}
    asked: list[tuple[str, str, str, str, list[str]]] = []  # (key, kind, dim key, source, tokens)
    source = config.pop("char_vectors", None)
    if source is not None:  # beside pretrained_embeddings: refused by the encoder, the one place of that rule
        asked.append(("char_vectors", "chars", "embedding_dim", str(source), list(vocab["itos"][2:])))
    for key, kind, dim_key in (("bigram_vectors", "bigrams", "bigram_dim"), ("word_vectors", "lexicon", "word_dim")):
        source = config.pop(key, None)
        if source is None:
            continue
        if not config.get(kind):
            raise ConfigError(f"model.encoder.{key}={source}: needs model.encoder.{kind}=true")
        tokens = (
            [t.removesuffix(END) for t in features["bigrams"]] if kind == "bigrams" else features["lexicon"]["words"]
        )
        asked.append((key, kind, dim_key, str(source), tokens))
    # a packaged model file (e5: ~100 MB to read and dequantise) is read once for both tables
    loaded = {
        source: source_vectors(source, set().union(*(wanted_by(t) for *_, s, t in asked if s == source)), 0, "")
        for source in {s for *_, s, _ in asked if s in PACKAGED}
    }
    out: dict[str, Tensor] = {}
    for key, kind, dim_key, source, tokens in asked:
        dim = int(config.get(dim_key, 300 if kind == "chars" else 50))
        table, counts = start_table(tokens, source, dim, f"model.encoder.{key}", loaded=loaded.get(source))
        rank_zero_info(
            f"{kind} start ({source}): {counts['whole']:,} own vectors, {counts['chars']:,} from their characters, "
            f"{counts['random']:,} random"
        )
        out[key.replace("_vectors", "_start")] = torch.from_numpy(table)
    return out
