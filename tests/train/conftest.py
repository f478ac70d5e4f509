"""Compose the training config once per test, shrunk: tiny real corpus, tiny model, no logger, tmp outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ner_lightning.runs.config import config_dir

Compose = Callable[..., DictConfig]


def small_overrides(corpus: dict[str, Path], transformer: Path | None = None) -> list[str]:
    """Overrides that make any experiment run in seconds on the CPU (``transformer``: the tiny BERT folder)."""
    if transformer is not None:
        size = [f"model.encoder.pretrained={transformer}"]
    else:
        size = ["model.encoder.embedding_dim=16", "model.encoder.hidden_size=16"]
    return [
        *size,
        "data=bio",
        f"data.train_path={corpus['train']}",
        f"data.test_path={corpus['test']}",
        "data.dev_size=20",
        "data.batch_size=16",
        "data.progress=false",
        "~logger",
        "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false",
    ]


@pytest.fixture
def make_cfg(mini_corpus: dict[str, Path], tiny_bert: Path, tmp_path: Path) -> Iterator[Compose]:
    """``make_cfg(*overrides, config_name="config")`` -> composed config writing under ``tmp_path``."""

    def _make(*overrides: str, config_name: str = "config", small: bool = True) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            base: list[str] = []
            if small:  # size the model by its kind
                kind = compose(config_name, overrides=list(overrides)).model.encoder.type
                base = small_overrides(mini_corpus, tiny_bert if kind == "transformer" else None)
            cfg = compose(config_name, overrides=[*base, *overrides], return_hydra_config=True)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
            cfg.hydra.runtime.output_dir = str(tmp_path)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]  # as in a real run: the task sees its config without the hydra node
        return cfg

    yield _make
    GlobalHydra.instance().clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the bad-input suite's outcome counts (when it ran)."""
    module = __import__("sys").modules.get("test_bad_inputs")
    results = getattr(module, "RESULTS", None)
    if results:
        counts = {k: sum(v == k for v in results.values()) for k in ("good", "traceback", "silent", "unclear")}
        terminalreporter.write_line(
            f"bad-input suite: {len(results)} cases, " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
