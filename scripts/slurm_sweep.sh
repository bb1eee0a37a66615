#!/bin/bash
# Splits an experiment over a SLURM array job: task K of N runs every N-th point from the K-th
# (mortalsim reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT) into
# runs/NAME/shard-K-of-N/. When all tasks are done, join the shards:
#
#   sbatch --array=1-16%8 scripts/slurm_sweep.sh experiments/learners.toml
#   mortalsim merge runs/learners/shard-*-of-16 --out runs/learners
#   mortalsim plot runs/learners
#
# `mortalsim run FILE --list` shows the points (and how many there are) before submitting. A
# task that is killed loses only the points it had in progress: resubmitting the same array
# skips the finished ones.
#SBATCH --job-name=mortalsim
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%A_%a.out
set -euo pipefail
EXPERIMENT=${1:?usage: sbatch --array=1-N scripts/slurm_sweep.sh experiments/NAME.toml}
mkdir -p logs
exec ./target/release/mortalsim run "$EXPERIMENT" --threads "${SLURM_CPUS_PER_TASK:-1}"
