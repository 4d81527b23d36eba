"""Numba's BLAS without importing all of scipy.linalg: 0.15 s off every first call.

Why: the generated ``_matmul`` calls SciPy's BLAS through Numba (``numba_xxgemm``),
which finds ``dgemm`` in ``scipy.linalg.cython_blas``.  Importing that module by
name imports the package ``scipy.linalg`` first, and with it LAPACK, numpy.f2py,
numpy.testing and SciPy's array-API layer: 0.15-0.2 s of a 1.5 s first call
(W4), paid twice by Numba (its BLAS check when it first compiles anything, and
the C-level look-up of each gemm at the first call).  The BLAS module itself is
one extension file that needs none of that.

:func:`preload` loads that file alone, under its own name, for the moment Numba
needs it: Numba's BLAS check, and the look-up of ``dgemm`` and ``sgemm`` (made
now, by a BLAS call with nothing to multiply).  It then takes the name out of
``sys.modules`` again, so that a later ``import scipy.linalg`` or ``import
scipy.linalg.cython_blas`` by the user runs as it always does (Python hands back
the same, already loaded, extension module).  It does nothing if scipy.linalg is
already imported, if Numba has already checked its BLAS, or if anything about
the file is not as expected: then Numba imports SciPy its own way, as before.
Numba's check that SciPy's BLAS integers are as wide as its own still runs.
Generated modules imported without symback do not do this (they stay plain).
"""
import importlib.machinery
import importlib.util
import os
import sys

_NAME = "scipy.linalg.cython_blas"
_done = False


def preload():
    """Make Numba's BLAS ready without ``import scipy.linalg`` (once per process)."""
    global _done
    if _done:
        return
    _done = True
    if "scipy.linalg" in sys.modules or _NAME in sys.modules or "numba.np.arraymath" in sys.modules:
        return   # SciPy is imported already, or Numba has done its check
    module = _load_alone()
    if module is None:
        return
    sys.modules[_NAME] = module
    try:
        import numba.np.arraymath   # noqa: F401  Numba's BLAS check (it runs on Numba's first compile anyway)
        _look_up_gemm()
    except Exception:   # leave it to Numba's own import at the first call
        pass
    finally:
        if sys.modules.get(_NAME) is module:
            del sys.modules[_NAME]


def _load_alone():
    """scipy/linalg/cython_blas.<ext> loaded without its package, or None."""
    try:
        import scipy
        folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "cython_blas" + suffix)
            if os.path.isfile(path):
                spec = importlib.util.spec_from_file_location(_NAME, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module if hasattr(module, "__pyx_capi__") else None
    except Exception:   # no SciPy, or a layout this does not know: Numba's way
        return None
    return None


def _look_up_gemm():
    """Numba caches each gemm's address at its first call: call it now, for an
    empty product (BLAS returns at once when m = n = 0), while the name is set."""
    import ctypes
    from numba import _helperlib
    size, ptr = ctypes.c_ssize_t, ctypes.c_void_p
    xxgemm = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char, ctypes.c_char, ctypes.c_char, size, size, size,
                              ptr, ptr, size, ptr, size, ptr, ptr, size)(_helperlib.c_helpers["xxgemm"])
    for kind, scalar in ((b"d", ctypes.c_double), (b"s", ctypes.c_float)):
        one, zero, dummy = scalar(1), scalar(0), scalar(0)
        status = xxgemm(kind, b"n", b"n", 0, 0, 0, ctypes.byref(one), ctypes.byref(dummy), 1,
                        ctypes.byref(dummy), 1, ctypes.byref(zero), ctypes.byref(dummy), 1)
        if status != 0:
            raise RuntimeError(f"numba_xxgemm({kind}) returned {status}")
