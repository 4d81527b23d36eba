"""Shared machinery for the op tests: cases, oracles and batched kernels.

Every op is checked against (at least) these oracles:

1. values: the numpy reference interpreter (``sb.evaluate``) against an
   independent plain-numpy (or SciPy) formula;
2. derivatives: ``sb.grad`` evaluated by the interpreter against central finite
   differences of the interpreted value, and ``sb.jvp`` against both the
   directional derivative ``sum(grad * v)`` and finite differences along ``v``;
3. compiled kernels: one batched kernel per test module (``sb.compile`` with
   every case's value, gradients and JVP as outputs) and one ``sb.value_and_grad``
   kernel must equal the interpreter to 1e-12 relative in float64.

A test module describes its ops as a list of :class:`Case` objects; the
generic checks below run over that list, and ``test_registry`` collects the ops
that appear in every module's cases (plus the ones a dedicated test declares
with :func:`covers`) to make sure no registered op goes untested.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import symback as sb
from symback.ir import topo_order

FLOAT = ("float64", "float32")
#: compiled kernel vs interpreter, float64
KERNEL_RTOL = 1e-12


def _seed(text):
    return zlib.crc32(text.encode())


def rng_for(text):
    """A deterministic generator per name (stable across processes and runs)."""
    return np.random.default_rng(_seed(text))


# --- variables with values --------------------------------------------------------


class VarTable:
    """A module's input variables, each with one deterministic value."""

    def __init__(self):
        self.nodes = {}
        self.values = {}

    def add(self, name, shape, kind="signed", dtype="float64", value=None):
        node = sb.var(name, shape, dtype)
        if value is None:
            value = make_value(name, shape, kind, dtype)
        self.nodes[name] = node
        self.values[name] = np.asarray(value, dtype=dtype)
        return node

    def __getitem__(self, name):
        return self.nodes[name]

    def env(self):
        return dict(self.values)


def make_value(name, shape, kind, dtype="float64"):
    """Values for a domain: ``signed`` (|x| in [0.2, 1.2], random sign),
    ``positive`` (0.5 .. 1.5), ``normal``, ``int`` ({-2..2}), ``small_int`` ({-1,0,1})."""
    r = rng_for(name)
    if kind == "signed":
        v = r.uniform(0.2, 1.2, shape) * r.choice([-1.0, 1.0], shape)
    elif kind == "positive":
        v = r.uniform(0.5, 1.5, shape)
    elif kind == "normal":
        v = r.normal(size=shape)
    elif kind == "int":
        v = r.integers(-2, 3, shape)
    elif kind == "small_int":
        v = r.integers(-1, 2, shape)
    else:
        raise ValueError(kind)
    return np.asarray(v).astype(dtype)


# --- cases ------------------------------------------------------------------------------


@dataclass
class Case:
    """One op applied to some variables.

    build(*nodes) -> expression; ref(*arrays) -> the expected value, computed
    with plain numpy/scipy only.  ``args`` names the variables (in the module's
    VarTable).  ``diff`` says whether derivatives are checked (only the float
    arguments are differentiated).  ``fd_h``/``fd_rtol`` tune the finite
    differences for cases that need it (casts to float32).
    """

    id: str
    build: Callable
    ref: Callable
    args: tuple
    diff: bool = True
    fd_h: float = 1e-6
    fd_rtol: float = 1e-6
    compiled: bool = True
    value_rtol: float = 1e-13
    jvp_rtol: float = 1e-12
    compiled_diff: bool = True      # in the compiled total loss (value_and_grad, jvp)
    xfail: str | None = None        # "bug: ..." for a known bug (then kept out of the compiled batch)
    _cache: dict = field(default_factory=dict, repr=False)

    def expr(self, table):
        if "expr" not in self._cache:
            self._cache["expr"] = self.build(*[table[a] for a in self.args])
        return self._cache["expr"]

    def float_args(self, table):
        seen, out = set(), []
        for a in self.args:
            if table[a].dtype in FLOAT and a not in seen:
                seen.add(a)
                out.append(a)
        return out

    def derivatives(self, table):
        """(loss, wrt names, grads, jvp of loss, jvp of y, tangents) for a
        differentiable case; the loss is sum(W * y) with fixed random W."""
        if "deriv" in self._cache:
            return self._cache["deriv"]
        y = self.expr(table)
        names = self.float_args(table)
        w = weights_for(self.id, y.shape)
        loss = sb.sum(sb.const(w) * y) if y.shape else sb.const(float(w)) * y
        wrt = [table[n] for n in names]
        grads = sb.grad(loss, wrt)
        tangents = {table[n]: tangent_for(self.id + n, table[n].shape) for n in names}
        jl = sb.jvp(loss, tangents)
        jy = sb.jvp(y, tangents)
        self._cache["deriv"] = (loss, names, grads, jl, jy, tangents)
        return self._cache["deriv"]


