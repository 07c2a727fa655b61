"""Layers and optimizers against PyTorch (skipped when torch is not importable)."""
