"""Guards on numba's on-disk cache of the kernels (cache=True), which nnrun/kernels/__init__.py applies to all.

numba skips a NUMBA_CACHE_DIR it cannot write to without a word, and ends the run with a traceback on a
cache file it cannot unpickle (numba issue #10434, open in 0.68). Here the first is reported in one line and
the second is a cache miss: the kernel is compiled again and its file rewritten, with one line saying so.

Processes that need one kernel at once (a sweep's workers, `nnrun compile`'s, two runs started together)
would each compile it, seconds of work apiece. A lock file beside the kernel's cache index lets one
compile while the others wait, then load what it saved.

To compile in parallel processes, a process must know which (kernel, type signature) pairs a pass over a
model calls before it has compiled any of them: `listing_uncached` runs such a pass with every kernel
left out, and `compile_uncached` is what each process then does with the list (nnrun/runs/compiling.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import numba
from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher

try:
    import fcntl
except ImportError:  # not POSIX: processes may compile a kernel twice, which costs time and nothing else
    fcntl = None
LOCKING = fcntl is not None


class RepairingCacheFile(IndexDataCacheFile):
    """numba's index and data files for one kernel, where a file that cannot be unpickled counts as missing."""

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception as error:  # whatever a damaged pickle raises; compiling again is always possible
            _unreadable(self._index_path, error)
            return {}  # as for a missing index: the next save writes a whole new one

    def load(self, key):
        data_name = self._load_index().get(key)
        if data_name is None:
            return None
        try:
            return self._load_data(data_name)
        except OSError:  # removed since the index was read: numba's own miss
            return None
        except Exception as error:
            _unreadable(self._data_path(data_name), error)
            return None


_reported: set[str] = set()  # a broken index is read twice, before the compile and at the save after it


def _unreadable(path: str, error: Exception) -> None:
    if path not in _reported:
        _reported.add(path)
        warnings.warn(f"numba's cache file {path} is unreadable ({error}): compiling the kernel again", stacklevel=2)


def repair_unreadable_files(modules: Iterable[ModuleType]) -> None:
    """Make every cached kernel in `modules` compile again where a cache file of its cannot be read."""
    for module in modules:
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher) and isinstance(kernel._cache, FunctionCache):
                # its class only, not a new object: the file keeps the paths and source stamp numba worked out
                kernel._cache._cache_file.__class__ = RepairingCacheFile


def compile_one_at_a_time(modules: Iterable[ModuleType]) -> None:
    """Make a process that compiles or loads a kernel of `modules` wait while another process compiles it.

    numba calls a dispatcher's `compile` once per new signature, before looking in its cache; the wrapper
    holds the kernel's lock file around that call. numba's own compiler lock is taken first: a thread of
    this process could otherwise hold one lock and wait for the other.
    """
    for module in modules:
        for name, kernel in vars(module).items():
            if isinstance(kernel, Dispatcher) and isinstance(kernel._cache, FunctionCache):
                _KERNELS[f"{module.__name__}.{name}"] = kernel
                kernel.compile = _locked(kernel, f"{module.__name__}.{name}")


_KERNELS: dict[str, Dispatcher] = {}  # "module.name" -> kernel, for a list sent to another process


def kernel(name: str) -> Dispatcher:
    """The kernel named "module.name" (nnrun.kernels.loss.softmax_cross_entropy), as `listing_uncached` names it."""
    return _KERNELS[name]


class KernelBusy(Exception):
    """Another process is compiling the kernel called, and the caller asked not to wait (`skip_busy`)."""


# per thread: skip (raise KernelBusy rather than wait), depth (compiles under way), listing (the list
# `listing_uncached` fills, or None)
_state = threading.local()


@contextlib.contextmanager
def skip_busy(enabled: bool = True):
    """Inside, calling a kernel that another process is compiling raises KernelBusy instead of waiting.

    Only for a call from Python: a kernel called by one being compiled is waited for (the caller's compile
    cannot be left halfway).
    """
    before = getattr(_state, "skip", False)
    _state.skip = enabled
    try:
        yield
    finally:
        _state.skip = before