def _static(shape):
    """A size known only at call time becomes 1 (so the array broadcasts along it)."""
    return tuple(1 if d is None else d for d in shape)


def params(cases):
    """``cases`` as pytest parameters, known bugs marked strict xfail."""
    import pytest
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
            for c in cases]


def weights_for(text, shape):
    return rng_for("w" + text).uniform(0.5, 1.5, _static(shape))


def tangent_for(text, shape):
    return rng_for("t" + text).normal(size=_static(shape))


def ops_in(exprs):
    return {n.op for n in topo_order(list(exprs))}


def case_ops(cases, table):
    """Every op that appears in the value graphs of ``cases``."""
    return ops_in([c.expr(table) for c in cases])


# --- oracles --------------------------------------------------------------------------------


def assert_same_dtype_shape(got, expected_node):
    got = np.asarray(got)
    assert got.ndim == expected_node.ndim and all(
        d is None or d == g for d, g in zip(expected_node.shape, got.shape, strict=True)), (got.shape, expected_node.shape)
    assert got.dtype == np.dtype(expected_node.dtype), (got.dtype, expected_node.dtype)


def check_value(case, table):
    y = case.expr(table)
    env = table.env()
    got = sb.evaluate(y, env)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.asarray(case.ref(*[env[a] for a in case.args]))
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.dtype == np.bool_ or want.dtype == np.bool_:
        assert got.dtype == np.bool_ and want.dtype == np.bool_, (got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)
    elif np.issubdtype(want.dtype, np.integer):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=case.value_rtol, atol=1e-14)
    return got


def fd_gradient(f, env, name, h):
    """Central differences of the scalar ``f(env)`` with respect to ``env[name]``."""
    x0 = np.array(env[name], dtype=np.float64)
    g = np.zeros_like(x0)
    for idx in np.ndindex(*x0.shape) if x0.shape else [()]:
        step = h * max(1.0, abs(float(x0[idx])))
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += step
        xm[idx] -= step
        fp = f({**env, name: xp})
        fm = f({**env, name: xm})
        g[idx] = (fp - fm) / (2 * step)
    return g


def fd_directional(f, env, tangents, h):
    """Central difference of ``f`` (any shape) along ``tangents`` (name -> array)."""
    plus = {**env, **{n: env[n] + h * t for n, t in tangents.items()}}
    minus = {**env, **{n: env[n] - h * t for n, t in tangents.items()}}
    return (np.asarray(f(plus), dtype=np.float64) - np.asarray(f(minus), dtype=np.float64)) / (2 * h)


def check_grad(case, table):
    loss, names, grads, jl, jy, tangents = case.derivatives(table)
    env = table.env()
    f = lambda e: float(sb.evaluate(loss, e))  # noqa: E731
    scale = max(1.0, abs(f(env)))
    got = sb.evaluate(grads, env)
    assert names, f"{case.id}: no float argument to differentiate"
    for n, g_node, g in zip(names, grads, got, strict=True):
        assert_same_dtype_shape(g, table[n])
        assert np.all(np.isfinite(g)), (case.id, n, g)
        fd = fd_gradient(f, env, n, case.fd_h)
        np.testing.assert_allclose(g, fd, rtol=case.fd_rtol, atol=case.fd_rtol * scale,
                                   err_msg=f"{case.id}: d/d{n}")
    return got


