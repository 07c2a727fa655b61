"""`nnrun bench` (and benchmarks/bench.py): nnrun's training speed beside PyTorch and JAX, on the reports' models.

How it measures (benchmarks/README.md has the figures):
- Each framework trains each model in its own worker subprocess (worker.py), so each one's peak RSS
  (VmHWM) is its own. The parent (timing.py) drives the workers in turn, one repetition each,
  alternating which goes first, and never lets them run at once; on a shared, noisy machine the ratio of
  neighbouring repetitions stays meaningful.
- nnrun runs through `Trainer.train_step` of a Trainer built from a config, as `nnrun train` does: forward,
  loss, backward, Adam, accuracy bookkeeping. torch and JAX train the same networks (torch_models.py,
  jax_models.py: one jitted step, compiled before the warm-up). All take the same float32 batches from
  `nnrun.data.batches`, shuffled by generators of the same seed; torch wraps them with `torch.from_numpy`.
  A peer that is not installed (jax and optax are the `bench` extra) is reported as such, not run.
- A repetition is one epoch (or `batches` batches, extrapolated to an epoch); a warm-up of `warmup` batches
  before the repetitions (JIT compile, first allocations) is not timed. The figure is the median.
- Training FLOPs per epoch = 3 x forward FLOPs (nnrun's `model.summary()`) x examples: backward costs about
  twice the forward (one GEMM for the input gradient, one for the weight gradient per forward GEMM).
  Every framework is credited with the same count; the sgemm peak is a large np.matmul at the same threads.
- The roofline (roofline.py): each op of a training step takes the larger of its FLOPs over the sgemm peak
  and its compulsory bytes over the memory bandwidth, a STREAM-like triad at the same threads (bandwidth.py);
  the nnrun worker lists the ops of the model it trains. % of roofline = roofline time / measured time.
- Start-up: `nnrun --help`, and a fresh process to the end of the first batch of `nnrun.train` (probe.py).

Every worker imports this package, so it and the parent's modules import nothing heavy at module level.
"""

from nnrun.bench.models import MODELS
from nnrun.bench.table import markdown, report
from nnrun.bench.timing import BenchError, run, worker_env

__all__ = ["MODELS", "BenchError", "markdown", "report", "run", "worker_env"]
