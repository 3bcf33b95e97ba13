"""The grain pipeline: per-process shards, resumable order, augmentation shared by a pair."""

import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax.data import layouts, pipeline
from gan_jax.errors import DataError
from tests.conftest import ROOT

DCGAN = str(ROOT / "configs" / "dcgan.py")


def _config(data_dir, *overrides):
  return config_lib.load_config(DCGAN + ":tiny", [f"data.data_dir={data_dir}", *overrides])


def _digest(image):
  return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_batches_are_uint8_at_image_size(tfds_data_dir):
  config = _config(tfds_data_dir)
  batch = next(iter(pipeline.make_dataset(config, "unconditional", 5)))
  assert set(batch) == {"image"}
  assert batch["image"].shape == (5, 32, 32, 3) and batch["image"].dtype == np.uint8
  spec = layouts.batch_spec("unconditional", 5, 32)["image"]
  assert (spec.shape, spec.dtype) == (batch["image"].shape, batch["image"].dtype)


def test_processes_read_disjoint_shards_that_cover_the_split(tfds_data_dir):
  config = _config(tfds_data_dir)
  seen = []
  for index in range(2):
    ds = pipeline.make_dataset(
      config, "unconditional", 16, train=False, process_index=index, process_count=2
    )
    seen.append([_digest(im) for batch in ds for im in batch["image"]])
  assert set(seen[0]).isdisjoint(seen[1])
  assert len(seen[0]) + len(seen[1]) == 128  # shapes/small's test split, every example once
  assert abs(len(seen[0]) - len(seen[1])) <= 1


def test_training_order_is_seeded_and_differs_between_epochs(tfds_data_dir):
  config = _config(tfds_data_dir, "total_steps=1")
  epoch = 512  # shapes/small's train split
  take = lambda ds, n: [_digest(b["image"][0]) for b, _ in zip(ds, range(n), strict=False)]
  first = take(pipeline.make_dataset(config, "unconditional", 1), epoch + 8)
  assert first == take(pipeline.make_dataset(config, "unconditional", 1), epoch + 8)
  assert first[:8] != first[epoch:]  # reshuffled (and re-augmented) each epoch
  other = _config(tfds_data_dir, "seed=1")
  assert first[:8] != take(pipeline.make_dataset(other, "unconditional", 1), 8)


def test_iterator_state_resumes_exactly(tfds_data_dir):
  config = _config(tfds_data_dir, "data.crop=random", "data.load_size=40", "data.flip=true")
  it = iter(pipeline.make_dataset(config, "unconditional", 4))
  for _ in range(3):
    next(it)
  state = it.get_state()
  expected = [next(it)["image"] for _ in range(2)]
  resumed = iter(pipeline.make_dataset(config, "unconditional", 4))
  resumed.set_state(state)
  for want in expected:
    np.testing.assert_array_equal(next(resumed)["image"], want)


def test_read_threads_default_to_the_cores_and_never_change_the_batches(tfds_data_dir):
  auto = pipeline.read_options(_config(tfds_data_dir).data)
  assert auto.num_threads == min(pipeline.MAX_AUTO_READ_THREADS, len(os.sched_getaffinity(0)))
  # Each thread builds a whole batch and starts only while the buffer has room for it.
  assert auto.prefetch_buffer_size >= auto.num_threads
  eight = pipeline.read_options(_config(tfds_data_dir, "data.read_threads=8").data)
  assert (eight.num_threads, eight.prefetch_buffer_size) == (8, 8)
  jitter = ("data.crop=random", "data.load_size=40", "data.flip=true")
  take = lambda threads: [
    b["image"]
    for b, _ in zip(
      pipeline.make_dataset(
        _config(tfds_data_dir, *jitter, f"data.read_threads={threads}"), "unconditional", 4
      ),
      range(6),
      strict=False,
    )
  ]
  for one, many in zip(take(1), take(8), strict=True):
    np.testing.assert_array_equal(one, many)