def check_jvp(case, table):
    loss, names, grads, jl, jy, tangents = case.derivatives(table)
    env = table.env()
    gvals = sb.evaluate(grads, env)
    tvals = {n: np.broadcast_to(tangents[table[n]], np.shape(env[n])) for n in names}
    directional = sum(float(np.sum(g * tvals[n])) for n, g in zip(names, gvals, strict=True))
    got = float(sb.evaluate(jl, env))
    np.testing.assert_allclose(got, directional, rtol=case.jvp_rtol,
                               atol=case.jvp_rtol * max(1.0, abs(directional)))
    # the JVP of the (array) value itself against finite differences along the tangent
    y = case.expr(table)
    jyv = sb.evaluate(jy, env)
    assert_same_dtype_shape(jyv, y)
    fd = fd_directional(lambda e: sb.evaluate(y, e), env, tvals, case.fd_h)
    np.testing.assert_allclose(jyv, fd, rtol=case.fd_rtol * 10, atol=case.fd_rtol * 10,
                               err_msg=f"{case.id}: jvp vs finite differences")


# --- compiled kernels --------------------------------------------------------------------


def assert_kernel_equal(got, want, what, rtol=None):
    got, want = np.asarray(got), np.asarray(want)
    if rtol is None:   # float64: 1e-12; float32: a few ulps
        rtol = 1e-6 if want.dtype == np.float32 else KERNEL_RTOL
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    if want.dtype.kind in "bi":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-300),
                                   equal_nan=True, err_msg=what)


