"""Numba kernels: plain @njit(cache=True) functions over contiguous arrays and ints."""
