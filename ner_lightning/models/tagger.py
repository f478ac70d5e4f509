"""One LightningModule for every tagger: an encoder (BiLSTM, transformer) times a head (softmax, CRF)."""

from __future__ import annotations

from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torchmetrics import MaxMetric
from typing_extensions import override

from ner_lightning.base.lightning_state import time_capped
from ner_lightning.base.word_ids import unknown_word_ids, word_weights
from ner_lightning.errors import ConfigError, number
from ner_lightning.models.encoders import BiLSTMEncoder
from ner_lightning.models.heads import build_head
from ner_lightning.models.metrics import (
    SEQEVAL_MODE,
    confusion_matrix,
    entity_scores,
    gather_indexed,
    novelty_scores,
    token_accuracy,
)
from ner_lightning.models.schedules import budget_progress
from ner_lightning.models.starts import feature_starts
from ner_lightning.models.transformer import TransformerEncoder

GROUPS = ("embeddings", "encoder", "head", "crf")
MIN_SCHEDULE_STEPS = 100


def build_encoder(config: dict[str, Any], vocab: dict[str, Any]) -> nn.Module:
    """Encoder from ``model.encoder`` (``type``: ``bilstm`` | ``transformer``)."""
    config = dict(config)
    kind = config.pop("type", "bilstm")
    if kind == "bilstm":
        source = config.pop("pretrained_embeddings", None)
        if source is not None:
            config["embeddings"] = pretrained_char_embeddings(source, vocab["itos"])
        starts = feature_starts(config, vocab)
        config.update(feature_inputs(config.pop("bigrams", False), config.pop("lexicon", False), vocab), **starts)
        try:
            return BiLSTMEncoder(len(vocab["itos"]), **config)
        except TypeError as err:  # a key the encoder does not take
            raise ConfigError(f"model.encoder: {err}") from None
    if kind == "transformer":
        if vocab.get("type") != "pretrained":
            raise ConfigError("model.encoder.type=transformer needs the encoder's tokenizer: set data.tokenizer")
        try:
            return TransformerEncoder(vocab, **config)
        except TypeError as err:
            raise ConfigError(f"model.encoder: {err}") from None
    raise ConfigError(f"model.encoder.type={kind!r}: expected 'bilstm' or 'transformer'")


def feature_inputs(bigrams: bool, lexicon: bool, vocab: dict[str, Any]) -> dict[str, Any]:
    """The BiLSTM's feature sizes from the vocabulary (``model.encoder.bigrams`` / ``lexicon`` need them there)."""
    features = vocab.get("features") or {}
    for key, on in (("bigrams", bigrams), ("lexicon", lexicon)):
        if bool(on) != (features.get(key) is not None):
            state = "on" if on else "off"
            raise ConfigError(
                f"model.encoder.{key}={bool(on)}: the data module's vocabulary has this feature "
                f"{'off' if on else 'on'} while the model has it {state} (train.py sets both; set data.{key} to match)"
            )
    out: dict[str, Any] = {}
    if bigrams:
        out["bigram_vocab_size"] = len(features["bigrams"]) + 2
    if lexicon:
        described = features["lexicon"]
        out["word_counts"] = word_weights(described)
        if described.get("tags"):  # each word's own unknown id: its tag's
            out["word_unknown"] = unknown_word_ids(described)
    return out


def pretrained_char_embeddings(source: str, itos: list[str]) -> Tensor:
    """``(len(itos), dim)`` initial embeddings for a character vocabulary (``[PAD]`` row zero)."""
    if source != "lac":
        raise ConfigError(f"model.encoder.pretrained_embeddings={source!r}: expected 'lac' or null")
    from ner_lightning.assets.lac import lac_embeddings

    table, found = lac_embeddings(itos)
    table[0] = 0.0
    rank_zero_info(f"LAC embeddings: {found:,} of {len(itos) - 2:,} vocabulary characters found")
    return torch.from_numpy(table)