class Compiled:
    """The compiled side of a module's cases: ONE ``sb.compile`` kernel.

    Its outputs are every compiled case's value, the gradient of the total loss
    (the sum of every compiled differentiable case's loss ``sum(W * y)``) with
    respect to every float variable, and the JVP of that loss along fixed random
    tangents.  Each variable is read by many cases, so a wrong contribution from
    any one case moves a gradient far beyond the 1e-12 tolerance.  Optionally a
    ``sb.value_and_grad`` kernel over a few cases (``vag_cases``) checks that
    entry point too.  (Numba's compile time grows faster than linearly with a
    kernel's size, so the compiled side takes a subset of the cases and batches
    derivatives this way rather than one output per case.)
    """

    def __init__(self, cases, table, name, extras=None, raw=None, vag_cases=None, check_forward=False):
        """``extras``: more outputs (label -> expr) checked against the interpreter;
        ``raw``: outputs only computed (for tests that check them otherwise)."""
        self.table = table
        self.name = name
        self.check_forward = check_forward
        self.cases = [c for c in cases if c.compiled and not c.xfail]
        extras, raw = dict(extras or {}), dict(raw or {})
        self.labels = [c.id for c in self.cases] + list(extras) + list(raw)
        self.n_checked = len(self.labels) - len(raw)
        values = [c.expr(table) for c in self.cases] + list(extras.values()) + list(raw.values())
        self.loss = _total([c for c in self.cases if c.diff and c.compiled_diff], table)
        self.wrt = [v for v in sb.variables([self.loss]) if v.dtype in FLOAT]
        self.grads = sb.grad(self.loss, self.wrt)
        self.tangents = {w: tangent_for("total" + w.name, w.shape) for w in self.wrt}
        self.jvp = sb.jvp(self.loss, self.tangents)
        self.outputs = values + [self.loss] + list(self.grads) + [self.jvp]
        self.kernel = sb.compile(self.outputs, None, name=name)
        self.vag_cases = [c for c in (vag_cases or []) if not c.xfail]
        self._results = None

    def args(self, kernel, env=None):
        env = self.table.env() if env is None else env
        return [env[n] for n in kernel.inputs]

    @property
    def results(self):
        if self._results is None:
            args = self.args(self.kernel)
            before = [np.array(a, copy=True) for a in args]
            self._results = self.kernel(*args)
            for a, b in zip(args, before, strict=True):       # kernels never modify their inputs
                np.testing.assert_array_equal(a, b)
            n = self.n_checked
            self.expected = sb.evaluate(self.outputs[:n] + self.outputs[len(self.labels):], self.table.env())
        return self._results

    def value(self, label, env=None):
        """The compiled output ``label`` (with the table's values, or ``env``'s)."""
        if env is None:
            return self.results[self.labels.index(label)]
        return self.kernel(*self.args(self.kernel, env))[self.labels.index(label)]

    def check_values(self):
        """Every compiled case's value == interpreted (all mismatches reported at once)."""
        failures = []
        for i, case_id in enumerate(self.labels[:self.n_checked]):
            try:
                assert_kernel_equal(self.results[i], self.expected[i], case_id)
                assert_same_dtype_shape(self.results[i], self.outputs[i])
            except AssertionError as e:
                failures.append(f"{case_id}: {str(e).strip().splitlines()[0:8]}")
        assert not failures, f"{len(failures)} compiled values differ:\n" + "\n".join(failures)
        return self.n_checked

    def check_derivatives(self):
        """Compiled loss, gradients and JVP == interpreted; JVP == sum(grad * tangent)."""
        got = self.results[len(self.labels):]
        want = self.expected[self.n_checked:]
        names = ["loss"] + [f"d/d{w.name}" for w in self.wrt] + ["jvp"]
        assert len(got) == len(want) == len(names) == len(self.wrt) + 2
        for g, e, what in zip(got, want, names, strict=True):
            assert_kernel_equal(g, e, what)
        for w, g in zip(self.wrt, got[1:-1], strict=True):
            assert_same_dtype_shape(g, w)
            assert np.all(np.isfinite(g)), w.name
        directional = sum(float(np.sum(g * self.tangents[w])) for w, g in zip(self.wrt, got[1:-1], strict=True))
        # (loose: a float32 round trip in some cases makes the two orders round differently)
        np.testing.assert_allclose(float(got[-1]), directional, rtol=1e-6)
        return len(self.wrt)

    def check_value_and_grad(self):
        """``sb.value_and_grad`` over ``vag_cases`` == interpreter; inputs untouched."""
        loss = _total(self.vag_cases, self.table)
        wrt = [v for v in sb.variables([loss]) if v.dtype in FLOAT]
        kernel = sb.value_and_grad(loss, wrt, name=self.name + "_vag")
        assert kernel.inputs[:len(wrt)] == [w.name for w in wrt]
        args = self.args(kernel)
        before = [np.array(a, copy=True) for a in args]
        value, grads = kernel(*args)
        env = self.table.env()
        want = sb.evaluate([loss] + sb.grad(loss, wrt), env)
        assert np.shape(value) == () and len(grads) == len(wrt)
        assert_kernel_equal(np.float64(value), want[0], "value")
        for w, g, e in zip(wrt, grads, want[1:], strict=True):
            assert_kernel_equal(g, e, f"d/d{w.name}")
            assert_same_dtype_shape(g, w)
        if self.check_forward:   # the value-only entry point (a separate Numba compile)
            forward = kernel.forward(*args)
            forward = forward[0] if isinstance(forward, tuple) else forward
            assert_kernel_equal(np.float64(forward), want[0], "forward")
        for a, b in zip(args, before, strict=True):       # kernels never modify their inputs
            np.testing.assert_array_equal(a, b)
        return grads


def _total(cases, table):
    loss = None
    for c in cases:
        l_c = c.derivatives(table)[0]
        loss = l_c if loss is None else loss + l_c
    assert loss is not None, "no differentiable case to compile"
    return loss


# --- coverage -----------------------------------------------------------------------------


def covers(registry, *ops):
    """Decorator: a dedicated test covers ``ops`` (recorded in ``registry``, a set)."""
    def deco(fn):
        registry.update(ops)
        return fn
    return deco
