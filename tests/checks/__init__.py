"""nnrun.checks: float64 gradient checks, the sanity checks and verify."""
