"""Reductions: sum, mean (sum / count), count, and the stable softmax and logsumexp.

Axis None / int / tuple / negative, keepdims, every axis of a 3-d input, sizes
known only at call time, and logits of magnitude 1e3 (values and gradients in
closed form, interpreted and compiled).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import symback as sb
from symback.ops import apply

from .helpers import (Case, Compiled, VarTable, assert_kernel_equal, assert_same_dtype_shape, check_grad,
                      check_jvp, check_value, covers, ops_in, params, weights_for)

COVERED: set = set()

T = VarTable()
T.add("r3", (2, 3, 4), "normal")
T.add("r2", (3, 5), "normal")
T.add("r1", (6,), "normal")
T.add("rs", (), "normal")
T.add("ri", (2, 3), "int", dtype="int64")
RN_VALUE = np.random.default_rng(7).normal(size=(4, 3))
T.add("rn", (None, 3), value=RN_VALUE)              # first size known only at call time
_rb = np.random.default_rng(11)
T.add("big", (2, 3, 4), value=1000.0 + 3.0 * _rb.normal(size=(2, 3, 4)))
T.add("nbig", (2, 3, 4), value=-1000.0 + 3.0 * _rb.normal(size=(2, 3, 4)))
T.add("bigrow", (3,), value=[1000.0, 1001.0, 999.5])

CASES: list[Case] = []


def _add(case_id, build, ref, args, **kw):
    CASES.append(Case(case_id, build, ref, tuple(args), **kw))


AXES_3D = [None, 0, 1, 2, -1, -2, -3, (0, 2), (-1, 0), (0, 1, 2), (1,), ()]
for _axis in AXES_3D:
    for _keep in (False, True):
        _tag = f"axis={_axis},keepdims={_keep}"
        _add(f"sum[{_tag}]", lambda x, a=_axis, k=_keep: sb.sum(x, axis=a, keepdims=k),
             lambda x, a=_axis, k=_keep: np.sum(x, axis=a, keepdims=k), ["r3"])
        _add(f"mean[{_tag}]", lambda x, a=_axis, k=_keep: sb.mean(x, axis=a, keepdims=k),
             lambda x, a=_axis, k=_keep: np.mean(x, axis=a, keepdims=k), ["r3"])

_add("sum_method", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), ["r2"])
_add("mean_method", lambda x: x.mean(axis=0, keepdims=True), lambda x: x.mean(axis=0, keepdims=True), ["r2"])
_add("sum_2d_neg", lambda x: sb.sum(x, axis=-2), lambda x: np.sum(x, axis=-2), ["r2"])
_add("sum_1d", sb.sum, np.sum, ["r1"])
_add("mean_1d_keepdims", lambda x: sb.mean(x, keepdims=True), lambda x: np.mean(x, keepdims=True), ["r1"])
_add("sum_scalar", sb.sum, np.sum, ["rs"])
_add("mean_scalar", sb.mean, np.mean, ["rs"])
_add("sum_of_product", lambda x, y: sb.sum(x * y, axis=1), lambda x, y: np.sum(x * y, axis=1), ["r3", "rs"])
_add("sum_of_broadcast_sum", lambda x: sb.sum(x - sb.mean(x, axis=1, keepdims=True), axis=(0, 2)) + sb.sum(x * x),
     lambda x: np.sum(x - np.mean(x, axis=1, keepdims=True), axis=(0, 2)) + np.sum(x * x), ["r3"])
_add("sum_int", lambda x: sb.sum(x, axis=0), lambda x: np.sum(x, axis=0), ["ri"], diff=False)
_add("sum_int_all", sb.sum, np.sum, ["ri"], diff=False)
_add("mean_int", lambda x: sb.mean(x, axis=1), lambda x: np.mean(x, axis=1), ["ri"], diff=False)
# count, directly (the divisor of mean): a float with the number of reduced elements
_add("count[0,2]", lambda x: apply("count", x, axes=(0, 2)), lambda x: np.float64(8.0), ["r3"], diff=False)
_add("count[all]", lambda x: apply("count", x, axes=(0, 1, 2)), lambda x: np.float64(x.size), ["r3"], diff=False)
_add("count[none]", lambda x: apply("count", x, axes=()), lambda x: np.float64(1.0), ["r3"], diff=False)
_add("count[runtime]", lambda x: apply("count", x, axes=(0,)), lambda x: np.float64(x.shape[0]), ["rn"],
     diff=False)

# softmax and logsumexp: every axis of a 3-d input, keepdims
for _axis in (0, 1, 2, -1, -2):
    _add(f"softmax[3d,axis={_axis}]", lambda x, a=_axis: sb.softmax(x, axis=a),
         lambda x, a=_axis: scipy.special.softmax(x, axis=a), ["r3"])
    for _keep in (False, True):
        _add(f"logsumexp[3d,axis={_axis},keepdims={_keep}]",
             lambda x, a=_axis, k=_keep: sb.logsumexp(x, axis=a, keepdims=k),
             lambda x, a=_axis, k=_keep: scipy.special.logsumexp(x, axis=a, keepdims=k), ["r3"])
for _axis in (0, 1):
    _add(f"softmax[2d,axis={_axis}]", lambda x, a=_axis: sb.softmax(x, axis=a),
         lambda x, a=_axis: scipy.special.softmax(x, axis=a), ["r2"])
    _add(f"logsumexp[2d,axis={_axis}]", lambda x, a=_axis: sb.logsumexp(x, axis=a),
         lambda x, a=_axis: scipy.special.logsumexp(x, axis=a), ["r2"])
_add("softmax[1d]", sb.softmax, lambda x: scipy.special.softmax(x), ["r1"])
_add("softmax[default_axis]", sb.softmax, lambda x: scipy.special.softmax(x, axis=-1), ["r3"])
_add("logsumexp[1d]", sb.logsumexp, scipy.special.logsumexp, ["r1"])
_add("logsumexp[1d,keepdims]", lambda x: sb.logsumexp(x, keepdims=True),
     lambda x: scipy.special.logsumexp(x, keepdims=True), ["r1"])
_add("log_softmax", lambda x: sb.log_softmax(x, axis=1), lambda x: scipy.special.log_softmax(x, axis=1), ["r3"])
_add("softmax_scaled", lambda x, s: sb.softmax(x * s, axis=0), lambda x, s: scipy.special.softmax(x * s, axis=0),
     ["r2", "rs"])

# sizes known only at call time
_add("runtime_mean_axis0", lambda x: sb.mean(x, axis=0), lambda x: np.mean(x, axis=0), ["rn"])
_add("runtime_mean_all", sb.mean, np.mean, ["rn"])
_add("runtime_sum_axis1", lambda x: sb.sum(x, axis=1), lambda x: np.sum(x, axis=1), ["rn"])
_add("runtime_logsumexp_axis0", lambda x: sb.logsumexp(x, axis=0), lambda x: scipy.special.logsumexp(x, axis=0),
     ["rn"])
_add("runtime_logsumexp_axis1", lambda x: sb.logsumexp(x, axis=1, keepdims=True),
     lambda x: scipy.special.logsumexp(x, axis=1, keepdims=True), ["rn"])
_add("runtime_softmax_axis0", lambda x: sb.softmax(x, axis=0), lambda x: scipy.special.softmax(x, axis=0), ["rn"])
_add("runtime_softmax_axis1", lambda x: sb.softmax(x, axis=1), lambda x: scipy.special.softmax(x, axis=1), ["rn"])

# large magnitudes (values here; gradients in closed form below)
for _name in ("big", "nbig"):
    for _axis in (0, 1, 2):
        _add(f"softmax[{_name},axis={_axis}]", lambda x, a=_axis: sb.softmax(x, axis=a),
             lambda x, a=_axis: scipy.special.softmax(x, axis=a), [_name], diff=False)
        _add(f"logsumexp[{_name},axis={_axis}]", lambda x, a=_axis: sb.logsumexp(x, axis=a),
             lambda x, a=_axis: scipy.special.logsumexp(x, axis=a), [_name], diff=False)
_add("logsumexp[bigrow]", sb.logsumexp, scipy.special.logsumexp, ["bigrow"], diff=False)
_add("softmax[bigrow]", sb.softmax, scipy.special.softmax, ["bigrow"], diff=False)


# The compiled kernels take a subset (Numba compile time grows with kernel
# length; negative axes are the same nodes as their positive forms anyway).
_COMPILED = {
    "sum[axis=None,keepdims=False]", "sum[axis=0,keepdims=False]", "sum[axis=-1,keepdims=False]",
    "sum[axis=(0, 2),keepdims=False]", "sum[axis=1,keepdims=True]", "sum[axis=None,keepdims=True]",
    "mean[axis=None,keepdims=False]", "mean[axis=(0, 2),keepdims=False]", "mean[axis=1,keepdims=True]",
    "sum_1d", "mean_scalar", "sum_of_broadcast_sum", "sum_int", "mean_int",
    "count[0,2]", "count[none]", "count[runtime]",
    "softmax[3d,axis=0]", "softmax[3d,axis=1]", "softmax[3d,axis=2]",
    "logsumexp[3d,axis=0,keepdims=False]", "logsumexp[3d,axis=1,keepdims=True]",
    "logsumexp[3d,axis=2,keepdims=False]", "softmax[2d,axis=1]", "logsumexp[1d]",
    "softmax[big,axis=0]", "logsumexp[big,axis=1]", "softmax[nbig,axis=2]", "logsumexp[bigrow]",
    "runtime_mean_axis0", "runtime_mean_all", "runtime_logsumexp_axis1", "runtime_softmax_axis0",
}
# ... and a smaller subset of those in the differentiated total loss
_COMPILED_DIFF = {
    "sum[axis=(0, 2),keepdims=False]", "mean[axis=1,keepdims=True]", "sum_of_broadcast_sum",
    "softmax[3d,axis=0]", "softmax[3d,axis=2]", "logsumexp[3d,axis=1,keepdims=True]",
    "logsumexp[3d,axis=2,keepdims=False]", "softmax[2d,axis=1]", "logsumexp[1d]",
    "runtime_mean_axis0", "runtime_logsumexp_axis1", "runtime_softmax_axis0",
}
assert _COMPILED_DIFF <= _COMPILED <= {c.id for c in CASES}
for _c in CASES:
    _c.compiled = _c.id in _COMPILED
    _c.compiled_diff = _c.id in _COMPILED_DIFF

DIFF_CASES = [c for c in CASES if c.diff]
RUNTIME_CASES = [c for c in CASES if "rn" in c.args]


def _ids(cases):
    return [c.id for c in cases]


assert len(set(_ids(CASES))) == len(CASES)


@pytest.mark.parametrize("case", params(CASES))
def test_value(case):
    got = check_value(case, T)
    assert_same_dtype_shape(got, case.expr(T))
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("case", params(DIFF_CASES))
def test_grad_matches_finite_differences(case):
    check_grad(case, T)


@pytest.mark.parametrize("case", params(DIFF_CASES))
def test_jvp_matches_grad_and_finite_differences(case):
    check_jvp(case, T)


@pytest.mark.parametrize("case", params(RUNTIME_CASES))
def test_runtime_size_changes_between_calls(case):
    """An expression over a (None, 3) input evaluates at any first size."""
    y = case.expr(T)
    for n in (1, 2, 5):
        x = np.random.default_rng(n).normal(size=(n, 3))
        np.testing.assert_allclose(sb.evaluate(y, {**T.env(), "rn": x}), case.ref(x), rtol=1e-13)


# --- large magnitudes: closed-form gradients --------------------------------------------------------


def _stable_grads():
    """(label, gradient expression, expected value) for logits of magnitude 1e3."""
    out = []
    for name in ("big", "nbig"):
        x = T[name]
        xv = T.values[name]
        for axis in (0, 1, 2):
            w = weights_for(f"lse{name}{axis}", np.sum(xv, axis=axis).shape)
            g = sb.grad(sb.sum(sb.const(w) * sb.logsumexp(x, axis=axis)), x)
            s = scipy.special.softmax(xv, axis=axis)
            out.append((f"d_logsumexp[{name},axis={axis}]", g, np.expand_dims(w, axis) * s))
            w2 = weights_for(f"sm{name}{axis}", xv.shape)
            g2 = sb.grad(sb.sum(sb.const(w2) * sb.softmax(x, axis=axis)), x)
            out.append((f"d_softmax[{name},axis={axis}]", g2, s * (w2 - np.sum(w2 * s, axis=axis, keepdims=True))))
    return out


STABLE = _stable_grads()
_STABLE_COMPILED = {"d_logsumexp[big,axis=0]", "d_softmax[big,axis=2]", "d_logsumexp[nbig,axis=2]",
                    "d_softmax[nbig,axis=1]"}


@pytest.mark.parametrize("label,expr,expected", STABLE, ids=[s[0] for s in STABLE])
def test_large_logits_gradients_interpreter(label, expr, expected):
    got = sb.evaluate(expr, T.env())
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


# --- compiled == interpreted -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled():
    return Compiled(CASES, T, "ops_reduce", extras={label: e for label, e, _ in STABLE if label in _STABLE_COMPILED})


def test_compiled_matches_interpreter(compiled):
    """One test for the module's one kernel (so xdist workers never compile it twice)."""
    assert compiled.check_values() > 30
    assert compiled.check_derivatives() == 4
    # closed-form gradients at large magnitudes, compiled
    for label, _, expected in STABLE:
        if label not in _STABLE_COMPILED:
            continue
        got = compiled.value(label)
        assert np.all(np.isfinite(got)), label
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15, err_msg=label)
    # a size known only at call time changes between calls of the same kernel
    for n in (1, 6):
        x = np.random.default_rng(100 + n).normal(size=(n, 3))
        env = {**T.env(), "rn": x}
        results = compiled.kernel(*[env[k] for k in compiled.kernel.inputs])
        for case in RUNTIME_CASES:
            if not case.compiled:
                continue
            i = compiled.labels.index(case.id)
            assert_kernel_equal(results[i], sb.evaluate(case.expr(T), env), case.id)
            np.testing.assert_allclose(results[i], case.ref(x), rtol=1e-12)


