"""Sets the thread count of the OpenBLAS under numpy at run time, in this process.

OpenBLAS reads OPENBLAS_NUM_THREADS / OMP_NUM_THREADS once, when it is loaded. In a Ray
Serve replica, Ray sets OMP_NUM_THREADS to the replica's whole `num_cpus` (at least 1)
unless the environment already has it, so the count would follow `num_cpus`, the
cluster's environment and whatever loaded numpy first; setting the variables from the
deployment's code is too late once numpy is loaded. Instead this calls OpenBLAS's own
`openblas_set_num_threads`, as threadpoolctl does, in every OpenBLAS the process has
loaded (found in /proc/self/maps, so on Linux only). Its name depends on the build:
numpy's wheels ship `scipy_openblas_set_num_threads64_`. OpenBLAS caps the count at the
64 threads it was built for, not at the machine's cores.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy  # noqa: F401  (loads numpy's OpenBLAS, so that it can be found)

# (set, get) pairs, as OpenBLAS builds name them.
_SYMBOLS = [
    (
        f"{prefix}openblas_set_num_threads{suffix}",
        f"{prefix}openblas_get_num_threads{suffix}",
    )
    for prefix in ("", "scipy_")
    for suffix in ("", "64_")
]


def _openblas() -> list[tuple[Callable, Callable]]:
    """(set, get) thread-count functions of every OpenBLAS mapped into this process."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    functions = []
    for path in sorted(p for p in paths if p.startswith("/")):
        lib = ctypes.CDLL(path)
        for set_name, get_name in _SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                functions.append((getattr(lib, set_name), getattr(lib, get_name)))
                break
    return functions


def set_blas_threads(threads: int) -> int | None:
    """Makes every loaded OpenBLAS use `threads` threads; returns `blas_threads()`."""
    for set_threads, _ in _openblas():
        set_threads(threads)
    return blas_threads()


def blas_threads() -> int | None:
    """The thread count the loaded OpenBLAS reports (the smallest, if several are
    loaded), or None when there is none to ask."""
    return min((get_threads() for _, get_threads in _openblas()), default=None)
