"""Every private name of Lightning this project relies on, checked by name: an upgrade that moves one fails here
(loudly) instead of silently changing how runs resume, checkpoint or start their DDP children."""

from __future__ import annotations

import datetime

import lightning as L
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint, Timer

from ner_lightning.base import lightning_state
from ner_lightning.runs.callbacks import RunCheckpoint


def test_model_checkpoint_internals_that_run_checkpoint_overrides_exist() -> None:
    for name in ("_save_last_checkpoint", "_link_checkpoint", "_monitor_candidates", "_save_checkpoint"):
        assert callable(getattr(ModelCheckpoint, name, None)), f"ModelCheckpoint.{name} moved: see RunCheckpoint"
    ckpt = ModelCheckpoint()
    for name in ("_last_checkpoint_saved", "_last_global_step_saved"):
        assert hasattr(ckpt, name), f"ModelCheckpoint().{name} moved: see RunCheckpoint"
    assert RunCheckpoint._save_last_checkpoint is not ModelCheckpoint._save_last_checkpoint  # still an override


def test_trainer_loop_state_and_ddp_hook_exist(tmp_path: object) -> None:
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_time="00:00:01:00")
    assert lightning_state.replicas(trainer) == (1, 0)
    assert isinstance(trainer._accelerator_connector.use_distributed_sampler, bool)  # read by replicas() under DDP
    assert lightning_state.batches_done(trainer) == 0 and lightning_state.current_epoch(trainer) == 0
    assert lightning_state.time_capped(trainer) and not lightning_state.time_capped(L.Trainer(logger=False))
    # the fit loop's saved state has the path checkpoint_epochs_done reads
    assert lightning_state.checkpoint_epochs_done({"loops": {"fit_loop": trainer.fit_loop.state_dict()}}) == 0
    assert "epoch_progress" in trainer.fit_loop.state_dict()
    assert Timer(duration=datetime.timedelta(minutes=1)).time_remaining() is not None
    from lightning.pytorch.strategies.launchers import subprocess_script

    assert hasattr(subprocess_script, "_hydra_subprocess_cmd")


def test_a_missing_ddp_hook_is_an_error_not_a_silent_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning.pytorch.strategies.launchers import subprocess_script

    from ner_lightning.runs.ddp import children_run_this_job

    monkeypatch.delattr(subprocess_script, "_hydra_subprocess_cmd")
    with pytest.raises(RuntimeError, match="_hydra_subprocess_cmd is gone"):
        children_run_this_job()


def test_hub_offline_flag_that_the_offline_loader_flips_exists() -> None:
    import huggingface_hub.constants as hub

    assert isinstance(hub.HF_HUB_OFFLINE, bool)  # ner_lightning.assets.pretrained._hub_offline sets it per call
