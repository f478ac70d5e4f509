"""``trainer=cpu`` trains in bf16 autocast where the CPU has native bf16, in fp32 elsewhere (issue 19)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ner_lightning.runs.cli import check_config
from ner_lightning.runs.config import config_dir, native_bf16, resolve_precision

SAPPHIRE = "processor : 0\nflags : fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
OLD_XEON = "processor : 0\nflags : fpu sse2 avx2 avx512f\n"


def _compose(*overrides: str):  # noqa: ANN202 - a DictConfig
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(("cpuinfo", "expected"), [(SAPPHIRE, "bf16-mixed"), (OLD_XEON, "32-true"), (None, "32-true")])
def test_trainer_cpu_takes_bf16_only_where_the_cpu_has_it(tmp_path: Path, cpuinfo: str | None, expected: str) -> None:
    info = tmp_path / "cpuinfo"
    if cpuinfo is not None:  # None: no /proc/cpuinfo (macOS, Windows)
        info.write_text(cpuinfo)
    cfg = _compose()
    assert cfg.trainer.precision == "bf16-if-native"
    resolve_precision(cfg, str(info))
    assert cfg.trainer.precision == expected


def test_explicit_precisions_and_gpus_are_left_alone(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(SAPPHIRE)
    cases = [
        (["trainer.precision=32-true"], "32-true"),
        (["trainer=gpu"], "32-true"),
        (["trainer=rtx4090"], "bf16-mixed"),
        (["trainer.accelerator=gpu"], "32-true"),
    ]
    for overrides, expected in cases:
        cfg = _compose(*overrides)
        resolve_precision(cfg, str(info))
        assert cfg.trainer.precision == expected, overrides
    assert native_bf16(str(info)) == ["amx_bf16", "avx512_bf16"]


def test_every_command_resolves_it_before_the_trainer_sees_it() -> None:
    cfg = OmegaConf.create({"trainer": {"accelerator": "cpu", "precision": "bf16-if-native"}})
    check_config(cfg)  # train, evaluate, export, predict, serve and the data command call it first
    assert cfg.trainer.precision in ("bf16-mixed", "32-true")
    assert (cfg.trainer.precision == "bf16-mixed") == bool(native_bf16())
