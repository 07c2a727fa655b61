"""nnrun.runs: the training loop, pauses and resumes, compiling ahead, the numba cache, per-layer diagnostics."""
