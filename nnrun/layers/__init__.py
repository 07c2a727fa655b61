"""Layer families, one module each; importing this package registers every layer in `nnrun.registry.LAYERS`.

Every module in this folder is imported here, so a new family registers by being a file: no list to edit.
"""

import importlib
import pkgutil

from nnrun.layers.base import BuildContext, Layer

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BuildContext", "Layer"]
