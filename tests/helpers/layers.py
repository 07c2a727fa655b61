"""Building a single layer outside a model, as Sequential does: a BuildContext with seeded streams."""

from __future__ import annotations

import numpy as np

from nnrun.layers.base import BuildContext


def build_context(dtype=np.float64, seed=0, noise_seed=1) -> BuildContext:
    """What layer.build needs: initial weights from default_rng(seed), dropout masks from default_rng(noise_seed)."""
    return BuildContext(
        dtype=np.dtype(dtype), init_rng=np.random.default_rng(seed), noise_rng=np.random.default_rng(noise_seed)
    )
