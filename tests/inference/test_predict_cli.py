"""``python -m ner_lightning.predict``: one text, a file (txt/jsonl) in three formats, the prompt, an .onnx model."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from helpers import run_entry

from ner_lightning import load_tagger
from ner_lightning.inference.render import bracketed
from ner_lightning.predict import quote_text_argument

TEXTS = ["赵阳在中科院工作，Apple公司2024年在北京", "", "李鹏说：“好！” it's\\ok"]


def test_one_text_of_any_characters(bilstm_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = TEXTS[2] + "=x'"
    code, out, err = run_entry(
        "predict", f"ckpt_path={bilstm_ckpt}", quote_text_argument(f"text={text}"), capsys=capsys
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["text"] == text  # Hydra's grammar did not eat quotes, backslashes or '='
    assert record["entities"] == load_tagger(bilstm_ckpt).predict([text])[0]


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_file_in_every_format(
    bilstm_ckpt: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / f"in{suffix}"
    if suffix == ".txt":
        src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    else:
        src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS), encoding="utf-8")
    expected = load_tagger(bilstm_ckpt).predict(TEXTS)
    out = tmp_path / "out.jsonl"
    code, _, err = run_entry("predict", f"ckpt_path={bilstm_ckpt}", f"input={src}", f"output={out}", capsys=capsys)
    assert code == 0, err
    assert "sentences/s" in err
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in lines] == TEXTS and [r["entities"] for r in lines] == expected
    conll = tmp_path / "out.conll"
    code, _, err = run_entry(
        "predict", f"ckpt_path={bilstm_ckpt}", f"input={src}", f"output={conll}", "format=conll", capsys=capsys
    )
    assert code == 0, err
    rows = [line.split("\t") for line in conll.read_text(encoding="utf-8").splitlines() if line]
    assert "".join(c for c, _ in rows) == "".join(TEXTS)  # one row per character, in order
    assert sum(t.startswith("B-") for _, t in rows) == sum(map(len, expected))
    page = tmp_path / "out.html"
    code, _, err = run_entry(
        "predict", f"ckpt_path={bilstm_ckpt}", f"input={src}", f"output={page}", "format=html", capsys=capsys
    )
    html = page.read_text(encoding="utf-8")
    assert code == 0 and html.count('class="doc"') == len(TEXTS)
    assert html.count("<mark") == sum(map(len, expected))
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    assert 'class="legend"' in html and all(t in html for t in ("PER", "LOC", "ORG"))


def test_interactive_prompt(
    bilstm_ckpt: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("赵阳在中科院工作\n\n北京\n"))
    code, out, err = run_entry("predict", f"ckpt_path={bilstm_ckpt}", capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 6  # per input line: entities (JSON), then the tagged line
    assert json.loads(lines[0]) == load_tagger(bilstm_ckpt).predict(["赵阳在中科院工作"])[0]
    assert lines[2] == "[]" and lines[3] == ""
    (beijing,) = load_tagger(bilstm_ckpt).predict(["北京"])
    assert lines[4] == json.dumps(beijing, ensure_ascii=False) and lines[5] == bracketed("北京", beijing)


def test_an_onnx_model_is_accepted(bilstm_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.onnx"
    assert run_entry("export", f"ckpt_path={bilstm_ckpt}", f"output={out}", "parity_split=null", capsys=capsys)[0] == 0
    code, stdout, err = run_entry("predict", f"ckpt_path={out}", "text=赵阳在中科院工作", capsys=capsys)
    assert code == 0, err
    assert json.loads(stdout)["entities"] == load_tagger(bilstm_ckpt).predict(["赵阳在中科院工作"])[0]


def test_predict_errors_are_one_line(bilstm_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"txt": "b"}\n', encoding="utf-8")
    cases = [
        ([f"input={bad}"], f"{bad}:2: expected an object with a string 'text'"),
        ([f"input={tmp_path / 'none.txt'}"], "none.txt: no such file (input)"),
        (["format=xml", "text=a"], "format='xml'"),
        (["text=a", f"input={bad}"], "text= and input= exclude each other"),
    ]
    for args, expect in cases:
        code, _, err = run_entry("predict", f"ckpt_path={bilstm_ckpt}", *args, capsys=capsys)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and expect in lines[0], (args, err)
