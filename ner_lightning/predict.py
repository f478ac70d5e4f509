"""``python -m ner_lightning.predict ckpt_path=<.ckpt|.onnx> [text=... | input=... output=...] [format=...]``.

Tags one text, a file (``.txt``: a text per line; ``.jsonl``: ``{"text": ...}`` per line) with a progress bar and
the sentences/s at the end, or — with neither — lines typed at an interactive prompt.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from ner_lightning.base.files import atomic_write_text
from ner_lightning.data.readers import check_file
from ner_lightning.errors import ConfigError, DataError
from ner_lightning.inference import Predictor, load_tagger
from ner_lightning.inference.render import bracketed, conll_block, html_page, jsonl_line
from ner_lightning.runs.cli import check_config, hydra_entry, run_cli
from ner_lightning.runs.config import config_dir

FORMATS = ("jsonl", "conll", "html")


def read_texts(path: str | Path) -> list[str]:
    """Texts of a ``.txt`` (one per line, kept as is) or ``.jsonl`` (``{"text": ...}`` per line) file.

    Raises:
        DataError: naming ``path:line`` for a JSON line without a string ``text``.
    """
    path = check_file(path, "input")
    data = path.read_bytes()
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (input files are UTF-8)") from None
    if path.suffix != ".jsonl":
        return lines
    texts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataError(f"{path}:{number}: expected an object with a string 'text'")
        texts.append(record["text"])
    return texts


def render(fmt: str, texts: list[str], results: list[list[Any]], tagger: Predictor) -> str:
    """All results in one output format."""
    if fmt == "jsonl":
        return "".join(jsonl_line(t, e) + "\n" for t, e in zip(texts, results))
    if fmt == "conll":
        return "".join(conll_block(t, e, tagger.scheme) for t, e in zip(texts, results))
    types = sorted({label[2:] for label in tagger.labels if label != "O"})
    return html_page(list(zip(texts, results)), "ner_lightning: predicted entities", types)


def interactive(tagger: Predictor) -> None:
    """One line in, its entities (JSON) and the tagged line out, until end of input."""
    prompt = sys.stdin.isatty()
    while True:
        if prompt:
            print("text> ", end="", flush=True)
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:  # Ctrl-C, like Ctrl-D, ends the prompt quietly
            line = ""
        if not line:
            if prompt:
                print()
            return
        text = line.rstrip("\n")
        (found,) = tagger.predict([text])
        print(json.dumps(found, ensure_ascii=False))
        print(bracketed(text, found), flush=True)


def predict(cfg: DictConfig) -> list[list[Any]] | None:
    """Run the command; returns the entities of each text (``None`` for the interactive prompt)."""
    check_config(cfg)
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format!r}: expected one of {', '.join(FORMATS)}")
    if cfg.text is not None and cfg.input is not None:
        raise ConfigError("text= and input= exclude each other")
    tagger = load_tagger(cfg.ckpt_path, device=cfg.device, threads=cfg.threads, batch_size=int(cfg.batch_size))
    if cfg.text is None and cfg.input is None:
        interactive(tagger)
        return None
    if cfg.output and cfg.input and Path(cfg.output).resolve() == Path(cfg.input).resolve():
        raise ConfigError(f"output={cfg.output}: the same file as input=; it would be overwritten (choose another)")
    texts = [str(cfg.text)] if cfg.text is not None else read_texts(cfg.input)
    start = time.perf_counter()
    results = tagger.predict(texts, progress=bool(cfg.progress) and cfg.input is not None)
    elapsed = time.perf_counter() - start
    text = render(cfg.format, texts, results, tagger)
    if cfg.output:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cfg.output, text)
    else:
        sys.stdout.write(text)
    if cfg.input is not None:
        rate = len(texts) / elapsed if elapsed > 0 else float("inf")
        print(f"tagged {len(texts):,} texts in {elapsed:.1f} s: {rate:,.1f} sentences/s", file=sys.stderr)
    return results


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="predict")
def _main(cfg: DictConfig) -> None:
    run_cli(predict, cfg)


def quote_text_argument(arg: str) -> str:
    """``text=<anything>`` as a Hydra-quoted override, so any text (full-width punctuation, quotes, ``=``) passes
    Hydra's override grammar unchanged; other arguments are returned as they are."""
    if not arg.startswith("text=") or arg[5:6] in ("'", '"'):
        return arg
    value = arg[5:]
    # Hydra's quoted strings: escape quotes, and backslashes that precede a quote or end the value
    out, i = [], 0
    while i < len(value):
        j = i
        while j < len(value) and value[j] == "\\":
            j += 1
        run = value[i:j]
        if j == len(value) or value[j] == "'":
            run *= 2
        out.append(run)
        if j < len(value):
            out.append("\\'" if value[j] == "'" else value[j])
        i = j + 1
    return "text='" + "".join(out) + "'"


def main() -> None:
    """Entry point (``python -m ner_lightning.predict``, ``ner-predict``)."""
    sys.argv = [sys.argv[0], *(quote_text_argument(a) for a in sys.argv[1:])]
    hydra_entry(_main)


if __name__ == "__main__":
    main()
