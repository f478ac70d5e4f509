"""Experiment tracking helpers: W&B online/offline choice, run naming and grouping, clean finish per job."""

from __future__ import annotations

import netrc
import os
import socket
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, open_dict

WANDB_HOST = "api.wandb.ai"


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _reachable(host: str = WANDB_HOST, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def configure_wandb(cfg: DictConfig, hydra_cfg: Any | None) -> None:
    """Fill the W&B logger's name/group and choose offline mode when there is no key or no network (in place)."""
    node = (cfg.get("logger") or {}).get("wandb")
    if node is None:
        return
    choices = hydra_cfg.runtime.choices if hydra_cfg is not None else {}
    multirun = hydra_cfg is not None and str(hydra_cfg.mode) == "RunMode.MULTIRUN"
    with open_dict(node):
        if not node.get("name"):
            base = choices.get("experiment") or choices.get("model") or cfg.get("task_name", "run")
            node.name = f"{base}-{hydra_cfg.job.num}" if multirun else base
        if not node.get("group") and multirun:
            node.group = Path(hydra_cfg.sweep.dir).name
        mode = os.environ.get("WANDB_MODE", "")
        if mode in ("offline", "disabled", "dryrun"):
            node.offline = True
        elif not node.get("offline"):
            reason = (
                "no API key (set WANDB_API_KEY or run `wandb login`)"
                if not _has_api_key()
                else (None if _reachable() else f"{WANDB_HOST} is unreachable")
            )
            if reason:
                node.offline = True
                rank_zero_info(
                    f"W&B: {reason}; logging offline to {node.save_dir}/wandb - upload later with "
                    f"`wandb sync {node.save_dir}/wandb/offline-run-*`"
                )


def finish_wandb() -> None:
    """End the current W&B run, so that the next multirun job starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def disk_use(folder: Path) -> tuple[int, int]:
    """Bytes under ``folder`` (hard links counted once) and how many of them are checkpoints."""
    seen: set[tuple[int, int]] = set()
    total = ckpts = 0
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        st = path.stat()
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_size
        if path.suffix == ".ckpt":
            ckpts += st.st_size
    return total, ckpts


class SweepDiskUse(HydraCallback):
    """Hydra callback: at the end of a multirun, one line with the sweep folder's disk use (checkpoints apart)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        if folder.is_dir():
            total, ckpts = disk_use(folder)
            print(f"sweep {folder}: {total / 2**20:,.1f} MB on disk ({ckpts / 2**20:,.1f} MB checkpoints)", flush=True)


class WandbLogger(_LightningWandbLogger):
    """Lightning's W&B logger without its ``anonymous=None`` (W&B warns "The anonymous setting has no effect" for
    any value it is given; Lightning always gives one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        init = self._wandb_init  # Lightning's wandb.init arguments (tests/tracking/test_wandb.py checks it exists)
        if init.get("anonymous", False) is None:
            del init["anonymous"]
