"""The Loader base class of every registered dataset, with the data keys every dataset shares.

A loader's `load_raw` gives the dataset as published; `Loader.load` runs the common preprocessing on it
(nnrun.data.prepare). `peek_raw` and `Loader.peek` describe the same without loading it (`nnrun check`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError

from nnrun.data import locate
from nnrun.data.augment import AugmentConfig, augment_shorthand
from nnrun.data.dataset import Dataset, DataShape, Shape
from nnrun.data.prepare import prepare, prepared_shape
from nnrun.registry import Configurable, problems_error, problems_from


def _check_split_size(value: int | float) -> int | float:
    if isinstance(value, float) and not 0 <= value < 1:
        raise ValueError(f"a fraction must be in [0, 1), got {value}; write a whole number for a count of examples")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"a count of examples must be >= 0, got {value}")
    return value


# `val: 0.15` is a fraction of all examples, `val: 5000` a count; 0 (or 0.0) leaves the split out.
SplitSize = Annotated[int | float, AfterValidator(_check_split_size)]


def _distinct(values: list[int]) -> list[int]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"each class may be listed once; repeated: {', '.join(map(str, repeated))}")
    return values


# Class indices as the dataset numbers them (digits 0..9; CIFAR-10's 3 = cat), at least one, no repeats.
ClassList = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1), AfterValidator(_distinct)]
Normalize = Literal["scale", "standardize", "none"]


class Loader(Configurable):
    """Base class of the registered datasets: constructor args are the `data:` config, `load` builds it.

    A subclass takes its own keyword arguments (path, test, ...) then `**common`, passed on to this
    constructor: the keys every dataset shares (below). It implements `load_raw(seed)`, the dataset as
    published, and `Loader.load` runs the common preprocessing on it (nnrun.data.prepare). The first line
    of a subclass's docstring is its one-line description in `nnrun layers`, `nnrun data list` and the docs.

    A dataset without an official test split declares its own `test` key (a fraction or a count held
    out of all examples, like val); one with official splits does not.

    Class attributes for `nnrun data list`: `shape`, the published per-example shape (None when it
    depends on the files), and `classes`, the number of classes (an int or None). An instance's
    `classes` attribute is the config key below, which shadows the class attribute: read the count
    as `type(self).classes`. `Loader.peek` answers from these two (and `class_names`, where the class
    has them) unless the subclass reads its files' headers in `peek_raw`.
    """

    type_name: ClassVar[str]
    shape: ClassVar[Shape | None] = None
    builtin: ClassVar[bool] = False  # generated or shipped with a package: no files to find or download
    needs_path: ClassVar[bool] = False  # nothing to look for until data.path is given (npz, csv, folders)
    downloadable: ClassVar[bool] = False  # `fetch` downloads the files when they are not found

    def __init__(
        self,
        *,
        val: Annotated[
            SplitSize,
            Field(
                description="validation examples held out of the training pool, stratified: a fraction or a count "
                "(0: none); ignored when the dataset has an official validation split"
            ),
        ] = 0.1,
        classes: Annotated[
            ClassList | None,
            Field(description="keep only these classes, relabelled 0..k-1 in the order given (null: all)"),
        ] = None,
        positive: Annotated[
            ClassList | None,
            Field(
                description="a binary task: these classes become label 1 and every other (kept) class label 0; "
                "class numbers as the dataset has them"
            ),
        ] = None,
        n_train: Annotated[
            int | None,
            Field(
                ge=1,
                description="train on this many examples: a stratified subsample of the train split after "
                "val is held out (null: all)",
            ),
        ] = None,
        n_test: Annotated[
            int | None, Field(ge=1, description="a stratified subsample of this many test examples (null: all)")
        ] = None,
        normalize: Annotated[
            Normalize,
            Field(
                description="scale: images into [0, 1] (features unchanged); standardize: per channel (per "
                "feature for vectors) with the train split's mean and std; none: raw values"
            ),
        ] = "scale",
        flatten: Annotated[bool, Field(description="give examples as flat vectors (C*H*W,) instead of images")] = False,
        augment: Annotated[
            AugmentConfig | None,
            BeforeValidator(augment_shorthand),
            Field(
                description="random crops and flips of training images (`true` for the defaults, or "
                "{crop_padding, flip}); null: none"
            ),
        ] = None,
    ):
        self.val = val
        self.classes = classes
        self.positive = positive
        self.n_train = n_train
        self.n_test = n_test
        self.normalize = normalize
        self.flatten = flatten
        # stored as a plain dict, as the config holds it (get_config / YAML round trip)
        augment = augment_shorthand(augment)
        if isinstance(augment, AugmentConfig):
            augment = augment.model_dump()
        elif augment is not None:
            try:
                augment = AugmentConfig.model_validate(augment).model_dump()
            except ValidationError as error:
                problems = problems_from(error, ("augment",), augment, AugmentConfig)
                raise problems_error(problems, where="data") from None
        self.augment = augment

    def load_raw(self, seed: int) -> Dataset:
        """The dataset as published: its official splits only, images uint8 (N, C, H, W), labels int64."""
        raise NotImplementedError

    def load(self, seed: int) -> Dataset:
        """load_raw, then the common preprocessing (classes, positive, splits, subsamples, normalisation)."""
        return prepare(self.load_raw(seed), self, seed)

    def peek_raw(self) -> DataShape | None:
        """The published examples' shape and classes without loading them, or None when only loading tells.

        From the catalog (the class's `shape`, `classes` and `class_names`); never downloads. A dataset of
        the user's files reads their headers instead, and raises DataNotFound when they are not there.
        """
        cls = type(self)
        if cls.shape is None or not isinstance(cls.classes, int) or isinstance(cls.classes, bool):
            return None
        names = getattr(cls, "class_names", None) or [str(k) for k in range(cls.classes)]
        if self.builtin or cls.locate is Loader.locate:  # no files to look for
            return DataShape(self.type_name, cls.shape, names, "built in")
        found = self.locate()
        path = getattr(self, "path", None)  # a given path is the only place, and nothing is downloaded into it
        downloads = found is None and self.downloadable and path is None and not locate.offline()
        return DataShape(self.type_name, cls.shape, names, None if found is None else str(found), downloads)

    def peek(self) -> DataShape | None:
        """What `load` would give as input_shape and class_names, without loading the data (see peek_raw)."""
        raw = self.peek_raw()
        return None if raw is None else prepared_shape(raw, self)

    def locate(self) -> Path | None:
        """Where the dataset's files are, without downloading; None when absent (or built in)."""
        return None

    def fetch(self) -> Path | None:
        """The files' location, downloading them first where the dataset allows; None for built-in data."""
        return self.locate()
