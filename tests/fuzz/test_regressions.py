"""Programs the fuzzer (or a user) found wrong, kept as regression tests.

Each case is a small program written out by hand; all of them compile into one
batched kernel and go through the fuzzer's oracles (kernel vs interpreter,
finite differences, jvp vs grad, SymPy for scalar programs).  The docstring of
each case names the bug class it pins down.
"""
from __future__ import annotations

import inspect

import pytest

import symback as sb

from .oracles import check_batch
from .programs import program_of

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def softmax_axis0_of_column(p):
    """softmax over axis 0 of an (n, 1) array: the block walked it as rows of
    a (1, n) view of the original (uninitialised reads)."""
    v0 = sb.var(p + "v0", (2, 1))
    t = sb.softmax(v0, axis=0)
    out = sb.where(sb.tanh(t) > t, t * t, sb.sin(t))
    return {v0: [[0.3], [-0.5]]}, out


@case
def logsumexp_of_indexed_pow(p):
    """pow with a variable exponent, a row index and logsumexp over axis 0."""
    v1 = sb.var(p + "v1", (2, 1))
    t = (1 + sb.sin(v1) ** 2) ** sb.tanh(sb.sin(v1))
    return {v1: [[0.7], [-1.2]]}, sb.sum(t) + sb.logsumexp(t[0], axis=0)


@case
def sympy_of_bool_cast(p):
    """to_sympy of astype(bool -> int64 -> float): SymPy refused to multiply
    a Boolean; a cast of a boolean is now Piecewise 1/0."""
    x = sb.var(p + "x")
    step = sb.astype(sb.astype(x > 0.0, "int64"), "float64")
    return {x: 0.7}, step * x + sb.astype(x * 2.5, "int64") * 1.0


@case
def adjoint_onto_size1_axis_between_runtime_sizes(p):
    """The adjoint of an (N, 1, M) operand broadcast to (N, N, M): summed over
    axis 1 without keepdims, then reshaped to (-1, 1, -1), which no reshape
    can be (ShapeError at grad).  Now summed with keepdims: no reshape."""
    v0 = sb.var(p + "v0", (None, 1, None))
    t1 = sb.logsumexp(v0, axis=1)
    return {v0: [[[0.38, -1.19]], [[-0.48, 0.49]]]}, sb.tan(t1 * v0)


@case
def sympy_at_a_min_tie(p):
    """min(a, a) through a where: SymPy's derivative of Min at a tie is
    Heaviside(0) evaluated on 50-digit rounding (0 or 1, not 1/2).  An oracle
    bug: SymPy derivatives are not compared at kinks and branch switches."""
    x = sb.var(p + "x")
    t0 = sb.grad(sb.sum(sb.sin(x) * x), [x])[0]
    t1 = sb.where(sb.logical_not(t0 <= x), t0, x)
    return {x: 0.9559763539460042}, -t1 + sb.minimum(t1, t0)


@case
def sympy_of_a_stacked_captured_scalar(p):
    """A scan whose per-step output depends on no carry (a value captured from
    outside the loop, stacked): SymPy's unrolled loop stored each scalar row as
    a 0-d array inside the object array, and tanh of it failed in SymPy."""
    a = sb.var(p + "a")

    def step(carry, x):
        return (carry[0] * 0.5,), (2.0 + (a + 0.5),)
    final, ys = sb.scan(step, (a,), None, length=2)
    return {a: 0.4309768574180408}, sb.sum(sb.tanh(ys[0])) + final[0]


@pytest.fixture(scope="module")
def failures():
    programs = {}
    for i, (name, fn) in enumerate(CASES.items()):
        values, out = fn(f"r{i}_")
        programs[name] = program_of(f"r{i}_", values, out, inspect.getsource(fn))
    found = check_batch(list(programs.values()), "fuzz_regressions")
    return {name: [f for f in found if f.program is p] for name, p in programs.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_regression(name, failures):
    assert not failures[name], "\n".join(str(f) for f in failures[name])
