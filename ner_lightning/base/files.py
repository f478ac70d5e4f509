"""Files written whole or not at all: a temp file in the same folder, flushed and fsynced, then ``os.replace``.

A kill -9, a crash or a full disk leaves the old file or the new one, never a torn one under the final name; the temp
file is removed when the write fails, and :func:`remove_stale_temps` clears what a killed process left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ner_lightning.errors import DiskFullError

TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on a clean exit it is fsynced and replaces ``path`` in one step.

    Raises:
        DiskFullError: naming the folder when the disk is full (the previous ``path``, if any, is intact).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it private)
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        _discard(tmp)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"{path.parent}: no space left on the device while writing {path.name} "
                "(the previous file, if any, is intact); free space and run again"
            ) from None
        raise
    except BaseException:
        _discard(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def atomic_save(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(fh)`` on a binary temp file beside ``path`` and put it in place atomically."""
    with atomic_open(path, "wb") as fh:
        write(fh)


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temp files a killed writer left in ``folder``; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(TEMP_PREFIX + "*") if p.is_file()]
    for p in stale:
        _discard(str(p))
    return stale


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _discard(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)
