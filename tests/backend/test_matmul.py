"""Matrix products in generated code: one BLAS gemm helper, ``_matmul``, that reads
transposed operands in place (the values themselves are checked, every 1-d/2-d and
transposed combination, in tests/ops/test_linalg.py)."""
from __future__ import annotations

import re

import numba
import numpy as np
import pytest

import symback as sb

from .helpers import compiled_during


def test_no_compilation_of_its_own_and_no_transposed_copies(tmp_path, monkeypatch):
    """Every product of a kernel -- forward X @ W.T, backward g @ W and g.T @ X --
    is one gemm call written in place by the ``_matmul`` intrinsic: Numba compiles
    no function for it (an njit helper was a compilation of its own, ~0.1 s)."""
    monkeypatch.setenv("SYMBACK_CACHE_DIR", str(tmp_path))   # compiled here, not loaded
    X, W = sb.var("X", (None, 3)), sb.var("W", (4, 3))
    V = sb.var("V", (2, 4))
    loss = sb.sum(sb.tanh(sb.tanh(X @ W.T) @ V.T))
    kernel = sb.value_and_grad(loss, [W, V], name="matmul_once")
    src = kernel.source
    assert "_matmul(X, _N, W, _T, _empty((X_d0, 4), np.float64))" in src
    assert not re.search(r"^\s*\w+ = \w+\.T$", src, re.M), "a transposed operand is a flag, not a view"
    rng = np.random.default_rng(0)
    Wv, Vv, Xv = rng.normal(size=(4, 3)), rng.normal(size=(2, 4)), rng.normal(size=(5, 3))
    compiled = _compiled(lambda: kernel(Wv, Vv, Xv))
    assert "_value_and_grad" in compiled and "_matmul" not in compiled, compiled
    value, (gW, gV) = kernel(Wv, Vv, Xv)
    want = sb.evaluate([loss] + sb.grad(loss, [W, V]), {W: Wv, V: Vv, X: Xv})
    np.testing.assert_allclose(value, want[0], rtol=1e-13)
    np.testing.assert_allclose(gW, want[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gV, want[2], rtol=1e-12, atol=1e-14)
    h = np.tanh(Xv @ Wv.T)   # and against plain numpy
    np.testing.assert_allclose(value, np.tanh(h @ Vv.T).sum(), rtol=1e-13)


def _compiled(call):
    """The Numba functions compiled while running ``call``."""
    return [f.__name__ for f in compiled_during(call)]


@pytest.fixture(scope="module")
def gemm():
    """The module's _matmul, called from a function of the test's own."""
    X, W = sb.var("X", (2, 3)), sb.var("W", (4, 3))
    module = sb.value_and_grad(sb.sum(X @ W.T), [W], name="matmul_direct").module

    @numba.njit
    def call(a, ta, b, tb, out):
        return module._matmul(a, ta, b, tb, out)
    return call


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_each_transposition_and_dtype_is_numpys_product(gemm, dtype, ta, tb):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 5) if ta else (5, 3)).astype(dtype)
    b = rng.normal(size=(4, 3) if tb else (3, 4)).astype(dtype)
    out = np.full((5, 4), np.nan, dtype)
    got = gemm(a, np.bool_(ta), b, np.bool_(tb), out)
    assert got is out or np.shares_memory(got, out)
    np.testing.assert_allclose(out, (a.T if ta else a) @ (b.T if tb else b), rtol=1e-5 if dtype == "float32" else 1e-13)


def test_empty_operands_follow_numpy(gemm):
    out = np.full((2, 3), np.nan)
    gemm(np.ones((2, 0)), np.bool_(False), np.ones((0, 3)), np.bool_(False), out)
    assert np.array_equal(out, np.zeros((2, 3)))   # k = 0: a sum of nothing
    gemm(np.ones((0, 4)), np.bool_(False), np.ones((4, 3)), np.bool_(False), np.empty((0, 3)))


def test_strided_operands_are_checked_at_run_time(gemm):
    """An operand Numba types as maybe strided is checked when called: contiguous
    after all, it is used; strided, a ValueError names the rule."""
    a = np.arange(12.0).reshape(2, 6)
    out = np.empty((2, 2))
    gemm(a[:, 0:6], np.bool_(False), np.ones((6, 2)), np.bool_(False), out)   # typed "A", contiguous
    np.testing.assert_allclose(out, a @ np.ones((6, 2)))
    with pytest.raises(ValueError, match="C-contiguous"):
        gemm(a[:, ::2], np.bool_(False), np.ones((3, 2)), np.bool_(False), out)


def test_mixed_dtypes_are_a_typing_error(gemm):
    with pytest.raises(numba.core.errors.TypingError, match="_matmul"):
        gemm(np.ones((2, 2), np.float32), np.bool_(False), np.ones((2, 2)), np.bool_(False), np.empty((2, 2)))


def test_python_fallback_when_the_jit_is_off(tmp_path):
    """With NUMBA_DISABLE_JIT the module runs as Python: ``_matmul`` is numpy's."""
    import subprocess
    import sys
    X, W = sb.var("X", (2, 3)), sb.var("W", (4, 3))
    kernel = sb.value_and_grad(sb.sum(X @ W.T), [W], name="matmul_nojit")
    path = kernel.save(tmp_path / "matmul_nojit.py")
    code = (f"import importlib.util, numpy as np; spec = importlib.util.spec_from_file_location('m', {str(path)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "X, W = np.arange(6.).reshape(2, 3), np.ones((4, 3)); v, (g,) = m.value_and_grad(W, X); "
            "assert v == (X @ W.T).sum() and np.array_equal(g, np.tile(X.sum(0), (4, 1))), (v, g); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "NUMBA_DISABLE_JIT": "1"})
    assert done.stdout.strip() == "ok", done.stderr
