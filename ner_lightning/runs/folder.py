"""One run per folder: a resume continues the run it names with that run's settings, and a new run never writes
into a folder that already holds one (checkpoints, results and the saved config of two runs would mix)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback as HydraCallback
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf, open_dict

from ner_lightning.base.lightning_state import checkpoint_epochs_done
from ner_lightning.errors import ConfigError
from ner_lightning.models.checkpoint import read_checkpoint

# Keys a resume may change: how long to train on, where and how it runs, what it logs. Everything else (model,
# data, optimizer, scheduler, seed, precision, clipping, batch limits...) is the run's recipe and must match.
RESUME_FREE = (
    "ckpt_path",
    "resume_changes",
    "paths",
    "logger",
    "callbacks",
    "test",
    "keep_checkpoints",
    "tags",
    "task_name",
    "optimized_metric",
    "pretrained_encoder",  # compared where it is used (model.encoder.pretrained)
    "data.progress",
    "data.num_workers",
    "data.eval_batch_size",
    "trainer.max_epochs",
    "trainer.max_time",
    "trainer.max_steps",
    "trainer.default_root_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "trainer.num_sanity_val_steps",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.sync_batchnorm",
    "trainer.use_distributed_sampler",
    "trainer.deterministic",
)
RUN_MARKS = ("checkpoints", "metrics.json")  # what a run leaves in its folder


def rank() -> int:
    """This process's global rank (Lightning's DDP children carry it in the environment before the trainer runs)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def task_overrides() -> list[str]:
    """The command-line overrides of this run, minus ``ckpt_path`` (to print a resume command)."""
    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.startswith(("ckpt_path=", "+ckpt_path="))]


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` for every leaf of a nested dict (lists and empty dicts are leaves)."""
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _free(key: str) -> bool:
    return any(key == f or key.startswith(f + ".") for f in RESUME_FREE)


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    """The recipe part of ``cfg`` resolved, key by key (a key that cannot resolve here is left out)."""
    out: dict[str, Any] = {}
    for key in cfg:
        if _free(str(key)):
            continue
        try:
            value = cfg[key]
            out[str(key)] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        except Exception:  # noqa: BLE001 - e.g. a ${hydra:...} interpolation outside a Hydra run
            continue
    return out


def recipe_changes(cfg: DictConfig, saved: dict[str, Any]) -> list[str]:
    """``"key: run <old>, now <new>"`` for every recipe key where ``cfg`` differs from the run's saved config."""
    run = {k: v for k, v in _flat(saved).items() if not _free(k)}
    now = {k: v for k, v in _flat(_resolved(cfg)).items() if not _free(k)}
    missing = object()
    changes = []
    for key in sorted(run.keys() | now.keys()):
        old, new = run.get(key, missing), now.get(key, missing)
        if old != new:  # (1 == 1.0: numbers compare by value)
            show = [("(unset)" if v is missing else repr(v)) for v in (old, new)]
            changes.append(f"{key}: run {show[0]}, now {show[1]}")
    return changes


def _key(override: str) -> str:
    """The config key an override sets (``+callbacks.x=1`` -> ``callbacks.x``)."""
    return str(override).split("=", 1)[0].lstrip("+~")


def resume_command(overrides: list[str], ckpt: str) -> str:
    """``python -m ner_lightning.train OVERRIDES ckpt_path=CKPT`` (single spaces, none of them empty)."""
    return " ".join(["python -m ner_lightning.train", *(o for o in overrides if o), f"ckpt_path={ckpt}"])


def _resume_command(run: Path, ckpt: str) -> str:
    """The command that resumes ``run`` with its own overrides and this call's free ones (max_epochs...)."""
    saved = run / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        return f"the overrides the run was started with, and ckpt_path={ckpt}"
    extra = [o for o in task_overrides() if _free(_key(o))]  # this call's max_epochs, devices...
    replaced = {_key(o) for o in extra} | {"ckpt_path"}
    kept = [str(o) for o in OmegaConf.load(saved) if _key(o) not in replaced]
    return resume_command([*kept, *extra], ckpt)


def resume_in_own_folder(cfg: DictConfig) -> list[str]:
    """``ckpt_path=<run>/checkpoints/last.ckpt`` continues ``<run>`` with its own settings: a recipe key that
    differs from the run's saved config is one error line naming the keys and the command that resumes it; the
    output folder becomes that run's (curves and checkpoints in one place) and the fresh, empty Hydra folder is
    removed. Resuming a run that already finished is one error line (nothing would be trained; the test would
    silently run again). ``resume_changes=allow`` resumes with the changes instead: they are printed and returned
    (for the run's metrics.json)."""
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        return []
    state = read_checkpoint(ckpt)  # a missing, empty, truncated or unsafe file is one line here
    run = Path(ckpt).resolve().parent.parent
    saved = (state.get("hyper_parameters") or {}).get("config")
    changes = recipe_changes(cfg, saved) if isinstance(saved, dict) else []
    if changes and cfg.get("resume_changes", "refuse") == "allow":
        rank_zero_info(f"resuming with changed settings (resume_changes=allow): {'; '.join(changes)}")
    elif changes:
        more = f" (+{len(changes) - 4} more)" if len(changes) > 4 else ""
        raise ConfigError(
            f"ckpt_path={ckpt}: this resume changes the run's settings ({'; '.join(changes[:4])}{more}); a resume "
            f"may change only how long and where it trains (trainer.max_epochs, max_time, devices, logging); "
            f"resume with: {_resume_command(run, ckpt)} (or resume_changes=allow to train on with the changes)"
        )
    completed, max_epochs = checkpoint_epochs_done(state), cfg.trainer.get("max_epochs")
    max_steps = cfg.trainer.get("max_steps") or -1
    if (max_epochs is not None and max_epochs >= 0 and completed >= max_epochs) or (
        0 < max_steps <= int(state.get("global_step", 0))
    ):
        raise ConfigError(
            f"ckpt_path={ckpt}: that run already finished ({completed} of trainer.max_epochs={max_epochs} epochs); "
            f"raise trainer.max_epochs to train on, or score it: python -m ner_lightning.evaluate ckpt_path={ckpt}"
        )
    here = Path(cfg.paths.output_dir).resolve()
    if Path(ckpt).resolve().parent.name != "checkpoints" or not (run / ".hydra").is_dir() or run == here:
        return changes
    with open_dict(cfg):
        cfg.paths.output_dir = str(run)
        for logger in (cfg.get("logger") or {}).values():
            if str(logger.get("_target_", "")).endswith("CSVLogger"):  # keep the first part's curves
                logger.version = f"resumed_{len(list((run / str(logger.get('name', 'csv'))).glob('resumed_*'))) + 1}"
    rank_zero_info(f"resuming in the checkpoint's own run folder {run}")
    if not rank() and {p.name for p in here.iterdir()} <= {".hydra", "train.log"}:
        shutil.rmtree(here, ignore_errors=True)
    return changes


def _holds_run(folder: Path) -> list[str]:
    return [name for name in RUN_MARKS if (folder / name).exists()]


def check_fresh_folder(cfg: DictConfig) -> None:
    """A new run (no ``ckpt_path``) in a folder that already holds a run's checkpoints or results: one error line
    (the runs' checkpoints and metrics.json would mix, and the best checkpoint could be the other run's)."""
    if cfg.get("ckpt_path") or rank():
        return
    folder = Path(cfg.paths.output_dir)
    found = _holds_run(folder)
    if found:
        raise ConfigError(
            f"paths.output_dir={folder}: this folder already holds a run ({', '.join(found)}); resume it with "
            f"ckpt_path={folder / 'checkpoints' / 'last.ckpt'} or start the new run in another folder "
            "(hydra.run.dir=...)"
        )


class RunFolderClaim(HydraCallback):
    """Hydra callback: before Hydra writes anything into a training run's folder, claim it (``train.log`` created
    exclusively); a folder that already holds a run, or that a run started in the same second claimed first, is one
    error line — Hydra would otherwise overwrite the other run's saved config."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns an exception raised in a callback into a warning and runs on: this one exits (one line)
        from ner_lightning.runs.cli import fail

        if config.get("task_name") != "train" or rank():
            return
        folder = Path(str(config.hydra.run.dir)).resolve()
        ckpt = config.get("ckpt_path")
        if ckpt and folder in Path(str(ckpt)).resolve().parents:
            return  # resuming in the run's own folder, named explicitly
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".write-probe"
            probe.touch()
            probe.unlink()
        except (FileExistsError, NotADirectoryError):
            fail(f"hydra.run.dir={folder}: is a file (or lies under one), not a folder; choose another run folder")
        except PermissionError:
            fail(f"hydra.run.dir={folder}: not writable; choose a run folder you can write to")
        found = _holds_run(folder)
        try:
            if not found:
                os.close(os.open(folder / "train.log", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            found = ["train.log"]
        if found:
            fail(
                f"hydra.run.dir={folder}: this folder already holds a run ({', '.join(found)}); start the new run "
                "in another folder, or resume that one with ckpt_path=<folder>/checkpoints/last.ckpt"
            )


KEEP_CHECKPOINTS = ("all", "last", "none")


def prune_checkpoints(cfg: DictConfig, best: str, callback: Any = None) -> str:
    """After a finished run (scored; not interrupted or diverged), keep the checkpoints ``keep_checkpoints`` asks
    for: ``all`` (the best and ``last.ckpt``), ``last`` (``last.ckpt`` alone, a real file: the run can still be
    resumed, evaluated, exported) or ``none``. Returns the best checkpoint's path now: ``last.ckpt`` when it held
    the best's weights (a link to it), ``""`` once removed; ``callback`` (the run's checkpoint callback) is told."""
    keep = cfg.get("keep_checkpoints", "all")
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    if keep == "all" or not folder.is_dir():
        return best
    last = folder / "last.ckpt"
    if keep == "last" and last.is_symlink():
        same = best and last.resolve() == Path(best).resolve()
        os.replace(last.resolve(), last)  # the linked checkpoint becomes last.ckpt itself (one rename)
        best = str(last) if same else ""
    for path in folder.iterdir():
        if keep == "last" and path == last:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if keep == "none":
        folder.rmdir()
    kept = "none" if keep == "none" else str(last)
    rank_zero_info(f"checkpoints kept (keep_checkpoints={keep}): {kept}")
    best = best if best and Path(best).exists() else ""
    if callback is not None:
        callback.best_model_path = best
    return best
