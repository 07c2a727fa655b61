"""Tests for nnrun.data: the built-in loaders, stratified seeded splits, minibatch iteration.

The common preprocessing keys (classes, positive, n_train, normalize, ...) are tested in test_prepare.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.data import Dataset, Split, batches, dataset_info, get_loader, load_dataset, num_batches
from nnrun.data.dataset import GENERATE, SPLIT, data_rng, stratified_split
from nnrun.errors import ConfigError, DataError
from nnrun.registry import DATASETS

SYNTHETIC = ["moons", "circles", "spirals", "xor"]
DOWNLOADED = ["mnist", "fashion_mnist", "cifar10", "notmnist"]


def all_examples(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every split's examples together, rows sorted, so two datasets can be compared as sets."""
    x = np.concatenate([s.x.reshape(len(s), -1) for s in ds.splits.values()]).astype(np.float64)
    y = np.concatenate([s.y for s in ds.splits.values()])
    rows = np.c_[x, y]
    return rows[np.lexsort(rows.T[::-1])], y


# --- digits ---------------------------------------------------------------------------------------


def test_digits_default_split_sizes_shapes_and_dtypes():
    ds = load_dataset({"dataset": "digits"}, seed=0)
    # 0.2 * 1797 = 359.4 -> 359 and 0.15 * 1797 = 269.55 -> 270, both rounded half up
    assert ds.summary() == {"train": 1168, "val": 270, "test": 359}
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert ds.class_names == [str(k) for k in range(10)]
    for split in ds.splits.values():
        assert split.x.dtype == np.uint8 and split.x.shape[1:] == (1, 8, 8)
        assert split.y.dtype == np.int64
        assert split.scale == 1 / 16


def test_digits_counts_and_zero_leave_splits_out():
    assert load_dataset({"dataset": "digits", "val": 100, "test": 300}, 0).summary() == {
        "train": 1397,
        "val": 100,
        "test": 300,
    }
    ds = load_dataset({"dataset": "digits", "val": 0, "test": 0.0}, 0)
    assert ds.summary() == {"train": 1797}


def test_digits_splits_partition_the_1797_images():
    from sklearn.datasets import load_digits

    ds = load_dataset({"dataset": "digits"}, seed=3)
    got, _ = all_examples(ds)
    raw = load_digits()
    rows = np.c_[raw.data, raw.target]
    assert np.array_equal(got, rows[np.lexsort(rows.T[::-1])])


def test_digits_split_is_stratified():
    ds = load_dataset({"dataset": "digits"}, seed=1)
    total = sum(s.class_counts(10) for s in ds.splits.values())
    for name, split in ds.splits.items():
        expected = len(split) * total / total.sum()
        # a plain random split of 359 test images would be off by about 5 per class
        assert np.abs(split.class_counts(10) - expected).max() <= 2, name


