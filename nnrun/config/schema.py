"""The config's pydantic schema: the sections every run has, and where each default is stated.

The registry-typed parts (data, layers, loss, optimizer keys, schedule, initializers) are plain mappings
here; nnrun.config.validate checks each against its registered class's own schema.
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

# The component families: importing them fills the registries the schema validates against.
from nnrun import data, layers, losses, optimizers, schedules  # noqa: F401
from nnrun.initializers import DEFAULT_BIAS_INIT, DEFAULT_WEIGHT_INIT
from nnrun.io import inline, plain

# Keys of the optimizer section that belong to the training loop rather than to the optimizer class.
OPTIMIZER_COMMON_KEYS = ("weight_decay", "decay_bias", "clip_norm", "schedule")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # no '/', and no leading '.': never '.' or '..'
MAX_NAME = 100  # a folder name may have 255 bytes; sweeps and attempts add suffixes to it
LAYER_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
DEFAULT_LOSS = "softmax_cross_entropy"
DEFAULT_OPTIMIZER = "adam"
DEFAULT_SCHEDULE = "constant"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


Monitor = Literal["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


class EarlyStoppingConfig(Section):
    """Stop training when a metric has not improved for `patience` evaluations."""

    monitor: Monitor = Field(
        "val_loss",
        description="metric watched at each evaluation; test_* is allowed but then the test set picks the model",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="min: lower is better, max: higher is better, auto: max for *_acc and min for *_loss"
    )
    patience: int = Field(3, ge=1, description="evaluations without improvement before the run stops")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")
    restore_best: bool = Field(True, description="end with the weights of the best evaluation, not the last")

    def direction(self) -> Literal["min", "max"]:
        """`mode` with auto resolved from the monitored metric."""
        return metric_direction(self.monitor, self.mode)


def metric_direction(metric: str, mode: str = "auto") -> Literal["min", "max"]:
    """Whether lower ("min") or higher ("max") is better: `mode` itself unless auto, then by the metric's name."""
    if mode != "auto":
        return mode
    return "max" if metric.endswith("_acc") else "min"


class TrainConfig(Section):
    """How long and how to iterate: epochs or steps, batch sizes, evaluation, early stopping, checkpoints."""

    epochs: int | None = Field(
        10, gt=0, description="passes over the training set; null (or left out) when max_steps is given"
    )
    max_steps: int | None = Field(
        None, gt=0, description="stop after this many optimizer steps instead of a number of epochs"
    )
    eval_every: int | None = Field(None, gt=0, description="evaluate every this many steps; null = once per epoch")
    batch_size: int = Field(50, gt=0, description="training examples per optimizer step")
    eval_batch_size: int = Field(1000, gt=0, description="examples per forward pass when evaluating")
    shuffle: bool = Field(True, description="reshuffle the training set every epoch (from the run seed)")
    early_stopping: EarlyStoppingConfig | None = Field(
        None,
        description="null = train to the end; a mapping (keys below) stops when the monitored metric stalls",
    )
    checkpoint: bool = Field(True, description="write a resumable checkpoint after every epoch")
    threads: int | None = Field(None, gt=0, description="threads for BLAS and numba; null = all cores")
    diagnostics: bool = Field(
        False,
        description="write diagnostics.csv: per layer and evaluation, activation mean/std, dead relus, gradient "
        "norm and update/weight ratio",
    )

    @model_validator(mode="after")
    def _one_length(self) -> TrainConfig:
        if self.max_steps is not None:
            if self.epochs is not None and "epochs" in self.model_fields_set:
                raise ValueError(
                    f"give either epochs ({self.epochs}) or max_steps ({self.max_steps}), not both; "
                    "set the other to null (e.g. --set train.epochs=null)"
                )
            self.epochs = None
        elif self.epochs is None:
            raise ValueError("give the length of training: epochs or max_steps")
        return self


class ModelConfig(Section):
    """The network: the per-example input shape, model-wide initializer defaults and the layer list."""

    input_shape: tuple[Annotated[int, Field(gt=0)], ...] = Field(
        min_length=1,
        description="per-example shape the first layer sees, e.g. [1, 28, 28] (C, H, W) or [784]; "
        "images given to a flat input_shape of the same size are flattened",
    )
    weight_init: Any = Field(
        DEFAULT_WEIGHT_INIT,
        description="default initializer for weights: a name or {type: ..., ...} (initializers below)",
        json_schema_extra={"yaml_type": "initializer"},
    )
    bias_init: Any = Field(
        DEFAULT_BIAS_INIT,
        description="default initializer for biases: a name or {type: ..., ...}",
        json_schema_extra={"yaml_type": "initializer"},
    )
    weight_scale: float | None = Field(
        None,
        gt=0,
        description="cs231n shorthand: the default weight init becomes {type: normal, std: weight_scale}",
    )
    layers: list[dict[str, Any]] = Field(
        min_length=1,
        description="the layers in order: each {type: ..., its keys, name: optional} (layer tables below); "
        "a bare name such as `relu` is short for {type: relu}",
        json_schema_extra={"yaml_type": "list of layers"},
    )


