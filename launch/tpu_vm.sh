#!/usr/bin/env bash
# Train on a Cloud TPU VM or pod slice: create it (or reuse it), install gan_jax on every worker,
# and run the same `python -m gan_jax.main --multihost ...` on all of them (--worker=all); JAX
# finds its peers. Spot/preemptible slices: when the run ends and the slice reports PREEMPTED (or is
# gone), the slice is deleted, created again, set up again, and the same command resumes the run
# from its newest checkpoint, up to --max_restarts times.
#
#   launch/tpu_vm.sh [OPTIONS] TPU_NAME ZONE --config=configs/dcgan.py --workdir=gs://BUCKET/runs/dcgan
#
# Options (before TPU_NAME):
#   --accelerator=TYPE   slice to create when none exists (default v4-8; v4-32 is 4 workers)
#   --version=VERSION    TPU VM software version (default tpu-ubuntu2204-base)
#   --spot               create a spot slice (preempted at any time; the loop brings it back)
#   --max_restarts=N     re-create and resume at most N times after preemption (default 20)
#   --dry_run            print every command instead of running it (needs no gcloud); with
#                        GAN_JAX_DRY_RUN_PREEMPTIONS=K the printed run is preempted K times
# Environment: GAN_JAX_REPO (git URL to clone; default below), GAN_JAX_REF (branch or tag),
# TFDS_DATA_DIR (passed to every worker).
#
# The workdir (checkpoints, samples, TensorBoard) and the TFDS data dir must be reachable from every
# worker and survive the slice: use a gs:// bucket. A worker that gets SIGTERM makes all of them save
# at one agreed step and exit 0, so nothing after the last periodic checkpoint is lost either way.
set -euo pipefail

accelerator="v4-8"
version="tpu-ubuntu2204-base"
spot=""
max_restarts=20
dry_run=0
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --accelerator=*) accelerator="${1#*=}" ;;
    --version=*) version="${1#*=}" ;;
    --spot) spot="--spot" ;;
    --max_restarts=*) max_restarts="${1#*=}" ;;
    --dry_run) dry_run=1 ;;
    *) echo "error: unknown option $1 (options go before TPU_NAME)" >&2; exit 2 ;;
  esac
  shift
done
usage="usage: $0 [--accelerator=v4-8] [--spot] [--dry_run] TPU_NAME ZONE ARGS..."
tpu="${1:?$usage}"
zone="${2:?$usage}"
shift 2
[[ $# -gt 0 ]] || { echo "error: no gan_jax.main arguments ($usage)" >&2; exit 2; }
repo="${GAN_JAX_REPO:-https://github.com/OWNER/gan_jax.git}"
ref="${GAN_JAX_REF:-main}"
args=$(printf ' %q' "$@")

# Workers (hosts) of a slice: v2, v3, v4 and v5p types count TensorCores, 8 per host; v5e
# (v5litepod) and v6e types count chips, up to 8 on one host and 4 per host above that.
workers() {
  local kind="${1%-*}" n="${1##*-}"
  case "${kind}" in
    v5litepod | v6e) if ((n <= 8)); then echo 1; else echo $((n / 4)); fi ;;
    *) echo $(((n + 7) / 8)) ;;
  esac
}

tpu_cmd=(gcloud compute tpus tpu-vm)
run() {  # run (or, dry, print) one command
  if ((dry_run)); then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
state() {  # READY, PREEMPTED, ... or NONE
  if ((dry_run)); then
    if ((preemptions_left > 0)); then echo PREEMPTED; else echo READY; fi
    return
  fi
  "${tpu_cmd[@]}" describe "${tpu}" --zone="${zone}" --format='value(state)' 2>/dev/null || echo NONE
}
create() {
  run "${tpu_cmd[@]}" create "${tpu}" --zone="${zone}" --accelerator-type="${accelerator}" \
    --version="${version}" ${spot}
}
setup() {  # the same checkout and venv on every worker
  run "${tpu_cmd[@]}" ssh "${tpu}" --zone="${zone}" --worker=all --command="set -e; \
[ -d gan_jax ] || git clone ${repo} gan_jax; cd gan_jax; git fetch -q origin; \
git checkout -q ${ref}; git pull -q --ff-only origin ${ref} || true; \
[ -x .venv/bin/python ] || python3 -m venv .venv; \
.venv/bin/pip install -q -r requirements.txt 'jax[tpu]==0.10.2'"
}
train() {  # every worker, the same command; a rerun in the same workdir resumes
  run "${tpu_cmd[@]}" ssh "${tpu}" --zone="${zone}" --worker=all --command="cd gan_jax && \
TFDS_DATA_DIR=${TFDS_DATA_DIR:-} .venv/bin/python -m gan_jax.main --multihost${args}"
}

preemptions_left="${GAN_JAX_DRY_RUN_PREEMPTIONS:-0}"
echo "tpu_vm: ${tpu} in ${zone}, ${accelerator}: $(workers "${accelerator}") workers" \
  "(--worker=all)${spot:+, spot}; up to ${max_restarts} restarts" >&2
if ((dry_run)); then
  echo "tpu_vm: dry run: would reuse ${tpu} if it exists, else create it" >&2
  create
else
  case "$(state)" in
    NONE) create ;;
    PREEMPTED) run "${tpu_cmd[@]}" delete "${tpu}" --zone="${zone}" --quiet && create ;;
  esac
fi
setup
for ((attempt = 0; ; attempt++)); do
  status=0
  if ((dry_run)); then
    train
    if ((preemptions_left > 0)); then status=255; fi
  else
    train || status=$?
  fi
  now="$(state)"
  if [[ "${now}" != PREEMPTED && "${now}" != NONE ]]; then
    exit "${status}"  # finished, or failed on a healthy slice: nothing to resume
  fi
  if ((attempt >= max_restarts)); then
    echo "tpu_vm: preempted $((attempt + 1)) times; giving up (rerun this script to resume)" >&2
    exit 1
  fi
  echo "tpu_vm: ${tpu} is ${now}: re-creating it and resuming (restart $((attempt + 1)))" >&2
  [[ "${now}" == NONE ]] || run "${tpu_cmd[@]}" delete "${tpu}" --zone="${zone}" --quiet
  preemptions_left=$((preemptions_left - 1))
  create
  setup
done
