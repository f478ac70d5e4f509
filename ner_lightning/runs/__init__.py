"""Run support for the commands: the CLI wrapper (one error line, exit 2), config folder, console, callbacks
(checkpoints, divergence guard, run files), run-folder policy, records, tracking (W&B), DDP and plots."""
