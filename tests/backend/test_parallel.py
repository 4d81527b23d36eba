"""parallel=True: loop nests run with numba.prange where that is safe, and the
numbers stay the interpreter's (reduction order aside)."""
import numpy as np
import pytest

import symback as sb


@pytest.fixture(scope="module")
def model():
    x, w = sb.var("x", (None, 3)), sb.var("w", (3,))
    rows = sb.sum(sb.tanh(x * w), axis=1)          # keeps axis 0: parallel-safe
    loss = sb.sum(rows ** 2) + sb.sum(sb.exp(-x * x) * w)   # the w adjoint reduces axis 0
    kernel = sb.value_and_grad(loss, [w, x], name="parallel_test", parallel=True)
    return loss, x, w, kernel


def test_parallel_kernel_uses_prange_only_where_safe(model):
    src = model[3].source
    assert "numba.prange" in src and "parallel=True" in src
    for line in src.splitlines():
        if "numba.prange" in line:
            assert line.strip().startswith("for ")


def test_parallel_kernel_matches_interpreter(model):
    loss, x, w, kernel = model
    rng = np.random.default_rng(3)
    xv, wv = rng.normal(size=(5000, 3)), rng.normal(size=3)
    value, (gw, gx) = kernel(wv, xv)
    ref = sb.evaluate([loss] + sb.grad(loss, [w, x]), {x: xv, w: wv})
    assert float(value) == pytest.approx(float(ref[0]), rel=1e-12)
    np.testing.assert_allclose(gw, ref[1], rtol=1e-11)
    np.testing.assert_allclose(gx, ref[2], rtol=1e-12, atol=1e-14)
