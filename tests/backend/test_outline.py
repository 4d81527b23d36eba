"""Big kernels: loop nests and matmuls outlined into shared helpers still give
the interpreter's numbers, and identical layers share one helper."""
import re
from collections import Counter

import numpy as np
import pytest

import symback as sb
from symback.backend.numba import emit_module
from symback.backend.outline import OUTLINE_LOOPS
from symback.kernel import gradient_entries


def _tanh_net(depth):
    X = sb.var("X", (None, 3))
    params, o = [], X
    for i in range(depth):
        W, b = sb.var(f"W{i}", (3, 3)), sb.var(f"b{i}", (3,))
        params += [W, b]
        o = sb.tanh(o @ W.T + b)
    return sb.mean(o ** 2), params, X


def _helpers(src):
    """(helpers defined, calls per helper), matched by whole name (_loop1 is not _loop10)."""
    defined = re.findall(r"^def (_loop\d+)\(", src, re.M)
    calls = Counter(re.findall(r"\b(_loop\d+)\(", src))
    for name in defined:
        calls[name] -= 1   # its own def line
    return defined, +calls


@pytest.fixture(scope="module")
def deep():
    depth = OUTLINE_LOOPS + 3
    loss, params, X = _tanh_net(depth)
    # (reroll=False: as a loop, the repeated layers would be one loop nest, nothing to outline)
    kernel = sb.value_and_grad(loss, params, params + [X], name="deep_outline_test", reroll=False)
    rng = np.random.default_rng(1)
    values = [rng.normal(0, 0.8, p.shape) for p in params] + [rng.normal(size=(5, 3))]
    return loss, params, X, kernel, values


def test_big_kernel_is_outlined_with_shared_helpers(deep):
    _, params, _, kernel, _ = deep
    depth = len(params) // 2
    defined, calls = _helpers(kernel.source)
    assert defined and set(defined) == set(calls), "every helper is called, every call defined"
    assert max(calls.values()) >= depth - 1, "one helper serves every layer's identical loop"
    # sharing means the helpers do not grow with depth: three more layers, same helpers
    loss, params3, X = _tanh_net(depth + 3)
    deeper = emit_module(gradient_entries(loss, params3, params3 + [X], reroll=False), "deeper")
    defined3, calls3 = _helpers(deeper)
    assert len(defined3) == len(defined)
    assert sum(calls3.values()) > sum(calls.values())
    src = kernel.source
    # every matmul calls the one _matmul helper (a BLAS gemm), never np.dot
    assert "def _matmul(a, a_transposed, b, b_transposed, out):" in src
    assert src.count("np.dot(") == 1, "only in _matmul's plain-Python fallback (NUMBA_DISABLE_JIT)"
    assert src.count("_matmul(") - 1 >= 2 * depth


def test_outlined_kernel_matches_interpreter(deep):
    loss, params, X, kernel, values = deep
    value, grads = kernel(*values)
    env = {p: v for p, v in zip(params + [X], values, strict=True)}
    ref = sb.evaluate([loss] + sb.grad(loss, params), env)
    assert float(value) == pytest.approx(float(ref[0]), rel=1e-12)
    for g, r in zip(grads, ref[1:], strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-14)
