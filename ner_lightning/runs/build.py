"""The data module and tagger of a composed (user) configuration, for ``train`` and the benchmarks.

(A checkpoint's stored settings are never built here: see :mod:`ner_lightning.data.stored`.)
"""

from __future__ import annotations

from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ner_lightning.assets.pretrained import load_config
from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.errors import ConfigError, NerError
from ner_lightning.models.tagger import Tagger
from ner_lightning.models.transformer import chars_per_window


def build_datamodule(cfg: DictConfig) -> NerDataModule:
    """``cfg.data``; transformer encoders get their tokenizer (one token per character) and sentence pieces of at
    most the encoder's own limit (``chars_per_window`` of its config: 510 for BERT) unless the data config sets
    them."""
    extra: dict[str, Any] = {}
    if cfg.model.encoder.get("type") == "transformer":
        extra["tokenizer"] = cfg.data.get("tokenizer") or cfg.model.encoder.pretrained
        extra["max_len"] = cfg.data.get("max_len") or chars_per_window(load_config(cfg.model.encoder.pretrained))
    encoder = cfg.model.encoder
    if encoder.get("bigrams"):
        extra["bigrams"] = True
    if encoder.get("lexicon"):
        extra["lexicon"] = cfg.data.get("lexicon") or "jieba"
    elif cfg.data.get("lexicon"):
        raise ConfigError(
            f"data.lexicon={cfg.data.lexicon}: the model takes no lexicon features; set model.encoder.lexicon=true "
            "(or experiment=lexicon)"
        )
    return hydra.utils.instantiate(cfg.data, **extra)


def build_model(cfg: DictConfig, dm: NerDataModule) -> Tagger:
    """The tagger of ``cfg.model`` (instantiated by Hydra) sized for ``dm``'s labels and vocabulary."""
    try:
        # partial: the tagger's own ``config`` argument would clash with instantiate's first parameter
        build = hydra.utils.instantiate(cfg.model, _partial_=True, _convert_="all")
        return build(
            labels=dm.labels,
            vocab=dm.vocab.to_dict(),
            scheme=dm.scheme,
            optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
            scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
            config=OmegaConf.to_container(cfg, resolve=True),
        )
    except TypeError as err:  # an argument the tagger does not take (e.g. a misspelt model.* key)
        raise ConfigError(f"model ({cfg.model.get('_target_')}): {err}") from None
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, NerError) or cause is None:
            raise
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
        raise ConfigError(f"model ({cfg.model.get('_target_')}): {reason}") from None
