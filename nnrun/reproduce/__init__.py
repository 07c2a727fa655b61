"""`nnrun reproduce`: the five reports' experiments (configs/reports/) run locally, and
docs/reproductions.md written from their results beside the numbers the reports published."""
