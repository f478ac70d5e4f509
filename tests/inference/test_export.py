"""ONNX export: the whole tagger (CRF Viterbi included) for any batch and length, equal to PyTorch; INT8; the
ONNX predictor needs neither torch nor Lightning nor Hydra."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_entry

from ner_lightning.data.readers import read_column
from ner_lightning.inference.onnx_backend import OnnxPredictor
from ner_lightning.inference.torch_backend import TorchPredictor


def real_texts(corpus: dict[str, Path], n: int = 60, seed: int = 0) -> list[str]:
    """Real MSRA sentences of varied length, some cut short, some doubled (longer than a BERT window)."""
    sents = ["".join(s.chars) for s in read_column(corpus["test"])]
    rng = random.Random(seed)
    out = [rng.choice(sents)[: rng.randint(1, 80)] for _ in range(n)]
    return out + [sents[0] * 3, sents[1] + sents[2]]


@pytest.mark.parametrize(
    "fixture", ["bilstm_ckpt", "bert_ckpt", "bert_crf_bioes_ckpt", "lexicon_ckpt", "lexicon_tags_ckpt"]
)
def test_onnx_tags_equal_pytorch_tags(
    fixture: str, request: pytest.FixtureRequest, mini_corpus: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ckpt = request.getfixturevalue(fixture)
    out = tmp_path / "model.onnx"
    code, stdout, err = run_entry(
        "export", f"ckpt_path={ckpt}", f"output={out}", "parity_max=30", f"hydra.run.dir={tmp_path}", capsys=capsys
    )
    assert code == 0, err[-3000:]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["parity"]["mismatched_sentences"] == 0 and meta["parity"]["sentences"] == 30
    assert meta["labels"][0] == "O" and meta["scheme"] in ("BIO", "BIOES") and len(meta["source_sha256"]) == 64
    texts = real_texts(mini_corpus)
    torch_tagger = TorchPredictor.load(ckpt, device="cpu")
    onnx_tagger = OnnxPredictor(out)
    for batch_size in (1, 7, 64):  # batches of mixed lengths, padded
        assert onnx_tagger.predict_tags(texts, batch_size) == torch_tagger.predict_tags(texts, batch_size)
    assert onnx_tagger.predict(texts) == torch_tagger.predict(texts)


def test_int8_export_quantizes_lstm_and_linear_weights(
    bilstm_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    for fmt, out in (("onnx", fp32), ("onnx-int8", int8)):
        code, _, err = run_entry(
            "export", f"ckpt_path={bilstm_ckpt}", f"format={fmt}", f"output={out}", "parity_split=null",
            f"hydra.run.dir={tmp_path}", capsys=capsys,
        )  # fmt: skip
        assert code == 0, err[-3000:]
    import onnx

    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "DynamicQuantizeLSTM" in ops and ({"MatMulInteger", "DynamicQuantizeMatMul"} & ops), ops
    assert int8.stat().st_size < fp32.stat().st_size
    assert not (tmp_path / "m.fp32.onnx").exists()
    tags = OnnxPredictor(int8).predict(["中国人民银行行长在北京", "", "李鹏"])
    assert tags[1] == []


def test_onnx_predictor_needs_no_torch_lightning_or_hydra(bilstm_ckpt: Path, tmp_path: Path) -> None:
    from ner_lightning.inference.onnx_export import export_onnx, write_sidecar
    from ner_lightning.models.checkpoint import load_checkpoint

    out = tmp_path / "m.onnx"
    model = load_checkpoint(bilstm_ckpt)
    export_onnx(model, out)
    write_sidecar(model, out, bilstm_ckpt, {})
    code = f"""
import sys
for name in ("torch", "lightning", "hydra", "omegaconf", "pytorch_lightning", "transformers"):
    sys.modules[name] = None  # any import of these now fails
from ner_lightning import load_tagger
found = load_tagger({str(out)!r}).predict(["中国人民银行行长在北京", ""])
print(len(found), found[1])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["2", "[]"]


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], bilstm_ckpt: Path) -> None:
    code, _, err = run_entry("export", f"ckpt_path={tmp_path / 'x.ckpt'}", f"hydra.run.dir={tmp_path}", capsys=capsys)
    assert code == 2 and err.strip().startswith("error:") and "x.ckpt: no such checkpoint" in err
    code, _, err = run_entry("export", f"ckpt_path={bilstm_ckpt}", "format=tflite", capsys=capsys)
    assert code == 2 and "format='tflite'" in err