def _locked(kernel: Dispatcher, name: str):
    compile_ = kernel.compile
    path = kernel._cache._cache_file._index_path + ".lock"

    @functools.wraps(compile_)
    def compile_locked(sig):
        listing = getattr(_state, "listing", None)
        if listing is not None and not global_compiler_lock.is_locked():  # a call from Python, not from a compile
            if (name, sig) not in listing and not in_cache(kernel, sig):
                listing.append((name, sig))
            return _left_out
        with global_compiler_lock:
            depth = getattr(_state, "depth", 0)
            with _file_lock(path, wait=depth > 0 or not getattr(_state, "skip", False)):
                _state.depth = depth + 1
                try:
                    return compile_(sig)
                finally:
                    _state.depth = depth

    return compile_locked


def _left_out(*args) -> float:
    return 0.0  # the loss and sum_squares return a float; every other kernel writes into arrays


@contextlib.contextmanager
def listing_uncached():
    """Inside, a kernel called from Python is left out: the call does nothing and returns 0.0, and (kernel
    name, signature) is added to the list yielded, in call order, when numba's cache lacks it.

    Only in a process that has loaded no kernel yet (`any_loaded`): numba calls a loaded kernel without
    asking, and it would read arrays that left-out kernels never wrote (indices among them).
    """
    if any_loaded():
        raise RuntimeError("a kernel is loaded in this process already: it would run on arrays never written")
    listed: list[tuple[str, Any]] = []
    before = getattr(_state, "listing", None)
    _state.listing = listed
    try:
        yield listed
    finally:
        _state.listing = before


def any_loaded() -> bool:
    """Whether this process has compiled, or loaded from numba's cache, a kernel for some signature."""
    return any(kernel.overloads for kernel in _KERNELS.values())


def in_cache(kernel: Dispatcher, sig: Any) -> bool:
    """Whether numba's cache holds `kernel` compiled for `sig` (the key numba's own lookup reads, its file not loaded)."""
    cache = kernel._cache
    try:
        return cache._index_key(sig, kernel.targetctx.codegen()) in cache._cache_file._load_index()
    except Exception:  # an index that cannot be read counts as missing, as RepairingCacheFile makes it
        return False


def compile_uncached(listed: Sequence[tuple[str, Any]]) -> None:
    """Compile the listed (kernel name, signature) pairs that numba's cache lacks.

    Several processes can go through one list at once: each takes the first pair that is neither in the
    cache nor being compiled by another, until only such pairs are left, so that they share the work
    whatever each pair costs.
    """
    left = list(listed)
    first = 0  # the first pair left that is not being compiled by another process
    while first < len(left):
        name, sig = left[first]
        kernel = _KERNELS[name]
        if not in_cache(kernel, sig):
            try:
                with skip_busy():
                    kernel.compile(sig)
            except KernelBusy:
                first += 1
                continue
            except Exception:  # passed over: the caller's own pass over the model raises it where it belongs
                pass
        del left[first]
        first = 0  # from the top again: a pair that was busy may be in the cache by now


@contextlib.contextmanager
def _file_lock(path: str, wait: bool):
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # an unwritable cache folder: numba compiles without caching, and so without a lock
        yield
        return
    try:
        if fcntl is not None:
            try:  # released by the close, or by the kernel when the process dies
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KernelBusy(path) from None
        yield
    finally:
        os.close(fd)


def check_cache_folder(kernel: Dispatcher) -> None:
    """Warn when NUMBA_CACHE_DIR is set and numba caches `kernel` somewhere else: it could not write there."""
    folder = numba.config.CACHE_DIR
    used = kernel.stats.cache_path
    if not folder or os.path.realpath(used).startswith(os.path.realpath(folder) + os.sep):
        return
    reason = "not writable"
    try:  # numba's own test of a cache folder, for the reason it failed
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        reason = error.strerror or reason
    warnings.warn(
        f"NUMBA_CACHE_DIR {folder} cannot be written ({reason}): numba caches nnrun's kernels in {used} instead",
        stacklevel=2,
    )
