"""``python -m ner_lightning.export ckpt_path=... format=onnx|onnx-int8``: ship a trained tagger as ONNX.

The graph holds the whole tagger, the CRF's Viterbi included, for any batch and length; a JSON beside it carries
labels, vocabulary, scheme and the measured parity with the checkpoint (mismatched sentences, F1 of both).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from ner_lightning.errors import ConfigError
from ner_lightning.inference.onnx_backend import OnnxPredictor
from ner_lightning.inference.onnx_export import export_onnx, quantize_int8, write_sidecar
from ner_lightning.inference.torch_backend import TorchPredictor
from ner_lightning.models.checkpoint import load_checkpoint
from ner_lightning.models.metrics import entity_scores
from ner_lightning.runs.cli import check_config, hydra_entry, run_cli
from ner_lightning.runs.config import config_dir

FORMATS = ("onnx", "onnx-int8")


def parity(
    reference: TorchPredictor, exported: OnnxPredictor, split: str, limit: int | None, batch_size: int
) -> dict[str, Any]:
    """Tag one split of the checkpoint's data with both; count mismatched sentences and score both against gold."""
    from ner_lightning.data.stored import datamodule_from_settings

    dm = datamodule_from_settings(reference.model.hparams, {}, "the checkpoint")
    dm.progress = False
    dm.setup()
    if split not in dm.sentences:
        raise ConfigError(f"parity_split={split}: the checkpoint's data has splits {sorted(dm.sentences)}")
    sentences = dm.sentences[split][:limit] if limit else dm.sentences[split]
    texts = ["".join(s.chars) for s in sentences]
    ours = reference.predict_tags(texts, batch_size, progress=True)
    theirs = exported.predict_tags(texts, batch_size, progress=True)
    labels = reference.labels
    gold = [s.tags for s in sentences]
    f1_ref = entity_scores(gold, [[labels[i] for i in t] for t in ours], reference.scheme)["f1"]
    f1_exp = entity_scores(gold, [[labels[i] for i in t] for t in theirs], reference.scheme)["f1"]
    return {
        "split": split,
        "sentences": len(texts),
        "mismatched_sentences": sum(a != b for a, b in zip(ours, theirs)),
        "f1_checkpoint": f1_ref,
        "f1_export": f1_exp,
        "f1_drop_points": 100 * (f1_ref - f1_exp),
    }


def export(cfg: DictConfig) -> dict[str, Any]:
    """Export ``cfg.ckpt_path``; returns the sidecar's content."""
    check_config(cfg)
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format!r}: expected one of {', '.join(FORMATS)}")
    ckpt = Path(cfg.ckpt_path)
    model = load_checkpoint(ckpt)
    suffix = ".int8.onnx" if cfg.format == "onnx-int8" else ".onnx"
    out = Path(cfg.output) if cfg.output else ckpt.with_name(ckpt.stem + suffix)
    out.parent.mkdir(parents=True, exist_ok=True)
    fp32 = out if cfg.format == "onnx" else out.with_name(out.name.replace(".int8.onnx", "") + ".fp32.onnx")
    export_onnx(model, fp32)
    if cfg.format == "onnx-int8":
        quantize_int8(fp32, out)
        fp32.unlink()
    write_sidecar(model, out, ckpt, {"format_variant": cfg.format})  # the parity run loads the model through it
    extra: dict[str, Any] = {"format_variant": cfg.format, "bytes": out.stat().st_size}
    if cfg.parity_split:
        reference = TorchPredictor(load_checkpoint(ckpt), device="cpu")
        extra["parity"] = parity(
            reference, OnnxPredictor(out, threads=cfg.threads), cfg.parity_split, cfg.parity_max, cfg.batch_size
        )
    meta_path = write_sidecar(model, out, ckpt, extra)
    summary = {"model": str(out), "sidecar": str(meta_path), **extra}
    print(json.dumps(summary, ensure_ascii=False))
    return summary


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="export")
def _main(cfg: DictConfig) -> None:
    run_cli(export, cfg)


def main() -> None:
    """Entry point (``python -m ner_lightning.export``, ``ner-export``)."""
    hydra_entry(_main)


if __name__ == "__main__":
    main()
