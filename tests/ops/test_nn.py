"""Neural-network ops: softmax_cross_entropy (constant and int64-variable labels,
large logits) and one_hot; and a small float32 model that must stay float32."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import symback as sb

from .helpers import (Case, Compiled, VarTable, assert_same_dtype_shape, check_grad, check_jvp, check_value,
                      covers, params)

COVERED: set = set()

T = VarTable()
T.add("L", (5, 4), value=2.0 * np.random.default_rng(21).normal(size=(5, 4)))
T.add("L3", (3, 6), value=np.random.default_rng(22).normal(size=(3, 6)))
T.add("s", (), value=0.7)
T.add("lab", (5,), dtype="int64", value=[2, 0, 3, 3, 1])
T.add("Ln", (None, 4), value=np.random.default_rng(23).normal(size=(6, 4)))
T.add("labn", (None,), dtype="int64", value=[0, 1, 2, 3, 3, 1])
T.add("big", (5, 4), value=1000.0 + 3.0 * np.random.default_rng(24).normal(size=(5, 4)))
T.add("nbig", (5, 4), value=-1000.0 + 3.0 * np.random.default_rng(25).normal(size=(5, 4)))
T.add("spread", (2, 4), value=[[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -999.0, 1000.0, 0.0]])

CONST_LABELS = np.array([0, 3, 1, 2, 3])
LABELS3 = np.array([5, 0, 2])
SPREAD_LABELS = np.array([1, 2])


def ref_sce(x, labels):
    """-log softmax(x)[i, labels[i]], computed with SciPy."""
    labels = np.asarray(labels)
    return -scipy.special.log_softmax(x, axis=1)[np.arange(x.shape[0]), labels]


def ref_one_hot(labels, c, dtype=np.float64):
    return (np.asarray(labels)[:, None] == np.arange(c)[None, :]).astype(dtype)


CASES: list[Case] = []


def _add(case_id, build, ref, args, **kw):
    CASES.append(Case(case_id, build, ref, tuple(args), **kw))


_add("sce[const labels]", lambda x: sb.softmax_cross_entropy(x, CONST_LABELS), lambda x: ref_sce(x, CONST_LABELS),
     ["L"])
_add("sce[list labels]", lambda x: sb.softmax_cross_entropy(x, [5, 0, 2]), lambda x: ref_sce(x, LABELS3), ["L3"])
_add("sce[int64 var labels]", lambda x, y: sb.softmax_cross_entropy(x, y), ref_sce, ["L", "lab"])
_add("mean_sce[var labels]", lambda x, y: sb.mean(sb.softmax_cross_entropy(x, y)),
     lambda x, y: np.mean(ref_sce(x, y)), ["L", "lab"])
_add("sum_sce[const]", lambda x: sb.sum(sb.softmax_cross_entropy(x, CONST_LABELS)),
     lambda x: np.sum(ref_sce(x, CONST_LABELS)), ["L"])
_add("sce_scaled", lambda x, s: sb.softmax_cross_entropy(sb.tanh(x) * s, CONST_LABELS),
     lambda x, s: ref_sce(np.tanh(x) * s, CONST_LABELS), ["L", "s"])
_add("sce_weighted_rows", lambda x, y: sb.softmax_cross_entropy(x, y) * sb.const(np.arange(1.0, 6.0)),
     lambda x, y: ref_sce(x, y) * np.arange(1.0, 6.0), ["L", "lab"])
_add("sce_runtime", lambda x, y: sb.softmax_cross_entropy(x, y), ref_sce, ["Ln", "labn"])
_add("mean_sce_runtime", lambda x, y: sb.mean(sb.softmax_cross_entropy(x, y)),
     lambda x, y: np.mean(ref_sce(x, y)), ["Ln", "labn"])
_add("sce[big]", lambda x, y: sb.softmax_cross_entropy(x, y), ref_sce, ["big", "lab"], diff=False)
_add("sce[nbig]", lambda x: sb.softmax_cross_entropy(x, CONST_LABELS), lambda x: ref_sce(x, CONST_LABELS),
     ["nbig"], diff=False)
_add("sce[spread]", lambda x: sb.softmax_cross_entropy(x, SPREAD_LABELS), lambda x: ref_sce(x, SPREAD_LABELS),
     ["spread"], diff=False)
_add("one_hot[const]", lambda x: sb.one_hot(CONST_LABELS, 4) * x, lambda x: ref_one_hot(CONST_LABELS, 4) * x,
     ["L"])
_add("one_hot[var]", lambda y: sb.one_hot(y, 4), lambda y: ref_one_hot(y, 4), ["lab"], diff=False)
_add("one_hot[var,6 classes]", lambda y: sb.one_hot(y, 6), lambda y: ref_one_hot(y, 6), ["lab"], diff=False)
_add("one_hot[float32]", lambda y: sb.one_hot(y, 4, dtype="float32"), lambda y: ref_one_hot(y, 4, np.float32),
     ["lab"], diff=False)
_add("one_hot_times", lambda y, x: sb.sum(sb.one_hot(y, 4) * x, axis=1), lambda y, x: x[np.arange(5), y],
     ["lab", "L"])
_add("one_hot[runtime]", lambda y: sb.one_hot(y, 4), lambda y: ref_one_hot(y, 4), ["labn"], diff=False)

# the compiled kernel's differentiated total loss takes a subset (compile time)
_COMPILED_DIFF = {"sce[const labels]", "mean_sce[var labels]", "sce_scaled", "sce_weighted_rows",
                  "mean_sce_runtime", "one_hot_times"}
assert _COMPILED_DIFF <= {c.id for c in CASES}
for _c in CASES:
    _c.compiled_diff = _c.id in _COMPILED_DIFF

DIFF_CASES = [c for c in CASES if c.diff]
RUNTIME_CASES = [c for c in CASES if "Ln" in c.args or "labn" in c.args]


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


# --- the adjoint in closed form: (softmax - onehot) / N, also at magnitude 1e3 ------------------------


def _closed_form():
    out = []
    for name, labels in [("L", "lab"), ("big", "lab"), ("nbig", None), ("spread", None)]:
        x = T[name]
        xv = T.values[name]
        if labels is None:
            lv = CONST_LABELS if name == "nbig" else SPREAD_LABELS
            loss = sb.mean(sb.softmax_cross_entropy(x, lv))
        else:
            lv = T.values[labels]
            loss = sb.mean(sb.softmax_cross_entropy(x, T[labels]))
        want = (scipy.special.softmax(xv, axis=1) - ref_one_hot(lv, xv.shape[1])) / xv.shape[0]
        out.append((f"d_mean_sce[{name}]", sb.grad(loss, x), want))
        # per-row weights (the adjoint of a non-mean reduction)
        wr = np.arange(1.0, 1.0 + xv.shape[0])
        loss_w = sb.sum(sb.const(wr) * sb.softmax_cross_entropy(x, lv if labels is None else T[labels]))
        out.append((f"d_weighted_sce[{name}]", sb.grad(loss_w, x),
                    (scipy.special.softmax(xv, axis=1) - ref_one_hot(lv, xv.shape[1])) * wr[:, None]))
    return out


CLOSED = _closed_form()
_CLOSED_COMPILED = {"d_mean_sce[L]", "d_mean_sce[big]", "d_weighted_sce[nbig]", "d_mean_sce[spread]"}


@pytest.mark.parametrize("label,expr,expected", CLOSED, ids=[c[0] for c in CLOSED])
def test_sce_gradient_closed_form_interpreter(label, expr, expected):
    got = sb.evaluate(expr, T.env())
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15)


def test_sce_labels_out_of_range_interpreter():
    x, y = T["L"], T["lab"]
    loss = sb.softmax_cross_entropy(x, y)
    for bad in ([0, 1, 2, 3, 4], [0, -1, 2, 3, 0]):
        with pytest.raises(ValueError):
            sb.evaluate(loss, {**T.env(), "lab": np.array(bad)})
    with pytest.raises(ValueError):
        sb.evaluate(sb.one_hot(y, 4), {**T.env(), "lab": np.array([0, 1, 2, 3, 4])})


def test_sce_rejects_bad_labels_at_build_time():
    with pytest.raises((TypeError, ValueError)):
        sb.softmax_cross_entropy(T["L"], np.array([0.0, 1.0, 2.0, 3.0, 1.0]))   # float labels
    with pytest.raises(ValueError):
        sb.softmax_cross_entropy(T["L"], np.array([0, 1, 2]))                    # wrong row count
    with pytest.raises(ValueError):
        sb.softmax_cross_entropy(T["big"][0], np.array([0]))                      # 1-d logits


@covers(COVERED, "one_hot")
def test_one_hot_is_a_constant_in_gradients():
    x = T["L"]
    (g,) = sb.grad(sb.sum(sb.one_hot(T["lab"], 4) * x * x), [x])
    np.testing.assert_allclose(sb.evaluate(g, T.env()), 2 * ref_one_hot(T.values["lab"], 4) * T.values["L"])


# --- compiled ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled():
    return Compiled(CASES, T, "ops_nn", extras={label: e for label, e, _ in CLOSED if label in _CLOSED_COMPILED})


def test_compiled_matches_interpreter(compiled):
    """One test for the module's one kernel (so xdist workers never compile it twice)."""
    assert compiled.check_values() > 20
    assert compiled.check_derivatives() == 3
    for label, _, expected in CLOSED:
        if label not in _CLOSED_COMPILED:
            continue
        got = compiled.value(label)
        assert np.all(np.isfinite(got)), label
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15, err_msg=label)
    # run-time row counts change between calls
    for n in (1, 9):
        r = np.random.default_rng(n)
        env = {**T.env(), "Ln": r.normal(size=(n, 4)), "labn": r.integers(0, 4, n)}
        results = compiled.kernel(*[env[k] for k in compiled.kernel.inputs])
        for case in RUNTIME_CASES:
            i = compiled.labels.index(case.id)
            np.testing.assert_allclose(results[i], case.ref(*[env[a] for a in case.args]), rtol=1e-12)
    # labels outside [0, C) are an error, not a silent read out of bounds
    for bad in ([0, 1, 2, 3, 4], [0, -1, 2, 3, 0]):
        env = {**T.env(), "lab": np.array(bad)}
        with pytest.raises(ValueError):
            compiled.kernel(*[env[k] for k in compiled.kernel.inputs])


