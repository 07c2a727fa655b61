"""Studies over a config: `nnrun sweep`, and `nnrun.sweep(...)` / `nnrun.load_sweep(path)` in Python.

space.py     the parameter points: a grid's combinations, or seeded random draws
tpe.py       Optuna's TPE as a library: the spec's distributions, a study rebuilt from results, asked
plan.py      the trials (point × seed), each validated as `nnrun train` would, its id a config hash
halving.py   successive halving and Hyperband: rungs, brackets, promotions, as pure functions
scheduler.py which trials run next and how far, from the trial folders
rounds.py    tpe's rounds: restored from rounds.json, told, asked when the rounds before have results
folder.py    the one writer of sweep.yaml, trials.csv, summary.csv/.md, rungs.csv and rounds.json
worker.py    one trial where an executor runs it: train, or resume what a killed attempt left
local.py     this machine: --workers spawned processes, each running one trial at a time
cluster.py   a Dask cluster (the optional dask extra)
summary.py   the tables: a row per trial, mean ± std per point, the best marked
progress.py  the live view
run.py       the driver: open or resume the folder, compile the points, run, write the tables

The package is `sweeps`, not `sweep`, so that `nnrun.sweep` stays the function.
"""

from nnrun.sweeps.run import open_study, sweep

__all__ = ["open_study", "sweep"]