class Tagger(L.LightningModule):
    """Sequence tagger; the checkpoint carries labels, vocabulary and configuration.

    Args:
        labels: label names in id order.
        vocab: the character vocabulary (``CharVocab.to_dict()``).
        encoder: encoder config (``type`` plus its arguments).
        head: head config (``type``: ``softmax`` | ``crf`` plus its arguments).
        scheme: tag scheme of ``labels``.
        optimizer: Hydra config of a partial optimizer (``_target_``, ``_partial_: true``, ``lr``...).
        scheduler: ``fn`` (Hydra config of a partial scheduler), ``interval`` (``step``/``epoch``),
            ``warmup_ratio`` and ``runtime`` (``{fn argument: group_lrs | total_steps | warmup_steps |
            budget_progress}``); empty or ``None`` for a constant learning rate.
        lr_mult: learning-rate multiplier per group (``embeddings``, ``encoder``, ``head``) on ``optimizer.lr``.
        crf_lr_mult: multiplier for the CRF start/end/transition scores (seed 003: x100-1000 with BERT).
        config: the composed run configuration (kept in the checkpoint for predict/evaluate).
    """

    def __init__(
        self,
        labels: list[str],
        vocab: dict[str, Any],
        encoder: dict[str, Any],
        head: dict[str, Any],
        scheme: str = "BIO",
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        lr_mult: dict[str, float] | None = None,
        crf_lr_mult: float = 1.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.labels = list(labels)
        self.encoder = build_encoder(encoder, vocab)
        if getattr(self.encoder, "config_dict", None):  # rebuild from the checkpoint alone, no download
            self.hparams["encoder"] = {**encoder, "config_dict": self.encoder.config_dict}
        if encoder.get("pretrained_embeddings"):  # the table is in the weights from now on
            self.hparams["encoder"] = {**encoder, "pretrained_embeddings": None, "source_dim": self.encoder.source_dim}
        for key in ("char_vectors", "bigram_vectors", "word_vectors"):  # so are these: never read again
            if encoder.get(key):
                self.hparams["encoder"] = {**self.hparams["encoder"], key: None}
        head = dict(head)
        self.head = build_head(head.pop("type", "crf"), self.encoder.output_dim, self.labels, scheme, **head)
        self.val_f1_best = MaxMetric()
        self.val_f1_best.persistent(True)  # saved in checkpoints: a resumed run keeps its best
        # (sentence index, predicted tags, gold tags) per evaluated sentence of this process; gathered over all
        # processes at epoch end (DDP), where the index also drops the sentences a distributed sampler repeats
        self._rows: dict[str, list[tuple[int, list[str], list[str]]]] = {"val": [], "test": []}
        self.last_report: dict[str, Any] | None = None
        self.last_confusion: Any = None
        # (the training split's (type, text) entities, the test split's texts by index): set by whoever runs
        # test, it adds the scores on entities seen in training and on unseen ones (``novelty_scores``)
        self.novelty_reference: tuple[set[tuple[str, str]], list[list[str]]] | None = None

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # checkpoints written before val/f1_best was persistent lack its state: start it empty
        state = checkpoint.get("state_dict", {})
        for key, value in self.val_f1_best.state_dict(prefix="val_f1_best.").items():
            state.setdefault(key, value)

    # ---- forward -----------------------------------------------------------------------------------------------
    def forward(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        """Tag ids ``(batch, seq)`` for ``input_ids`` ``(batch, seq)`` and bool ``mask`` ``(batch, seq)``."""
        return self.head.decode(self.encoder(input_ids, mask), mask)

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        mask, labels = batch["mask"], batch["labels"]
        # shape: (batch, seq, hidden)
        hidden = self.encoder(batch["input_ids"], mask)
        loss = self.head.loss(hidden, mask, labels)
        self.log(
            f"{stage}/loss",
            loss,
            on_step=stage == "train",
            on_epoch=True,
            prog_bar=True,
            batch_size=mask.size(0),
            sync_dist=stage != "train",
        )
        if stage != "train":
            pred = self.head.decode(hidden, mask)
            index = batch["index"].tolist() if "index" in batch else [-1] * mask.size(0)
            for i, p, g, n in zip(index, pred.tolist(), labels.tolist(), mask.sum(1).tolist()):
                self._rows[stage].append((i, [self.labels[t] for t in p[:n]], [self.labels[t] for t in g[:n]]))
        return loss

    @override
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    @override
    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # the gradient's 2-norm before clipping, for reading a recipe's curves (clipping at 5 with a mean loss...)
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            self.log("train/grad_norm", norm, on_step=True, on_epoch=False)

    # validation and test run in fp32 even when training autocasts (trainer.precision=bf16-mixed/16-mixed): the
    # scores, the best checkpoint's choice and the test figures are then the fp32 predictor's and the exports'
    @override
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        with torch.autocast(self.device.type, enabled=False):
            self._shared_step(batch, "val")

    @override
    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        with torch.autocast(self.device.type, enabled=False):
            self._shared_step(batch, "test")

    @override
    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> list[list[str]]:
        """Predicted tags per sentence (unpadded): ``trainer.predict(tagger, dataloaders=dm.loader("test"))``."""
        mask = batch["mask"]
        pred = self(batch["input_ids"], mask)
        return [[self.labels[i] for i in p[:n]] for p, n in zip(pred.tolist(), mask.sum(1).tolist())]

    # ---- metrics -----------------------------------------------------------------------------------------------
    def _epoch_scores(self, stage: str) -> dict[str, Any]:
        """Scores over the whole split: every process's sentences, each counted once (see ``gather_rows``)."""
        rows = gather_indexed(self._rows[stage])
        self._rows[stage] = []
        gold, pred = [g for _, g, _ in rows], [p for _, _, p in rows]
        scores = entity_scores(gold, pred, self.hparams.scheme)
        scores["sentences"] = len(rows)
        scores["token_acc"] = token_accuracy(gold, pred)
        if stage == "test":
            self.last_confusion = confusion_matrix(gold, pred, self.labels)
        # every process holds the same numbers: sync_dist averages equal values (it only silences DDP's warning)
        metrics = {f"{stage}/{k}": scores[k] for k in ("precision", "recall", "macro_f1", "token_acc")}
        metrics[f"{stage}/sentences"] = float(scores["sentences"])  # what every score here is over
        metrics.update({f"{stage}/f1_{t}": v["f1"] for t, v in scores["per_type"].items()})
        if stage == "test" and self.novelty_reference is not None and all(i >= 0 for i, _, _ in rows):
            known, texts = self.novelty_reference
            novelty = novelty_scores(gold, pred, [texts[i] for i, _, _ in rows], known, self.hparams.scheme)
            scores["novelty"] = novelty
            for group, v in novelty.items():
                metrics.update({f"test/{group}_f1": v["f1"], f"test/{group}_entities": float(v["support"])})
        self.log_dict(metrics, prog_bar=False, sync_dist=True)
        self.log(f"{stage}/f1", scores["f1"], prog_bar=True, sync_dist=True)
        return scores

    @override
    def on_validation_epoch_end(self) -> None:
        scores = self._epoch_scores("val")
        sanity = self._trainer is not None and self.trainer.sanity_checking
        if not sanity:  # the sanity-check batches are not an epoch; the best survives resumes (persistent state)
            self.val_f1_best(torch.tensor(scores["f1"]))
            self.log("val/f1_best", self.val_f1_best.compute(), prog_bar=True)

    @override
    def on_test_epoch_end(self) -> None:
        scores = self._epoch_scores("test")
        self.last_report = scores
        rank_zero_info(
            f"\nEntity-level report (seqeval, mode={SEQEVAL_MODE}, scheme={self.hparams.scheme}):\n{scores['report']}"
        )
        if "novelty" in scores:
            seen, unseen = scores["novelty"]["seen"], scores["novelty"]["unseen"]
            rank_zero_info(
                f"entities seen in the training split (same type and text): F1 {100 * seen['f1']:.2f}% "
                f"({seen['support']:,}); unseen: F1 {100 * unseen['f1']:.2f}% ({unseen['support']:,})"
            )

    # ---- optimisation ------------------------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """Parameter groups with their own learning rates (``optimizer.lr`` x ``lr_mult`` / ``crf_lr_mult``)."""
        base_lr = number("optimizer.lr", (self.hparams.optimizer or {}).get("lr", 1e-3), minimum=0.0, strict=True)
        mult = {
            "embeddings": 1.0,
            "encoder": 1.0,
            "head": 1.0,
            **(self.hparams.lr_mult or {}),
            "crf": self.hparams.crf_lr_mult,
        }
        named: dict[str, list[nn.Parameter]] = {g: [] for g in GROUPS}
        for part in (self.encoder, self.head):
            for name, params in part.param_groups().items():
                named[name] += [p for p in params if p.requires_grad]
        grouped = sum(p.numel() for ps in named.values() for p in ps)
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        if grouped != trainable:
            raise RuntimeError(f"parameter groups cover {grouped} of {trainable} trainable parameters")
        return [{"params": ps, "lr": base_lr * mult[g], "name": g} for g, ps in named.items() if ps]

    # values a scheduler config may ask for in ``runtime`` (``{argument: value name}``)
    RUNTIME_VALUES = ("group_lrs", "total_steps", "warmup_steps", "budget_progress")

    @override
    def configure_optimizers(self) -> Any:
        groups = self.param_groups()
        optimizer_cfg = dict(self.hparams.optimizer or {"_target_": "torch.optim.Adam", "_partial_": True})
        check_target("optimizer", optimizer_cfg)
        try:
            optimizer = hydra.utils.instantiate(optimizer_cfg)(groups)
        except Exception as err:  # noqa: BLE001 - any constructor complaint is a config problem
            raise ConfigError(f"optimizer ({optimizer_cfg.get('_target_')}): {_reason(err)}") from None
        sched_cfg = dict(self.hparams.scheduler or {})
        fn_cfg = dict(sched_cfg.get("fn") or {})
        if not fn_cfg.get("_target_"):
            return optimizer
        check_target("scheduler.fn", fn_cfg)
        interval = sched_cfg.get("interval", "step")
        warmup_ratio = number("scheduler.warmup_ratio", sched_cfg.get("warmup_ratio", 0.0), minimum=0.0)
        runtime = dict(sched_cfg.get("runtime") or {})
        total = int(self.trainer.estimated_stepping_batches)
        if total < MIN_SCHEDULE_STEPS:  # fast_dev_run and tiny runs: OneCycle cannot lay out 1-step phases
            rank_zero_info(
                f"warning: this run has only {total} optimizer steps; the LR schedule ({fn_cfg['_target_']}) is laid "
                f"out over {MIN_SCHEDULE_STEPS}, so it ends at step {total} of {MIN_SCHEDULE_STEPS} (not annealed)"
            )
            total = MIN_SCHEDULE_STEPS
        if time_capped(self.trainer) and "budget_progress" not in runtime.values():
            rank_zero_info(
                f"warning: the LR schedule is laid out over {total} steps (trainer.max_epochs/max_steps); "
                "trainer.max_time may stop the run before it ends: set trainer.max_epochs to what fits the time "
                "or use scheduler=budget_cosine"
            )
        if "budget_progress" not in runtime.values():  # a budget schedule ends annealed whatever stops the run
            self.schedule_steps = total
        values = {
            "group_lrs": [g["lr"] for g in groups],
            "total_steps": total,
            "warmup_steps": int(warmup_ratio * total),
            "budget_progress": lambda: budget_progress(self.trainer, total),
        }
        unknown = sorted(set(runtime.values()) - set(values))
        if unknown:
            raise ConfigError(f"scheduler.runtime: unknown value {unknown[0]!r}; expected one of {list(values)}")
        try:
            scheduler = hydra.utils.instantiate(fn_cfg)(optimizer, **{k: values[v] for k, v in runtime.items()})
        except Exception as err:  # noqa: BLE001
            raise ConfigError(f"scheduler.fn ({fn_cfg.get('_target_')}): {_reason(err)}") from None
        if interval not in ("step", "epoch"):
            raise ConfigError(f"scheduler.interval={interval!r}: expected 'step' or 'epoch'")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}

    def parameter_counts(self) -> dict[str, int]:
        """Total and trainable parameters."""
        return {
            "params": sum(p.numel() for p in self.parameters()),
            "trainable_params": sum(p.numel() for p in self.parameters() if p.requires_grad),
        }


# what an optimizer or scheduler config may name: a stored (checkpoint) config is data, never arbitrary code
TARGET_PREFIXES = (
    "torch.optim.",
    "transformers.get_",
    "transformers.optimization.get_",
    "ner_lightning.models.schedules.",
)


def check_target(key: str, node: dict[str, Any]) -> None:
    """``node``'s ``_target_`` is an optimizer or schedule of torch / transformers, and nothing under it is another
    ``_target_`` (a nested one would be instantiated too).

    Raises:
        ConfigError: naming the key otherwise.
    """
    target = str(node.get("_target_"))
    if not target.startswith(TARGET_PREFIXES):
        raise ConfigError(
            f"{key}._target_={target}: expected a torch.optim class, a transformers schedule "
            "or one of ner_lightning.models.schedules"
        )
    for name, value in node.items():
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            raise ConfigError(f"{key}.{name}: nested settings are not allowed here (plain values only)")


def _reason(err: BaseException) -> str:
    """The innermost message of ``err`` (Hydra wraps constructor errors), as one line."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
