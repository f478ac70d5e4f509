"""Where the Hydra configuration lives, for source checkouts, editable and regular installs."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> str:
    """Absolute path of the ``conf/`` folder.

    A wheel carries it as ``ner_lightning/conf`` (see ``pyproject.toml``); a source checkout or an editable
    install uses the top-level ``conf/`` next to the package.

    Raises:
        FileNotFoundError: when neither exists (a broken install).
    """
    package = Path(__file__).resolve().parents[1]  # ner_lightning/
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"no Hydra config found next to {package} (expected conf/config.yaml)")
