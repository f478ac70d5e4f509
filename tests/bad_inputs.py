"""The bad-input catalogue: corpora, CLUENER records, config values and checkpoints fed to the real entry points.

Used by ``tests/train/test_bad_inputs.py`` (in-process, fast) and runnable on its own against any checkout, one
subprocess per case, to count outcomes before and after a change::

    python tests/bad_inputs.py [--cwd CHECKOUT]   # last line: {"cases": N, "good": G, "traceback": T, ...}

Outcomes: ``good`` (exit 2, one ``error:`` line naming the file:line / record / key), ``traceback``, ``silent``
(exit 0: a wrong result), ``unclear`` (an error without the expected location, or not on one line), ``hang``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

GOOD_TRAIN = "".join(f"{c}\t{t}\n" for c, t in zip("赵阳在中科院工作", "B-PER I-PER O B-ORG I-ORG I-ORG O O".split()))
GOOD_TRAIN += "\n" + "".join(f"{c}\t{t}\n" for c, t in zip("北京是城市", "B-LOC I-LOC O O O".split()))
GOOD_TRAIN = (GOOD_TRAIN + "\n") * 6
CLUE_OK = '{"text": "张三在北京", "label": {"name": {"张三": [[0, 1]]}, "address": {"北京": [[3, 4]]}}}\n'


@dataclass
class Case:
    """One bad input: ``files`` are written to a temp folder, ``{tmp}`` in ``args`` names it."""

    name: str
    entry: str
    args: list[str]
    expect: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    needs_ckpt: bool = False


def _col(name: str, text: str | bytes, expect: str, *extra: str, file: str = "train.txt") -> Case:
    args = ["data=bio", "data.train_path={tmp}/train.txt", "data.dev_size=0"]
    files: dict[str, str | bytes] = (
        {"train.txt": text} if file == "train.txt" else {"train.txt": GOOD_TRAIN, file: text}
    )
    if file != "train.txt":
        key = {"dev.txt": "val_path", "test.txt": "test_path"}[file]
        args.append(f"data.{key}={{tmp}}/{file}")
    return Case(name, "data", [*args, *extra], expect, files)


def _clue(name: str, text: str, expect: str, *extra: str, file: str = "train.json") -> Case:
    files = {"train.json": text} if file == "train.json" else {"train.json": CLUE_OK * 4, file: text}
    args = ["data=cluener", "data.train_path={tmp}/train.json"]
    if file != "train.json":
        args.append(f"data.test_path={{tmp}}/{file}")
    return Case(name, "data", [*args, *extra], expect, files)


def _cfg(name: str, expect: str, *overrides: str) -> Case:
    args = ["data=bio", "data.train_path={tmp}/train.txt", "data.dev_size=2", "data.progress=false", "~logger"]
    args += ["model.encoder.embedding_dim=8", "model.encoder.hidden_size=8", "trainer.max_epochs=1"]
    return Case(name, "train", [*args, *overrides, "hydra.run.dir={tmp}/run"], expect, {"train.txt": GOOD_TRAIN})


def _cfgf(name: str, expect: str, files: dict[str, str | bytes], *overrides: str) -> Case:
    """A training-config case with extra files beside the training file."""
    case = _cfg(name, expect, *overrides)
    case.files.update(files)
    return case


def _pr(name: str, expect: str, *args: str, files: dict[str, str | bytes] | None = None) -> Case:
    return Case(name, "predict", ["ckpt_path={ckpt}", *args], expect, files or {}, needs_ckpt=True)


def _ev(name: str, expect: str, *args: str, files: dict[str, str | bytes] | None = None) -> Case:
    return Case(name, "evaluate", [*args, "hydra.run.dir={tmp}/ev"], expect, files or {}, needs_ckpt=True)


CASES: list[Case] = [
    # ---- column corpora ----
    _col("two-char token", "赵阳\tB-PER\n", "train.txt:1: token '赵阳'"),
    _col("char+position digit", "中0\tO\n国1\tO\n", "train.txt:1: token '中0'"),
    _col("latin word token", "Apple\tO\n", "train.txt:1: token 'Apple'"),
    _col("malformed tag", "中\tX-PER\n", "train.txt:1"),
    _col("tag 'B-' without type", "中\tB-\n", "train.txt:1"),
    _col("lower-case tag", "中\tb-per\n", "train.txt:1"),
    _col("missing tag", "中国\n", "train.txt:1"),
    _col("only a char", "中\n", "train.txt:1"),
    _col("three columns", "中\tO\tO\n", "train.txt:1"),
    _col("empty file", "", "train.txt: no sentences"),
    _col("blank lines only", "\n\n\n", "train.txt: no sentences"),
    _col("invalid utf-8", "中\tO\n".encode() + b"\xff\xfe\tO\n", "train.txt:2: not valid"),
    _col(
        "strict stray I-", "中\tI-LOC\n国\tI-LOC\n", "train.txt:1", "data.tag_policy=strict", "data.source_scheme=BIO"
    ),
    _col("char_digit without digit", "中\tO\n", "train.txt:1", "data.token_format=char_digit"),
    _col("empty dev file", "", "dev.txt: no sentences", file="dev.txt"),
    _col("empty test file", "", "test.txt: no sentences", file="test.txt"),
    _col("strict dev-only type", "中\tB-GPE\n", "dev.txt:1", "data.tag_policy=strict", file="dev.txt"),
    _col("bad tag in test", "中\tQ-X\n", "test.txt:1", file="test.txt"),
    _col("dev_size > sentences", GOOD_TRAIN, "train.txt: data.dev_size=500", "data.dev_size=500"),
    _col("unknown encoding", GOOD_TRAIN, "data.encoding", "data.encoding=latin-99"),
    Case("missing file", "data", ["data=bio", "data.train_path={tmp}/nope.txt"], "nope.txt: no such file"),
    Case("no train path", "data", ["data=bio"], "data.train_path"),
    # ---- CLUENER JSON ----
    _clue("invalid JSON", '{"text": "张三", "label": \n', "train.json:2: invalid JSON"),
    _clue("record without text", '{"label": {}}\n', "record 1"),
    _clue("text not a string", '{"text": 5, "label": {}}\n', "record 1"),
    _clue("label as a list", '{"text": "张三", "label": {"name": ["张三"]}}\n', "record 1"),
    _clue("label a string", '{"text": "张三", "label": "name"}\n', "record 1"),
    _clue("empty entity text", '{"text": "张三", "label": {"name": {"": [[0, -1]]}}}\n', "record 1"),
    _clue("span mismatch", '{"text": "张三", "label": {"name": {"李四": [[0, 1]]}}}\n', "record 1"),
    _clue("negative start", '{"text": "张三", "label": {"name": {"三": [[-1, 1]]}}}\n', "record 1"),
    _clue("start after end", '{"text": "张三", "label": {"name": {"张三": [[1, 0]]}}}\n', "record 1"),
    _clue("position not a pair", '{"text": "张三", "label": {"name": {"张三": [[0]]}}}\n', "record 1"),
    _clue("float positions", '{"text": "张三", "label": {"name": {"张三": [[0.0, 1.0]]}}}\n', "record 1"),
    _clue("positions not a list", '{"text": "张三", "label": {"name": {"张三": 0}}}\n', "record 1"),
    _clue("empty type", '{"text": "张三", "label": {"": {"张三": [[0, 1]]}}}\n', "record 1"),
    _clue("record is a list", "[1, 2]\n", "record 1"),
    _clue("train record without label", CLUE_OK + '{"text": "王五"}\n', "train.json:2"),
    _clue("empty JSON file", "", "train.json: no sentences"),
    _clue("second record bad", CLUE_OK + '{"text": "王五", "label": {"name": {"王": [[5, 6]]}}}\n', "record 2"),
    _clue("unlabelled test file", '{"text": "王五"}\n', "test.json: the test split is unlabelled", file="test.json"),
    _clue("empty JSON test file", "", "test.json: no sentences", file="test.json"),
    # ---- configuration values (fail before any training) ----
    _cfg("max_len -1", "data.max_len", "data.max_len=-1"),
    _cfg("max_len 0", "data.max_len", "data.max_len=0"),
    _cfg("batch_size 0", "data.batch_size", "data.batch_size=0"),
    _cfg("batch_size -3", "data.batch_size", "data.batch_size=-3"),
    _cfg("eval_batch_size 0", "data.eval_batch_size", "data.eval_batch_size=0"),
    _cfg("min_freq 0", "data.min_freq", "data.min_freq=0"),
    _cfg("max_train_samples 0", "data.max_train_samples", "data.max_train_samples=0"),
    _cfg("dev_size -1", "data.dev_size", "data.dev_size=-1"),
    _cfg("num_workers -1", "data.num_workers", "data.num_workers=-1"),
    _cfg("scheme XYZ", "data.scheme", "data.scheme=XYZ"),
    _cfg("source_scheme XYZ", "data.source_scheme", "data.source_scheme=XYZ"),
    _cfg("tag_policy lenient", "data.tag_policy", "data.tag_policy=lenient"),
    _cfg("token_format weird", "data.token_format", "data.token_format=weird"),
    _cfg("lr -1", "optimizer.lr", "optimizer.lr=-1"),
    _cfg("lr abc", "optimizer.lr", "optimizer.lr=abc"),
    _cfg("lr 0", "optimizer.lr", "optimizer.lr=0"),
    _cfg("weight_decay -1", "optimizer.weight_decay", "optimizer.weight_decay=-1"),
    _cfg("head type xyz", "model.head.type", "model.head.type=xyz"),
    _cfg("encoder init xavier", "model.encoder.init", "model.encoder.init=xavier"),
    _cfg("head reduction avg", "model.head.reduction", "model.head.reduction=avg"),
    _cfg("encoder type cnn", "model.encoder.type", "model.encoder.type=cnn"),
    _cfg("unknown model key", "model", "+model.foo=1"),
    _cfg("unknown head key", "model.head", "+model.head.foo=1"),
    _cfg("unknown encoder key", "model.encoder", "+model.encoder.foo=1"),
    Case(
        "missing encoder",
        "train",
        [
            "data=bio",
            "data.train_path={tmp}/train.txt",
            "data.dev_size=2",
            "model=bert_softmax",
            "pretrained_encoder={tmp}/does/not-exist",
            "~logger",
            "hydra.run.dir={tmp}/run",
        ],
        "model.encoder.pretrained=",
        {"train.txt": GOOD_TRAIN},
    ),  # fmt: skip
    _cfg("misspelt override", "model.encoder.embedding_size", "model.encoder.embedding_size=8"),
    _cfg("unknown config group option", "model/nonexistent'; available: bert_crf", "model=nonexistent"),
    _cfg("override parse error", "cannot parse the override 'optimizer.lr=['", "optimizer.lr=["),
    _cfg("GPU trainer without GPU", "trainer=rtx4090", "trainer=rtx4090"),
    _cfg("DDP trainer without GPU", "trainer=ddp trainer.accelerator=cpu", "trainer=ddp"),
    _cfg("scheduler interval", "scheduler.interval", "scheduler=onecycle", "scheduler.interval=hour"),
    # ---- checkpoints ----
    _ev("checkpoint missing", "nope.ckpt: no such checkpoint", "ckpt_path={tmp}/nope.ckpt"),
    _ev(
        "checkpoint random bytes", "junk.ckpt: not a", "ckpt_path={tmp}/junk.ckpt", files={"junk.ckpt": b"\x00junk" * 9}
    ),
    _ev("checkpoint text file", "text.ckpt: not a", "ckpt_path={tmp}/text.ckpt", files={"text.ckpt": "hello"}),
    _ev("checkpoint not given", "ckpt_path", "split=test"),
    _ev("split xyz", "split=xyz", "ckpt_path={ckpt}", "split=xyz"),
    _ev("scheme mismatch", "data.scheme=BIOES", "ckpt_path={ckpt}", "data.scheme=BIOES"),
    _ev(
        "another label set",
        "test.txt:1: entity type 'GPE'",
        "ckpt_path={ckpt}",
        "data.test_path={tmp}/test.txt",
        files={"test.txt": "中\tB-GPE\n国\tI-GPE\n"},
    ),
    _ev(
        "evaluate bad data file",
        "test.txt:1",
        "ckpt_path={ckpt}",
        "data.test_path={tmp}/test.txt",
        files={"test.txt": "中国\tO\n"},
    ),  # fmt: skip
    # ---- compare ----
    Case("compare missing folder", "compare", ["{tmp}/nope"], "nope: no such folder"),
    Case("compare empty folder", "compare", ["{tmp}"], "no runs found"),
    Case(
        "compare truncated metrics.json",
        "compare",
        ["{tmp}"],
        "metrics.json: not a complete metrics file",
        {"run/metrics.json": '{"test/f1": 0.5, "run": {'},
    ),  # fmt: skip
    # ---- issue 18: lexicon files ----
    _cfgf(
        "lexicon empty file",
        "lex.txt: the lexicon file holds no word",
        {"lex.txt": ""},
        "model.encoder.lexicon=true",
        "data.lexicon={tmp}/lex.txt",
    ),  # fmt: skip
    _cfgf(
        "lexicon not UTF-8",
        "lex.txt:2: not UTF-8",
        {"lex.txt": "北京 3\n".encode() + b"\xff\xfe 1\n"},
        "model.encoder.lexicon=true",
        "data.lexicon={tmp}/lex.txt",
    ),  # fmt: skip
    _cfgf(
        "lexicon bad count",
        "lex.txt:2: count 'x'",
        {"lex.txt": "北京 3\n上海 x\n"},
        "model.encoder.lexicon=true",
        "data.lexicon={tmp}/lex.txt",
    ),  # fmt: skip
    _cfg("lexicon without the model feature", "model.encoder.lexicon=true", "data.lexicon=jieba"),
    _cfg("lexicon unknown weight negative", "data.lexicon_unknown_weight=-1", "data.lexicon_unknown_weight=-1"),
    _cfgf(
        "word vectors of varying width",
        "w.vec:3: 2 values, but the header has 3",
        {"lex.txt": "北京 3\n", "w.vec": "2 3\n北京 1 2 3\n上海 1 2\n"},
        "model.encoder.lexicon=true",
        "data.lexicon={tmp}/lex.txt",
        "model.encoder.word_dim=3",
        "model.encoder.word_vectors={tmp}/w.vec",
    ),  # fmt: skip
    _cfgf(
        "word vectors narrower than the config",
        "w.vec:1: vectors of 2 values, but model.encoder.word_dim=50",
        {"lex.txt": "北京 3\n", "w.vec": "北京 1 2\n"},
        "model.encoder.lexicon=true",
        "data.lexicon={tmp}/lex.txt",
        "model.encoder.word_vectors={tmp}/w.vec",
    ),  # fmt: skip
    _cfgf(
        "bigram vectors not UTF-8",
        "b.vec:2: not UTF-8",
        {"b.vec": "北京 1 2\n".encode() + b"\xff 1 2\n"},
        "model.encoder.bigrams=true",
        "model.encoder.bigram_dim=2",
        "model.encoder.bigram_vectors={tmp}/b.vec",
    ),  # fmt: skip
    # ---- issue 18: train ckpt_path ----
    _cfg("resume missing checkpoint", "nope.ckpt: no such checkpoint", "ckpt_path={tmp}/nope.ckpt"),
    _cfgf(
        "resume zero-byte checkpoint", "zero.ckpt: the file is empty", {"zero.ckpt": b""}, "ckpt_path={tmp}/zero.ckpt"
    ),
    _cfgf(
        "resume truncated checkpoint",
        "cut.ckpt: not a ner_lightning checkpoint",
        {"cut.ckpt": b"PK\x03\x04" + b"\0" * 64},
        "ckpt_path={tmp}/cut.ckpt",
    ),  # fmt: skip
    _cfgf(
        "resume a pickle",
        "p.ckpt: not a",
        {"p.ckpt": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."},
        "ckpt_path={tmp}/p.ckpt",
    ),  # fmt: skip
    # ---- issue 18: CLUENER spans out of range ----
    _clue("end past the text", '{"text": "张三", "label": {"name": {"张三": [[0, 5]]}}}\n', "record 1"),
    _clue(
        "end of 10^23", '{"text": "张三", "label": {"name": {"张三": [[0, 100000000000000000000000]]}}}\n', "record 1"
    ),
    _clue("suffix span past the text", '{"text": "张三", "label": {"name": {"三": [[1, 5]]}}}\n', "record 1"),
    # ---- issue 18: config values ----
    _cfg("hidden_size 0", "model.encoder.hidden_size", "model.encoder.hidden_size=0"),
    _cfg("embedding_dim 0", "model.encoder.embedding_dim", "model.encoder.embedding_dim=0"),
    _cfg("dropout 1.5", "model.encoder.dropout", "model.encoder.dropout=1.5"),
    _cfg("seed abc", "seed", "seed=abc"),
    _cfg("accumulate_grad_batches 0", "trainer.accumulate_grad_batches", "trainer.accumulate_grad_batches=0"),
    _cfg("crf_lr_mult -3", "model.crf_lr_mult", "model.crf_lr_mult=-3"),
    Case(
        "run folder is a file",
        "train",
        ["data=bio", "data.train_path={tmp}/train.txt", "data.dev_size=2", "~logger", "hydra.run.dir={tmp}/runfile"],
        "hydra.run.dir",
        {"train.txt": GOOD_TRAIN, "runfile": "x"},
    ),  # fmt: skip
    # ---- issue 18: data paths ----
    _col("train path is a directory", "", "is a directory", "data.train_path={tmp}"),
    _col("dev path equals train path", GOOD_TRAIN, "data.val_path", "data.val_path={tmp}/train.txt"),
    _col("test path equals train path", GOOD_TRAIN, "data.test_path", "data.test_path={tmp}/train.txt"),
    # ---- issue 18: predict ----
    _pr(
        "predict output over its input",
        "output=",
        "input={tmp}/in.txt",
        "output={tmp}/in.txt",
        files={"in.txt": "李鹏在北京\n"},
    ),  # fmt: skip
    _pr(
        "predict non-UTF-8 line",
        "in.txt:2",
        "input={tmp}/in.txt",
        "output={tmp}/out.jsonl",
        files={"in.txt": "李鹏在北京\n".encode() + b"\xff\xfe\n" + "北京\n".encode()},
    ),  # fmt: skip
    _pr("predict input is a directory", "is a directory", "input={tmp}", "output={tmp}/out.jsonl"),
]


def materialise(case: Case, tmp: Path, ckpt: str = "") -> list[str]:
    """Write the case's files under ``tmp``; its arguments with ``{tmp}``/``{ckpt}`` filled in."""
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return [a.replace("{tmp}", str(tmp)).replace("{ckpt}", ckpt) for a in case.args]


