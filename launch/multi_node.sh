#!/usr/bin/env bash
# One process of a multi-node run without a cluster manager JAX detects: start this on every node
# (or once per GPU) with the same arguments and these variables, the same on all of them but
# GAN_JAX_PROCESS_ID:
#   GAN_JAX_COORDINATOR   host:port of process 0 (reachable from every node)
#   GAN_JAX_NUM_PROCESSES how many processes the run has
#   GAN_JAX_PROCESS_ID    this process's index, 0 .. NUM_PROCESSES-1
#
#   GAN_JAX_COORDINATOR=10.0.0.1:1234 GAN_JAX_NUM_PROCESSES=2 GAN_JAX_PROCESS_ID=0 \
#       launch/multi_node.sh --config=configs/dcgan.py --workdir=/shared/runs/dcgan
#   launch/multi_node.sh --dry_run ARGS...   # print the command only
#
# They become jax.distributed.initialize's coordinator_address, num_processes and process_id
# (gan_jax.main's --coordinator_address, --num_processes, --process_id). The workdir must be one
# folder every process sees; SIGTERM to all processes saves at an agreed step; the same command
# again resumes. PYTHON (default python3) is the interpreter.
set -euo pipefail
dry_run=0
if [[ "${1:-}" == --dry_run ]]; then dry_run=1; shift; fi
: "${GAN_JAX_COORDINATOR:?set GAN_JAX_COORDINATOR=host:port of process 0}"
: "${GAN_JAX_NUM_PROCESSES:?set GAN_JAX_NUM_PROCESSES to the number of processes}"
: "${GAN_JAX_PROCESS_ID:?set GAN_JAX_PROCESS_ID to the index of this process}"
command=("${PYTHON:-python3}" -m gan_jax.main "$@" --coordinator_address="${GAN_JAX_COORDINATOR}"
  --num_processes="${GAN_JAX_NUM_PROCESSES}" --process_id="${GAN_JAX_PROCESS_ID}")
if ((dry_run)); then
  printf '+'; printf ' %q' "${command[@]}"; printf '\n'
  exit 0
fi
exec "${command[@]}"
