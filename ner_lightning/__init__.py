"""ner_lightning: PyTorch Lightning + Hydra experiments for Chinese named-entity recognition.

``from ner_lightning import load_tagger`` -> ``load_tagger(path).predict(["text", ...])`` (loaded on first use, so
importing the package stays light).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_tagger"]


def __getattr__(name: str) -> Any:
    if name == "load_tagger":
        from ner_lightning.inference import load_tagger

        return load_tagger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
