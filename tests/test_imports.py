"""The house rules, held here: commands at the root, layers importing downwards only, nothing importing a command.

Floors, top to bottom: commands (``train``, ``evaluate``, ``predict``, ``export``, ``serve``, ``compare``,
``data/__main__``) -> ``runs`` -> ``inference`` -> ``models``, ``data`` (neither imports the other) -> ``assets`` ->
``base`` -> ``errors``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "ner_lightning"
COMMANDS = {"train", "evaluate", "predict", "export", "serve", "compare"}
COMMAND_MODULES = {f"ner_lightning.{c}" for c in COMMANDS} | {"ner_lightning.data.__main__"}
# what each layer may import (besides itself and errors)
MAY_IMPORT = {
    "base": set(),
    "assets": {"base"},
    "data": {"base", "assets"},
    "models": {"base", "assets"},
    "inference": {"base", "assets", "data", "models"},
    "runs": {"base", "assets", "data", "models", "inference"},
}


def imported(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (anywhere in the file, lazy imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ner_lightning"):
            out.add(node.module)
            out |= {
                f"{node.module}.{a.name}"
                for a in node.names
                if (PKG / node.module[14:].replace(".", "/") / a.name).exists()
            }
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("ner_lightning")}
    return out


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_root_holds_only_the_commands_and_the_package_face() -> None:
    modules = {p.stem for p in PKG.glob("*.py")}
    assert modules == COMMANDS | {"__init__", "errors"}, modules - COMMANDS


def test_layers_import_downwards_only() -> None:
    for name, allowed in MAY_IMPORT.items():
        for path in (PKG / name).rglob("*.py"):
            if path.name == "__main__.py":
                continue  # the data command
            for module in imported(path):
                target = layer(module)
                if target in (name, "errors", None) or module == "ner_lightning":
                    continue
                assert target in allowed, f"{path.relative_to(ROOT)} imports {module} ({name} may not import {target})"


def test_nothing_imports_a_command() -> None:
    files = [*PKG.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "scripts").glob("*.py")]
    for path in files:
        bad = {m for m in imported(path) if m in COMMAND_MODULES}
        assert not bad, f"{path.relative_to(ROOT)} imports the command(s) {bad}"


def test_errors_imports_nothing_of_the_package() -> None:
    assert imported(PKG / "errors.py") == set()


def test_tags_import_without_lightning_or_torch() -> None:
    code = "import sys, ner_lightning.data.tags; print('lightning' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_the_readme_architecture_names_every_module() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    for path in PKG.rglob("*.py"):
        if path.name == "__init__.py" and path.parent != PKG:
            continue
        folder = path.parent.relative_to(PKG).as_posix()
        assert path.name in section, f"README Architecture does not name {folder}/{path.name}"
        if folder != ".":
            assert f"ner_lightning/{folder}/" in section, folder


def test_the_training_command_reads_as_the_runs_outline() -> None:
    """``train.train`` is the run's outline (issue 20: it was 117 lines doing everything); the steps are helpers
    beside it."""
    import ast

    tree = ast.parse((ROOT / "ner_lightning" / "train.py").read_text(encoding="utf-8"))
    train = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert train.end_lineno - train.lineno + 1 <= 45
