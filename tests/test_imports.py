"""Import directions: entry points -> models/data -> errors; no layer reaches back up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ner_lightning"


def imported(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (anywhere in the file, lazy imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ner_lightning"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("ner_lightning")}
    return out


def test_layers_import_downwards_only() -> None:
    entry = ("ner_lightning.train", "ner_lightning.evaluate", "ner_lightning.cli", "ner_lightning.compare")
    for path in (PKG / "data").glob("*.py"):
        bad = {m for m in imported(path) if m.startswith("ner_lightning.models") or m.startswith(entry)}
        assert not bad or path.name == "__main__.py" and bad <= {"ner_lightning.cli"}, (path.name, bad)
    for path in (PKG / "models").glob("*.py"):
        assert not {m for m in imported(path) if m.startswith(entry)}, path.name
    assert imported(PKG / "errors.py") == set()
    assert not {m for m in imported(PKG / "plots.py") if "compare" in m}
    assert "ner_lightning.models.crf" not in imported(PKG / "data" / "tags.py")


def test_tags_import_without_lightning_or_torch() -> None:
    code = "import sys, ner_lightning.data.tags; print('lightning' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