# --- float32: a small model stays float32 and agrees with float64 ----------------------------------


def _mlp(dtype):
    X = sb.var("X", (6, 4), dtype)
    W1 = sb.var("W1", (4, 8), dtype)
    b1 = sb.var("b1", (8,), dtype)
    W2 = sb.var("W2", (8, 3), dtype)
    h = sb.tanh(X @ W1 + b1)
    logits = h @ W2
    loss = (sb.mean(sb.softmax_cross_entropy(logits, np.array([0, 2, 1, 1, 0, 2])))
            + 0.01 * sb.sum(W1 * W1) + 0.5 * sb.mean(sb.sigmoid(logits)) + sb.sum(sb.relu(b1)) * 0.1)
    return loss, [W1, b1, W2], [X]


def _mlp_values():
    r = np.random.default_rng(5)
    return {"W1": r.normal(size=(4, 8)) * 0.5, "b1": r.normal(size=8) * 0.1, "W2": r.normal(size=(8, 3)) * 0.5,
            "X": r.normal(size=(6, 4))}


def test_float32_model_stays_float32_and_matches_float64():
    loss32, wrt32, _ = _mlp("float32")
    assert loss32.dtype == "float32"
    grads32 = sb.grad(loss32, wrt32)
    assert all(g.dtype == "float32" for g in grads32)
    kernel = sb.value_and_grad(loss32, wrt32, name="ops_nn_float32")
    values64 = _mlp_values()
    values32 = {k: v.astype(np.float32) for k, v in values64.items()}
    value, grads = kernel(*[values32[n] for n in kernel.inputs])
    assert np.asarray(value).dtype == np.float32
    assert all(np.asarray(g).dtype == np.float32 for g in grads)
    # the float64 model, interpreted, at the same (float32-representable) values
    loss64, wrt64, _ = _mlp("float64")
    exact = {k: v.astype(np.float64) for k, v in values32.items()}
    want = sb.evaluate([loss64] + sb.grad(loss64, wrt64), exact)
    np.testing.assert_allclose(float(value), float(want[0]), rtol=1e-5)
    for g, w in zip(grads, want[1:], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * float(np.max(np.abs(w))))
    # the float32 interpreter agrees with the float32 kernel to float32 precision
    interp32 = sb.evaluate([loss32] + grads32, values32)
    assert all(v.dtype == np.float32 for v in interp32)
    np.testing.assert_allclose(value, interp32[0], rtol=1e-5)
    for g, w in zip(grads, interp32[1:], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


# --- hypothesis: random logits and labels, interpreter only --------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 5), scale=st.sampled_from([1.0, 30.0, 1e3]),
       seed=st.integers(0, 2 ** 16))
def test_sce_random(n, c, scale, seed):
    r = np.random.default_rng(seed)
    xv = r.normal(size=(n, c)) * scale
    yv = r.integers(0, c, n)
    x = sb.var("hx", (n, c))
    y = sb.var("hy", (n,), "int64")
    loss = sb.softmax_cross_entropy(x, y)
    got, g = sb.evaluate([loss, sb.grad(sb.mean(loss), x)], {x: xv, y: yv})
    np.testing.assert_allclose(got, ref_sce(xv, yv), rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(g, (scipy.special.softmax(xv, axis=1) - ref_one_hot(yv, c)) / n, rtol=1e-10,
                               atol=1e-15)
    assert np.all(np.isfinite(g))
