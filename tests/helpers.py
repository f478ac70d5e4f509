"""Helpers shared by test modules (importable as ``helpers``; fixtures live in conftest.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any


def corpus_args(corpus: dict[str, Path], size: int | None = 8) -> list[str]:
    """Overrides for a quick run on the mini corpus: its files, a 20-sentence dev slice, no progress bars and
    (``size``) a BiLSTM of that embedding and hidden size."""
    small = [f"model.encoder.embedding_dim={size}", f"model.encoder.hidden_size={size}"] if size else []
    return [
        "data=bio",
        f"data.train_path={corpus['train']}",
        f"data.test_path={corpus['test']}",
        "data.dev_size=20",
        "data.progress=false",
        *small,
        "trainer.enable_progress_bar=false",
    ]


def sweep_args(corpus: dict[str, Path], sweep: Path, tiny: Path | None = None) -> list[str]:
    """Command-line overrides for a quick multirun on the mini corpus into ``sweep`` (``tiny``: the tiny BERT to
    use as ``pretrained_encoder``; otherwise BiLSTMs of size 8)."""
    size = [f"pretrained_encoder={tiny}"] if tiny else []
    return [*corpus_args(corpus, None if tiny else 8), *size, f"hydra.sweep.dir={sweep}"]


def run_train(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ner_lightning.train ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env=env,
    )


def run_entry(module: str, *args: str, capsys: Any) -> tuple[int, str, str]:
    """Run ``python -m ner_lightning.<module> ARGS`` in this process (fast: no interpreter start-up).

    Returns ``(exit code, stdout, stderr)``; Hydra's global state is cleared before and after.
    """
    import importlib

    from hydra.core.global_hydra import GlobalHydra

    name = "ner_lightning.data.__main__" if module == "data" else f"ner_lightning.{module}"
    main = importlib.import_module(name).main
    GlobalHydra.instance().clear()
    argv, sys.argv = sys.argv, [f"ner_lightning.{module}", *args]
    capsys.readouterr()
    # Lightning binds its console handlers to the sys.stderr of import time (maybe an earlier test's capture)
    for logger_name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        for handler in logging.getLogger(logger_name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.stream = sys.stderr  # (setStream would flush the old, maybe closed, stream)
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
    out, err = capsys.readouterr()
    return code, out, err


class PauseAtStep:
    """A Lightning callback for tests of signals: at ``step`` it writes ``marker`` and sleeps ``seconds`` inside
    the training loop, so a test can interrupt or kill the run at a known step instead of guessing with timers.

    Used from a subprocess as ``+callbacks.pause._target_=helpers.PauseAtStep`` (``tests/`` on ``PYTHONPATH``).
    """

    def __new__(cls, step: int, marker: str, seconds: float = 120.0) -> Any:
        import time

        from lightning.pytorch.callbacks import Callback

        class _Pause(Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
                if trainer.global_step == step:
                    Path(marker).write_text(str(step))
                    time.sleep(seconds)

        return _Pause()


class PoisonAtStep:
    """A Lightning callback that makes a run diverge at a known step: it fills one weight with NaN there (after a
    first finite validation, a run then has a last good checkpoint to fall back on)."""

    def __new__(cls, step: int) -> Any:
        import torch
        from lightning.pytorch.callbacks import Callback

        class _Poison(Callback):
            def on_train_batch_start(self, trainer: Any, pl_module: Any, *args: Any) -> None:
                if trainer.global_step == step:
                    with torch.no_grad():
                        next(pl_module.parameters()).fill_(float("nan"))

        return _Poison()


def pause_args(step: int, marker: Path) -> list[str]:
    """Overrides that add :class:`PauseAtStep` to a training run."""
    return [
        "+callbacks.pause._target_=helpers.PauseAtStep",
        f"+callbacks.pause.step={step}",
        f"+callbacks.pause.marker={marker}",
    ]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until ``path`` exists (failing with the process output if the process ends first)."""
    import time

    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {path.name}: {proc.communicate()[0]!r}"[-3000:])
        if time.time() > deadline:
            raise AssertionError(f"no {path} after {timeout} s")
        time.sleep(0.05)


class RecordBatches:
    """A Lightning callback that appends, for every trained batch, ``epoch global_step index index ...`` to
    ``<path>.<rank>`` (the sentences each process trained on, in order)."""

    def __new__(cls, path: str) -> Any:
        from lightning.pytorch.callbacks import Callback

        class _Record(Callback):
            def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, *args: Any) -> None:
                ids = " ".join(str(int(i)) for i in batch["index"])
                with open(f"{path}.{trainer.global_rank}", "a", encoding="utf-8") as fh:
                    fh.write(f"{trainer.current_epoch} {trainer.global_step} {ids}\n")

        return _Record()


def record_args(path: Path) -> list[str]:
    """Overrides that add :class:`RecordBatches` to a training run (before any pause, so a paused batch is kept)."""
    return ["+callbacks.rec._target_=helpers.RecordBatches", f"+callbacks.rec.path={path}"]


def trained_sentences(path: Path, epoch: int) -> list[int]:
    """Sentence indices trained in ``epoch`` over all ranks' records of ``path`` (with repeats)."""
    out: list[int] = []
    for file in sorted(path.parent.glob(path.name + ".*")):
        for line in file.read_text(encoding="utf-8").splitlines():
            e, _, *ids = line.split()
            if int(e) == epoch:
                out += [int(i) for i in ids]
    return out


def ctrl_c_at_marker(args: list[str], cwd: Path, marker: Path) -> tuple[int, str]:
    """Start ``python -m ner_lightning.train ARGS`` (``tests/`` importable, one thread), press Ctrl-C (SIGINT) once
    ``marker`` appears (a :class:`PauseAtStep` holds the run there); returns ``(exit status, console)``."""
    import os
    import signal

    tests = str(Path(__file__).parent)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ner_lightning.train", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # a shell's background job (`bash .ci/run &`) starts with SIGINT ignored, and Python then never turns it
        # into KeyboardInterrupt: give the run the terminal's default, as for a user pressing Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    wait_for(marker, proc)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=300)[0].decode()
    return proc.returncode, out
