"""Big kernels: loop nests and matmuls outlined into shared helpers still give
the interpreter's numbers, and identical layers share one helper."""
import numpy as np
import pytest

import symback as sb
from symback.backend.outline import OUTLINE_LOOPS


@pytest.fixture(scope="module")
def deep():
    depth = OUTLINE_LOOPS + 3
    X = sb.var("X", (None, 3))
    params, o = [], X
    for i in range(depth):
        W, b = sb.var(f"W{i}", (3, 3)), sb.var(f"b{i}", (3,))
        params += [W, b]
        o = sb.tanh(o @ W.T + b)
    loss = sb.mean(o ** 2)
    kernel = sb.value_and_grad(loss, params, params + [X], name="deep_outline_test")
    rng = np.random.default_rng(1)
    values = [rng.normal(0, 0.8, p.shape) for p in params] + [rng.normal(size=(5, 3))]
    return loss, params, X, kernel, values


def test_big_kernel_is_outlined_with_shared_helpers(deep):
    _, _, _, kernel, _ = deep
    src = kernel.source
    n_helpers = src.count("def _loop")
    calls = sum(src.count(f"_loop{i}(") - 1 for i in range(n_helpers))
    assert 1 <= n_helpers < calls, "identical layers should share loop helpers"
    assert "def _dot(" in src and "np.dot(" not in src.split("def _dot(")[1].split("\ndef ")[1]


def test_outlined_kernel_matches_interpreter(deep):
    loss, params, X, kernel, values = deep
    value, grads = kernel(*values)
    env = {p: v for p, v in zip(params + [X], values)}
    ref = sb.evaluate([loss] + sb.grad(loss, params), env)
    assert float(value) == pytest.approx(float(ref[0]), rel=1e-12)
    for g, r in zip(grads, ref[1:]):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-14)