class OptimizerConfig(Section):
    """The optimizer (its own keys such as lr sit beside `type`) plus the keys the training loop applies."""

    type: str = Field(
        DEFAULT_OPTIMIZER, description="optimizer name; its own keys (lr, beta1, ...) are listed under Optimizers"
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="the optimizer's own keys with every default filled in (written flat beside `type`)",
        json_schema_extra={"internal": True},
    )
    weight_decay: float = Field(0.0, ge=0, description="L2 coefficient λ: the loss gains λ/2·‖w‖² per weight")
    decay_bias: bool = Field(False, description="apply weight_decay to biases and batchnorm scale/shift too")
    clip_norm: float | None = Field(None, gt=0, description="clip the gradients to this global L2 norm; null = off")
    schedule: dict[str, Any] = Field(
        default_factory=lambda: {"type": DEFAULT_SCHEDULE},
        description="learning-rate schedule: a name or {type: ..., ...} (schedules below)",
        json_schema_extra={"yaml_type": "schedule"},
    )

    @property
    def lr(self) -> float:
        return self.args["lr"]

    def spec(self) -> dict[str, Any]:
        """`{type, **args}`: what OPTIMIZERS.build takes."""
        return {"type": self.type, **copy.deepcopy(self.args)}


class SweepMetric(Section):
    """The metric that ranks the parameter points: its mean over seeds marks the best row of the summary."""

    name: Monitor = Field("val_acc", description="the metric of each trial's metrics.csv that ranks the points")
    goal: Literal["auto", "min", "max"] = Field(
        "auto", description="max: higher is better, min: lower is better, auto: max for *_acc, min for *_loss"
    )
    at: Literal["best", "last"] = Field(
        "best",
        description="read each trial at its best evaluation (by its own train.early_stopping monitor, "
        "else val_loss) or at its last one; the summary's accuracy and loss columns are read there too",
    )


class SweepSchedule(Section):
    """Stop losing points early: train every point to a first rung, then only the best 1/eta of them on to the
    next, each trial continuing from its checkpoint (docs/sweeps.md). The resource is what the config trains
    by: epochs, or steps when it sets train.max_steps; the config's budget is the last rung."""

    type: Literal["halving", "hyperband"] = Field(
        description="halving: successive halving of every point from `min`; hyperband: several halvings that "
        "start at min, min·eta, ..., each point in one of them"
    )
    min: int = Field(1, gt=0, description="the first rung, in epochs (or steps with train.max_steps)")
    eta: int = Field(3, ge=2, description="rungs grow by this factor and 1/eta of the points go on from each")
    brackets: int | None = Field(
        None, ge=1, description="hyperband: how many brackets, the most aggressive first; null = all of them"
    )

    @model_validator(mode="after")
    def _brackets(self) -> SweepSchedule:
        if self.brackets is not None and self.type != "hyperband":
            raise ValueError("brackets applies to type: hyperband; halving is one bracket (drop brackets)")
        return self


def _schedule_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


DEFAULT_BATCH = 4  # tpe's points per round when the spec does not say


