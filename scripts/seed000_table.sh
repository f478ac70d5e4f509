#!/usr/bin/env bash
# Reproduce seed 000's results table (BiLSTM+CRF baseline §4, optimized §5, BERT fine-tuning §7) on MSRA and write
# the comparison report (comparison.md/.csv + plots) from the runs' own outputs - no number is typed by hand.
#
# Full size on a GPU (hfl/chinese-macbert-base from the HF hub or a local copy):
#   bash scripts/seed000_table.sh trainer=rtx4090
# Budgeted on a CPU, fully offline (first 4,000 training sentences, 2 epochs, e5-small-offline as the encoder):
#   bash scripts/seed000_table.sh data.max_train_samples=4000 data.max_eval_samples=500 trainer.max_epochs=2 \
#        pretrained_encoder=e5-small-offline
set -euo pipefail
out="outputs/seed000_table/$(date +%Y-%m-%d_%H-%M-%S)"
python -m ner_lightning.train -m experiment=baseline,optimized,bert "hydra.sweep.dir=$out" "$@"
python -m ner_lightning.compare "$out"
