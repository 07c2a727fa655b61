"""The training loop: mini-batches, evaluation, early stopping, checkpoints and the run folder.

`train(config)` and `resume(run_dir)` are the Python API behind `nnrun train`; both return a Run.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrun import results
from nnrun.errors import DataError, RunError, ShapeError, TrainingDiverged

STATE_KEY = "__state__"


@dataclass
class Progress:
    """Where the loop is; everything here goes into the checkpoint so a resumed run continues exactly."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimizer steps
    # running sums over the training batches since the last evaluation
    seen: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    # early stopping
    best_value: float | None = None
    best_step: int | None = None
    wait: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    timing: list[dict[str, Any]] = field(default_factory=list)


class Silent:
    """The default reporter: the Python API prints nothing unless asked."""

    def start(self, trainer: Trainer) -> None: ...
    def epoch_start(self, epoch: int, batches: int) -> None: ...
    def batch(self, loss: float, acc: float, samples_per_sec: float) -> None: ...
    def epoch_end(self) -> None: ...
    def evaluation(self, row: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


def train(config, overrides=(), *, out=None, results_root="results", reporter=None) -> results.Run:
    """Train from a Config, a config path or a raw dict. Nothing is written before the config and data check out."""
    from nnrun.config import Config, config_from_dict, load_config

    if isinstance(config, Config):
        if overrides:
            config = config_from_dict(config.resolved(), overrides=overrides)
    elif isinstance(config, dict):
        config = config_from_dict(config, overrides=overrides)
    else:
        config = load_config(config, overrides)
    trainer = Trainer(config, reporter or Silent())
    trainer.run_dir = results.new_run_dir(config.name, trainer.resolved, out=out, root=results_root)
    return trainer.fit()


def resume(run_dir, *, reporter=None) -> results.Run:
    """Continue a run from its last checkpoint to the same result an uninterrupted run gives."""
    from nnrun.config import config_from_dict

    run = results.load_run(run_dir)
    if run.status in ("completed", "early_stopped"):
        raise RunError(f"run {run.path} has already finished ({run.status})", hint="start a new run instead")
    checkpoint = run.path / "checkpoint.npz"
    if not checkpoint.is_file():
        raise RunError(
            f"run {run.path} has no checkpoint.npz to resume from",
            hint="a checkpoint is written after each epoch; a run stopped in its first epoch must be started again",
        )
    config = config_from_dict(run.config, source=str(run.path / "config.yaml"))
    trainer = Trainer(config, reporter or Silent())
    trainer.run_dir = run.path
    trainer.restore(checkpoint)
    return trainer.fit()


class Trainer:
    def __init__(self, config, reporter):
        from nnrun.data import load_dataset
        from nnrun.losses import l2_penalty  # noqa: F401  (fail early if missing)
        from nnrun.model import Sequential
        from nnrun.registry import LOSSES, OPTIMIZERS, SCHEDULES
        from nnrun.runtime import configure_threads

        self.config = config
        self.resolved = config.resolved()
        self.reporter = reporter
        self.run_dir: Path | None = None
        self.dtype = np.dtype(config.dtype)
        self.threads = configure_threads(config.train.threads)

        model_seed, shuffle_seed, augment_seed = np.random.SeedSequence(config.seed).spawn(3)
        self.dataset = load_dataset(self.resolved["data"], config.seed)
        if "train" not in self.dataset.splits or len(self.dataset.splits["train"].y) == 0:
            raise DataError(f"dataset '{self.dataset.name}' has no training examples", where="data")
        self.loss = LOSSES.build(self.resolved["loss"], where="loss")
        self.loss.check_targets(self.dataset.num_classes)
        self.model = Sequential.from_config(self.resolved["model"], dtype=self.dtype, seed=model_seed)
        self.check_compatible()

        opt = config.optimizer
        self.optimizer = OPTIMIZERS.build(opt.spec(), where="optimizer")
        self.params = self.model.params(opt.weight_decay, opt.decay_bias)
        self.optimizer.setup(self.params)
        self.clip_norm = opt.clip_norm
        self.schedule = SCHEDULES.build(opt.schedule, where="optimizer.schedule")
        self.base_lr = float(opt.lr)
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        self.augment = getattr(self.dataset, "augment", None)  # data.augment: applied to training batches only
        self.augment_rng = np.random.default_rng(augment_seed)

        tc = config.train
        self.batch_size = tc.batch_size
        self.n_train = len(self.dataset.splits["train"].y)
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.total_steps = tc.max_steps or tc.epochs * self.steps_per_epoch
        self.total_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.eval_every = tc.eval_every or self.steps_per_epoch
        stopping = tc.early_stopping
        self.stopping = stopping
        self.monitor = stopping.monitor if stopping else ("val_loss" if "val" in self.dataset.splits else "train_loss")
        mode = stopping.mode if stopping else "auto"
        self.monitor_mode = ("max" if self.monitor.endswith("_acc") else "min") if mode == "auto" else mode
        self.best_arrays: dict[str, np.ndarray] | None = None
        self.progress = Progress()
        self.jit_seconds = 0.0
        self.status = "running"

    # --- set-up checks --------------------------------------------------------------------------
    def check_compatible(self) -> None:
        data_shape, model_shape = tuple(self.dataset.input_shape), self.model.input_shape
        if math.prod(data_shape) != math.prod(model_shape) or (data_shape != model_shape and len(model_shape) > 1):
            raise ShapeError(
                f"the data has examples of shape {data_shape} but model.input_shape is {list(model_shape)}",
                where="model.input_shape",
                hint=f"set model.input_shape to {list(data_shape)} (or [{math.prod(data_shape)}] for an MLP)",
            )
        units = self.model.output_shape
        expected = self.loss.output_units(self.dataset.num_classes)
        if units != (expected,):
            raise ShapeError(
                f"the last layer gives {units} outputs per example but {self.loss.type_name} on "
                f"{self.dataset.num_classes} classes needs ({expected},)",
                where=f"model.layers[{len(self.model.layers) - 1}]",
                hint=f"make the last layer a dense layer with units: {expected}",
            )

    # --- checkpoint ---------------------------------------------------------------------------
    def checkpoint(self) -> None:
        p = self.progress
        state = {
            "epoch": p.epoch, "step": p.step, "seen": p.seen, "loss_sum": p.loss_sum, "correct": p.correct,
            "best_value": p.best_value, "best_step": p.best_step, "wait": p.wait,
            "train_seconds": p.train_seconds, "eval_seconds": p.eval_seconds,
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
            "noise_rng": self.model.noise_rng.bit_generator.state,
            "augment_rng": self.augment_rng.bit_generator.state,
        }  # fmt: skip
        arrays = {f"model/{k}": v for k, v in self.model.state_arrays().items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.best_arrays is not None:
            arrays.update({f"best/{k}": v for k, v in self.best_arrays.items()})
        arrays[STATE_KEY] = np.array(json.dumps(state))
        results.atomic_savez(self.run_dir / "checkpoint.npz", arrays)

    def restore(self, path: Path) -> None:
        arrays = results.read_npz(path)
        state = json.loads(str(arrays.pop(STATE_KEY)))
        self.model.load_state_arrays(
            {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}, source=str(path)
        )
        self.optimizer.load_state_dict({k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")})
        best = {k[len("best/") :]: v for k, v in arrays.items() if k.startswith("best/")}
        self.best_arrays = best or None
        self.shuffle_rng.bit_generator.state = state["shuffle_rng"]
        self.model.noise_rng.bit_generator.state = state["noise_rng"]
        self.augment_rng.bit_generator.state = state["augment_rng"]
        history = results.read_csv(self.run_dir / "metrics.csv") if (self.run_dir / "metrics.csv").is_file() else []
        timing = results.read_csv(self.run_dir / "timing.csv") if (self.run_dir / "timing.csv").is_file() else []
        p = self.progress
        for key in ("epoch", "step", "seen", "loss_sum", "correct", "best_value", "best_step", "wait",
                    "train_seconds", "eval_seconds"):  # fmt: skip
            setattr(p, key, state[key])
        # rows written after the checkpoint belong to the lost part of the run; they are redone
        p.history = [row for row in history if row["step"] <= p.step]
        p.timing = [row for row in timing if row["step"] <= p.step]

    # --- the loop -------------------------------------------------------------------------------
    def fit(self) -> results.Run:
        from nnrun.data import batches
        from nnrun.runtime import git_commit, versions

        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.versions = versions()
        self.commit = git_commit()
        results.atomic_write_text(self.run_dir / "config.yaml", self.config_yaml())
        self.log(f"run {self.run_dir} ({'resumed at step %d' % self.progress.step if self.progress.step else 'new'})")
        for note in getattr(self.dataset, "notes", []):
            self.log(f"data: {note}")
        self.write_summary()
        self.reporter.start(self)
        self.jit_seconds = self.warm_up()

        p = self.progress
        train_split = self.dataset.splits["train"]
        stop = False
        try:
            while p.step < self.total_steps and not stop:
                self.reporter.epoch_start(p.epoch, min(self.steps_per_epoch, self.total_steps - p.step))
                tick = time.perf_counter()
                order = self.shuffle_rng if self.config.train.shuffle else None
                for xb, yb in batches(train_split, self.batch_size, self.dtype, rng=order, **self.augmenting()):
                    self.train_step(xb, yb)
                    if p.step % self.eval_every == 0 or p.step == self.total_steps:
                        p.train_seconds += time.perf_counter() - tick
                        stop = self.evaluate_and_record()
                        tick = time.perf_counter()
                    if stop or p.step == self.total_steps:
                        break
                p.train_seconds += time.perf_counter() - tick
                self.reporter.epoch_end()
                if p.step % self.steps_per_epoch == 0:
                    p.epoch += 1
                    if self.config.train.checkpoint and not stop:
                        self.checkpoint()
        except TrainingDiverged as error:
            self.status = "failed"
            self.finish(error=error.message())
            raise
        except BaseException as error:  # KeyboardInterrupt included: leave an honest summary behind
            self.status = "interrupted"
            self.write_summary(error=f"{type(error).__name__}: {error}")
            raise
        self.status = "early_stopped" if stop else "completed"
        return self.finish()

    def augmenting(self) -> dict[str, Any]:
        """Keyword arguments for `batches` that turn on data.augment, when the config asks for it."""
        return {"augment": self.augment, "augment_rng": self.augment_rng} if self.augment is not None else {}

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> None:
        from nnrun.optimizers import clip_grad_norm

        p = self.progress
        lr = self.lr()
        logits = self.model.forward(xb, train=True)
        value, dlogits = self.loss.value_and_grad(logits, yb)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss became {value} at step {p.step + 1} (epoch {p.epoch + 1})",
                hint="lower optimizer.lr, set optimizer.clip_norm, or check the data scaling",
            )
        self.model.backward(dlogits, input_grad=False)
        if self.clip_norm:
            clip_grad_norm(self.params, self.clip_norm)
        self.optimizer.step(lr)
        p.step += 1
        n = len(yb)
        p.seen += n
        p.loss_sum += value * n
        correct = int(np.count_nonzero(self.loss.predict(logits) == yb))
        p.correct += correct
        self.reporter.batch(value, correct / n, n)

    def lr(self, step: int | None = None) -> float:
        """The rate for the optimizer step that follows `step` completed ones (default: the current step)."""
        step = self.progress.step if step is None else step
        epoch = step // self.steps_per_epoch
        return float(self.schedule.lr(self.base_lr, epoch, step, self.steps_per_epoch, self.total_steps))

    def evaluate(self, split_name: str) -> tuple[float, float]:
        from nnrun.data import batches

        split = self.dataset.splits[split_name]
        loss_sum, correct = 0.0, 0
        for xb, yb in batches(split, self.config.train.eval_batch_size, self.dtype):
            logits = self.model.forward(xb, train=False)
            loss_sum += self.loss.value(logits, yb) * len(yb)
            correct += int(np.count_nonzero(self.loss.predict(logits) == yb))
        n = len(split.y)
        return loss_sum / n, correct / n

    def evaluate_and_record(self) -> bool:
        """Evaluate every split, append a metrics row, and say whether early stopping ends the run."""
        from nnrun.losses import l2_penalty

        p = self.progress
        tick = time.perf_counter()
        row: dict[str, Any] = {
            "epoch": round(p.step / self.steps_per_epoch, 4),
            "step": p.step,
            "lr": self.lr(p.step - 1),  # the rate of the step just taken
            "train_loss": p.loss_sum / p.seen,
            "train_acc": p.correct / p.seen,
            "reg_loss": float(l2_penalty(self.params)),
        }
        if isinstance(row["epoch"], float) and row["epoch"].is_integer():
            row["epoch"] = int(row["epoch"])
        for split in ("val", "test"):
            if split in self.dataset.splits and len(self.dataset.splits[split].y):
                row[f"{split}_loss"], row[f"{split}_acc"] = self.evaluate(split)
        p.eval_seconds += time.perf_counter() - tick
        samples_per_sec = p.seen / max(p.train_seconds - self.last_train_seconds(), 1e-9)
        p.seen, p.loss_sum, p.correct = 0, 0.0, 0
        self.append_row(row, samples_per_sec)
        diverged = [k for k, v in row.items() if k.endswith("_loss") and v is not None and not math.isfinite(v)]
        if diverged:
            raise TrainingDiverged(
                f"{', '.join(diverged)} became non-finite at the evaluation of step {p.step}",
                hint="lower optimizer.lr, set optimizer.clip_norm, or check the data scaling",
            )
        self.reporter.evaluation(row)
        self.log(" ".join(f"{k}={results.format_value(v)}" for k, v in row.items()))
        return self.early_stopping(row)

    def last_train_seconds(self) -> float:
        return self.progress.timing[-1]["seconds"] if self.progress.timing else 0.0

    def append_row(self, row: dict[str, Any], samples_per_sec: float) -> None:
        p = self.progress
        p.history.append(row)
        p.timing.append(
            {"epoch": row["epoch"], "step": p.step, "seconds": round(p.train_seconds, 4),
             "samples_per_sec": round(samples_per_sec, 1)}
        )  # fmt: skip
        results.atomic_write_text(self.run_dir / "metrics.csv", results.csv_text(results.METRIC_COLUMNS, p.history))
        results.atomic_write_text(self.run_dir / "timing.csv", results.csv_text(results.TIMING_COLUMNS, p.timing))

    def early_stopping(self, row: dict[str, Any]) -> bool:
        p = self.progress
        value = row.get(self.monitor)
        if value is None:
            return False
        delta = self.stopping.min_delta if self.stopping else 0.0
        if p.best_value is None:
            improved = True
        elif self.monitor_mode == "min":
            improved = value < p.best_value - delta
        else:
            improved = value > p.best_value + delta
        if improved:
            p.best_value, p.best_step, p.wait = value, p.step, 0
            if self.stopping and self.stopping.restore_best:
                self.best_arrays = {k: v.copy() for k, v in self.model.state_arrays().items()}
            return False
        p.wait += 1
        if self.stopping and p.wait >= self.stopping.patience:
            self.reporter.message(
                f"early stopping: {self.monitor} has not improved for {p.wait} evaluations "
                f"(best {p.best_value:.4g} at step {p.best_step})"
            )
            return True
        return False

    # --- warm-up, end, files --------------------------------------------------------------------
    def warm_up(self) -> float:
        """Run each kernel once on a throwaway copy so JIT compile time is measured apart from training."""
        from nnrun.data import batches
        from nnrun.registry import OPTIMIZERS

        tick = time.perf_counter()
        model = copy.deepcopy(self.model)
        xb, yb = next(batches(self.dataset.splits["train"], 2, self.dtype))
        logits = model.forward(xb, train=True)
        _, dlogits = self.loss.value_and_grad(logits, yb)
        model.backward(dlogits, input_grad=False)
        opt = self.config.optimizer
        optimizer = OPTIMIZERS.build(opt.spec())
        optimizer.setup(model.params(opt.weight_decay, opt.decay_bias))
        optimizer.step(self.base_lr)
        model.forward(xb, train=False)
        return time.perf_counter() - tick

    def finish(self, error: str | None = None) -> results.Run:
        from nnrun.model import save_model
        from nnrun.plots import plot_curves

        if self.best_arrays is not None and self.status != "failed":
            self.model.load_state_arrays(self.best_arrays, source="best weights")
        if self.status != "failed":
            save_model(self.model, self.run_dir / "model.npz", self.resolved["model"])
        summary = self.write_summary(error=error)
        results.atomic_write_text(self.run_dir / "summary.md", results.summary_markdown(summary))
        if self.progress.history:
            plot_curves(self.progress.history, self.run_dir / "curves.png", title=self.config.name)
        self.log(f"status {self.status}")
        self.reporter.finish(summary)
        return results.load_run(self.run_dir)

    def write_summary(self, error: str | None = None) -> dict[str, Any]:
        p = self.progress
        history = p.history
        best = next((row for row in history if row["step"] == p.best_step), None)
        summary = {
            "name": self.config.name,
            "run_dir": str(self.run_dir),
            "status": self.status,
            "epoch": p.epoch,
            "step": p.step,
            "total_steps": self.total_steps,
            "monitor": self.monitor,
            "monitor_mode": self.monitor_mode,
            "best_epoch": best["epoch"] if best else None,
            "best": best,
            "last": history[-1] if history else None,
            "restored_best": bool(self.best_arrays is not None and self.status in ("completed", "early_stopped")),
            "timings": {
                "jit_compile_seconds": round(self.jit_seconds, 3),
                "train_seconds": round(p.train_seconds, 3),
                "eval_seconds": round(p.eval_seconds, 3),
                "samples_per_sec": round(p.step * self.batch_size / p.train_seconds, 1) if p.train_seconds else None,
            },
            "seed": self.config.seed,
            "dtype": str(self.dtype),
            "threads": self.threads,
            "params": self.model.num_params(),
            "versions": getattr(self, "versions", None),
            "git_commit": getattr(self, "commit", None),
            "started_at": getattr(self, "started_at", None),
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if error:
            summary["error"] = error
        results.atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary

    def config_yaml(self) -> str:
        from nnrun.config import dump_yaml

        return dump_yaml(self.resolved)

    def log(self, line: str) -> None:
        # train.log is append-only: a crash can cost at most the line being written
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.run_dir / "train.log", "a") as handle:
            handle.write(f"{stamp} {line}\n")
