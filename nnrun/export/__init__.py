"""`nnrun export`: run and sweep folders copied into the trackers people already use. Like report/, these modules
read folders and never train; the folders stay the source of truth, and exporting again brings the copy up to date.

  folders.py       the PATHs walked into runs and sweeps, every one read and checked before anything is written;
                   what both trackers take from a folder (its id, params, times, figures); ExportError
  mlflow.py        `--to mlflow`: one MLflow run per nnrun run, a sweep as a parent run with its trials as children
  tensorboard.py   `--to tensorboard`: event files per run (scalars, config text, figures), HParams for sweeps

The trackers' packages are optional extras (`nnrun[mlflow]`, `nnrun[tensorboard]`), imported only when an export
runs, so that `nnrun --help` and training never load them. docs/trackers.md has the mapping.
"""
