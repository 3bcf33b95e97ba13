#!/usr/bin/env bash
# N processes of one run on this machine, talking over loopback (CPU: each process gets its own
# devices; with XLA_FLAGS=--xla_force_host_platform_device_count=K, K fake devices each).
#
#   launch/local_multiprocess.sh 2 --config=configs/dcgan.py:tiny --workdir=runs/mp
#   launch/local_multiprocess.sh --dry_run 2 ARGS...   # print the N commands only
#
# PYTHON (default python3) is the interpreter, e.g. PYTHON=.venv/bin/python.
# Every process loads its own shard of the data; process 0 writes logs, samples and config.json.
# Ctrl-C or SIGTERM to all of them saves a checkpoint at a step they agree on, then they exit.
set -euo pipefail
dry_run=0
if [[ "${1:-}" == --dry_run ]]; then dry_run=1; shift; fi
num="${1:?usage: $0 NUM_PROCESSES ARGS...}"
shift
port="${GAN_JAX_PORT:-$((20000 + RANDOM % 20000))}"
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' INT TERM
for ((i = 0; i < num; i++)); do
  command=("${PYTHON:-python3}" -m gan_jax.main "$@" --coordinator_address="127.0.0.1:${port}"
    --num_processes="${num}" --process_id="${i}")
  if ((dry_run)); then printf '+'; printf ' %q' "${command[@]}"; printf ' &\n'; continue; fi
  "${command[@]}" &
  pids+=($!)
done
((dry_run)) && exit 0
status=0
for pid in "${pids[@]}"; do wait "${pid}" || status=$?; done
exit "${status}"
