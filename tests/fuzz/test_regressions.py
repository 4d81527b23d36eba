"""Programs the fuzzer (or a user) found wrong, kept as regression tests.

Each case is a small program written out by hand; all of them compile into one
batched kernel and go through the fuzzer's oracles (kernel vs interpreter,
finite differences, jvp vs grad, SymPy for scalar programs).  The docstring of
each case names the bug class it pins down.
"""
from __future__ import annotations

import inspect

import numpy as np
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
