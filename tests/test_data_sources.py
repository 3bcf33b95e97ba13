"""Dataset sources: embedded builders, local folders, TFDS catalogue names, and their errors.

Everything here builds real (small) TFDS datasets in array_record format; nothing is mocked.
"""

import io
import logging
import os
import pathlib
import tempfile
import types

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from gan_jax.data import folders, images, shapes, sources, toon
from gan_jax.errors import DataError


def data_config(data_dir, name="", folder="", skip_bad_images=False):
  return ml_collections.ConfigDict(
    dict(name=name, folder=str(folder), data_dir=str(data_dir), skip_bad_images=skip_bad_images)
  )


def all_examples(source):
  return [source[i] for i in range(len(source))]


def save(path: pathlib.Path, image, **kwargs) -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  if isinstance(image, np.ndarray):
    image = Image.fromarray(image)
  image.save(path, **kwargs)
  return path


def noise(rng, height, width) -> np.ndarray:
  return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# shapes


@pytest.fixture(scope="module")
def shapes_small(tfds_data_dir):
  return sources.open_dataset(data_config(tfds_data_dir, "shapes/small"), "unconditional")


def test_shapes_splits_and_images(shapes_small):
  assert {k: len(v) for k, v in shapes_small.items()} == {"train": 512, "test": 128}
  for example in all_examples(shapes_small["test"]):
    image = example["image"]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    assert not border.any(), "the shape must lie fully inside a black background"
    colour = shapes.COLOURS[example["colour"]].astype(float)
    pixels = image.reshape(-1, 3).astype(float)
    # Every pixel is a blend of black and the one palette colour (antialiasing only)...
    coverage = pixels @ colour / (colour @ colour)
    assert np.abs(pixels - coverage[:, None] * colour).max() <= 1.0
    # ...and the shape's inside is the pure colour.
    assert (pixels == colour).all(axis=1).sum() >= 20


def test_shapes_store_what_the_generator_draws(shapes_small):
  stored = sorted(
    (ex["image"].tobytes(), ex["shape"], ex["colour"]) for ex in all_examples(shapes_small["test"])
  )
  drawn = []
  for index in range(128):
    image, params = shapes.make_example(shapes.TEST_SEED, index)
    drawn.append((image.tobytes(), params["shape"], params["colour"]))
  assert stored == sorted(drawn)


def test_shapes_cover_every_class_and_train_differs_from_test(shapes_small):
  train = all_examples(shapes_small["train"])
  assert {ex["shape"] for ex in train} == set(range(len(shapes.SHAPE_NAMES)))
  assert {ex["colour"] for ex in train} == set(range(len(shapes.PALETTE)))
  train_images = {ex["image"].tobytes() for ex in train}
  assert not train_images & {ex["image"].tobytes() for ex in all_examples(shapes_small["test"])}
  sizes = [(ex["image"].any(axis=-1)).sum() for ex in train]
  assert max(sizes) > 3 * min(sizes), "sizes should vary widely"


def test_shapes_build_is_deterministic(shapes_small, tfds_data_dir, tmp_path):
  """Two builds hold the same records in the same order. Their bytes may differ: builds in
  processes that parsed absl flags (the CLI, the benchmarks; one may have built tfds_data_dir)
  differed byte for byte from one build to the next, with the same records."""
  rebuilt = sources.open_dataset(data_config(tmp_path, "shapes/small"), "unconditional")
  first = sorted(pathlib.Path(tfds_data_dir, "gan_jax_shapes/small").rglob("*.array_record*"))
  second = sorted(pathlib.Path(tmp_path, "gan_jax_shapes/small").rglob("*.array_record*"))
  assert [p.name for p in first] == [p.name for p in second] and len(first) == 2
  for split in ("train", "test"):
    a, b = all_examples(shapes_small[split]), all_examples(rebuilt[split])
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
      assert x.keys() == y.keys()
      for key in x:
        np.testing.assert_array_equal(x[key], y[key])


