"""What every entry point shares: one ``error: ...`` line and exit status 2 for errors a user can fix.

``HYDRA_FULL_ERROR=1`` (or ``NER_DEBUG=1``) re-raises instead, so the full traceback is shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ner_lightning.errors import ConfigError, NerError
from ner_lightning.runs.config import resolve_precision

T = TypeVar("T")

__all__ = ["check_config", "fail", "hydra_entry", "one_line", "root_cause", "run_cli"]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


_HYDRA_SET_BY_US = "_NER_HYDRA_FULL_ERROR_SET"


def debug_mode() -> bool:
    """True when the user asked for tracebacks (``HYDRA_FULL_ERROR=1`` or ``NER_DEBUG=1``)."""
    user_hydra = os.environ.get("HYDRA_FULL_ERROR") == "1" and not os.environ.get(_HYDRA_SET_BY_US)
    return user_hydra or os.environ.get("NER_DEBUG") == "1"


# options of optional Hydra plugins -> the extra that installs them
_PLUGIN_EXTRAS = {
    "hydra/sweeper/optuna": "optuna",
    "hydra/launcher/submitit": "slurm",
    "hydra/launcher/ray": "ray",
}


def hydra_message(err: BaseException) -> str:
    """One line for Hydra's multi-line composition errors (the override or option named)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("full_key", "object_type", "Set the environment", "See https"))]
    override = getattr(err, "override", None)
    if override is not None:
        return f"cannot parse the override {override!r}: {lines[0] if lines else type(err).__name__}"
    for plugin, extra in _PLUGIN_EXTRAS.items():  # an option that an optional Hydra plugin provides
        if lines and f"'{plugin}" in lines[0]:
            return f'{lines[0]}: it comes with a Hydra plugin: pip install -e ".[{extra}]"'
    if len(lines) > 1 and lines[1].startswith("Available options"):
        options = [ln for ln in lines[2:] if not ln.startswith(("Config search path", "provider="))]
        return f"{lines[0]}; available: {', '.join(options)}"
    return (
        "; ".join(ln for ln in lines[:3] if not ln.startswith(("Config search path", "provider=")))
        or type(err).__name__
    )


def check_launcher(argv: list[str]) -> None:
    """``hydra/launcher=slurm`` needs SLURM's commands on this machine: without them one line, before Hydra creates
    the sweep folder (submitit would fail with a long traceback and leave an empty ``multirun.yaml`` behind)."""
    import shutil

    chosen = [a.split("=", 1)[1] for a in argv if a.split("=", 1)[0].lstrip("+~") == "hydra/launcher" and "=" in a]
    if chosen and chosen[-1] == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        fail(
            "hydra/launcher=slurm: SLURM is not available here (no sbatch/srun on PATH); run this on the cluster's "
            "login node, or try the same sweep as local processes with hydra/launcher=submitit_local"
        )


def hydra_entry(hydra_main: Callable[[], Any]) -> Any:
    """Run a ``@hydra.main`` function; Hydra's own errors (a bad override, an unknown option) become one line.

    Hydra prints such errors over several lines and exits with 1; here Hydra re-raises them (``HYDRA_FULL_ERROR``
    set for the call) and they leave as ``error: ...`` with status 2, unless the user asked for tracebacks.
    """
    check_launcher(sys.argv[1:])
    if debug_mode():
        added = "HYDRA_FULL_ERROR" not in os.environ
        os.environ["HYDRA_FULL_ERROR"] = "1"  # NER_DEBUG=1: Hydra re-raises too (full traceback)
        try:
            return hydra_main()
        finally:
            if added:
                os.environ.pop("HYDRA_FULL_ERROR", None)
    os.environ["HYDRA_FULL_ERROR"] = os.environ[_HYDRA_SET_BY_US] = "1"
    try:
        return hydra_main()
    except (HydraException, OmegaConfBaseException) as err:
        fail(hydra_message(err))
    except NerError as err:  # raised outside the task (a Hydra callback: the run-folder claim)
        fail(str(err))
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)
        os.environ.pop(_HYDRA_SET_BY_US, None)


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
    """Call ``fn`` with the console quieted (:func:`ner_lightning.runs.console.quiet`); a user error anywhere in the
    cause chain exits with one ``error: ...`` line (status 2)."""
    from ner_lightning.runs.console import quiet

    quiet()
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - filtered below, anything else is re-raised
        cause = root_cause(err)
        if cause is None or debug_mode():
            raise
        fail(one_line(cause))


def check_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first required (``???``) config key that was not set; resolve
    ``trainer.precision=bf16-if-native`` (:func:`~ner_lightning.runs.config.resolve_precision`)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"config key {missing[0]} is required; set it on the command line ({missing[0]}=...)")
    resolve_precision(cfg)
