"""``python -m ner_lightning.data data=<msra|bio|cluener>``: read a corpus and print a per-split summary.

The last line of the output is one JSON object ``{"train": {"sentences": N, "chars": N, "entities": {...}}, ...}``.
"""

from __future__ import annotations

import json
import time

import hydra
from omegaconf import DictConfig

from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.runs.cli import check_config, hydra_entry, run_cli
from ner_lightning.runs.config import config_dir


def summarize(cfg: DictConfig) -> dict:
    """Instantiate ``cfg.data``, read it, print a table and return the summary dict."""
    check_config(cfg)
    start = time.perf_counter()
    dm: NerDataModule = hydra.utils.instantiate(cfg.data)
    dm.setup()
    summary = dm.summary()
    elapsed = time.perf_counter() - start
    print(
        f"scheme: read {dm.detected_scheme} -> model {dm.scheme}; {len(dm.vocab)} chars in vocabulary; "
        f"labels {dm.labels}; read in {elapsed:.1f}s"
    )
    print(f"{'split':<6} {'sentences':>10} {'chars':>10} {'rejected':>9} {'repaired':>9} {'split':>6}  entities")
    for name, s in summary.items():
        ents = " ".join(f"{k}={v}" for k, v in s["entities"].items())
        print(
            f"{name:<6} {s['sentences']:>10,} {s['chars']:>10,} {s['rejected']:>9} {s['repaired_tags']:>9} "
            f"{s['split_sentences']:>6}  {ents}"
        )
        for msg in dm.stats[name].messages[:5]:
            print(f"  rejected: {msg}")
    print(json.dumps(summary, ensure_ascii=False))
    return summary


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="data_summary")
def _main(cfg: DictConfig) -> None:
    run_cli(summarize, cfg)


def main() -> None:
    """Console entry point (``ner-data``)."""
    hydra_entry(_main)


if __name__ == "__main__":
    main()
