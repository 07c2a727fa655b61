"""Seeded 2-D toy problems (moons, circles, spirals, xor) for seconds-long runs and decision-boundary plots.

Moons and circles follow scikit-learn's make_moons/make_circles (same curves, same Gaussian noise) but
draw from the run's numpy Generator, and need no (slow) scikit-learn import. Features are float64
(N, 2), cast to the run dtype by `batches`.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from nnrun.data.base import Loader, SplitSize
from nnrun.data.dataset import GENERATE, Dataset, DataShape, Split, data_rng
from nnrun.registry import DATASETS

Count = Annotated[int, Field(gt=0, description="number of points in all splits together")]
Val = Annotated[SplitSize, Field(description="validation points: a fraction of all, or a count")]
Test = Annotated[SplitSize, Field(description="test points: a fraction of all, or a count")]
Noise = Annotated[float, Field(ge=0, description="standard deviation of Gaussian noise added to each coordinate")]


class Synthetic(Loader):
    """Shared `load_raw`: n points from the GENERATE stream; `Loader.load` holds out val and test, stratified."""

    shape = (2,)
    classes = 2
    builtin = True

    def __init__(self, *, n: int, noise: float, val: float | int, test: float | int, **common: Any):
        self.n = n
        self.noise = noise
        self.test = test
        super().__init__(val=val, **common)

    @property
    def num_classes(self) -> int:
        return type(self).classes

    def generate(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, 2) float64, y: (n,) int64."""
        raise NotImplementedError

    def peek_raw(self) -> DataShape:
        return DataShape(self.type_name, self.shape, [str(k) for k in range(self.num_classes)], "built in")

    def load_raw(self, seed: int) -> Dataset:
        x, y = self.generate(data_rng(seed, GENERATE))
        return Dataset(self.type_name, {"train": Split(x, y)}, self.shape, self.num_classes)


def halves(n: int) -> tuple[int, int]:
    """scikit-learn's split of n points into class 0 (n // 2) and class 1 (the rest)."""
    return n // 2, n - n // 2


def two_class_labels(n0: int, n1: int) -> np.ndarray:
    return np.repeat(np.array([0, 1], dtype=np.int64), [n0, n1])


@DATASETS.register("moons")
class Moons(Synthetic):
    """Two interleaving half circles (scikit-learn's make_moons), 2 classes, input (2,)."""

    def __init__(
        self,
        *,
        n: Count = 1000,
        noise: Noise = 0.2,
        val: Val = 0.15,
        test: Test = 0.2,
        **common: Any,
    ):
        super().__init__(n=n, noise=noise, val=val, test=test, **common)

    def generate(self, rng):
        n0, n1 = halves(self.n)
        t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
        x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
        x += rng.normal(scale=self.noise, size=x.shape)
        return x, two_class_labels(n0, n1)


@DATASETS.register("circles")
class Circles(Synthetic):
    """A small circle inside a large one (scikit-learn's make_circles), 2 classes, input (2,)."""

    def __init__(
        self,
        *,
        n: Count = 1000,
        noise: Noise = 0.1,
        factor: Annotated[float, Field(gt=0, lt=1, description="inner radius / outer radius")] = 0.5,
        val: Val = 0.15,
        test: Test = 0.2,
        **common: Any,
    ):
        super().__init__(n=n, noise=noise, val=val, test=test, **common)
        self.factor = factor

    def generate(self, rng):
        n0, n1 = halves(self.n)
        t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
        t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
        x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], self.factor * np.c_[np.cos(t1), np.sin(t1)]])
        x += rng.normal(scale=self.noise, size=x.shape)
        return x, two_class_labels(n0, n1)


@DATASETS.register("spirals")
class Spirals(Synthetic):
    """Interleaved spiral arms, one class per arm (cs231n's spiral data), input (2,).

    Arm j: radius r = linspace(0, 1), angle t = linspace(4j, 4j + 4) + noise * N(0, 1), point
    (r sin t, r cos t). Points are shared out evenly; the first n % arms arms get one more.
    """

    classes = 3  # the default number of arms

    def __init__(
        self,
        *,
        n: Count = 1000,
        noise: Annotated[float, Field(ge=0, description="standard deviation of Gaussian noise on the angle")] = 0.2,
        arms: Annotated[int, Field(ge=2, description="number of arms = number of classes")] = 3,
        val: Val = 0.15,
        test: Test = 0.2,
        **common: Any,
    ):
        super().__init__(n=n, noise=noise, val=val, test=test, **common)
        self.arms = arms

    @property
    def num_classes(self) -> int:
        return self.arms

    def generate(self, rng):
        per_arm = np.full(self.arms, self.n // self.arms)
        per_arm[: self.n % self.arms] += 1
        xs = []
        for j, m in enumerate(per_arm):
            r = np.linspace(0.0, 1.0, m)
            t = np.linspace(4.0 * j, 4.0 * (j + 1), m) + self.noise * rng.standard_normal(m)
            xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y = np.repeat(np.arange(self.arms, dtype=np.int64), per_arm)
        return np.concatenate(xs), y


@DATASETS.register("xor")
class Xor(Synthetic):
    """Points uniform in [-1, 1]², class 1 where the coordinates' signs differ (XOR), input (2,).

    Labels come from the clean points; the noise is added afterwards, so it blurs the axes.
    """

    def __init__(
        self,
        *,
        n: Count = 1000,
        noise: Noise = 0.1,
        val: Val = 0.15,
        test: Test = 0.2,
        **common: Any,
    ):
        super().__init__(n=n, noise=noise, val=val, test=test, **common)

    def generate(self, rng):
        x = rng.uniform(-1.0, 1.0, size=(self.n, 2))
        y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
        x += rng.normal(scale=self.noise, size=x.shape)
        return x, y
