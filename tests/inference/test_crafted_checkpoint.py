"""A checkpoint is data, never code: a crafted stored config writes no marker through any entry point or the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import run_entry

from ner_lightning import load_tagger
from ner_lightning.data.stored import datamodule_from_settings
from ner_lightning.errors import CheckpointError, ConfigError
from ner_lightning.models.checkpoint import load_checkpoint
from ner_lightning.models.tagger import check_target


def _craft(src: Path, dst: Path, marker: Path, where: str) -> Path:
    """A copy of ``src`` whose stored data config runs ``os.makedirs(marker)`` when instantiated by Hydra."""
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    data = ckpt["hyper_parameters"]["config"]["data"]
    payload = {"_target_": "os.makedirs", "_args_": [str(marker)], "exist_ok": True}
    if where == "nested":
        data["train_path"] = payload
    elif where == "top":
        ckpt["hyper_parameters"]["config"]["data"] = payload
    else:  # an unknown key holding plain text is refused too
        data["on_load"] = "rm -rf ~"
    torch.save(ckpt, dst)
    return dst


@pytest.mark.parametrize("where", ["nested", "top", "unknown"])
def test_crafted_data_config_runs_nothing(
    bilstm_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    marker = tmp_path / "PWNED"
    ckpt = _craft(bilstm_ckpt, tmp_path / "crafted.ckpt", marker, where)
    outcomes = {}
    for module, args in (
        ("evaluate", [f"ckpt_path={ckpt}", "trainer.enable_progress_bar=false"]),
        ("export", [f"ckpt_path={ckpt}", f"output={tmp_path / 'm.onnx'}", f"hydra.run.dir={tmp_path}"]),
    ):
        code, out, err = run_entry(module, *args, capsys=capsys)
        outcomes[module] = (code, err.strip())
        assert not marker.exists(), f"{module} ran the stored _target_"
        lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
        assert code == 2 and len(lines) == 1 and "refusing to build it" in lines[0], (module, err[-2000:])
    # the API and the predict path never read the data config: they still tag (the weights are fine)
    assert load_tagger(ckpt, device="cpu").predict(["北京"])[0] is not None
    model = load_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="refusing to build it"):
        datamodule_from_settings(model.hparams, {}, str(ckpt))
    assert not marker.exists()


def test_given_target_outside_the_allow_list_is_refused(bilstm_ckpt: Path) -> None:
    model = load_checkpoint(bilstm_ckpt)
    with pytest.raises(CheckpointError, match=r"data._target_='os.system' is not one of the project's data modules"):
        datamodule_from_settings(model.hparams, {"_target_": "os.system"}, "x")


@pytest.mark.parametrize(
    "node",
    [
        {"_target_": "os.system", "_partial_": True},
        {"_target_": "torch.optim.Adam", "betas": {"_target_": "os.system", "_args_": ["id"]}},
    ],
)
def test_optimizer_targets_are_allow_listed(node: dict) -> None:
    with pytest.raises(ConfigError, match="optimizer"):
        check_target("optimizer", node)
    check_target("optimizer", {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3})


def test_non_finite_weights_are_refused(bilstm_ckpt: Path, tmp_path: Path) -> None:
    ckpt = torch.load(bilstm_ckpt, map_location="cpu", weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.endswith("weight"))
    ckpt["state_dict"][name][0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.ckpt")
    with pytest.raises(CheckpointError, match=f"weight {name} holds NaN"):
        load_checkpoint(tmp_path / "nan.ckpt")


@pytest.fixture(scope="module")
def exported(bilstm_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ner_lightning.inference.onnx_export import export_onnx, write_sidecar

    out = tmp_path_factory.mktemp("onnx") / "m.onnx"
    model = load_checkpoint(bilstm_ckpt)
    export_onnx(model, out)
    write_sidecar(model, out, bilstm_ckpt, {})
    return out


def _mutations() -> dict[str, object]:
    return {
        "reversed labels": lambda m: {**m, "labels": ["O", *reversed(m["labels"][1:])]},
        "cut vocabulary": lambda m: {**m, "vocab": {**m["vocab"], "itos": m["vocab"]["itos"][:-3]}},
        "missing key": lambda m: {k: v for k, v in m.items() if k != "labels"},
        "max_chars 0": lambda m: {**m, "max_chars": 0},
        "unknown scheme": lambda m: {**m, "scheme": "XYZ"},
        "invalid JSON": None,
    }


@pytest.mark.parametrize("case", list(_mutations()))
def test_a_sidecar_that_does_not_match_its_graph_is_one_line(
    exported: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    from ner_lightning.inference.onnx_backend import OnnxPredictor

    model = tmp_path / "m.onnx"
    shutil.copy(exported, model)
    meta = json.loads(exported.with_suffix(".json").read_text(encoding="utf-8"))
    change = _mutations()[case]
    text = "{not json" if change is None else json.dumps(change(meta), ensure_ascii=False)
    model.with_suffix(".json").write_text(text, encoding="utf-8")
    with pytest.raises(CheckpointError) as err:
        OnnxPredictor(model)
    assert "\n" not in str(err.value) and ("m.json" in str(err.value) or "m.onnx" in str(err.value))
    code, out, stderr = run_entry("predict", f"ckpt_path={model}", "text=北京", capsys=capsys)
    assert code == 2 and stderr.strip().startswith("error:") and len(stderr.strip().splitlines()) == 1, stderr
    # the untouched pair still loads and tags
    assert OnnxPredictor(exported).predict(["北京"]) is not None


def test_a_scheme_alias_is_the_same_scheme(bilstm_ckpt: Path) -> None:
    """``data.scheme=IOB2`` on a BIO checkpoint is that checkpoint's scheme (evaluate compared upper-cased names)."""
    model = load_checkpoint(bilstm_ckpt)
    assert model.hparams.scheme == "BIO"
    datamodule_from_settings(model.hparams, {"scheme": "IOB2"}, "x")  # no error
    with pytest.raises(ConfigError, match="data.scheme=BIOES"):
        datamodule_from_settings(model.hparams, {"scheme": "BIOES"}, "x")