def classify(case: Case, code: int, out: str, err: str) -> str:
    """``good`` | ``traceback`` | ``silent`` | ``unclear`` for one run (progress-bar redraws are ignored)."""
    lines = [line.strip() for line in err.replace("\r", "\n").splitlines()]
    errors = [line for line in lines if "error" in line.lower()]
    if "Traceback" in err or "Traceback" in out:
        return "traceback"
    if code == 0:
        return "silent"
    if code == 2 and len(errors) == 1 and errors[0].startswith("error: ") and case.expect in errors[0]:
        return "good"
    return "unclear"


def main() -> None:
    """Run every case in a subprocess against ``--cwd`` (a checkout) and print the outcome counts."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--cwd", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--ckpt", default="", help="a trained checkpoint for the evaluate cases")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as a hang")
    opts = parser.parse_args()
    counts: dict[str, int] = {}
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            args = materialise(case, Path(tmp), opts.ckpt)
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", f"ner_lightning.{case.entry}", *args],
                    capture_output=True, text=True, cwd=opts.cwd, timeout=opts.timeout,
                )  # fmt: skip
                outcome = classify(case, proc.returncode, proc.stdout, proc.stderr)
                tail = f"exit {proc.returncode}: " + (proc.stderr.strip().splitlines() or [""])[-1][:150]
            except subprocess.TimeoutExpired:
                outcome, tail = "hang", f"still running after {opts.timeout} s (killed)"
        counts[outcome] = counts.get(outcome, 0) + 1
        print(f"{outcome:<9} {case.name}: {tail}", flush=True)
    print(json.dumps({"cases": len(CASES), **counts}))


if __name__ == "__main__":
    main()
