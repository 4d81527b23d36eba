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


def weights_for(text, shape):
    return rng_for("w" + text).uniform(0.5, 1.5, shape)


def tangent_for(text, shape):
    return rng_for("t" + text).normal(size=shape)


def ops_in(exprs):
    return {n.op for n in topo_order(list(exprs))}


def case_ops(cases, table):
    """Every op that appears in the value graphs of ``cases``."""
    return ops_in([c.expr(table) for c in cases])


# --- oracles --------------------------------------------------------------------------------


def assert_same_dtype_shape(got, expected_node):
    got = np.asarray(got)
    assert got.shape == tuple(expected_node.shape), (got.shape, expected_node.shape)
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
    for n, g_node, g in zip(names, grads, got):
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
    tvals = {n: np.asarray(tangents[table[n]]) for n in names}
    directional = sum(float(np.sum(g * tvals[n])) for n, g in zip(names, gvals))
    got = float(sb.evaluate(jl, env))
    np.testing.assert_allclose(got, directional, rtol=case.jvp_rtol,
                               atol=case.jvp_rtol * max(1.0, abs(directional)))
    # the JVP of the (array) value itself against finite differences along the tangent
    y = case.expr(table)
    jyv = sb.evaluate(jy, env)
    assert jyv.shape == tuple(y.shape)
    fd = fd_directional(lambda e: sb.evaluate(y, e), env, tvals, case.fd_h)
    np.testing.assert_allclose(jyv, fd, rtol=case.fd_rtol * 10, atol=case.fd_rtol * 10,
                               err_msg=f"{case.id}: jvp vs finite differences")


# --- compiled kernels --------------------------------------------------------------------


def assert_kernel_equal(got, want, what, rtol=KERNEL_RTOL):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    if want.dtype.kind in "bi":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-300),
                                   equal_nan=True, err_msg=what)


class Batch:
    """Many cases' values (and gradients and JVPs) as the outputs of one kernel."""

    def __init__(self, cases, table, name):
        self.labels, outputs = [], []
        for c in cases:
            if not c.compiled:
                continue
            outputs.append(c.expr(table))
            self.labels.append(f"{c.id}: value")
            if c.diff:
                loss, names, grads, jl, jy, _ = c.derivatives(table)
                outputs += list(grads) + [jl, jy]
                self.labels += [f"{c.id}: d/d{n}" for n in names] + [f"{c.id}: jvp(loss)", f"{c.id}: jvp(y)"]
        self.outputs = outputs
        self.kernel = sb.compile(outputs, None, name=name)
        self.table = table
        env = table.env()
        self.args = [env[n] for n in self.kernel.inputs]
        self.results = self.kernel(*self.args)
        self.expected = sb.evaluate(outputs, env)

    def check(self, case_id):
        hits = [i for i, l in enumerate(self.labels) if l.startswith(case_id + ":")]
        assert hits, f"{case_id} is not in the compiled batch"
        for i in hits:
            assert_kernel_equal(self.results[i], self.expected[i], self.labels[i])
            assert_same_dtype_shape(self.results[i], self.outputs[i])


def total_loss(cases, table):
    """Sum of every differentiable case's loss, with the float vars it reads."""
    loss = None
    for c in cases:
        if c.diff and c.compiled:
            l_c = c.derivatives(table)[0]
            loss = l_c if loss is None else loss + l_c
    return loss


# --- coverage -----------------------------------------------------------------------------


def covers(registry, *ops):
    """Decorator: a dedicated test covers ``ops`` (recorded in ``registry``, a set)."""
    def deco(fn):
        registry.update(ops)
        return fn
    return deco
