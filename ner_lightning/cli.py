"""Small helpers shared by the entry points: one-line errors instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ner_lightning.data.readers import DataError

T = TypeVar("T")

# Errors a user can fix from the message alone: shown as one line, exit status 2.
USER_ERRORS: tuple[type[BaseException], ...] = (DataError, OmegaConfBaseException, FileNotFoundError)


class UserError(RuntimeError):
    """A configuration or environment problem that deserves one clear line, not a traceback."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def root_cause(err: BaseException) -> BaseException:
    """The innermost user error in ``err``'s cause chain (Hydra wraps errors raised in ``_target_`` calls)."""
    seen: BaseException | None = err
    found = err
    while seen is not None:
        if isinstance(seen, (*USER_ERRORS, UserError)):
            found = seen
        seen = seen.__cause__ or seen.__context__
    return found


def run_cli(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; user errors anywhere in the cause chain exit with one ``error: ...`` line."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - filtered below, anything else is re-raised
        cause = root_cause(err)
        if isinstance(cause, (*USER_ERRORS, UserError)):
            msg = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
            if isinstance(cause, OmegaConfBaseException):
                key = getattr(cause, "full_key", None)
                msg = f"config key {key}: {msg}" if key and key not in msg else msg
            fail(msg)
        raise


def check_config(cfg: DictConfig) -> None:
    """Exit with one line naming the first required (``???``) config key that was not set."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        fail(f"config key {missing[0]} is required; set it on the command line ({missing[0]}=...)")