def test_digits_split_is_seeded():
    a, b, c = (load_dataset({"dataset": "digits"}, seed) for seed in (7, 7, 8))
    for name in ("train", "val", "test"):
        assert np.array_equal(a.splits[name].x, b.splits[name].x)
        assert np.array_equal(a.splits[name].y, b.splits[name].y)
    assert not np.array_equal(a.splits["test"].x, c.splits["test"].x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digits_batches_are_in_unit_range(dtype):
    ds = load_dataset({"dataset": "digits"}, seed=0)
    xs = [xb for xb, _ in batches(ds.splits["train"], 64, dtype, np.random.default_rng(0))]
    assert all(xb.dtype == dtype for xb in xs)
    x = np.concatenate(xs)
    assert x.min() == 0.0 and x.max() == 1.0  # pixel 16 -> exactly 1
    np.testing.assert_array_equal(np.sort(x.ravel()), np.sort(ds.splits["train"].x.ravel() / 16).astype(dtype))


# --- synthetic sets ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_shapes_classes_and_split(name):
    ds = load_dataset({"dataset": name, "n": 500}, seed=0)
    assert ds.input_shape == (2,)
    assert ds.num_classes == (3 if name == "spirals" else 2)
    assert ds.summary() == {"train": 325, "val": 75, "test": 100}
    for split in ds.splits.values():
        assert split.x.dtype == np.float64 and split.x.shape == (len(split), 2)
        assert set(np.unique(split.y)) == set(range(ds.num_classes))
    xb, yb = next(batches(ds.splits["train"], 32, np.float32))
    assert xb.dtype == np.float32 and xb.shape == (32, 2) and yb.dtype == np.int64


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_is_seeded(name):
    a, b, c = (load_dataset({"dataset": name, "n": 200}, seed) for seed in (5, 5, 6))
    for split in ("train", "val", "test"):
        assert np.array_equal(a.splits[split].x, b.splits[split].x)
        assert np.array_equal(a.splits[split].y, b.splits[split].y)
    assert not np.array_equal(all_examples(a)[0], all_examples(c)[0])


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_points_do_not_depend_on_split_sizes(name):
    # generation and splitting draw from separate streams of the seed
    a = load_dataset({"dataset": name, "n": 300}, seed=2)
    b = load_dataset({"dataset": name, "n": 300, "val": 0, "test": 50}, seed=2)
    assert np.array_equal(all_examples(a)[0], all_examples(b)[0])


def test_spirals_class_count_and_uneven_arms():
    ds = load_dataset({"dataset": "spirals", "n": 302, "arms": 4, "val": 0, "test": 0}, seed=0)
    assert ds.num_classes == 4 and ds.class_names == ["0", "1", "2", "3"]
    assert ds.splits["train"].class_counts(4).tolist() == [76, 76, 75, 75]


def assert_same_points(x, y, ref_x, ref_y, atol=1e-12):
    """(x, y) and (ref_x, ref_y) hold the same labelled points in any order (floats sort unstably)."""
    assert len(x) == len(ref_x)
    dist = np.linalg.norm(x[:, None, :] - ref_x[None, :, :], axis=-1)
    dist[y[:, None] != ref_y[None, :]] = np.inf
    nearest = dist.argmin(axis=1)
    assert dist[np.arange(len(x)), nearest].max() <= atol
    assert len(np.unique(nearest)) == len(x)  # a one-to-one match


@pytest.mark.parametrize("n", [7, 100])
def test_noiseless_moons_and_circles_match_scikit_learn(n):
    from sklearn.datasets import make_circles, make_moons

    cases = [
        ({"dataset": "moons"}, make_moons(n, shuffle=False)),
        ({"dataset": "circles", "factor": 0.3}, make_circles(n, shuffle=False, factor=0.3)),
    ]
    for cfg, reference in cases:
        ds = load_dataset({**cfg, "n": n, "noise": 0.0, "val": 0, "test": 0}, seed=0)
        assert_same_points(ds.splits["train"].x, ds.splits["train"].y, *reference)


def test_noiseless_spirals_match_cs231n():
    def cs231n_spiral(per_class, classes):  # cs231n's "spiral data" without the angle noise
        x = np.zeros((per_class * classes, 2))
        y = np.zeros(per_class * classes, dtype=np.int64)
        for j in range(classes):
            ix = range(per_class * j, per_class * (j + 1))
            r = np.linspace(0.0, 1, per_class)
            t = np.linspace(j * 4, (j + 1) * 4, per_class)
            x[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
            y[ix] = j
        return x, y

    ds = load_dataset({"dataset": "spirals", "n": 300, "noise": 0.0, "val": 0, "test": 0}, seed=0)
    assert_same_points(ds.splits["train"].x, ds.splits["train"].y, *cs231n_spiral(100, 3))


def test_noiseless_xor_labels_follow_the_quadrants():
    ds = load_dataset({"dataset": "xor", "n": 400, "noise": 0.0}, seed=0)
    for split in ds.splits.values():
        assert np.all(np.abs(split.x) <= 1)
        assert np.array_equal(split.y, (split.x[:, 0] * split.x[:, 1] < 0).astype(np.int64))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_noise_moves_the_points(name):
    clean = load_dataset({"dataset": name, "n": 200, "noise": 0.0}, seed=0)
    noisy = load_dataset({"dataset": name, "n": 200, "noise": 0.3}, seed=0)
    assert not np.allclose(all_examples(clean)[0], all_examples(noisy)[0])


# --- splitting -----------------------------------------------------------------------------------


def test_stratified_split_partitions_and_keeps_rare_classes_proportional():
    y = np.repeat(np.arange(3), [900, 90, 10])
    parts = stratified_split(y, {"val": 100, "test": 200}, np.random.default_rng(0))
    assert {k: len(v) for k, v in parts.items()} == {"val": 100, "test": 200, "train": 700}
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(1000))
    for name, idx in parts.items():
        counts = np.bincount(y[idx], minlength=3)
        assert np.abs(counts - len(idx) * np.array([0.9, 0.09, 0.01])).max() <= 2, (name, counts)


def test_split_sizes_that_leave_no_training_data_are_rejected():
    with pytest.raises(ConfigError, match="no training examples"):
        load_dataset({"dataset": "digits", "val": 0.5, "test": 0.5}, 0)
    with pytest.raises(ConfigError, match="no training examples"):
        load_dataset({"dataset": "moons", "n": 100, "val": 60, "test": 40}, 0)


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, -3, "many"])
def test_bad_split_size_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="val"):
        load_dataset({"dataset": "digits", "val": bad}, 0)


