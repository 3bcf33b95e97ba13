#!/usr/bin/env bash
# Train on a Cloud TPU VM or pod slice: the same command on every worker; JAX finds its peers.
#
#   launch/tpu_vm.sh TPU_NAME ZONE --config=configs/dcgan.py --workdir=gs://BUCKET/runs/dcgan
#
# The workdir (checkpoints, samples, TensorBoard) and the TFDS data dir must be reachable from every
# worker: use a gs:// bucket (set TFDS_DATA_DIR=gs://BUCKET/tensorflow_datasets for the data).
# Preemptible/spot slices: when a worker gets SIGTERM, all workers save at one agreed step and exit 0;
# re-run this script after the slice is back and the run resumes from that checkpoint.
set -euo pipefail
tpu="${1:?usage: $0 TPU_NAME ZONE ARGS...}"
zone="${2:?usage: $0 TPU_NAME ZONE ARGS...}"
shift 2
repo="${GAN_JAX_REPO:-https://github.com/OWNER/gan_jax.git}"
args=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "${tpu}" --zone="${zone}" --worker=all --command="
  set -e
  [ -d gan_jax ] || git clone ${repo} gan_jax
  cd gan_jax && git pull --ff-only
  python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt 'jax[tpu]==0.10.2'
  TFDS_DATA_DIR=\${TFDS_DATA_DIR:-} .venv/bin/python -m gan_jax.main --multihost ${args}
"
