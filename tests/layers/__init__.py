"""Layers and their kernels: against NumPy references, numerical gradients, shapes and configs."""