@covers(COVERED, "count")
def test_count_is_the_mean_divisor():
    x = T["r3"]
    m = sb.mean(x, axis=(0, 2))
    assert "count" in ops_in([m])
    np.testing.assert_allclose(sb.evaluate(m, T.env()), T.values["r3"].sum(axis=(0, 2)) / 8.0, rtol=1e-15)
    # count has no derivative of its own (it only reads the shape): d(count * x)/dx = count
    g = sb.grad(sb.sum(apply("count", x, axes=(0,)) * x), x)
    np.testing.assert_array_equal(sb.evaluate(g, T.env()), np.full((2, 3, 4), 2.0))


# --- hypothesis: random shapes and axes, interpreter only ---------------------------------------------


@st.composite
def _shape_and_axis(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.sets(st.integers(0, nd - 1), min_size=1, max_size=nd)))
    return shape, axis, draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(spec=_shape_and_axis(), seed=st.integers(0, 2 ** 16))
def test_reductions_random(spec, seed):
    shape, axis, keep = spec
    xv = np.random.default_rng(seed).normal(size=shape) * 5
    x = sb.var("hr", shape)
    outs = [sb.sum(x, axis, keep), sb.mean(x, axis, keep)]
    refs = [np.sum(xv, axis=axis, keepdims=keep), np.mean(xv, axis=axis, keepdims=keep)]
    if isinstance(axis, int):
        outs += [sb.softmax(x, axis), sb.logsumexp(x, axis, keep)]
        refs += [scipy.special.softmax(xv, axis=axis), scipy.special.logsumexp(xv, axis=axis, keepdims=keep)]
    for g, r in zip(sb.evaluate(outs, {x: xv}), refs, strict=True):
        assert g.shape == np.shape(r)
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    # d sum(mean(x)) / dx = 1 / count everywhere
    (g,) = sb.evaluate(sb.grad(sb.sum(outs[1]), [x]), {x: xv})
    np.testing.assert_allclose(g, np.full(shape, np.sum(np.mean(xv, axis=axis, keepdims=keep) * 0 + 1) / xv.size),
                               rtol=1e-14)
