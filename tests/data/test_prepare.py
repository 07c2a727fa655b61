"""Tests for the common data preprocessing (nnrun.data.prepare) and augmentation (nnrun.data.augment).

A toy loader with official splits stamps each image with its own index, so every example can be traced
from the published arrays to the split it ends up in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nnrun.data import Augment, batches, get_loader, load_dataset
from nnrun.data import prepare as prep
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, Split
from nnrun.errors import ConfigError

CLASS_SHARE = np.array([0.5, 0.3, 0.15, 0.05])  # uneven on purpose: stratification must keep class 3's share


class Toy(Loader):
    """Images (2, 4, 4) uint8 in official splits; pixel [0, 0, 0] + 256 * [0, 0, 1] is the example's index,
    channel 1 is random in 0..255 with a split-dependent offset (so each split has its own statistics)."""

    shape = (2, 4, 4)
    classes = 4

    def __init__(self, *, sizes: dict[str, int] | None = None, test: Any = None, **common: Any):
        self.sizes = sizes or {"train": 1000, "test": 400}
        if test is not None:
            self.test = test  # declared only by datasets without an official test split
        super().__init__(**common)
        self.raw = self.make_raw()

    def make_raw(self) -> Dataset:
        rng = np.random.default_rng(123)
        splits = {}
        for offset, (name, n) in enumerate(self.sizes.items()):
            x = np.zeros((n, 2, 4, 4), dtype=np.uint8)
            ids = np.arange(n)
            x[:, 0, 0, 0], x[:, 0, 0, 1] = ids % 256, ids // 256
            x[:, 0, 1:, :] = rng.integers(0, 100, size=(n, 3, 4))
            x[:, 1] = rng.integers(0, 200, size=(n, 4, 4)) + 20 * offset
            y = rng.permutation(np.repeat(np.arange(4), np.round(CLASS_SHARE * n).astype(int)))
            splits[name] = Split(x, y)
        return Dataset("toy", splits, self.shape, 4, ["ant", "bee", "cat", "dog"])

    def load_raw(self, seed: int) -> Dataset:
        return self.raw


class Features(Loader):
    """Float features (N, 3): column 0 the index, column 1 constant, column 2 Gaussian; no official test."""

    shape = (3,)
    classes = 3

    def __init__(self, *, n: int = 600, test: Any = 0.2, **common: Any):
        self.n = n
        self.test = test
        super().__init__(**common)

    def load_raw(self, seed: int) -> Dataset:
        rng = np.random.default_rng(7)
        x = np.c_[np.arange(self.n), np.full(self.n, 4.0), rng.normal(3.0, 2.0, self.n)]
        return Dataset("features", {"train": Split(x, np.arange(self.n) % 3)}, self.shape, 3)


def ids(split: Split) -> np.ndarray:
    return split.x[:, 0, 0, 0].astype(np.int64) + 256 * split.x[:, 0, 0, 1].astype(np.int64)


def flat_ids(split: Split) -> np.ndarray:
    return split.x[:, 0].astype(np.int64) + 256 * split.x[:, 1].astype(np.int64)


def load(seed: int = 0, **keys: Any) -> Dataset:
    return Toy(**keys).load(seed)


def assert_stratified(y: np.ndarray, share: np.ndarray, slack: float = 2) -> None:
    counts = np.bincount(y, minlength=len(share))
    assert np.abs(counts - len(y) * share / share.sum()).max() <= slack, counts


# --- held-out splits -------------------------------------------------------------------------------


def test_default_val_is_a_tenth_of_the_official_train_split_and_test_is_used_whole():
    toy = Toy()
    ds = toy.load(0)
    assert ds.summary() == {"train": 900, "val": 100, "test": 400}
    train, val = ids(ds.splits["train"]), ids(ds.splits["val"])
    assert np.array_equal(np.sort(np.r_[train, val]), np.arange(1000))  # a partition of the official train
    for name in ("train", "val"):
        assert_stratified(ds.splits[name].y, CLASS_SHARE)
    raw_test = toy.raw.splits["test"]
    # the official test split is neither reordered nor copied
    assert np.shares_memory(ds.splits["test"].x, raw_test.x) and np.array_equal(ds.splits["test"].y, raw_test.y)
    assert ds.class_names == ["ant", "bee", "cat", "dog"] and ds.image_shape == (2, 4, 4) and ds.augment is None


def test_labels_travel_with_their_examples():
    toy = Toy()
    ds = toy.load(3)
    raw_y = toy.raw.splits["train"].y
    for name in ("train", "val"):
        assert np.array_equal(ds.splits[name].y, raw_y[ids(ds.splits[name])])


def test_val_zero_keeps_the_official_train_split_as_it_is():
    toy = Toy(val=0)
    ds = toy.load(0)
    assert ds.summary() == {"train": 1000, "test": 400}
    assert np.shares_memory(ds.splits["train"].x, toy.raw.splits["train"].x)
    assert np.array_equal(ids(ds.splits["train"]), np.arange(1000))


def test_val_count():
    assert load(val=250).summary() == {"train": 750, "val": 250, "test": 400}


def test_an_official_val_split_is_used_and_val_ignored_with_a_note():
    sizes = {"train": 800, "val": 200, "test": 400}
    for val in (0.3, 0):
        toy = Toy(sizes=sizes, val=val)
        ds = toy.load(0)
        assert ds.summary() == sizes
        assert np.array_equal(ids(ds.splits["val"]), np.arange(200))
        assert np.shares_memory(ds.splits["val"].x, toy.raw.splits["val"].x)
        assert any("val=0.3 ignored" in note for note in ds.notes) == (val == 0.3)


def test_a_declared_test_split_is_held_out_when_there_is_no_official_one():
    ds = load(sizes={"train": 1000}, test=0.2, val=0.1)
    assert ds.summary() == {"train": 700, "val": 100, "test": 200}
    everything = np.concatenate([ids(s) for s in ds.splits.values()])
    assert np.array_equal(np.sort(everything), np.arange(1000))
    for split in ds.splits.values():
        assert_stratified(split.y, CLASS_SHARE)


def test_a_declared_test_is_ignored_when_there_is_an_official_one():
    ds = load(test=0.5)
    assert ds.summary() == {"train": 900, "val": 100, "test": 400}
    assert any("test=0.5 ignored" in note for note in ds.notes)
    toy = Toy(test=0.5, val=0)  # nothing to hold out: the official train split is used as it is
    assert np.shares_memory(toy.load(0).splits["train"].x, toy.raw.splits["train"].x)


def test_no_test_split_without_an_official_one_or_a_declared_test():
    assert load(sizes={"train": 1000}).summary() == {"train": 900, "val": 100}


def test_a_whole_pool_is_shuffled_even_with_nothing_held_out():
    # generated sets come grouped by class; an unshuffled pass must not see them so
    ds = Features(test=0, val=0).load(0)
    order = ds.splits["train"].x[:, 0]
    assert sorted(order) == list(range(600)) and not np.array_equal(order, np.arange(600))


# --- classes and positive -----------------------------------------------------------------------------


def test_classes_keeps_a_subset_relabelled_in_the_given_order():
    toy = Toy(classes=[3, 1])
    ds = toy.load(0)
    assert ds.num_classes == 2 and ds.class_names == ["dog", "bee"]
    for name, split in ds.splits.items():
        source = toy.raw.splits["test" if name == "test" else "train"]
        original = source.y[ids(split)]
        assert set(original) <= {1, 3}
        assert np.array_equal(split.y, np.where(original == 3, 0, 1))
    # every example of the kept classes is somewhere
    train_pool = toy.raw.splits["train"].y
    assert len(ds.splits["train"]) + len(ds.splits["val"]) == np.isin(train_pool, [1, 3]).sum()
    assert len(ds.splits["test"]) == np.isin(toy.raw.splits["test"].y, [1, 3]).sum()


def test_val_fraction_applies_to_the_kept_classes():
    ds = load(classes=[0, 2], val=0.1)
    pool = 500 + 150  # classes 0 and 2 of the 1000 official training examples
    assert len(ds.splits["val"]) == round(0.1 * pool) and len(ds.splits["train"]) == pool - round(0.1 * pool)


def test_positive_makes_a_binary_task():
    toy = Toy(positive=[2, 0])
    ds = toy.load(0)
    assert ds.num_classes == 2 and ds.class_names == ["rest", "cat+ant"]
    for name, split in ds.splits.items():
        original = toy.raw.splits["test" if name == "test" else "train"].y[ids(split)]
        assert np.array_equal(split.y, np.isin(original, [0, 2]).astype(np.int64))
        # splitting stays stratified by the original classes, not only by the binary label
        assert_stratified(original, CLASS_SHARE)


def test_positive_after_classes_uses_the_original_class_numbers():
    toy = Toy(classes=[1, 3, 2], positive=[3])
    ds = toy.load(0)
    assert ds.class_names == ["rest", "dog"]
    train = ds.splits["train"]
    original = toy.raw.splits["train"].y[ids(train)]
    assert set(original) == {1, 2, 3}
    assert np.array_equal(train.y, (original == 3).astype(np.int64))


def test_digits_binary_task_with_a_binary_loss():
    ds = load_dataset({"dataset": "digits", "positive": [3], "classes": [3, 8]}, 0)
    assert ds.class_names == ["rest", "3"] and ds.num_classes == 2
    assert set(np.unique(ds.splits["train"].y)) == {0, 1}


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ({"classes": [0, 4]}, "class 4 does not exist: the dataset has 4 classes"),
        ({"positive": [9]}, "class 9 does not exist"),
        ({"classes": [0, 1], "positive": [2]}, "positive class 2 is not among the kept classes"),
        ({"positive": [0, 1, 2, 3]}, "every class is positive"),
        ({"classes": [1, 2], "positive": [2, 1]}, "every class is positive"),
    ],
)
def test_bad_classes_at_load(keys, match):
    with pytest.raises(ConfigError, match=match) as info:
        load(**keys)
    assert info.value.where.startswith("data.")


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ({"classes": [1, 1]}, "repeated: 1"),
        ({"positive": [2, 3, 2]}, "repeated: 2"),
        ({"classes": []}, "at least 1"),
        ({"classes": [-1]}, "greater than or equal to 0"),
        ({"classes": 3}, "valid list"),
        ({"n_train": 0}, "greater than or equal to 1"),
        ({"normalize": "minmax"}, "scale"),
        ({"augment": {"crop": 2}}, "augment.crop: unknown key"),
        ({"augment": {"crop_padding": -1}}, "greater than or equal to 0"),
    ],
)
def test_bad_common_keys_are_config_errors_before_loading(keys, match):
    with pytest.raises(ConfigError, match=match):
        get_loader({"dataset": "digits", **keys})


# --- subsamples ---------------------------------------------------------------------------------------


def test_n_train_subsamples_the_train_split_after_val_is_held_out():
    full, small = load(0), load(0, n_train=300)
    assert small.summary() == {"train": 300, "val": 100, "test": 400}
    # val is the same with or without n_train: the subsample has its own stream
    assert np.array_equal(ids(small.splits["val"]), ids(full.splits["val"]))
    assert set(ids(small.splits["train"])) < set(ids(full.splits["train"]))
    assert_stratified(small.splits["train"].y, CLASS_SHARE)


def test_n_test_subsamples_the_test_split_and_leaves_train_alone():
    full, small = load(0), load(0, n_test=100)
    assert small.summary() == {"train": 900, "val": 100, "test": 100}
    assert np.array_equal(ids(small.splits["train"]), ids(full.splits["train"]))
    assert set(ids(small.splits["test"])) < set(range(400))
    assert_stratified(small.splits["test"].y, CLASS_SHARE)


def test_n_train_of_everything_keeps_the_split():
    assert np.array_equal(ids(load(0, n_train=900).splits["train"]), ids(load(0).splits["train"]))


def test_too_large_subsamples_name_both_numbers():
    with pytest.raises(ConfigError, match="n_train=901 but the train split has only 900 examples"):
        load(n_train=901)
    with pytest.raises(ConfigError, match="n_test=500 but the test split has only 400 examples"):
        load(n_test=500)
    with pytest.raises(ConfigError, match="n_test=5 but the dataset has no test split"):
        load(sizes={"train": 100}, n_test=5)


def test_n_train_after_classes_on_digits():
    ds = load_dataset({"dataset": "digits", "classes": [0, 1], "n_train": 50}, 0)
    assert len(ds.splits["train"]) == 50 and np.bincount(ds.splits["train"].y).tolist() == [25, 25]


# --- determinism ----------------------------------------------------------------------------------------


def test_every_step_is_seeded():
    keys = {"classes": [0, 1, 3], "positive": [3], "n_train": 200, "n_test": 50, "val": 0.2}
    a, b, c = load(5, **keys), load(5, **keys), load(6, **keys)
    for name in ("train", "val", "test"):
        assert np.array_equal(a.splits[name].x, b.splits[name].x)
        assert np.array_equal(a.splits[name].y, b.splits[name].y)
    assert not np.array_equal(ids(a.splits["train"]), ids(c.splits["train"]))
    assert not np.array_equal(ids(a.splits["test"]), ids(c.splits["test"]))


def test_the_digits_split_is_unchanged_by_the_new_pipeline():
    # the same stream and the same call as before issue 3: runs made earlier get the same split
    from nnrun.data.dataset import SPLIT, data_rng, stratified_split
    from nnrun.data.digits import load_images

    x, y = load_images()
    indices = stratified_split(y, {"val": 270, "test": 359}, data_rng(4, SPLIT))
    ds = load_dataset({"dataset": "digits"}, 4)
    for name in ("train", "val", "test"):
        assert np.array_equal(ds.splits[name].x, x[indices[name]])


# --- normalisation ------------------------------------------------------------------------------------


def batched(split: Split, dtype=np.float64) -> np.ndarray:
    return np.concatenate([xb for xb, _ in batches(split, 128, dtype)])


def test_scale_maps_uint8_into_the_unit_interval_and_keeps_digits_sixteenths():
    ds = load()
    np.testing.assert_allclose(batched(ds.splits["test"]), ds.splits["test"].x / 255)
    digits = load_dataset({"dataset": "digits"}, 0)
    assert batched(digits.splits["train"]).max() == 1.0


def test_scale_leaves_float_features_unchanged():
    ds = Features().load(0)
    np.testing.assert_array_equal(batched(ds.splits["train"]), ds.splits["train"].x)


def test_none_gives_raw_values_as_floats():
    digits = load_dataset({"dataset": "digits", "normalize": "none"}, 0)
    x = batched(digits.splits["train"], np.float32)
    assert x.dtype == np.float32 and x.max() == 16.0
    np.testing.assert_array_equal(batched(load(normalize="none").splits["val"]), load().splits["val"].x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardize_uses_per_channel_statistics_of_the_train_split_only(dtype):
    ds = load(normalize="standardize")
    train = ds.splits["train"].x / 255
    mean = train.mean(axis=(0, 2, 3), keepdims=True)[0]
    std = train.std(axis=(0, 2, 3), keepdims=True)[0]
    assert ds.splits["train"].mean.shape == (2, 1, 1)
    np.testing.assert_allclose(ds.splits["train"].mean, mean, rtol=1e-12)
    np.testing.assert_allclose(ds.splits["train"].std, std, rtol=1e-12)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for name, split in ds.splits.items():
        expected = (split.x / 255 - mean) / std  # the train statistics on every split
        got = batched(split, dtype)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
    xt = batched(ds.splits["train"])
    np.testing.assert_allclose(xt.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(xt.std(axis=(0, 2, 3)), 1, atol=1e-12)
    # the test split has other statistics (channel 1 is shifted), so it is not standardised to 0 / 1
    assert batched(ds.splits["test"])[:, 1].mean() > 0.2


def test_standardize_features_per_feature_and_constant_features_become_zero():
    ds = Features(normalize="standardize").load(1)
    train = ds.splits["train"].x
    assert ds.splits["train"].mean.shape == (3,)
    np.testing.assert_allclose(ds.splits["train"].std[1], 1.0)  # constant column: std 1, not 0
    x = batched(ds.splits["train"])
    np.testing.assert_allclose(x, (train - train.mean(0)) / np.where(train.std(0) > 0, train.std(0), 1), atol=1e-12)
    assert np.all(x[:, 1] == 0) and np.isfinite(x).all()


def test_statistics_do_not_depend_on_the_chunk_size(monkeypatch):
    whole = load(normalize="standardize").splits["train"]
    monkeypatch.setattr(prep, "STATS_CHUNK", 50)  # 1 example of 32 values a chunk
    chunked = load(normalize="standardize").splits["train"]
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(chunked.std, whole.std, rtol=1e-13)


def test_images_stay_uint8_in_memory_with_any_normalisation():
    for normalize in ("scale", "standardize", "none"):
        assert all(s.x.dtype == np.uint8 for s in load(normalize=normalize).splits.values())


# --- flatten --------------------------------------------------------------------------------------------


def test_flatten_is_a_view_and_batches_match_the_images():
    toy = Toy(val=0, flatten=True, normalize="standardize")
    ds = toy.load(0)
    images = Toy(val=0, normalize="standardize").load(0)
    assert ds.input_shape == (32,) and ds.image_shape == (2, 4, 4)
    for name, split in ds.splits.items():
        assert split.x.shape == (len(split), 32)
        assert np.shares_memory(split.x, toy.raw.splits[name].x)  # no copy
        assert split.mean.shape == (32,)
        np.testing.assert_array_equal(batched(split), batched(images.splits[name]).reshape(len(split), 32))
    assert np.array_equal(flat_ids(ds.splits["train"]), np.arange(1000))


def test_flatten_of_vectors_changes_nothing():
    assert Features(flatten=True).load(0).input_shape == (3,)


# --- augmentation ----------------------------------------------------------------------------------------


def reference_augment(x: np.ndarray, p: int, flip: bool, rng: np.random.Generator) -> np.ndarray:
    """Image by image: zero-pad by p, crop the original size at the drawn offset, maybe flip left-right."""
    n, c, h, w = x.shape
    offsets = rng.integers(0, 2 * p + 1, size=(n, 2)) if p else np.zeros((n, 2), dtype=int)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
    out = np.empty_like(x)
    for i in range(n):
        padded = np.pad(x[i], ((0, 0), (p, p), (p, p)))
        dy, dx = offsets[i]
        crop = padded[:, dy : dy + h, dx : dx + w]
        out[i] = crop[:, :, ::-1] if flips[i] else crop
    return out


@pytest.mark.parametrize(("p", "flip"), [(0, False), (0, True), (1, False), (2, True), (4, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augment_matches_the_reference(p, flip, dtype):
    x = np.random.default_rng(0).normal(size=(9, 3, 5, 6)).astype(dtype)
    before = x.copy()
    got = Augment(p, flip, (3, 5, 6))(x, np.random.default_rng(11))
    assert got.shape == x.shape and got.dtype == dtype
    np.testing.assert_array_equal(got, reference_augment(x, p, flip, np.random.default_rng(11)))
    np.testing.assert_array_equal(x, before)  # the input batch is left alone


def test_augment_is_deterministic_given_the_generator_and_varies_between_draws():
    x = np.random.default_rng(0).normal(size=(16, 1, 6, 6))
    augment = Augment(2, True, (1, 6, 6))
    a = augment(x, np.random.default_rng(5))
    assert np.array_equal(a, augment(x, np.random.default_rng(5)))
    rng = np.random.default_rng(5)
    assert not np.array_equal(augment(x, rng), augment(x, rng))


def test_augment_flip_and_crop_statistics():
    x = np.arange(1 * 1 * 3 * 4, dtype=np.float64).reshape(1, 1, 3, 4).repeat(4000, axis=0)
    flipped = Augment(0, True, (1, 3, 4))(x, np.random.default_rng(0))
    share = np.mean(flipped[:, 0, 0, 0] == 3)
    assert 0.47 < share < 0.53
    assert set(np.unique(flipped[:, 0, 0, 0])) == {0.0, 3.0}
    # a one-pixel crop window: the top-left value comes from 9 places (3 x 3 offsets), including padding
    cropped = Augment(1, False, (1, 3, 4))(x, np.random.default_rng(0))
    assert set(np.unique(cropped[:, 0, 1, 1])) == {0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 8.0, 9.0, 10.0}


def test_augment_of_flattened_images():
    x = np.random.default_rng(0).normal(size=(5, 2 * 4 * 4))
    got = Augment(1, True, (2, 4, 4))(x, np.random.default_rng(3))
    assert got.shape == (5, 32)
    expected = reference_augment(x.reshape(5, 2, 4, 4), 1, True, np.random.default_rng(3))
    np.testing.assert_array_equal(got, expected.reshape(5, 32))


def test_the_dataset_carries_the_augmentation():
    assert load().augment is None
    ds = load(augment={"crop_padding": 2})
    assert (ds.augment.crop_padding, ds.augment.flip, ds.augment.image_shape) == (2, True, (2, 4, 4))
    flat = load(augment=True, flatten=True)
    assert flat.augment.crop_padding == 4 and flat.input_shape == (32,)
    assert get_loader({"dataset": "digits", "augment": True}).augment == {"crop_padding": 4, "flip": True}
    assert get_loader({"dataset": "digits", "augment": False}).augment is None


def test_augment_of_features_is_a_config_error():
    with pytest.raises(ConfigError, match=r"needs images \(C, H, W\)"):
        load_dataset({"dataset": "moons", "augment": True}, 0)


def test_batches_apply_the_augmentation_after_normalisation():
    ds = load(normalize="standardize", augment={"crop_padding": 1})
    split = ds.splits["train"]
    plain = [xb for xb, _ in batches(split, 64, np.float32, np.random.default_rng(2))]
    rng = np.random.default_rng(9)
    expected = [ds.augment(xb, rng) for xb in plain]
    got = [xb for xb, _ in batches(split, 64, np.float32, np.random.default_rng(2), augment=ds.augment,
                                   augment_rng=np.random.default_rng(9))]  # fmt: skip
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    # padding zeros are zeros of the standardised batch, i.e. the training mean
    assert any((xb == 0).any() for xb in got)
    with pytest.raises(ValueError, match="augment_rng"):
        batches(split, 64, np.float32, augment=ds.augment)


def test_seed_is_checked():
    with pytest.raises(ConfigError, match="seed"):
        load(-1)
