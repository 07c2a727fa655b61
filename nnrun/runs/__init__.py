"""One run's lifecycle: `nnrun train`, `nnrun eval`, and `nnrun.train(...)` in Python.

trainer.py     the loop: epochs or steps, evaluation, early stopping, checkpoints, pauses at a rung
resuming.py    continuing a run: after a kill, from a pause, past its budget
folder.py      the run folder's one writer: config, metrics, diagnostics, summary, log, checkpoint, model
progress.py    console progress of a run (Reporter, Silent, RichReporter)
evaluate.py    a model on a split; a finished run's saved model on any split
diagnostics.py per-layer statistics on a fixed batch, for `train.diagnostics: true` (diagnostics.csv)
compiling.py   numba's kernels compiled ahead: a run's model before its first batch, a sweep's points,
               `nnrun compile`'s catalog in parallel processes
"""
