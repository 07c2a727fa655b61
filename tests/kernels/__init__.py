"""Properties that every numba kernel must keep, checked across nnrun/kernels rather than kernel by kernel."""
