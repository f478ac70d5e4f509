"""The user-facing error types. This module imports nothing of the package, so every layer may raise them.

Each error's message is one line that names what was wrong and where: ``path:line`` or a record for data, the config
key for configuration, the file for checkpoints. Entry points print it as ``error: <message>`` and exit with status
2 (:func:`ner_lightning.runs.cli.run_cli`); ``HYDRA_FULL_ERROR=1`` or ``NER_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations


class NerError(Exception):
    """Base of the errors a user can fix from the message alone."""


class DataError(NerError, ValueError):
    """Bad corpus input; the message names ``path:line`` (or the record number) and the offending text."""


class ConfigError(NerError, ValueError):
    """A configuration value that cannot work; the message names the config key (``data.max_len=-1: ...``)."""


class CheckpointError(NerError):
    """A checkpoint that cannot be loaded or does not fit the data; the message names the file."""


class EncoderError(NerError):
    """A pretrained encoder or tokenizer that cannot be loaded; the message names ``model.encoder.pretrained``."""


class DeviceError(NerError):
    """The trainer asks for hardware this machine does not have."""


class DiskFullError(NerError):
    """The disk (or quota) filled while writing: nothing was written under the final name."""


class TrainingDiverged(NerError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


# The name used before errors.py existed (entry points and tests import it from ner_lightning.runs.cli too).


def require(ok: bool, key: str, value: object, expected: str) -> None:
    """Raise :class:`ConfigError` ``key=value: expected`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}={value!r}: {expected}")


def positive_int(key: str, value: object, allow_none: bool = False, minimum: int = 1) -> int | None:
    """``value`` as an int ``>= minimum`` (``None`` passes when ``allow_none``); else :class:`ConfigError` naming
    ``key``."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    require(ok, key, value, f"expected an integer >= {minimum}" + (" or null" if allow_none else ""))
    return value  # type: ignore[return-value]


def number(key: str, value: object, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a float (``> minimum`` when ``strict``, else ``>= minimum``); else :class:`ConfigError`."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={value!r}: expected a number") from None
    if isinstance(value, bool) or out != out:  # bools and NaN are not numbers here
        raise ConfigError(f"{key}={value!r}: expected a number")
    if minimum is not None and (out <= minimum if strict else out < minimum):
        raise ConfigError(f"{key}={value!r}: expected a number {'>' if strict else '>='} {minimum}")
    return out
