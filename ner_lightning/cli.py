"""What every entry point shares: one ``error: ...`` line and exit status 2 for errors a user can fix.

``HYDRA_FULL_ERROR=1`` (or ``NER_DEBUG=1``) re-raises instead, so the full traceback is shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ner_lightning.errors import ConfigError, NerError, UserError

T = TypeVar("T")

__all__ = ["UserError", "check_config", "fail", "one_line", "root_cause", "run_cli"]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def debug_mode() -> bool:
    """True when the user asked for tracebacks (``HYDRA_FULL_ERROR=1`` or ``NER_DEBUG=1``)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("NER_DEBUG") == "1"


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and its causes, outermost first; a context suppressed by ``raise ... from None`` is not followed."""
    out: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and seen not in out:
        out.append(seen)
        seen = seen.__cause__ if (seen.__cause__ is not None or seen.__suppress_context__) else seen.__context__
    return out


def root_cause(err: BaseException) -> BaseException | None:
    """The error to show the user: the outermost :class:`NerError` in ``err``'s chain (Hydra wraps errors raised
    inside ``_target_`` calls), else the outermost OmegaConf error; ``None`` when the chain holds neither."""
    chain = _chain(err)
    for kind in (NerError, OmegaConfBaseException):
        found = next((e for e in chain if isinstance(e, kind)), None)
        if found is not None:
            return found
    return None


def one_line(err: BaseException) -> str:
    """The message of ``err`` as one line (config errors name their key)."""
    text = str(err).strip()
    msg = text.splitlines()[0] if text else type(err).__name__
    if isinstance(err, OmegaConfBaseException):
        key = getattr(err, "full_key", None)
        msg = f"config key {key}: {msg}" if key and key not in msg else msg
    return msg


def run_cli(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; a user error anywhere in the cause chain exits with one ``error: ...`` line (status 2)."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - filtered below, anything else is re-raised
        cause = root_cause(err)
        if cause is None or debug_mode():
            raise
        fail(one_line(cause))


def check_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first required (``???``) config key that was not set."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"config key {missing[0]} is required; set it on the command line ({missing[0]}=...)")
