"""Layer families; importing this package registers every layer in `nnrun.registry.LAYERS`."""

from nnrun.layers import activations, conv, dense, dropout, norm, pool, reshape  # noqa: F401  (registration)
from nnrun.layers.base import BuildContext, Layer

__all__ = ["BuildContext", "Layer"]
