"""Matrix products in generated code: one BLAS gemm helper, ``_matmul``, that reads
transposed operands in place (the values themselves are checked, every 1-d/2-d and
transposed combination, in tests/ops/test_linalg.py)."""
from __future__ import annotations

import re

import numpy as np

import symback as sb


def test_one_compilation_per_dtype_and_no_transposed_copies(tmp_path, monkeypatch):
    """Every product of a kernel -- forward X @ W.T, backward g @ W and g.T @ X --
    reaches one compilation of ``_matmul``: its flags are numpy bools, which Numba
    does not specialise on as it would on the literals True and False."""
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
    value, (gW, gV) = kernel(Wv, Vv, Xv)
    want = sb.evaluate([loss] + sb.grad(loss, [W, V]), {W: Wv, V: Vv, X: Xv})
    np.testing.assert_allclose(value, want[0], rtol=1e-13)
    np.testing.assert_allclose(gW, want[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gV, want[2], rtol=1e-12, atol=1e-14)
    h = np.tanh(Xv @ Wv.T)   # and against plain numpy
    np.testing.assert_allclose(value, np.tanh(h @ Vv.T).sum(), rtol=1e-13)
    sigs = kernel.module._matmul.signatures
    assert len(sigs) == 1, sigs


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
