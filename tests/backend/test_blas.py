"""symback.backend.blas: Numba's BLAS made ready without ``import scipy.linalg``.

Run in a fresh interpreter each (the test process has SciPy imported already):
products come out as numpy's in float64 and float32, scipy.linalg is not
imported by the kernel, and afterwards the user's own imports of SciPy's BLAS
work as always."""
import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symback as sb
    out = {}
    for dtype in ("float64", "float32"):
        A, B = sb.var("A", (5, 3), dtype=dtype), sb.var("B", (3, 4), dtype=dtype)
        kernel = sb.compile([A @ B], [A, B], name="blas_preload_" + dtype)
        rng = np.random.default_rng(1)
        a, b = rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
        got = kernel(a, b)
        got = got[0] if isinstance(got, tuple) else got
        out[dtype] = float(np.max(np.abs(got - a @ b)))
    out["scipy.linalg imported by the kernels"] = "scipy.linalg" in sys.modules
    out["name left in sys.modules"] = "scipy.linalg.cython_blas" in sys.modules
    import scipy.linalg.cython_blas
    out["user's import has the C API"] = len(scipy.linalg.cython_blas.__pyx_capi__) > 100
    from scipy.linalg import blas
    out["scipy.linalg.blas works"] = bool(np.allclose(blas.dgemm(1.0, np.eye(2), np.ones((2, 2))), 1))
    print(json.dumps(out))
""")


def _run(script, tmp_path):
    env = {**os.environ, "SYMBACK_CACHE_DIR": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_products_are_right_without_importing_scipy_linalg(tmp_path):
    out = _run(SCRIPT, tmp_path)
    assert out["float64"] < 1e-12 and out["float32"] < 1e-5, out
    assert out["scipy.linalg imported by the kernels"] is False
    assert out["name left in sys.modules"] is False
    assert out["user's import has the C API"] and out["scipy.linalg.blas works"]


def test_nothing_changes_when_scipy_linalg_came_first(tmp_path):
    out = _run("import scipy.linalg\n" + SCRIPT, tmp_path)
    assert out["float64"] < 1e-12 and out["float32"] < 1e-5, out
    assert out["scipy.linalg imported by the kernels"] is True   # (by the user, first)
