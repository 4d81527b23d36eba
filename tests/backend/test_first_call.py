"""What the generated code does to keep Numba's first call short: allocation
by the module's ``_empty`` (no np.empty compilation per rank), products of
empty operands by BLAS alone, per-layer parameters read as a tuple by a
forward entry (no stacking copy), and the adjoint of an index written by a loop
nest (no array assignment)."""
import re

import numpy as np
import pytest

import symback as sb

from .helpers import compiled_during


def _compiled(kernel_call):
    """The Numba functions compiled while running ``kernel_call``."""
    return [f.__qualname__ for f in compiled_during(kernel_call)]


def test_allocation_of_every_rank_compiles_no_np_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    x, A, T = sb.var("x", (7,)), sb.var("A", (3, 7)), sb.var("T", (2, 3, 7))
    loss = sb.sum(sb.exp(x) * sb.sum(A @ sb.tanh(x)[:, None] * 0.5)) + sb.sum(sb.sin(T) * A)
    kernel = sb.value_and_grad(loss, [x, A, T], name="first_call_alloc")
    assert not re.search(r"= np\.(empty|zeros)\(", kernel.source)
    rng = np.random.default_rng(0)
    args = rng.normal(size=7), rng.normal(size=(3, 7)), rng.normal(size=(2, 3, 7))
    names = _compiled(lambda: kernel(*args))
    assert not [n for n in names if n.startswith(("ol_np_empty", "ol_np_zeros", "_ol_array_allocate"))], names
    want = sb.evaluate([loss] + sb.grad(loss, [x, A, T]), dict(zip([x, A, T], args)))
    value, grads = kernel(*args)
    np.testing.assert_allclose(value, want[0], rtol=1e-13)
    for g, w in zip(grads, want[1:]):
        assert g.flags.c_contiguous and g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("m, k, n", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0, 0)])
def test_products_of_empty_operands(m, k, n):
    A, B = sb.var("A", (None, None)), sb.var("B", (None, None))
    kernel = sb.compile([A @ B, A.T.T @ B], [A, B], name="first_call_empty_matmul")
    a, b = np.ones((m, k)), np.ones((k, n))
    for out in kernel(a, b):
        assert out.shape == (m, n) and not out.any()   # 0 where k == 0


def test_forward_reads_per_layer_parameters_in_place():
    n, layers = 4, 6
    X = sb.var("X", (n, 3))
    Ws = [sb.var(f"W{i}", (3, 3)) for i in range(layers)]
    bs = [sb.var(f"b{i}", (3,)) for i in range(layers)]
    o = X
    for W, b in zip(Ws, bs):
        o = sb.tanh(o @ W.T + b)
    loss = sb.sum(o * o)
    params = [p for pair in zip(Ws, bs) for p in pair]
    kernel = sb.value_and_grad(loss, params, params + [X], name="first_call_rows")
    assert "rows=True)" in kernel.source.split("def value_and_grad(")[0]   # the forward entry's wrapper
    assert "rows=True)" not in kernel.source.split("def value_and_grad(")[1]   # stacked results: stacks
    rng = np.random.default_rng(1)
    args = [rng.normal(size=p.shape) * 0.5 for p in params] + [rng.normal(size=(n, 3))]
    want = sb.evaluate([loss], dict(zip(params + [X], args)))[0]
    assert kernel.forward(*args) == pytest.approx(want, rel=1e-13)
    odd = list(args)
    odd[0] = odd[0].copy()
    odd[0].flags.writeable = False          # read-only,
    odd[2] = np.asfortranarray(odd[2])      # Fortran order,
    odd[4] = odd[4].tolist()                # not an array: stacked instead
    assert kernel.forward(*odd) == pytest.approx(want, rel=1e-13)
    with pytest.raises(ValueError, match="W1"):
        kernel.forward(*(args[:2] + [np.ones((3, 2))] + args[3:]))


def test_long_stacks_are_copied_not_passed_as_tuples():
    """Numba indexes a tuple by a switch over its items: past ROWS_MAX layers a
    forward entry gets its parameters stacked (not compiled here)."""
    from symback.backend.numba import ROWS_MAX
    for layers, rows in ((ROWS_MAX, True), (ROWS_MAX + 1, False)):
        X = sb.var("X", (2, 3))
        Ws = [sb.var(f"W{i}", (3, 3)) for i in range(layers)]
        o = X
        for W in Ws:
            o = sb.tanh(o @ W.T)
        source = sb.value_and_grad(sb.sum(o), Ws, Ws + [X], name="first_call_long").source
        assert ("rows=True)" in source) == rows, layers


@pytest.mark.parametrize("index", [
    lambda x: x[1:3, :],                # a block of rows
    lambda x: x[:, 0],                  # a column (an integer and a slice)
    lambda x: x[::2, 1:4],              # steps
    lambda x: x[2, None, 1:3],          # a new axis
    lambda x: x[4, 3],                  # one element
])
def test_gradient_of_an_index_compiles_no_array_assignment(tmp_path, monkeypatch, index):
    """The adjoint of ``x[key]`` writes g into a view of a zero array by a loop nest:
    ``zeros[key] = g`` made Numba compile the shape-mismatch message of array
    assignment (45 functions, 2.4-2.8 s of a first call with numba 0.68)."""
    monkeypatch.setenv("SYMBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    x = sb.var("x", (6, 5))
    loss = sb.sum(sb.tanh(index(x)) * 2.0) + sb.sum(x[1:2, :] * x[1:2, :])
    kernel = sb.value_and_grad(loss, [x], name="first_call_index")
    assert not re.search(r"^\s*\w+\[[^\]]*(:|\.\.\.)[^\]]*\] = [A-Za-z_]\w*$", kernel.source, re.M), "an array assigned to a slice"
    xv = np.random.default_rng(3).normal(size=(6, 5))
    names = _compiled(lambda: kernel(xv))
    assert names == ["_value_and_grad"], names
    value, (g,) = kernel(xv)
    want = sb.evaluate([loss] + sb.grad(loss, [x]), {x: xv})
    np.testing.assert_allclose(value, want[0], rtol=1e-13)
    np.testing.assert_allclose(g, want[1], rtol=1e-13, atol=1e-15)
    step = 1e-6   # and against central differences of the kernel's own value
    for at in [(1, 0), (2, 3), (4, 3), (0, 1)]:
        up, down = xv.copy(), xv.copy()
        up[at] += step
        down[at] -= step
        assert g[at] == pytest.approx((kernel.forward(up) - kernel.forward(down)) / (2 * step), rel=1e-6, abs=1e-8)
