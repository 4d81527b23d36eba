"""Reshapes and contiguous copies in generated code: the module's ``_reshape`` and
``_contiguous`` intrinsics, which view a C-contiguous array in place with no
compilation of their own (Numba's ``a.reshape`` compiles a helper on first call,
~0.2 s, and ``np.ascontiguousarray`` an overload per type, ~0.07 s), and copy a
maybe strided one as before.  The ops' values are checked in tests/ops."""
from __future__ import annotations

import numba
import numpy as np
import pytest

import symback as sb

from .helpers import compiled_during


@pytest.fixture(scope="module")
def module():
    """A module that carries both helpers."""
    X, v = sb.var("X", (3, 4)), sb.var("v", (2,))
    kernel = sb.value_and_grad(sb.sum(X[:, 0:2] @ v), [v], name="reshape_direct")
    assert "_reshape(" in kernel.source and "_contiguous(" in kernel.source
    return kernel.module


@pytest.fixture(scope="module")
def reshape(module):
    @numba.njit
    def call(a, shape):
        return module._reshape(a, shape)
    return call


@pytest.fixture(scope="module")
def contiguous(module):
    @numba.njit
    def call(a):
        return module._contiguous(a)
    return call


A = np.arange(24.0).reshape(4, 6)
INPUTS = {"C": A, "strided": A[:, ::2], "A-typed, contiguous": A[1:3, 0:6], "1-d": A[1], "int": np.arange(6)}
SHAPES = [lambda n: (-1,), lambda n: (-1, 1), lambda n: (1, -1), lambda n: (2, -1), lambda n: (-1, 2),
          lambda n: (n // 2, 2, 1), lambda n: (1, n, 1, 1)]   # of an array of n elements


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("which", INPUTS)
def test_values_are_numpys(reshape, which, shape):
    a = INPUTS[which]
    shape = shape(a.size)
    got = reshape(a, shape)
    want = np.ascontiguousarray(a).reshape(shape)
    assert got.shape == want.shape and got.dtype == a.dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_sizes_given_at_run_time_and_an_int_shape(module):
    @numba.njit
    def call(a, n):
        return module._reshape(a, (n, -1)), module._reshape(a, n * a.shape[1])   # an int: a 1-d shape
    two_d, flat = call(A, 4)
    np.testing.assert_array_equal(two_d, A)
    np.testing.assert_array_equal(flat, A.reshape(-1))


def test_0d_and_from_a_scalar(module):
    @numba.njit
    def call(s, one):
        return module._reshape(s, (1, 1)), module._reshape(one, ())
    matrix, scalar = call(2.5, np.full((1, 1), 3.0))
    assert matrix.shape == (1, 1) and matrix[0, 0] == 2.5
    assert scalar.shape == () and scalar[()] == 3.0


def test_empty_arrays(reshape):
    assert reshape(np.empty((0, 3)), (-1,)).shape == (0,)
    assert reshape(np.empty((0, 3)), (3, 0)).shape == (3, 0)


def test_a_c_contiguous_array_is_viewed_in_place(reshape, contiguous):
    a = A.copy()
    view = reshape(a, (-1,))
    assert np.shares_memory(view, a)
    view[0] = -1.0
    assert a[0, 0] == -1.0
    assert contiguous(a) is a or np.shares_memory(contiguous(a), a)
    strided = contiguous(a[:, ::2])
    assert strided.flags.c_contiguous and not np.shares_memory(strided, a)
    np.testing.assert_array_equal(strided, a[:, ::2])
    np.testing.assert_array_equal(contiguous(a[1:3, 0:6]), a[1:3])


def test_the_view_keeps_the_data_alive(module):
    @numba.njit
    def call(n):
        return module._reshape(np.arange(n * 2.0), (n, 2))   # the only reference to the data
    np.testing.assert_array_equal(call(3), np.arange(6.0).reshape(3, 2))


def test_a_size_mismatch_raises(reshape):
    with pytest.raises(ValueError, match=r"reshape: cannot reshape an array of size.*24.*into a shape of size.*20"):
        reshape(A, (4, 5))
    with pytest.raises(ValueError, match="reshape"):
        reshape(A, (5, -1))
    with pytest.raises(ValueError, match="reshape"):
        reshape(A, (-2, -12))


def _compiled(call, monkeypatch):
    """(the njit functions compiled, as (module, name), and the functions compiled
    inline by ``compile_internal``) while running ``call``."""
    from numba.core.base import BaseContext
    inline, subroutine = [], BaseContext.compile_subroutine

    def record(self, builder, impl, *args, **kwargs):
        inline.append(impl.__name__)
        return subroutine(self, builder, impl, *args, **kwargs)
    monkeypatch.setattr(BaseContext, "compile_subroutine", record)
    try:
        functions = compiled_during(call)
    finally:
        monkeypatch.setattr(BaseContext, "compile_subroutine", subroutine)
    return [(f.__module__, f.__name__) for f in functions], inline


def test_c_operands_compile_no_reshape_machinery(tmp_path, monkeypatch):
    """A reshape and its adjoint, a new axis, vector products: Numba compiles the
    kernel (and the module's own helpers) and nothing else."""
    monkeypatch.setenv("SYMBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    X, W, v = sb.var("X", (None, 4)), sb.var("W", (3, 4)), sb.var("v", (4,))
    h = sb.tanh((v[None, :] * X) @ W.T)                          # (n, 3)
    r = sb.reshape(h, (-1,)) * 2.0                               # (3n,)
    loss = sb.sum(r * r) + sb.sum(sb.sin(W @ v))
    kernel = sb.value_and_grad(loss, [W], [W, v, X], name="reshape_compiles_nothing")
    body = kernel.source.split("def _value_and_grad")[1]
    assert "_reshape(" in body and ".reshape(" not in body and "np.ascontiguousarray(" not in body
    rng = np.random.default_rng(0)
    args = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(5, 4))
    compiled, inline = _compiled(lambda: kernel(*args), monkeypatch)
    assert ((kernel.module.__name__, "_value_and_grad") in compiled
            and all(module == kernel.module.__name__ for module, _ in compiled)), compiled
    assert not [n for n in inline if "reshape" in n or n == "<lambda>"], inline
    value, (g,) = kernel(*args)
    want = sb.evaluate([loss] + sb.grad(loss, [W]), {W: args[0], v: args[1], X: args[2]})
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    np.testing.assert_allclose(g, want[1], rtol=1e-11, atol=1e-13)


def test_python_fallback_when_the_jit_is_off(tmp_path):
    """With NUMBA_DISABLE_JIT the module runs as Python: the helpers are numpy's."""
    import os
    import subprocess
    import sys
    X, v = sb.var("X", (3, 4)), sb.var("v", (2,))
    kernel = sb.value_and_grad(sb.sum(sb.reshape(X[:, 0:2] @ v, (1, -1))), [v], name="reshape_nojit")
    path = kernel.save(tmp_path / "reshape_nojit.py")
    code = (f"import importlib.util, numpy as np; spec = importlib.util.spec_from_file_location('m', {str(path)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "X, v = np.arange(12.).reshape(3, 4), np.array([1., 2.]); val, (g,) = m.value_and_grad(v, X); "
            "assert val == (X[:, 0:2] @ v).sum() and np.array_equal(g, X[:, 0:2].sum(0)), (val, g); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "NUMBA_DISABLE_JIT": "1"})
    assert done.stdout.strip() == "ok", done.stderr
