"""Lightning DDP under Hydra: the processes Lightning starts for ranks 1.. run *this* job, in this job's folder.

Lightning starts them with the parent's own command line (``sys.argv``). Inside a multirun (``-m``) that line is the
whole sweep: every rank-1 process would launch all jobs of the sweep again, each trying to join whichever DDP group
is listening (seeds and configs mixed up across jobs, folders written twice). Here the command is rebuilt from the
job's own overrides (Hydra's ``overrides.task``) and its output folder, so a DDP child is one run of one job; after
each job its process group is closed so that the next job of the sweep starts its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# what Lightning's launcher writes into the environment for a job (its children read it; so does Lightning, in the
# next job of a multirun: a LOCAL_RANK left behind means "processes are created externally", and it waits for
# children it never starts). Values given by the user or a cluster stay; the ones a job set are dropped after it.
_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_GIVEN = {k for k in _LAUNCH_ENV if k in os.environ}


def job_subprocess_cmd(local_rank: int) -> tuple[Sequence[str], str]:
    """``(command, cwd)`` for DDP rank ``local_rank`` of the current Hydra job (run or multirun)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    import __main__

    hydra_cfg = HydraConfig.get()
    spec = getattr(__main__, "__spec__", None)
    module = spec.name if spec is not None else "ner_lightning.train"
    command = [sys.executable, "-m", module, *hydra_cfg.overrides.task]
    command += [
        f'hydra.run.dir="{hydra_cfg.runtime.output_dir}"',
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",
    ]
    return command, get_original_cwd()


def children_run_this_job() -> None:
    """Make Lightning's DDP launcher start ranks 1.. with :func:`job_subprocess_cmd` (an error if Lightning moved
    the hook: see :func:`ner_lightning.base.lightning_state.set_ddp_child_command`)."""
    from ner_lightning.base.lightning_state import set_ddp_child_command

    set_ddp_child_command(job_subprocess_cmd)


def end_job() -> None:
    """After a job: close its process group and drop the launch variables Lightning set, so the next job of a
    multirun in this process starts its own group with its own children (not the last job's, gone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key in set(_LAUNCH_ENV) - _GIVEN:
        os.environ.pop(key, None)
