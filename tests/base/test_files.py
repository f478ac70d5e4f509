"""Files written whole or not at all: kill -9 at random moments (same and another filesystem), a full disk."""

from __future__ import annotations

import errno
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from ner_lightning.base.files import TEMP_PREFIX, atomic_open, atomic_write_text, remove_stale_temps
from ner_lightning.errors import DiskFullError
from ner_lightning.runs.callbacks import AtomicCheckpointIO

SHM = Path("/dev/shm")


def _checkpoint(version: int) -> dict:
    # ~16 MB: the write takes long enough for kills to land inside it
    return {"version": version, "state_dict": {"w": torch.full((4_000_000,), float(version))}}


def _folders(tmp_path: Path) -> list[Path]:
    folders = [tmp_path / "same"]
    if SHM.is_dir() and os.stat(SHM).st_dev != os.stat(tmp_path).st_dev and os.access(SHM, os.W_OK):
        folders.append(Path(SHM) / f"ner-atomic-{os.getpid()}-{tmp_path.name}")  # another filesystem
    return folders


@pytest.mark.parametrize("which", [0, 1])
def test_kill_9_mid_write_leaves_the_old_or_the_new_checkpoint_whole(tmp_path: Path, which: int) -> None:
    folders = _folders(tmp_path)
    if which >= len(folders):
        pytest.skip("no second filesystem (tmpfs /dev/shm) on this machine")
    folder = folders[which]
    folder.mkdir(parents=True)
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    path = folder / "last.ckpt"
    io = AtomicCheckpointIO()
    start = time.perf_counter()
    io.save_checkpoint(_checkpoint(0), path)
    took = time.perf_counter() - start
    rng = random.Random(which)
    seen = set()
    try:
        for trial in range(30):  # 30 random moments, from before the write to after it
            ckpt = _checkpoint(trial + 1)  # built before the fork (OpenMP does not survive one)
            pid = os.fork()
            if pid == 0:  # the writer: one checkpoint save, then exit without cleanup
                os.environ["TMPDIR"] = str(private_tmp)
                try:
                    io.save_checkpoint(ckpt, path)
                finally:
                    os._exit(0)
            time.sleep(rng.uniform(0.0, 2.0 * took + 0.01))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            loaded = torch.load(path, weights_only=True, map_location="cpu")  # never torn
            version = loaded["version"]
            assert loaded["state_dict"]["w"].eq(float(version)).all()
            seen.add(version > 0 and version == trial + 1)
            remove_stale_temps(folder)  # what a resumed run does at start
            assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]
        assert not list(private_tmp.iterdir()), "the writer staged files in $TMPDIR"
        assert seen == {True, False}, "the kills should land both before and after some writes completed"
    finally:
        if folder.is_relative_to(SHM):
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint(_checkpoint(1), path)
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError) as err:
        io.save_checkpoint(_checkpoint(2), path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)
    assert torch.load(path, weights_only=True)["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp left behind


def test_failed_write_mid_file_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    atomic_write_text(path, '{"old": 1}')
    with pytest.raises(RuntimeError), atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write('{"new": ')
        raise RuntimeError("crash mid-file")
    assert path.read_text() == '{"old": 1}' and not list(tmp_path.glob(TEMP_PREFIX + "*"))


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644
