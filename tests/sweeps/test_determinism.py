"""A sweep gives the same numbers, to the bit, with 1 worker and with 2.

The trials' thread count used to be the cores shared among the workers, and BLAS sums a 784-long dot product
in another order with 2 threads than with 1 (OpenBLAS splits K for a 50-row batch), so a sweep's numbers
depended on --workers. Now every trial runs single-threaded unless the config sets train.threads.
"""

from __future__ import annotations

import numpy as np

from nnrun.sweeps.run import sweep
from tests.helpers import small_config
from tests.sweeps.studies import metrics_bytes, summary_rows


def test_one_worker_and_two_give_the_same_bits(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((1200, 784), dtype=np.float32)  # 784 features: long enough dot products to tell
    y = np.argmax(x @ rng.standard_normal((784, 10)), axis=1)
    np.savez(tmp_path / "data.npz", x_train=x[:1000], y_train=y[:1000], x_test=x[1000:], y_test=y[1000:])
    config = small_config(
        data={"dataset": "npz", "path": str(tmp_path / "data.npz"), "val": 200},
        model={
            "input_shape": [784],
            "layers": [
                {"type": "dense", "units": 256, "name": "hidden"},
                {"type": "relu"},
                {"type": "dense", "units": 10},
            ],
        },  # fmt: skip
        train={"epochs": 2, "batch_size": 50},
    )
    config["sweep"] = {"parameters": {"optimizer.lr": [0.003, 0.001]}, "seeds": [0, 1]}
    one = sweep(config, out=tmp_path / "one", workers=1, plot=False)
    two = sweep(config, out=tmp_path / "two", workers=2, plot=False)
    assert [row["threads"] for row in one.trials] == [row["threads"] for row in two.trials] == [1] * 4
    assert metrics_bytes(tmp_path / "one") == metrics_bytes(tmp_path / "two")
    assert summary_rows(tmp_path / "one") == summary_rows(tmp_path / "two")
