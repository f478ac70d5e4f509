"""A data module rebuilt from settings stored in a checkpoint or sidecar: plain values against an allow-list.

What a checkpoint stores is data, never code: its ``data`` settings are never passed to ``hydra.utils.instantiate``
(a nested ``_target_`` there would run whatever it names). The stored ``_target_`` must name one of the project's own
data modules, every other key must be an argument of that class, and every value a plain scalar or a list of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.data.modules import BioDataModule, ClueDataModule
from ner_lightning.data.tags import normalize_scheme
from ner_lightning.data.vocab import LabelVocab, vocab_from_dict
from ner_lightning.errors import CheckpointError, ConfigError

DATA_MODULES: dict[str, type[NerDataModule]] = {
    "ner_lightning.data.BioDataModule": BioDataModule,
    "ner_lightning.data.datamodule.BioDataModule": BioDataModule,
    "ner_lightning.data.ClueDataModule": ClueDataModule,
    "ner_lightning.data.datamodule.ClueDataModule": ClueDataModule,
}
SAMPLE_CAPS = ("max_train_samples", "max_eval_samples", "max_test_samples")
PLAIN = (str, int, float, bool, type(None))


def allowed_keys(cls: type[NerDataModule]) -> set[str]:
    """The constructor arguments of ``cls`` and of the shared base."""
    keys: set[str] = set()
    for klass in (cls, NerDataModule):
        keys |= {p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "kwargs")}
    return keys


def plain_settings(settings: Mapping[str, Any], where: str) -> tuple[type[NerDataModule], dict[str, Any]]:
    """The data-module class and keyword arguments of ``settings``, checked.

    Raises:
        CheckpointError: naming ``where`` and the key, for a ``_target_`` that is not one of the project's data
            modules, an unknown key, or a value that is not a plain scalar or list of scalars.
    """
    target = settings.get("_target_")
    cls = DATA_MODULES.get(str(target))
    if cls is None:
        raise CheckpointError(
            f"{where}: data._target_={target!r} is not one of the project's data modules "
            f"({', '.join(sorted({k.rsplit('.', 1)[1] for k in DATA_MODULES}))}); refusing to build it"
        )
    keys = allowed_keys(cls)
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "_target_":
            continue
        if key not in keys:
            raise CheckpointError(f"{where}: data.{key} is not a setting of {cls.__name__}; refusing to build it")
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, PLAIN) for v in items):
            kind = type(next(v for v in items if not isinstance(v, PLAIN))).__name__
            raise CheckpointError(f"{where}: data.{key} holds a {kind}, not a plain value; refusing to build it")
        out[key] = list(value) if isinstance(value, list | tuple) else value
    return cls, out


def datamodule_from_settings(model_hparams: Mapping[str, Any], given: Mapping[str, Any], where: str) -> NerDataModule:
    """The data module a checkpoint was trained on (its stored ``config.data``), with ``given`` keys on top, the
    checkpoint's vocabulary, labels and scheme, and whole splits (a training run's sample caps are not inherited).

    Raises:
        CheckpointError: for stored settings that are not plain (see :func:`plain_settings`).
        ConfigError: when ``given`` contradicts the checkpoint (another tag scheme).
    """
    scheme = str(model_hparams["scheme"])
    stored = (model_hparams.get("config") or {}).get("data")
    if "scheme" in given and _scheme(given["scheme"]) != _scheme(scheme):
        raise ConfigError(
            f"data.scheme={given['scheme']}: the checkpoint's model tags {scheme}; evaluation always uses the "
            "checkpoint's scheme and labels (drop data.scheme)"
        )
    if stored is None and "_target_" not in given:
        raise CheckpointError(f"{where}: the checkpoint stores no data config; set data._target_ and the data paths")
    settings = {k: v for k, v in dict(stored or {}).items() if k not in SAMPLE_CAPS}
    cls, kwargs = plain_settings({**settings, **given, "scheme": scheme}, where)
    dm = cls(**kwargs)
    dm.vocab = vocab_from_dict(dict(model_hparams["vocab"]))
    dm.label_vocab = LabelVocab(list(model_hparams["labels"]))
    dm.unknown_types = "error"  # an entity type the checkpoint does not know is a mismatch, not a zero
    return dm


def _scheme(name: Any) -> str:
    """The canonical scheme name, or a one-line error naming ``data.scheme``."""
    try:
        return normalize_scheme(str(name))
    except ValueError as err:
        raise ConfigError(f"data.scheme={name}: {err}") from None
