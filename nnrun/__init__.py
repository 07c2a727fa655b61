"""nnrun: neural-network experiments from a YAML config, on NumPy and Numba."""

__version__ = "0.1.0"
