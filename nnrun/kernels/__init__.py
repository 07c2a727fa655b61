"""Numba kernels: plain @njit(cache=True) functions over contiguous arrays and ints.

Importing one kernel module imports them all, so that the guards on numba's on-disk cache in
nnrun/kernels/cache.py cover every kernel (a module added later included), whichever one a caller needs first.
"""

import importlib
import pkgutil

from nnrun.kernels import cache

_modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
cache.repair_unreadable_files(_modules)
cache.check_cache_folder(importlib.import_module(f"{__name__}.loss").softmax_cross_entropy)