def test_worker_processes_give_the_same_batches_and_resume_exactly(tfds_data_dir):
  jitter = ("data.crop=random", "data.load_size=40", "data.flip=true")
  batches = lambda config: pipeline.make_dataset(config, "unconditional", 4)
  threads = iter(batches(_config(tfds_data_dir, *jitter)))
  want = [next(threads)["image"] for _ in range(7)]
  config = _config(tfds_data_dir, *jitter, "data.workers=2")
  it = iter(batches(config))
  try:
    for i in range(4):
      np.testing.assert_array_equal(next(it)["image"], want[i])
    state = it.get_state()
  finally:
    it.close()
  resumed = iter(batches(config))
  try:
    resumed.set_state(state)
    for i in range(4, 7):
      np.testing.assert_array_equal(next(resumed)["image"], want[i])
  finally:
    resumed.close()


def _alive(pid: int) -> bool:
  try:
    return pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
  except (FileNotFoundError, ProcessLookupError):
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_processes_outlive_sigterm_but_not_the_trainer(tmp_path, tfds_data_dir):
  script = tmp_path / "reader.py"
  overrides = [f"data.data_dir={tfds_data_dir}", "data.workers=2"]
  script.write_text(
    "import time\n"
    "from gan_jax import config as config_lib\n"
    "from gan_jax.data import pipeline\n"
    "if __name__ == '__main__':\n"
    f"  config = config_lib.load_config({DCGAN + ':tiny'!r}, {overrides!r})\n"
    "  it = iter(pipeline.make_dataset(config, 'unconditional', 4))\n"
    "  for _ in range(4):  # batches from both workers: both are past their start-up\n"
    "    next(it)\n"
    "  print('reading', flush=True)\n"
    "  time.sleep(300)\n"
  )
  env = {**os.environ, "PYTHONPATH": str(ROOT)}
  proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
  try:
    for line in proc.stdout:  # TFDS may print first, when it builds the dataset
      if line.strip() == "reading":
        break
    assert proc.poll() is None, "the reader exited early"
    tasks = pathlib.Path(f"/proc/{proc.pid}/task").glob("*/children")
    children = [pid for task in tasks for pid in task.read_text().split()]
    workers = [
      int(pid)
      for pid in children
      if b"spawn_main" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(workers) == 2, children
    for pid in workers:  # a preemption signals every process; the trainer still needs batches
      os.kill(pid, signal.SIGTERM)
    time.sleep(1)
    assert all(_alive(pid) for pid in workers)
  finally:
    proc.kill()
    proc.wait()
  deadline = time.monotonic() + 20
  while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
    time.sleep(0.2)
  assert not any(_alive(pid) for pid in workers), "worker processes outlived the trainer"


def test_pair_gets_one_crop_and_one_flip():
  image = np.random.RandomState(0).randint(0, 255, (50, 60, 3), np.uint8)
  augment = pipeline.Augment(32, 40, "random", True, train=True)
  outputs = set()
  for seed in range(12):
    a, b = augment([image, image.copy()], np.random.default_rng(seed))
    assert a.shape == (32, 32, 3)
    np.testing.assert_array_equal(a, b)
    outputs.add(_digest(a))
  assert len(outputs) > 6  # the crops and flips really vary


def test_center_crop_keeps_aspect_and_eval_never_flips():
  image = np.zeros((40, 80, 3), np.uint8)
  image[:, 20:60] = 255  # the central 40x40 square is white
  augment = pipeline.Augment(32, 0, "random", True, train=False)  # eval: center, no flip
  (out,) = augment([image], None)
  # Bicubic resizing softens the two borders; everything else is the white centre.
  assert out.shape == (32, 32, 3) and out[:, 2:-2].min() == 255 and out.mean() > 250


def test_paired_pipeline_keeps_pairs_aligned(tfds_data_dir):
  from gan_jax.data import toon

  config = _config(tfds_data_dir, "data.name=toon/paired_small", "data.crop=none", "image_size=64")
  batch = next(iter(pipeline.make_dataset(config, "paired", 4, train=False)))
  for a, b in zip(batch["image_a"], batch["image_b"], strict=True):
    np.testing.assert_array_equal(b, toon.cartoonize(a))


def test_unpaired_domains_of_different_sizes(tmp_path, tfds_data_dir):
  rng = np.random.RandomState(0)
  for domain, count in (("trainA", 5), ("trainB", 3)):
    (tmp_path / domain).mkdir()
    for i in range(count):
      pixels = rng.randint(0, 255, (36, 36, 3), np.uint8)
      Image.fromarray(pixels).save(tmp_path / domain / f"{i}.png")
  config = _config(tfds_data_dir, f"data.folder={tmp_path}")
  it = iter(pipeline.make_dataset(config, "unpaired", 2))
  batches = [next(it) for _ in range(8)]  # several epochs of the shorter domain
  assert set(batches[0]) == {"image_a", "image_b"}
  seen_a = {_digest(im) for b in batches for im in b["image_a"]}
  seen_b = {_digest(im) for b in batches for im in b["image_b"]}
  assert len(seen_a) == 5 and len(seen_b) == 3
  assert seen_a.isdisjoint(seen_b)


def test_unknown_split_names_the_splits(tfds_data_dir):
  config = _config(tfds_data_dir, "data.train_split=validation")
  with pytest.raises(DataError, match=r"data.train_split='validation' is not a split.*test, train"):
    pipeline.make_dataset(config, "unconditional", 2)


def test_labelled_layout_carries_the_class_beside_the_image(tfds_data_dir):
  """shapes' shape class as the label (config.data.label_key): int32 [B], the right class."""
  from gan_jax.data import shapes, sources  # noqa: PLC0415

  config = _config(tfds_data_dir, "data.label_key=shape")
  batch = next(iter(pipeline.make_dataset(config, "labelled", 6, train=False)))
  spec = layouts.batch_spec("labelled", 6, 32)
  assert set(batch) == set(spec) == {"image", "label"}
  assert batch["label"].dtype == np.int32 == spec["label"].dtype and batch["label"].shape == (6,)
  test_split = sources.open_dataset(config.data, "labelled")["test"]
  expected = [int(test_split[i]["shape"]) for i in range(6)]
  assert batch["label"].tolist() == expected
  assert all(0 <= c < len(shapes.SHAPE_NAMES) for c in expected)
  missing = _config(tfds_data_dir)  # label_key 'label': shapes has no such feature
  with pytest.raises(DataError, match="label_key='label' is not a feature .* features: colour"):
    next(iter(pipeline.make_dataset(missing, "labelled", 6, train=False)))


def test_a_layout_of_three_domains_reads_one_split_per_domain():
  """N domains (AnimeGAN's photo/style/smooth): batch key i from split <split><domain i>, each
  domain shuffled on its own, evaluation zipped to the shortest domain."""
  three = layouts.Layout(
    "triple",
    images=("photo", "style", "smooth"),
    domains=("_photo", "_style", "_smooth"),
    feature_form="an 'image' feature in splits train_photo, train_style, train_smooth",
  )
  image = lambda value: np.full((32, 32, 3), value, np.uint8)
  splits = {
    f"{split}_{domain}": [{"image": image(base + i)} for i in range(n)]
    for split, n in (("train", 6), ("test", 3))
    for base, domain in ((0, "photo"), (100, "style"), (200, "smooth"))
  }
  splits["test_smooth"] = splits["test_smooth"][:2]
  config = _config("unused")
  train = pipeline.batches_from_splits(config, three, splits, 6, True, 0, 1)
  batch = next(iter(train))  # one epoch of each domain
  assert set(batch) == {"photo", "style", "smooth"}
  order = {k: [int(x[0, 0, 0]) % 100 for x in v] for k, v in batch.items()}
  assert all(sorted(v) == list(range(6)) for v in order.values())
  assert order["photo"] != order["style"]  # each domain shuffled on its own
  evaluation = list(pipeline.batches_from_splits(config, three, splits, 4, False, 0, 1))
  assert len(evaluation) == 1 and evaluation[0]["photo"].shape[0] == 2  # the shortest domain
  with pytest.raises(DataError, match="split 'test_style' .*triple data"):
    del splits["test_style"]
    next(iter(pipeline.batches_from_splits(config, three, splits, 4, False, 0, 1)))