class SweepConfig(Section):
    """A study over this config, run by `nnrun sweep` (`nnrun train` ignores it): every combination of the
    parameters (grid), `n_trials` seeded draws (random) or `n_trials` points suggested by Optuna's TPE in
    rounds of `batch` (tpe), each trained once per seed."""

    method: Literal["grid", "random", "tpe"] = Field(
        "grid",
        description="grid: every combination; random: n_trials draws; tpe: n_trials points suggested by Optuna's "
        "TPE from the results so far, batch at a time (pip install 'nnrun[tpe]')",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="`--set` key path -> a list of values (a value may be a list or a mapping), or for random and tpe "
        "search {distribution: choice | uniform | log_uniform | int, values | low, high}",
        json_schema_extra={"yaml_type": "mapping"},
    )
    seeds: list[int] | None = Field(
        None, min_length=1, description="the seeds each parameter point is trained with; null = the config's seed"
    )
    n_trials: int | None = Field(None, gt=0, description="random and tpe: how many parameter points to draw or suggest")
    batch: int | None = Field(
        None,
        gt=0,
        description="tpe: points suggested per round, all trained before the next round is asked for (fixed here, "
        "not by the worker count, so that the points do not depend on it); null = 4",
    )
    sampler_seed: int = Field(
        0, ge=0, description="random and tpe: seeds the draws or the sampler, so the same spec gives the same points"
    )
    metric: SweepMetric = Field(default_factory=SweepMetric, description="what ranks the points (keys below)")
    retries: int = Field(
        2, ge=0, description="times a trial is started again after its worker process died (not after an error)"
    )
    schedule: Annotated[SweepSchedule | None, BeforeValidator(_schedule_shorthand)] = Field(
        None,
        description="null: every point to the full budget; halving or hyperband (a name, or a mapping with the "
        "keys below): stop the points that lose early",
    )

    @model_validator(mode="after")
    def _method_keys(self) -> SweepConfig:
        if self.method != "grid" and self.n_trials is None:
            raise ValueError(f"method: {self.method} needs n_trials, the number of points to draw or suggest")
        if self.method == "tpe" and self.batch is None:
            self.batch = min(DEFAULT_BATCH, self.n_trials)  # written out, so that sweep.yaml holds the rounds
        if self.method == "grid" and self.n_trials is not None:
            raise ValueError("n_trials applies to method: random or tpe; a grid runs every combination (drop n_trials)")
        if self.seeds is not None and (bad := [s for s in self.seeds if s < 0]):
            raise ValueError(f"seeds must be >= 0 (got {bad[0]})")
        if self.seeds is not None and len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must differ from each other (got {inline(self.seeds)})")
        return self


class Config(Section):
    """One training run.

    Build it with `load_config` or `config_from_dict`: they also check and expand the registry-typed parts
    (data, layers, loss, optimizer keys, schedule, initializers), which constructing it directly does not.
    """

    name: str = Field(
        description="run name, also the folder results/<name>/ (letters, digits, _ - .); "
        "defaults to the config file's name"
    )
    seed: int = Field(0, ge=0, description="seeds the weights, dropout, shuffling and the data split")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point type of weights and data")
    data: dict[str, Any] = Field(
        description="{dataset: name, ...}: the dataset and its own keys (datasets below)",
        json_schema_extra={"yaml_type": "dataset"},
    )
    model: ModelConfig = Field(description="the network (keys below)")
    loss: dict[str, Any] = Field(
        default_factory=lambda: {"type": DEFAULT_LOSS},
        description="a name or {type: ..., ...} (losses below)",
        json_schema_extra={"yaml_type": "loss"},
    )
    optimizer: OptimizerConfig = Field(
        default_factory=OptimizerConfig, description="the optimizer and weight decay, clipping, schedule (keys below)"
    )
    train: TrainConfig = Field(default_factory=TrainConfig, description="the training loop (keys below)")
    sweep: SweepConfig | None = Field(
        None, description="a study over this config for `nnrun sweep`; `nnrun train` ignores it (keys below)"
    )

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        # the name is a folder under results/: '..', '/' or an absolute path would lead out of it (--out may)
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                "must be letters, digits, '_', '-' or '.' and not start with '.', since it names results/<name>/; "
                "to write elsewhere, use --out"
            )
        if len(value) > MAX_NAME:
            raise ValueError(f"is {len(value)} characters long; a run name may have at most {MAX_NAME}")
        return value

    def resolved(self) -> dict[str, Any]:
        """A plain dict with every default filled in; `config_from_dict` turns it back into an equal Config.

        It is the run's config: the sweep section, which only `nnrun sweep` reads, is left out.
        """
        optimizer = self.optimizer
        return plain(
            {
                "name": self.name,
                "seed": self.seed,
                "dtype": self.dtype,
                "data": self.data,
                "model": self.model.model_dump(),
                "loss": self.loss,
                "optimizer": {
                    "type": optimizer.type,
                    **optimizer.args,
                    "weight_decay": optimizer.weight_decay,
                    "decay_bias": optimizer.decay_bias,
                    "clip_norm": optimizer.clip_norm,
                    "schedule": optimizer.schedule,
                },
                "train": self.train.model_dump(),
            }
        )


MODEL_KEYS = tuple(ModelConfig.model_fields)  # a layer name must not shadow these in `--set model.<name>.…`
