"""Long kernels cut into parts (symback/backend/segment.py) compute what the flat
kernel computes: the interpreter's value and gradient, and finite differences.

The thresholds are lowered here so that small programs (cheap to compile) are
cut into several parts; speed is measured in benchmarks/huge_graph.py."""
import re

import numpy as np
import pytest

import symback as sb
from benchmarks.huge_graph import build
from symback.backend import segment
from symback.backend.numba import emit_module
from symback.kernel import gradient_entries


@pytest.fixture(scope="module")
def low_thresholds():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segment, "SEGMENT_ABOVE", 60)
        mp.setattr(segment, "SEGMENT_LINES", 40)
        yield


def _parts(src, fn):
    return re.findall(rf"^def ({fn}_\d+)\(", src, re.MULTILINE)


def _function(src, fn):
    body = src[src.index(f"def {fn}("):]
    return body[:body.index("\n\n\n")] if "\n\n\n" in body else body


@pytest.fixture(scope="module")
def scalar_program(low_thresholds):
    loss, xs, _ = build(140, seed=3)
    kernel = sb.value_and_grad(loss, xs, name="segment_scalar_test")
    return loss, xs, kernel


def test_a_long_scalar_kernel_is_cut_into_parts_called_in_order(scalar_program):
    _, _, kernel = scalar_program
    src = kernel.source
    parts = _parts(src, "_value_and_grad")
    assert len(parts) >= 3
    main = _function(src, "_value_and_grad")
    calls = re.findall(r"\b(_value_and_grad_\d+)\(", main)
    assert calls == parts, "the kernel calls every part once, in order"
    for p in parts:   # bounded parts: SEGMENT_LINES lines of code, plus the last statement and the return
        code = [line for line in _function(src, p).splitlines()[1:] if line.strip() and "#" not in line]
        assert len(code) <= 40 + 2


def test_parts_give_the_interpreters_value_and_gradient(scalar_program):
    loss, xs, kernel = scalar_program
    rng = np.random.default_rng(0)
    for _ in range(3):
        args = [float(a) for a in rng.uniform(-1, 1, len(xs))]
        value, grads = kernel(*args)
        want = sb.evaluate([loss] + sb.grad(loss, xs), dict(zip(xs, args)))
        np.testing.assert_allclose(value, want[0], rtol=1e-12)
        np.testing.assert_allclose(grads, want[1:], rtol=1e-10, atol=1e-12)


def test_parts_gradient_matches_finite_differences(scalar_program):
    _, xs, kernel = scalar_program
    args = [0.1 * i - 0.35 for i in range(len(xs))]
    _, grads = kernel(*args)
    h = 1e-6
    for i in range(len(xs)):
        up, down = list(args), list(args)
        up[i] += h
        down[i] -= h
        fd = (kernel(*up)[0] - kernel(*down)[0]) / (2 * h)
        assert abs(fd - grads[i]) < 1e-6 * max(1.0, abs(fd))


def _array_program():
    """Arrays, a matmul, reductions, a where and an int64 input: values of every
    kind cross the cuts, and a loop's accumulator may be made in one part and
    filled in the next."""
    X, W = sb.var("X", (5, 3)), sb.var("W", (4, 3))
    b, s = sb.var("b", (4,)), sb.var("s")
    labels = sb.var("labels", (5,), "int64")
    h = X @ W.T + b
    for k in range(6):
        h = sb.tanh(h * (0.5 + 0.1 * k) + s) + sb.where(h > 0.1 * k, h * s, -h)
        s = s + sb.sum(h) * 0.01 + sb.sin(s)
    loss = sb.mean(sb.softmax_cross_entropy(h, labels)) + s * s
    return loss, [W, b, sb.var("s")], [X, labels]


@pytest.fixture(scope="module")
def array_program(low_thresholds):
    loss, wrt, rest = _array_program()
    # (static sizes: a size known only at call time compiles the kernel twice,
    # serial and parallel, and such kernels are not cut; reroll=False: as a
    # loop, the repeated steps would be one short body)
    kernel = sb.value_and_grad(loss, wrt, wrt + rest, name="segment_array_test", reroll=False)
    rng = np.random.default_rng(2)
    args = [rng.normal(0, 0.5, (4, 3)), rng.normal(0, 0.5, 4), 0.3, rng.normal(size=(5, 3)),
            rng.integers(0, 4, 5)]
    return loss, wrt, rest, kernel, args


def test_array_kernel_in_parts_matches_interpreter_and_finite_differences(array_program):
    loss, wrt, rest, kernel, args = array_program
    assert len(_parts(kernel.source, "_value_and_grad")) >= 2
    value, grads = kernel(*args)
    env = dict(zip(wrt + rest, args))
    want = sb.evaluate([loss] + sb.grad(loss, wrt), env)
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    for g, w in zip(grads, want[1:]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    # finite differences along a random direction of every parameter at once
    rng = np.random.default_rng(5)
    dirs = [rng.normal(size=np.shape(a)) for a in args[:3]]
    h = 1e-6
    up = [a + h * d for a, d in zip(args[:3], dirs)] + args[3:]
    down = [a - h * d for a, d in zip(args[:3], dirs)] + args[3:]
    fd = (kernel(*up)[0] - kernel(*down)[0]) / (2 * h)
    ad = sum(float(np.sum(g * d)) for g, d in zip(grads, dirs))
    assert abs(fd - ad) < 1e-6 * max(1.0, abs(fd))


def test_short_kernels_stay_flat_and_output_is_deterministic(low_thresholds):
    x, y = sb.var("x"), sb.var("y")
    small = emit_module(gradient_entries(sb.sin(x * y) + x, [x, y], [x, y]), "small")
    assert not _parts(small, "_value_and_grad")
    loss, xs, _ = build(140, seed=3)
    once = emit_module(gradient_entries(loss, xs, xs), "again")
    twice = emit_module(gradient_entries(loss, xs, xs), "again")
    assert once == twice and _parts(once, "_value_and_grad")


def test_split_passes_only_what_crosses_a_cut(monkeypatch):
    """Hand-written body: an accumulator made in one part and filled in the
    next is an argument there and a returned value; a local of a part is not."""
    monkeypatch.setattr(segment, "SEGMENT_ABOVE", 3)
    monkeypatch.setattr(segment, "SEGMENT_LINES", 1)
    body = ["a = x + 1.0",
            "t = a * 2.0",
            "s = 0.0",
            "for i0 in range(n):",
            "    s += t * v[i0]",
            "u = s + a",
            "return (u,)"]
    main, parts = segment.split("_f", ["x", "v", "n"], body, lambda parallel: "@numba.njit")
    assert main == ["a, = _f_1(x)", "t, = _f_2(a)", "s, = _f_3()", "s, = _f_4(v, n, s, t)", "u, = _f_5(s, a)",
                    "return (u,)"]
    text = "\n".join(parts)
    assert "def _f_4(v, n, s, t):" in text and "    return s," in text
    ns = {"np": np}
    source = ("\n".join(line for line in parts if not line.startswith("@")) + "\ndef _f(x, v, n):\n"
              + "\n".join("    " + line for line in main))
    exec(source, ns)   # noqa: S102 - the parts run as plain Python
    assert ns["_f"](1.0, np.arange(3.0), 3) == (14.0,)
