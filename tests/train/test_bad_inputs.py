"""The bad-input suite: every case of ``tests/bad_inputs.py`` through the real entry points, in this process.

Each case must exit with status 2 and one ``error:`` line naming the file:line, record or config key; no traceback,
no exit 0. The outcome counts are printed in pytest's terminal summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bad_inputs import CASES, Case, classify, materialise
from helpers import run_entry, run_train

RESULTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def trained_ckpt(mini_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny BiLSTM+CRF checkpoint (PER/LOC/ORG, BIO) trained on the MSRA slice."""
    run = tmp_path_factory.mktemp("ckpt_run")
    proc = run_train(
        "data=bio", f"data.train_path={mini_corpus['train']}", f"data.test_path={mini_corpus['test']}",
        "data.dev_size=20", "data.progress=false", "model.encoder.embedding_dim=8", "model.encoder.hidden_size=8",
        "debug=limit", "~logger", "trainer.enable_progress_bar=false", f"hydra.run.dir={run}", cwd=run,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return str(run / "checkpoints" / "last.ckpt")  # debug=limit keeps last.ckpt alone


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_line_naming_the_place(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    ckpt = request.getfixturevalue("trained_ckpt") if case.needs_ckpt else ""
    args = materialise(case, tmp_path, ckpt)
    code, out, err = run_entry(case.entry, *args, capsys=capsys)
    outcome = classify(case, code, out, err)
    RESULTS[case.name] = outcome
    assert outcome == "good", f"{outcome}: exit {code}\n{err[-3000:]}"


def test_the_suite_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("text", "extra", "counts"),
    [
        # a stray I- is repaired and counted (once per sentence)
        ("中\tI-LOC\n国\tI-LOC\n", ["data.source_scheme=BIO"], {"repaired_tags": 2}),
        # Weibo-style tokens: the position digit is stripped from every token, and counted
        ("中0\tB-LOC\n国1\tI-LOC\n", ["data.token_format=char_digit"], {"stripped_position_digits": 4}),
        ("\n\n中\tO\n\n\n", [], {}),
        # Weibo tokens past position 9 (URL characters in long words) and runs of U+FFFD (an older conversion's
        # broken bytes) before the digit: one unknown character each, counted
        (
            "中0\tB-LOC\n国10\tI-LOC\n\ufffd\ufffd0\tO\n",
            ["data.token_format=char_digit"],
            {"stripped_position_digits": 6, "replacement_chars": 2},
        ),  # fmt: skip
        # CR-only line ends (old Mac files) read like LF ones, not as one long line
        ("中\tB-LOC\r国\tI-LOC\r\r", [], {"chars": 4}),
    ],
)
def test_accepted_input_is_counted_not_dropped(
    text: str, extra: list[str], counts: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train.txt").write_text(text + "\n" + text, encoding="utf-8")
    args = ["data=bio", f"data.train_path={tmp_path / 'train.txt'}", "data.dev_size=0", *extra]
    code, out, err = run_entry("data", *args, capsys=capsys)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])["train"]
    assert summary["read"] == summary["sentences"] + summary["rejected"] == 2  # read = used + rejected
    for key, value in counts.items():
        assert summary[key] == value


def test_dev_only_types_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.txt").write_text("中\tB-LOC\n国\tI-LOC\n", encoding="utf-8")
    (tmp_path / "dev.txt").write_text("张\tB-PER\n三\tI-PER\n在\tO\n北\tB-LOC\n", encoding="utf-8")
    args = ["data=bio", f"data.train_path={tmp_path / 'train.txt'}", f"data.val_path={tmp_path / 'dev.txt'}"]
    code, out, err = run_entry("data", *args, capsys=capsys)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["val"]["unknown_type_entities"] == 1 and summary["val"]["entities"] == {"LOC": 1}
    assert "PER" not in out.split("labels")[1].split("\n")[0]  # the label set comes from train only


def test_debug_mode_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HYDRA_FULL_ERROR=1 (or NER_DEBUG=1): the error is raised with its traceback instead of one line."""
    from hydra.core.global_hydra import GlobalHydra

    from ner_lightning.data.__main__ import main
    from ner_lightning.errors import ConfigError

    (tmp_path / "train.txt").write_text("中\tO\n", encoding="utf-8")
    for var in ("HYDRA_FULL_ERROR", "NER_DEBUG"):
        monkeypatch.setenv(var, "1")
        monkeypatch.setattr("sys.argv", ["data", "data=bio", f"data.train_path={tmp_path / 'train.txt'}",
                                         "data.max_len=0"])  # fmt: skip
        GlobalHydra.instance().clear()
        with pytest.raises(Exception, match="data.max_len=0") as info:  # Hydra may wrap it
            main()
        assert isinstance(info.value, ConfigError) or isinstance(info.value.__cause__, ConfigError)
        monkeypatch.delenv(var)
    GlobalHydra.instance().clear()


def test_predict_creates_the_output_folder(
    trained_ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.txt").write_text("李鹏在北京\n", encoding="utf-8")
    out = tmp_path / "new" / "deeper" / "out.jsonl"
    code, _, err = run_entry("predict", f"ckpt_path={trained_ckpt}", f"input={tmp_path / 'in.txt'}", f"output={out}",
                             capsys=capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["text"] == "李鹏在北京"