def test_data_streams_differ_from_each_other_and_from_the_bare_seed():
    first = [data_rng(9, GENERATE).random(), data_rng(9, SPLIT).random(), np.random.default_rng(9).random()]
    assert len(set(first)) == 3
    assert data_rng(9, SPLIT).random() == first[1]


def test_negative_seed_is_rejected():
    with pytest.raises(ConfigError, match="seed"):
        load_dataset({"dataset": "moons"}, -1)


# --- batches -------------------------------------------------------------------------------------


def id_split(n: int) -> Split:
    """Examples whose single feature is their own index, so batches can be traced back."""
    return Split(np.arange(n, dtype=np.float64).reshape(n, 1), np.arange(n) % 3)


def test_batches_with_rng_cover_every_example_once_per_epoch():
    split, rng = id_split(103), np.random.default_rng(0)
    epochs = []
    for _ in range(2):
        seen = np.concatenate([xb[:, 0] for xb, _ in batches(split, 10, np.float64, rng)]).astype(int)
        assert np.array_equal(np.sort(seen), np.arange(103))
        epochs.append(seen)
    assert not np.array_equal(epochs[0], np.arange(103))  # shuffled
    assert not np.array_equal(epochs[0], epochs[1])  # a new permutation each epoch


def test_batches_pair_labels_with_their_examples():
    split = id_split(50)
    for xb, yb in batches(split, 8, np.float32, np.random.default_rng(1)):
        assert np.array_equal(yb, xb[:, 0].astype(np.int64) % 3)


def test_batches_without_rng_are_in_order_with_a_partial_last_batch():
    split = id_split(10)
    got = list(batches(split, 4, np.float32))
    assert [len(yb) for _, yb in got] == [4, 4, 2] == [len(xb) for xb, _ in got]
    assert num_batches(split, 4) == 3 and num_batches(split, 5) == 2
    assert np.array_equal(np.concatenate([xb[:, 0] for xb, _ in got]), np.arange(10))


def test_batch_larger_than_split_gives_one_batch():
    assert [len(yb) for _, yb in batches(id_split(5), 64, np.float32, np.random.default_rng(0))] == [5]


def test_batches_are_fresh_arrays():
    split = id_split(6)
    for rng in (None, np.random.default_rng(0)):
        for xb, yb in batches(split, 4, np.float64, rng):
            xb[:] = -1
            yb[:] = -1
    assert np.array_equal(split.x[:, 0], np.arange(6)) and np.array_equal(split.y, np.arange(6) % 3)


def test_uint8_images_default_to_a_1_over_255_scale():
    split = Split(np.array([[0, 51, 255]], dtype=np.uint8), np.array([0]))
    ((xb, _),) = batches(split, 1, np.float32)
    np.testing.assert_allclose(xb, [[0.0, 0.2, 1.0]], rtol=1e-7)


def test_permutation_is_drawn_when_batches_is_called():
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    it = batches(id_split(20), 5, np.float32, a)
    assert a.bit_generator.state != b.bit_generator.state
    b.permutation(20)
    assert a.bit_generator.state == b.bit_generator.state
    next(it)