def test_unprepared_builders_leave_no_temp_folders(tmp_path, monkeypatch):
  """TFDS looks up an unprepared dataset's metadata in its bucket through a fresh temp folder,
  which it never removes; gan_jax's builders skip the lookup (nothing of theirs is there)."""
  temp = tmp_path / "temp"
  temp.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(temp))
  toon.Toon(config="paired_small", data_dir=str(tmp_path / "data"))
  shapes.Shapes(config="small", data_dir=str(tmp_path / "data"))
  assert sorted(p.name for p in temp.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# toon


@pytest.fixture(scope="module")
def toon_paired(tfds_data_dir):
  return sources.open_dataset(data_config(tfds_data_dir, "toon/paired_small"), "paired")


@pytest.fixture(scope="module")
def toon_unpaired(tfds_data_dir):
  return sources.open_dataset(data_config(tfds_data_dir, "toon/unpaired_small"), "unpaired")


def test_toon_paired_b_is_the_cartoon_of_a(toon_paired):
  assert {k: len(v) for k, v in toon_paired.items()} == {"train": 32, "test": 8}
  for split in ("train", "test"):
    examples = all_examples(toon_paired[split])
    assert [ex["id"] for ex in examples] == list(range(len(examples)))  # generation order
    for ex in examples:
      assert ex["image_a"].shape == ex["image_b"].shape == (64, 64, 3)
      assert ex["image_a"].dtype == ex["image_b"].dtype == np.uint8
      np.testing.assert_array_equal(ex["image_b"], toon.cartoonize(ex["image_a"]))
      difference = np.abs(ex["image_a"].astype(int) - ex["image_b"].astype(int)).mean()
      assert difference > 3, "the cartoon must not be a copy of the photo"


def test_toon_train_and_test_photos_are_disjoint(toon_paired):
  photos = {
    split: {toon.PHOTOS[ex["photo"]] for ex in all_examples(toon_paired[split])}
    for split in ("train", "test")
  }
  assert photos["train"] == set(toon.TRAIN_PHOTOS)  # 32 crops, round robin over 7 photos
  assert photos["test"] == set(toon.TEST_PHOTOS)
  assert not photos["train"] & photos["test"]


def test_toon_boxes_say_where_each_crop_comes_from(toon_paired):
  photo_cache = {}
  for index in (0, 5):
    for split in ("train", "test"):
      ex = toon_paired[split][index]
      name = toon.PHOTOS[ex["photo"]]
      photo = photo_cache.setdefault(name, toon.load_photo(name))
      top, left, side = ex["box"]
      assert min(top, left) >= 0
      assert top + side <= photo.shape[0] and left + side <= photo.shape[1]
      assert side >= 0.35 * min(photo.shape[:2]) - 1
      np.testing.assert_array_equal(toon.cut(photo, ex["box"], 64), ex["image_a"])


def test_cartoon_is_a_continuous_function_of_the_photo(toon_paired):
  """One grey level brighter moves no cartoon pixel far: the bands ramp instead of jumping. Measured
  on these crops: at most 16 levels; hard bands (round()) moved some pixels by 127."""
  worst = 0
  for ex in all_examples(toon_paired["test"]):
    photo = ex["image_a"]
    brighter = np.minimum(photo.astype(np.int32) + 1, 255).astype(np.uint8)
    change = np.abs(toon.cartoonize(brighter).astype(int) - toon.cartoonize(photo).astype(int))
    worst = max(worst, int(change.max()))
  assert 0 < worst <= 24, worst


def test_toon_unpaired_test_splits_pair_up_by_id_and_order(toon_unpaired):
  sizes = {k: len(v) for k, v in toon_unpaired.items()}
  assert sizes == {"trainA": 32, "trainB": 32, "testA": 8, "testB": 8}
  test_a, test_b = all_examples(toon_unpaired["testA"]), all_examples(toon_unpaired["testB"])
  assert [ex["id"] for ex in test_a] == [ex["id"] for ex in test_b] == list(range(8))
  for a, b in zip(test_a, test_b, strict=True):
    assert (a["label"], b["label"]) == (0, 1)
    np.testing.assert_array_equal(a["box"], b["box"])
    np.testing.assert_array_equal(b["image"], toon.cartoonize(a["image"]))


def test_toon_unpaired_train_domains_are_different_crops(toon_unpaired, toon_paired):
  train_a, train_b = all_examples(toon_unpaired["trainA"]), all_examples(toon_unpaired["trainB"])
  assert {ex["label"] for ex in train_a} == {0} and {ex["label"] for ex in train_b} == {1}
  assert not {ex["id"] for ex in train_a} & {ex["id"] for ex in train_b}
  boxes_a = {(ex["photo"], *ex["box"]) for ex in train_a}
  assert not boxes_a & {(ex["photo"], *ex["box"]) for ex in train_b}
  cartoons_of_a = {toon.cartoonize(ex["image"]).tobytes() for ex in train_a}
  assert not cartoons_of_a & {ex["image"].tobytes() for ex in train_b}
  # trainA is the paired config's train domain A: one crop stream for both.
  for a, pair in zip(train_a, all_examples(toon_paired["train"]), strict=True):
    np.testing.assert_array_equal(a["image"], pair["image_a"])


# ---------------------------------------------------------------------------------------------
# local folders: layouts


def test_detect_layout(tmp_path):
  rng = np.random.default_rng(0)
  save(tmp_path / "u" / "trainA" / "a.png", noise(rng, 4, 4))
  save(tmp_path / "u" / "trainB" / "b.png", noise(rng, 4, 4))
  save(tmp_path / "p" / "train" / "ab.png", noise(rng, 4, 8))
  save(tmp_path / "plain" / "deep" / "x.png", noise(rng, 4, 4))
  assert folders.detect_layout(tmp_path / "u") == "unpaired"
  assert folders.detect_layout(tmp_path / "p") == "paired"
  assert folders.detect_layout(tmp_path / "plain") == "unconditional"


def test_plain_folder_is_searched_recursively(tmp_path, tfds_data_dir):
  rng = np.random.default_rng(1)
  folder = tmp_path / "faces"
  written = {
    "a.png": noise(rng, 12, 10),
    "sub/b.png": noise(rng, 7, 9),
    "sub/deeper/c.png": noise(rng, 16, 16),
  }
  for name, array in written.items():
    save(folder / name, array)
  jpeg = save(folder / "sub" / "d.jpg", noise(rng, 8, 8), quality=90)
  (folder / "notes.txt").write_text("not an image")
  (folder / "meta.json").write_text("{}")
  (folder / ".DS_Store").write_bytes(b"\0\1junk")
  (folder / "sub" / "._b.png").write_bytes(b"macOS resource fork")
  save(folder / ".ipynb_checkpoints" / "a-checkpoint.png", noise(rng, 4, 4))

  splits = sources.open_dataset(data_config(tfds_data_dir, folder=folder), "unconditional")
  assert list(splits) == ["train"] and len(splits["train"]) == 4
  by_name = {ex["file_name"].decode(): ex["image"] for ex in all_examples(splits["train"])}
  assert set(by_name) == {*written, "sub/d.jpg"}
  for name, array in written.items():
    np.testing.assert_array_equal(by_name[name], array)
  np.testing.assert_array_equal(by_name["sub/d.jpg"], np.asarray(Image.open(jpeg)))


def test_unpaired_folder(tmp_path, tfds_data_dir):
  rng = np.random.default_rng(2)
  counts = {"trainA": 3, "trainB": 5, "testA": 2, "testB": 1}
  for split, count in counts.items():
    for i in range(count):
      save(tmp_path / "horses" / split / f"{i}.png", noise(rng, 6, 6))
  (tmp_path / "horses" / "README.txt").write_text("unpaired")
  splits = sources.open_dataset(data_config(tfds_data_dir, folder=tmp_path / "horses"), "unpaired")
  assert {k: len(v) for k, v in splits.items()} == counts
  for split, source in splits.items():
    examples = all_examples(source)
    assert {ex["label"] for ex in examples} == {"AB".index(split[-1])}
    assert sorted(ex["id"] for ex in examples) == list(range(counts[split]))
    assert all(ex["image"].shape == (6, 6, 3) for ex in examples)


def test_paired_folder_is_split_down_the_middle(tmp_path, tfds_data_dir):
  rng = np.random.default_rng(3)
  halves = {}
  for split, count in (("train", 3), ("val", 1)):
    for i in range(count):
      a, b = noise(rng, 5, 4), noise(rng, 5, 4)
      save(tmp_path / "facades" / split / f"{i}.png", np.concatenate([a, b], axis=1))
      halves[f"{split}/{i}.png"] = a, b
  splits = sources.open_dataset(data_config(tfds_data_dir, folder=tmp_path / "facades"), "paired")
  assert {k: len(v) for k, v in splits.items()} == {"train": 3, "val": 1}
  for split, source in splits.items():
    for ex in all_examples(source):
      a, b = halves[f"{split}/{ex['file_name'].decode()}"]
      np.testing.assert_array_equal(ex["image_a"], a)
      np.testing.assert_array_equal(ex["image_b"], b)


# ---------------------------------------------------------------------------------------------
# local folders: build once, rebuild on change


def prepared_dirs(data_dir, layout):
  return sorted(pathlib.Path(data_dir, f"gan_jax_folder_{layout}").glob("*/1.0.0"))


def test_folder_is_reused_until_it_changes(tmp_path):
  rng = np.random.default_rng(4)
  folder, data_dir = tmp_path / "pets", tmp_path / "tfds"
  for i in range(3):
    save(folder / f"{i}.png", noise(rng, 4, 4))
  config = data_config(data_dir, folder=folder)
  assert len(sources.open_dataset(config, "unconditional")["train"]) == 3
  (built,) = prepared_dirs(data_dir, "unconditional")
  info_file = built / "dataset_info.json"
  stamp = info_file.stat().st_mtime_ns

  assert len(sources.open_dataset(config, "unconditional")["train"]) == 3
  assert prepared_dirs(data_dir, "unconditional") == [built]
  assert info_file.stat().st_mtime_ns == stamp, "an unchanged folder must not be rebuilt"

  save(folder / "new" / "3.png", noise(rng, 4, 4))
  assert len(sources.open_dataset(config, "unconditional")["train"]) == 4
  rebuilt = prepared_dirs(data_dir, "unconditional")
  assert len(rebuilt) == 2 and built in rebuilt
  names = [p.parent.name for p in rebuilt]
  assert all(n.startswith("pets_") and len(n) == len("pets_") + 12 for n in names)

  replacement = noise(rng, 4, 4)
  save(folder / "0.png", replacement)  # same name, new content
  examples = all_examples(sources.open_dataset(config, "unconditional")["train"])
  assert len(prepared_dirs(data_dir, "unconditional")) == 3
  by_name = {ex["file_name"].decode(): ex["image"] for ex in examples}
  np.testing.assert_array_equal(by_name["0.png"], replacement)


def test_fingerprint_covers_skip_setting_and_mtime(tmp_path):
  save(tmp_path / "pets" / "a.png", noise(np.random.default_rng(5), 4, 4))
  plan = folders.plan_folder(tmp_path / "pets", "unconditional")
  name = folders.config_name(plan, False)
  assert folders.config_name(plan, True) != name
  assert folders.config_name(plan, False) == name
  os.utime(tmp_path / "pets" / "a.png", ns=(0, 12345))  # touched: same bytes, new mtime
  assert folders.config_name(plan, False) != name


# ---------------------------------------------------------------------------------------------
# image conversion


def test_images_of_any_mode_come_out_rgb_uint8(tmp_path, tfds_data_dir):
  folder = tmp_path / "modes"
  grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
  save(folder / "grey.png", grey)
  save(folder / "rgba.png", np.array([[[255, 0, 0, 128], [0, 0, 255, 0]]], np.uint8))
  deep = np.array([[0, 257, 32896, 65535]], np.uint16)
  save(folder / "deep.png", Image.fromarray(deep))
  palette = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
  palette.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
  save(folder / "palette.png", palette)
  save(folder / "cmyk.jpg", Image.new("CMYK", (2, 2), (0, 255, 255, 0)), quality=100)

  splits = sources.open_dataset(data_config(tfds_data_dir, folder=folder), "unconditional")
  out = {ex["file_name"].decode(): ex["image"] for ex in all_examples(splits["train"])}
  assert all(v.dtype == np.uint8 and v.ndim == 3 and v.shape[-1] == 3 for v in out.values())
  np.testing.assert_array_equal(out["grey.png"], np.repeat(grey[..., None], 3, axis=-1))
  # Half-transparent red over white is pink; fully transparent is white.
  np.testing.assert_allclose(out["rgba.png"], [[[255, 127, 127], [255, 255, 255]]], atol=1)
  # 16 bits scale by 255 / 65535 (i.e. 1/257), they are not clipped at 255.
  np.testing.assert_array_equal(out["deep.png"][..., 0], [[0, 1, 128, 255]])
  np.testing.assert_array_equal(out["palette.png"], [[[10, 20, 30], [200, 100, 0]]])
  assert out["cmyk.jpg"].shape == (2, 2, 3) and out["cmyk.jpg"][..., 0].min() > 200


def test_rgb_files_keep_their_bytes_and_others_become_png(tmp_path):
  rng = np.random.default_rng(6)
  jpeg = save(tmp_path / "a.jpg", noise(rng, 8, 8))
  png = save(tmp_path / "b.png", noise(rng, 8, 8))
  grey = save(tmp_path / "c.jpg", noise(rng, 8, 8)[..., 0])
  assert images.encode_for_tfds(jpeg) == jpeg.read_bytes()
  assert images.encode_for_tfds(png) == png.read_bytes()
  converted = Image.open(io.BytesIO(images.encode_for_tfds(grey)))
  assert (converted.format, converted.mode) == ("PNG", "RGB")


def truncated_jpeg(path: pathlib.Path) -> pathlib.Path:
  buffer = io.BytesIO()
  Image.fromarray(noise(np.random.default_rng(7), 64, 64)).save(buffer, format="JPEG")
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
  return path


def test_truncated_image_fails_the_build_naming_the_file(tmp_path):
  folder, data_dir = tmp_path / "photos", tmp_path / "tfds"
  for i in range(3):
    save(folder / f"{i}.png", noise(np.random.default_rng(i), 4, 4))
  bad = truncated_jpeg(folder / "broken.jpg")
  for _ in range(2):  # the failed build must not be taken for a finished one the second time
    with pytest.raises(DataError, match="skip_bad_images=true") as failure:
      sources.open_dataset(data_config(data_dir, folder=folder), "unconditional")
    assert str(bad) in str(failure.value) and "\n" not in str(failure.value)
    assert not list(data_dir.rglob("dataset_info.json"))
    assert not [p for p in data_dir.rglob("*") if "incomplete" in p.name]


def test_skip_bad_images_skips_and_counts_them(tmp_path, caplog):
  folder = tmp_path / "photos"
  for i in range(4):
    save(folder / f"{i}.png", noise(np.random.default_rng(i), 4, 4))
  bad = [truncated_jpeg(folder / "broken.jpg"), folder / "empty.png"]
  bad[1].write_bytes(b"")
  config = data_config(tmp_path / "tfds", folder=folder, skip_bad_images=True)
  with caplog.at_level(logging.WARNING):
    splits = sources.open_dataset(config, "unconditional")
  assert len(splits["train"]) == 4
  warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
  assert len(warnings) == 1 and "skipped 2 unreadable images of 6" in warnings[0]
  assert all(str(path) in warnings[0] for path in bad)


# ---------------------------------------------------------------------------------------------
# errors a user can act on


def test_empty_or_missing_folder(tmp_path):
  (tmp_path / "empty").mkdir()
  (tmp_path / "text").mkdir()
  (tmp_path / "text" / "readme.txt").write_text("no images here")
  for name in ("empty", "text"):
    with pytest.raises(DataError, match="holds no images") as failure:
      sources.open_dataset(data_config(tmp_path, folder=tmp_path / name), "unconditional")
    assert "trainA/ trainB/ [testA/ testB/]" in str(failure.value)
    assert "train/ [val/ test/]" in str(failure.value)
  with pytest.raises(DataError, match=f"{tmp_path / 'nowhere'} does not exist"):
    sources.open_dataset(data_config(tmp_path, folder=tmp_path / "nowhere"), "paired")


def test_odd_width_paired_image(tmp_path):
  bad = save(tmp_path / "maps" / "train" / "1.png", noise(np.random.default_rng(8), 4, 9))
  with pytest.raises(DataError, match="even width") as failure:
    sources.open_dataset(data_config(tmp_path / "tfds", folder=tmp_path / "maps"), "paired")
  assert str(bad) in str(failure.value)


def test_folder_layout_mismatch(tmp_path):
  rng = np.random.default_rng(9)
  save(tmp_path / "zebras" / "trainA" / "a.png", noise(rng, 4, 4))
  save(tmp_path / "zebras" / "trainB" / "b.png", noise(rng, 4, 4))
  config = data_config(tmp_path / "tfds", folder=tmp_path / "zebras")
  with pytest.raises(DataError, match="has the unpaired layout .* needs paired images: train/"):
    sources.open_dataset(config, "paired")
  assert not (tmp_path / "tfds").exists(), "the layout is checked before anything is built"
  (tmp_path / "half").mkdir()
  save(tmp_path / "half" / "trainA" / "a.png", noise(rng, 4, 4))
  with pytest.raises(DataError, match="trainB/ is missing"):
    sources.open_dataset(data_config(tmp_path / "tfds", folder=tmp_path / "half"), "unpaired")


def test_embedded_errors(tmp_path):
  with pytest.raises(DataError, match="shapes/small") as failure:
    sources.open_dataset(data_config(tmp_path, "shapes/huge"), "unconditional")
  assert "toon/unpaired_small" in str(failure.value)
  with pytest.raises(DataError, match="paired layout .* toon/unpaired, toon/unpaired_small"):
    sources.open_dataset(data_config(tmp_path, "toon"), "unpaired")
  with pytest.raises(DataError, match="both empty"):
    sources.open_dataset(data_config(tmp_path), "unconditional")
  assert not list(tmp_path.iterdir()), "nothing is built for a bad name"
  names = sources.embedded_names()
  assert names[:3] == ["shapes", "shapes/full", "shapes/small"] and "toon/paired" in names


# ---------------------------------------------------------------------------------------------
# TFDS catalogue names


class GanJaxTestCatalogue(tfds.core.GeneratorBasedBuilder):
  """A catalogue dataset (registered with TFDS) of grayscale images, built without downloads."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    features = {
      "image": tfds.features.Image(shape=(5, 5, 1)),
      "label": tfds.features.ClassLabel(num_classes=2),
    }
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

  def _generate_examples(self, count):
    for i in range(count):
      yield i, {"image": images.encode_png(np.full((5, 5), 40 * i, np.uint8)), "label": i % 2}


class GanJaxTestOffline(tfds.core.GeneratorBasedBuilder):
  """A catalogue dataset whose download fails, as it does without network."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    features = {"image": tfds.features.Image(shape=(None, None, 3))}
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    raise OSError("Network is unreachable")

  def _generate_examples(self):
    yield from ()


def test_catalogue_dataset_is_prepared_once_and_read(tfds_data_dir):
  config = data_config(tfds_data_dir, "gan_jax_test_catalogue")
  splits = sources.open_dataset(config, "unconditional")
  assert {k: len(v) for k, v in splits.items()} == {"train": 6, "test": 2}
  values = sorted(int(ex["image"][0, 0, 0]) for ex in all_examples(splits["train"]))
  assert values == [0, 40, 80, 120, 160, 200]
  assert all(ex["image"].shape == (5, 5, 3) for ex in all_examples(splits["test"]))
  info_file = next(pathlib.Path(tfds_data_dir, "gan_jax_test_catalogue").rglob("dataset_info.json"))
  stamp = info_file.stat().st_mtime_ns
  assert len(sources.open_dataset(config, "unconditional")["train"]) == 6
  assert info_file.stat().st_mtime_ns == stamp
  with pytest.raises(DataError, match="needs unpaired images"):
    sources.open_dataset(config, "unpaired")
  with pytest.raises(DataError, match="needs paired images"):
    sources.open_dataset(config, "paired")


def test_catalogue_dataset_prepared_as_tfrecord(tmp_path):
  builder = tfds.builder("gan_jax_test_catalogue", data_dir=tmp_path)
  builder.info.set_file_format("tfrecord")
  builder.data_path.mkdir(parents=True)
  builder.info.write_to_directory(builder.data_path)
  with pytest.raises(
    DataError, match="tfds build gan_jax_test_catalogue --file_format=array_record"
  ):
    sources.open_dataset(data_config(tmp_path, "gan_jax_test_catalogue"), "unconditional")


def test_catalogue_dataset_that_cannot_be_prepared(tmp_path):
  with pytest.raises(
    DataError, match="cannot prepare TFDS dataset 'gan_jax_test_offline'"
  ) as failure:
    sources.open_dataset(data_config(tmp_path, "gan_jax_test_offline"), "unconditional")
  assert str(tmp_path) in str(failure.value) and "Network is unreachable" in str(failure.value)
  assert not list(tmp_path.rglob("dataset_info.json"))


def test_unknown_name(tmp_path):
  with pytest.raises(DataError, match="neither an embedded dataset .*shapes/small") as failure:
    sources.open_dataset(data_config(tmp_path, "no_such_dataset_anywhere"), "unconditional")
  assert "\n" not in str(failure.value)


def test_datasets_declare_which_splits_are_aligned():
  """Ground truth for unpaired eval is the dataset's to declare: toon's testB[i] is the cartoon of
  testA[i]; its paired variants, local folders and catalogue datasets declare no such split."""
  data = lambda **kw: types.SimpleNamespace(**{"name": "", "folder": "", **kw})
  assert sources.aligned_splits(data(name="toon/unpaired")) == ("test",)
  assert sources.aligned_splits(data(name="toon/unpaired_small")) == ("test",)
  assert sources.aligned_splits(data(name="toon")) == ()
  assert sources.aligned_splits(data(name="toon/unpaired", folder="/some/folder")) == ()
  assert sources.aligned_splits(data(name="cycle_gan/horse2zebra")) == ()
  assert sources.aligned_splits(data(name="shapes")) == ()


def test_a_layout_without_a_folder_form_is_refused_for_a_folder(tmp_path):
  """The labelled layout has no local-folder form (yet): one DataError naming the folder."""
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
  with pytest.raises(DataError, match=f"data.folder {tmp_path}: this family needs labelled data"):
    folders.plan_folder(tmp_path, "labelled")


def test_catalogue_dataset_serves_the_labelled_layout_by_its_class_feature(tfds_data_dir):
  config = data_config(tfds_data_dir, "gan_jax_test_catalogue")
  splits = sources.open_dataset(config, "labelled")  # label_key 'label', a ClassLabel
  assert sorted(int(ex["label"]) for ex in all_examples(splits["train"])) == [0, 0, 0, 1, 1, 1]
  config.label_key = "colour"
  with pytest.raises(DataError, match="no 'image' feature with an integer class feature 'colour'"):
    sources.open_dataset(config, "labelled")
