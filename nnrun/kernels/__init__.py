"""Numba kernels: plain @njit(cache=True) functions over contiguous arrays and ints.

Importing one kernel module imports them all, so that the guards on numba's on-disk cache in
nnrun/kernels/cache.py cover every kernel (a module added later included), whichever one a caller needs first.
"""

import importlib
import pkgutil

from numba.core.dispatcher import Dispatcher

from nnrun.kernels import cache

MODULES = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
cache.repair_unreadable_files(MODULES)
cache.compile_one_at_a_time(MODULES)
cache.check_cache_folder(importlib.import_module(f"{__name__}.loss").softmax_cross_entropy)


def compiles() -> int:
    """How many kernel signatures this process has compiled so far, rather than loaded from numba's cache."""
    return sum(
        sum(kernel.stats.cache_misses.values())
        for module in MODULES
        for kernel in vars(module).values()
        if isinstance(kernel, Dispatcher)
    )