def test_bad_batch_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        batches(id_split(3), 0, np.float32)
    with pytest.raises(ValueError, match="floating"):
        batches(id_split(3), 2, np.int32)


# --- Split / Dataset validation ------------------------------------------------------------------


def test_labels_must_be_integers_matching_the_examples():
    with pytest.raises(DataError, match="integer"):
        Split(np.zeros((3, 2)), np.array([0.0, 1.0, 0.0]))
    with pytest.raises(DataError, match=r"\(3,\)"):
        Split(np.zeros((3, 2)), np.array([0, 1]))
    assert Split(np.zeros((2, 2)), np.array([0, 1], dtype=np.int32)).y.dtype == np.int64


@pytest.mark.parametrize("labels", [[0, 2], [-1, 0]])
def test_labels_outside_the_classes_are_a_data_error(labels):
    split = Split(np.zeros((2, 2)), np.array(labels))
    with pytest.raises(DataError, match="labels span"):
        Dataset("toy", {"train": split}, (2,), 2)


def test_dataset_checks_shapes_and_train_split():
    split = Split(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(DataError, match="expected"):
        Dataset("toy", {"train": split}, (2,), 2)
    with pytest.raises(DataError, match="no train split"):
        Dataset("toy", {"test": split}, (3,), 2)


# --- registry, errors --------------------------------------------------------------


def test_unknown_dataset_lists_the_registered_names():
    with pytest.raises(ConfigError, match="did you mean 'digits'") as info:
        load_dataset({"dataset": "digitz"}, 0)
    for name in SYNTHETIC + DOWNLOADED + ["digits"]:
        assert name in info.value.hint


def test_unknown_key_and_missing_dataset_key():
    with pytest.raises(ConfigError, match="unknown key"):
        load_dataset({"dataset": "moons", "factor": 3}, 0)  # circles' key, not moons'
    with pytest.raises(ConfigError, match="did you mean 'arms'"):
        load_dataset({"dataset": "spirals", "arm": 3}, 0)
    with pytest.raises(ConfigError, match="'dataset' key"):
        load_dataset({"val": 0.1}, 0)


def required_keys(name: str) -> dict:
    """Values for the keys a dataset cannot do without (the file of npz, csv, image_folder)."""
    fields = DATASETS.schema(name).model_fields
    return {key: "/tmp/nowhere" for key, field in fields.items() if field.is_required() and key != "type"}


@pytest.mark.parametrize("name", DATASETS.names())
def test_config_round_trip(name):
    loader = get_loader({"dataset": name, **required_keys(name)})
    config = loader.get_config()
    assert DATASETS.build(config).get_config() == config
    assert DATASETS.schema(name).model_validate(config).model_dump() == config


@pytest.mark.parametrize("name", DATASETS.names())
def test_common_keys_round_trip_for_every_dataset(name):
    common = {"val": 7, "classes": [1, 0], "positive": [1], "n_train": 5, "n_test": 3, "normalize": "standardize",
              "flatten": True, "augment": {"crop_padding": 2, "flip": False}}  # fmt: skip
    config = get_loader({"dataset": name, **required_keys(name), **common}).get_config()
    assert {key: config[key] for key in common} == common
    assert DATASETS.build(config).get_config() == config


def test_dataset_info_describes_every_dataset():
    info = dataset_info()
    assert sorted(info) == DATASETS.names()
    assert set(SYNTHETIC + DOWNLOADED + ["digits"]) <= set(info)
    assert all(line and "\n" not in line for line in info.values())


def test_digits_read_from_scikit_learns_file_equal_load_digits(monkeypatch):
    from sklearn.datasets import load_digits

    from nnrun.data import digits

    table = digits.shipped_table()
    assert table is not None, "scikit-learn's digits.csv.gz was not found where load_digits reads it"
    bunch = load_digits()
    np.testing.assert_array_equal(table[:, :64].reshape(-1, 8, 8), bunch.images)
    np.testing.assert_array_equal(table[:, 64], bunch.target)
    # where the file is not found, load_digits gives the same arrays
    fast = digits.load_images.__wrapped__()
    monkeypatch.setattr(digits, "shipped_table", lambda: None)
    slow = digits.load_images.__wrapped__()
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype and not a.flags.writeable
