"""The training loop: mini-batches, evaluation, early stopping and checkpoints, written into a RunFolder.

`train(config)` is the Python API behind `nnrun train` (nnrun.runs.resuming continues a run). `until` pauses a
run at that point of its budget (epochs, or steps with train.max_steps), with a checkpoint there and status
`paused`: a sweep's halving schedule trains its trials rung by rung so, and a paused run resumed to its end
equals one trained straight, since what depends on the budget (a schedule, the last evaluation) is computed
from the config's.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrun import kernels
from nnrun.config import Config, config_from_dict, load_config, metric_direction
from nnrun.data import Dataset, batches, load_dataset
from nnrun.errors import ConfigError, DataError, RunError, TrainingDiverged, WriteError
from nnrun.io import format_value
from nnrun.losses import l2_penalty
from nnrun.model import Sequential, check_fits
from nnrun.optimizers import clip_grad_norm
from nnrun.registry import LOSSES, OPTIMIZERS, SCHEDULES
from nnrun.results import FINISHED, Run, improves, load_run
from nnrun.runs.compiling import compile_model
from nnrun.runs.diagnostics import Probe
from nnrun.runs.evaluate import evaluate
from nnrun.runs.folder import RESULTS_ROOT, RunFolder
from nnrun.runs.progress import Reporter, RunStart, Silent
from nnrun.runtime import configure_threads, git_commit, machine, versions

DataLoad = Callable[[dict[str, Any], int], Dataset]  # (the data section, the seed) -> the dataset


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


def train(
    config: Config | dict[str, Any] | str | Path,
    overrides=(),
    *,
    out: str | Path | None = None,
    results_root: str | Path = RESULTS_ROOT,
    reporter: Reporter | None = None,
    plot: bool = True,
    until: int | None = None,
    load: DataLoad = load_dataset,
) -> Run:
    """Train from a Config, a config path or a raw dict. Nothing is left behind unless the config and data check out.

    `plot=False` leaves out curves.png (the figures can be drawn later with `nnrun plot`); `until` pauses the
    run there (in epochs, or steps with train.max_steps; see the module's docstring); `load(data, seed)` gives
    the dataset (a sweep's worker keeps the last ones it loaded)."""
    if isinstance(config, Config):
        if overrides:
            config = config_from_dict(config.resolved(), overrides=overrides)
    elif isinstance(config, dict):
        config = config_from_dict(config, overrides=overrides)
    else:
        config = load_config(config, overrides)
    folder = RunFolder.create(config.name, config.resolved(), out=out, root=results_root)
    try:
        trainer = Trainer(config, folder, reporter, plot=plot, load=load)
        pause = trainer.pause_step(until)
    except BaseException:
        folder.discard()  # the data or the model did not check out: the empty folder goes too
        raise
    return trainer.fit(pause)


class Trainer:
    """One run: built from its config (data, model, loss, optimizer), trained into its folder by `fit`.

    Construction loads and checks everything and writes nothing; `fit` writes every file through `folder`.
    """

    def __init__(
        self,
        config: Config,
        folder: RunFolder,
        reporter: Reporter | None = None,
        *,
        plot: bool = True,
        load: DataLoad = load_dataset,
    ):
        self.config = config
        self.plot = plot  # draw curves.png at the end
        self.resolved = config.resolved()
        self.folder = folder
        self.reporter = reporter or Silent()
        self.dtype = np.dtype(config.dtype)
        self.threads = configure_threads(config.train.threads)

        model_seed, shuffle_seed, augment_seed = np.random.SeedSequence(config.seed).spawn(3)
        self.dataset = load(self.resolved["data"], config.seed)
        if "train" not in self.dataset.splits or len(self.dataset.splits["train"].y) == 0:
            raise DataError(f"dataset '{self.dataset.name}' has no training examples", where="data")
        n_train = len(self.dataset.splits["train"].y)
        if config.train.batch_size > n_train:
            raise ConfigError(
                f"a batch of {config.train.batch_size} is larger than the {n_train} training examples of "
                f"'{self.dataset.name}'",
                where="train.batch_size",
                hint=f"lower train.batch_size to at most {n_train} ({n_train} trains full-batch)",
            )
        self.loss = LOSSES.build(self.resolved["loss"], where="loss")
        self.loss.check_targets(self.dataset.num_classes)
        self.model = Sequential.from_config(self.resolved["model"], dtype=self.dtype, seed=model_seed)
        check_fits(self.model, self.loss, self.dataset.input_shape, self.dataset.num_classes)

        opt = config.optimizer
        self.optimizer = OPTIMIZERS.build(opt.spec(), where="optimizer")
        self.params = self.model.params(opt.weight_decay, opt.decay_bias)
        self.optimizer.setup(self.params)
        self.clip_norm = opt.clip_norm
        self.schedule = SCHEDULES.build(opt.schedule, where="optimizer.schedule")
        self.base_lr = float(opt.lr)
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        self.augment = self.dataset.augment  # data.augment: applied to training batches only
        self.augment_rng = np.random.default_rng(augment_seed)

        tc = config.train
        self.batch_size = tc.batch_size
        self.n_train = len(self.dataset.splits["train"].y)
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.total_steps = tc.max_steps or tc.epochs * self.steps_per_epoch
        self.total_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.eval_every = tc.eval_every or self.steps_per_epoch
        self.stopping = tc.early_stopping
        if self.stopping:
            self.monitor, self.monitor_mode = self.stopping.monitor, self.stopping.direction()
        else:  # no early stopping: `best` in the summary is still the best evaluation by this metric
            self.monitor = "val_loss" if "val" in self.dataset.splits else "train_loss"
            self.monitor_mode = metric_direction(self.monitor)
        self.resource = "steps" if tc.max_steps else "epochs"  # what `until` counts
        self.epoch_shuffle = self.shuffle_rng.bit_generator.state  # the order's generator as this epoch began
        self.checkpointed: int | None = None  # the step of the last checkpoint written or restored
        self.best_arrays: dict[str, np.ndarray] | None = None
        self.probe = Probe(self.model, self.dataset.splits["train"]) if tc.diagnostics else None
        self.diagnostics: list[dict[str, Any]] = []  # diagnostics.csv's rows
        self.progress = Progress()
        self.jit_seconds = 0.0
        self.status = "running"
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # a resumed run keeps its first
        self.extended: list[dict[str, Any]] = []  # each budget it was continued to (nnrun.runs.resuming)
        self.versions = versions()
        self.machine = machine()
        self.commit = git_commit()

    def pause_step(self, until: int | None) -> int | None:
        """The step at which to pause for `until` (epochs or steps, as the config trains by); None to run to
        the end. A pause must fall on an evaluation: the decision it serves reads that evaluation."""
        if until is None:
            return None
        step = until * self.steps_per_epoch if self.resource == "epochs" else until
        if step >= self.total_steps:
            return None
        if until <= 0 or step <= self.progress.step:
            raise RunError(f"cannot pause at {self.resource} {until}: the run is already at step {self.progress.step}")
        if not self.evaluates_after(step):
            raise RunError(
                f"cannot pause at {self.resource} {until} (step {step}): the run evaluates every "
                f"{self.eval_every} steps, and a pause must fall on an evaluation",
                hint="pause at a multiple of train.eval_every, or change train.eval_every",
            )
        return step

    # --- checkpoint ---------------------------------------------------------------------------
    def checkpoint(self) -> None:
        p = self.progress
        # mid-epoch (a pause at a step), the generator as the epoch began: the resumed run draws the same
        # order again and skips the batches done; at an epoch's end the current state starts the next
        mid_epoch = p.step % self.steps_per_epoch != 0
        state = {
            "epoch": p.epoch, "step": p.step, "seen": p.seen, "loss_sum": p.loss_sum, "correct": p.correct,
            "best_value": p.best_value, "best_step": p.best_step, "wait": p.wait,
            "train_seconds": p.train_seconds, "eval_seconds": p.eval_seconds,
            "shuffle_rng": self.epoch_shuffle if mid_epoch else self.shuffle_rng.bit_generator.state,
            "noise_rng": self.model.noise_rng.bit_generator.state,
            "augment_rng": self.augment_rng.bit_generator.state,
        }  # fmt: skip
        arrays = {f"model/{k}": v for k, v in self.model.state_arrays().items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        if self.best_arrays is not None:
            arrays.update({f"best/{k}": v for k, v in self.best_arrays.items()})
        self.folder.save_checkpoint(arrays, state)
        self.checkpointed = p.step

    def restore(self) -> None:
        """Continue from the folder's checkpoint.npz: weights, optimizer state, RNG states, counters, rows."""
        arrays, state = self.folder.load_checkpoint()
        self.model.load_state_arrays(
            {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")},
            source=str(self.folder.checkpoint_path),
        )
        self.optimizer.load_state_dict({k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")})
        best = {k[len("best/") :]: v for k, v in arrays.items() if k.startswith("best/")}
        self.best_arrays = best or None
        self.shuffle_rng.bit_generator.state = state["shuffle_rng"]
        self.model.noise_rng.bit_generator.state = state["noise_rng"]
        self.augment_rng.bit_generator.state = state["augment_rng"]
        history, timing = self.folder.read_metrics()
        p = self.progress
        for key in ("epoch", "step", "seen", "loss_sum", "correct", "best_value", "best_step", "wait",
                    "train_seconds", "eval_seconds"):  # fmt: skip
            setattr(p, key, state[key])
        self.checkpointed = p.step
        # rows written after the checkpoint belong to the lost part of the run; they are redone
        p.history = [row for row in history if row["step"] <= p.step]
        p.timing = [row for row in timing if row["step"] <= p.step]
        self.diagnostics = [row for row in self.folder.read_diagnostics() if row["step"] <= p.step]

    # --- the loop -------------------------------------------------------------------------------
    def fit(self, pause: int | None = None) -> Run:
        """Train to the end, or to step `pause` (see pause_step); a write that fails (disk full) marks the run
        failed where the disk still allows it."""
        try:
            return self._fit(pause)
        except WriteError as error:
            self.status = "failed"
            with contextlib.suppress(WriteError):  # a full disk may not take even the summary
                self.write_summary(error=error.message())
                self.folder.log(f"status failed: {error.what}")
            hints = [error.hint] if error.hint else []
            if self.folder.checkpoint_path.is_file():
                hints.append(f"then `nnrun train --resume {self.folder.path}` continues from its last checkpoint")
            raise WriteError(error.what, hint="; ".join(hints) or None, errno=error.errno) from None

    def _fit(self, pause: int | None) -> Run:
        self.folder.write_config(self.resolved)
        step = self.progress.step
        self.folder.log(f"run {self.folder.path} ({'resumed at step %d' % step if step else 'new'})")
        for note in self.dataset.notes:
            self.folder.log(f"data: {note}")
        self.write_summary()
        self.reporter.start(
            RunStart(
                name=self.config.name,
                run_dir=self.folder.path,
                params=self.model.num_params(),
                train_examples=self.n_train,
                total_steps=self.total_steps,
                step=step,
                threads=self.threads,
            )
        )
        if self.config.sweep is not None and not step:
            ignored = "the config's sweep: section is ignored by a single run; `nnrun sweep CONFIG` runs the study"
            self.folder.log(ignored)
            self.reporter.message(ignored)
        compiled = kernels.compiles()
        self.jit_seconds = self.compile()
        if kernels.compiles() > compiled:
            self.reporter.message(
                f"compiled the model's kernels for this CPU in {self.jit_seconds:.1f} s, once: numba caches them "
                "(`nnrun compile` compiles every kernel ahead)"
            )
        self.reporter.compiled(self.jit_seconds)

        p = self.progress
        train_split = self.dataset.splits["train"]
        stop = False
        done = p.step - p.epoch * self.steps_per_epoch  # batches of this epoch trained before a mid-epoch pause
        try:
            while p.step < self.total_steps and not stop and p.step != pause:
                left = min(self.steps_per_epoch - done, self.total_steps - p.step)
                self.reporter.epoch_start(p.epoch, left)
                tick = time.perf_counter()
                order = self.shuffle_rng if self.config.train.shuffle else None
                self.epoch_shuffle = self.shuffle_rng.bit_generator.state
                for xb, yb in batches(
                    train_split, self.batch_size, self.dtype, rng=order, start=done, **self.augmenting()
                ):
                    self.train_step(xb, yb)
                    if self.evaluates_after(p.step):
                        p.train_seconds += time.perf_counter() - tick
                        stop = self.evaluate_and_record()
                        tick = time.perf_counter()
                    if stop or p.step == self.total_steps or p.step == pause:
                        break
                done = 0
                p.train_seconds += time.perf_counter() - tick
                self.reporter.epoch_end()
                if p.step % self.steps_per_epoch == 0:
                    p.epoch += 1
                    if (self.config.train.checkpoint or p.step == pause) and not stop:
                        self.checkpoint()
            if not stop and self.checkpointed != p.step and (p.step == pause or self.config.train.checkpoint):
                self.checkpoint()  # a pause mid-epoch; or the last step, which a longer budget continues from
        except TrainingDiverged as error:
            self.status = "failed"
            self.finish(error=error.message())
            raise
        except WriteError:
            raise  # fit marks the run failed
        except BaseException as error:  # KeyboardInterrupt included: leave an honest summary behind
            self.status = "interrupted"
            self.write_summary(error=f"{type(error).__name__}: {error}")
            raise
        if p.step == pause and not stop:
            self.status = "paused"
        else:
            self.status = "early_stopped" if stop else "completed"
        return self.finish()

    def augmenting(self) -> dict[str, Any]:
        """Keyword arguments for `batches` that turn on data.augment, when the config asks for it."""
        return {"augment": self.augment, "augment_rng": self.augment_rng} if self.augment is not None else {}

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> None:
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
        if self.probe is not None and self.evaluates_after(p.step + 1):
            self.probe.before_step()
        self.optimizer.step(lr)
        p.step += 1
        n = len(yb)
        p.seen += n
        p.loss_sum += value * n
        correct = int(np.count_nonzero(self.loss.predict(logits) == yb))
        p.correct += correct
        self.reporter.batch(value, correct / n, n)

    def evaluates_after(self, step: int) -> bool:
        return step % self.eval_every == 0 or step == self.total_steps

    def lr(self, step: int | None = None) -> float:
        """The rate for the optimizer step that follows `step` completed ones (default: the current step)."""
        step = self.progress.step if step is None else step
        epoch = step // self.steps_per_epoch
        return float(self.schedule.lr(self.base_lr, epoch, step, self.steps_per_epoch, self.total_steps))

    def evaluate_and_record(self) -> bool:
        """Evaluate every split, append a metrics row, and say whether early stopping ends the run."""
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
                result = evaluate(self.model, self.loss, self.dataset.splits[split], self.config.train.eval_batch_size)
                row[f"{split}_loss"], row[f"{split}_acc"] = result.loss, result.accuracy
        p.eval_seconds += time.perf_counter() - tick
        samples_per_sec = p.seen / max(p.train_seconds - self.last_train_seconds(), 1e-9)
        p.seen, p.loss_sum, p.correct = 0, 0.0, 0
        self.append_row(row, samples_per_sec)
        if self.probe is not None:
            self.diagnostics += self.probe.rows(row["epoch"], p.step)
            self.folder.write_diagnostics(self.diagnostics)
        diverged = [k for k, v in row.items() if k.endswith("_loss") and v is not None and not math.isfinite(v)]
        if diverged:
            raise TrainingDiverged(
                f"{', '.join(diverged)} became non-finite at the evaluation of step {p.step}",
                hint="lower optimizer.lr, set optimizer.clip_norm, or check the data scaling",
            )
        self.reporter.evaluation(row)
        self.folder.log(" ".join(f"{k}={format_value(v)}" for k, v in row.items()))
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
        self.folder.write_metrics(p.history, p.timing)

    def early_stopping(self, row: dict[str, Any]) -> bool:
        p = self.progress
        value = row.get(self.monitor)
        if value is None:
            return False
        delta = self.stopping.min_delta if self.stopping else 0.0
        if improves(value, p.best_value, self.monitor_mode, delta):
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

    # --- compiling, end, files ------------------------------------------------------------------
    def compile(self) -> float:
        """Compile the model's kernels on two training examples, so that compile time is measured apart from training."""
        xb, yb = next(batches(self.dataset.splits["train"], 2, self.dtype))
        # in as many processes as the run has threads: a sweep's workers share the cores between them
        return compile_model(self.model, self.loss, self.config, xb, yb, jobs=self.threads)

    def finish(self, error: str | None = None) -> Run:
        if self.best_arrays is not None and self.status != "failed":
            self.model.load_state_arrays(self.best_arrays, source="best weights")
        if self.status != "failed":
            self.folder.save_model(self.model, self.resolved["model"])
        summary = self.write_summary(error=error, markdown=True)
        if self.plot and self.progress.history and self.status != "paused":
            self.folder.draw_figures()  # a paused run's curves come at its end, or from `nnrun plot`
        at = f" at step {self.progress.step} (epoch {self.progress.epoch})" if self.status == "paused" else ""
        self.folder.log(f"status {self.status}{at}")
        self.reporter.finish(summary)
        return load_run(self.folder.path)

    def write_summary(self, error: str | None = None, *, markdown: bool = False) -> dict[str, Any]:
        p = self.progress
        history = p.history
        best = next((row for row in history if row["step"] == p.best_step), None)
        summary = {
            "name": self.config.name,
            "run_dir": str(self.folder.path),
            "status": self.status,
            "epoch": p.epoch,
            "step": p.step,
            "total_steps": self.total_steps,
            "monitor": self.monitor,
            "monitor_mode": self.monitor_mode,
            "best_epoch": best["epoch"] if best else None,
            "best": best,
            "last": history[-1] if history else None,
            "restored_best": bool(self.best_arrays is not None and self.status in (*FINISHED, "paused")),
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
            "versions": self.versions,
            "machine": self.machine,
            "git_commit": self.commit,
            "started_at": self.started_at,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.extended:
            summary["extended"] = self.extended
        if error:
            summary["error"] = error
        self.folder.write_summary(summary, markdown=markdown)
        return summary
