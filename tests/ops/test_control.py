"""Loops: ``sb.scan`` and ``sb.fori_loop`` (the ``scan`` and ``scan_get`` ops).

Every loop case is checked like any op (helpers.py): its interpreted value
against a plain-numpy loop, its gradient against central finite differences,
its JVP against the gradient and finite differences, and one batched compiled
kernel against the interpreter.  Dedicated tests add the unrolled graph as an
oracle (the same model written as a Python loop), grad of grad, SymPy, the
shape of the generated code (a real ``for`` loop, the same size for any number
of steps, no tape in a forward-only kernel) and the errors raised at build.
Kernels are kept small: one module-scope batch for the cases and one
value_and_grad kernel.
"""
from __future__ import annotations

import numpy as np
import pytest

import symback as sb
from symback.control_flow import LoopError

from .helpers import (Case, Compiled, VarTable, check_grad, check_jvp, check_value, covers, params)

COVERED: set = set()

T = VarTable()
T.add("x", (), value=0.3)
T.add("a", (), value=0.7)
T.add("h0", (3,), kind="signed")
T.add("M", (3, 3), value=0.6 * np.random.default_rng(1).normal(size=(3, 3)))
T.add("R", (4, 3), kind="signed")
T.add("w", (4,), kind="positive")
T.add("O", (4, 3), kind="signed")
T.add("Ws", (5, 3, 3), value=0.7 * np.random.default_rng(2).normal(size=(5, 3, 3)))
T.add("bs", (5, 3), kind="signed")
T.add("On", (None, 3), value=np.random.default_rng(3).normal(size=(6, 3)))

K = 6


def w5_step(a):
    return lambda i, u: sb.sin(u) * u + sb.cos(a * u)


def ref_w5(x, a, k=K):
    u = x
    for _ in range(k):
        u = np.sin(u) * u + np.cos(a * u)
    return u


def rnn_step(M):
    """Tuple carry (h, s) and tuple xs (row, weight); y is a scalar per step."""
    def step(carry, x):
        h, s = carry
        r, w = x
        h = sb.tanh(M @ h + r * w)
        return (h, s + sb.sum(h * h)), h[0] * s
    return step


def ref_rnn(h, s, M, R, w):
    ys = []
    for r, wk in zip(R, w, strict=True):
        h = np.tanh(M @ h + r * wk)
        ys.append(h[0] * s)
        s = s + np.sum(h * h)
    return h, s, np.array(ys)


def rnn(h0, x, M, R, w):
    (h, s), ys = sb.scan(rnn_step(M), (h0, x), (R, w))
    return ys * s + sb.sum(h)


def ref_rnn_expr(h0, x, M, R, w):
    h, s, ys = ref_rnn(h0, x, M, R, w)
    return ys * s + np.sum(h)


def dense_stack(O, Ws, bs):
    out, _ = sb.scan(lambda o, p: (sb.sigmoid(o @ p[0].T + p[1]), None), O, (Ws, bs))
    return out


def ref_dense_stack(O, Ws, bs):
    for W, b in zip(Ws, bs, strict=True):
        O = 1.0 / (1.0 + np.exp(-(O @ W.T + b)))
    return O


def reverse_cumsum(R, a):
    """reverse=True: step k reads row k, from the last to the first."""
    total, ys = sb.scan(lambda c, r: (c * a + r, c * a + r), sb.zeros_like(R[0]), R, reverse=True)
    return ys + total


def ref_reverse_cumsum(R, a):
    c, ys = np.zeros(R.shape[1]), np.zeros_like(R)
    for k in range(R.shape[0] - 1, -1, -1):
        c = c * a + R[k]
        ys[k] = c
    return ys + c


def indexed(x, a):
    """fori_loop reading its index i (an int64 scalar)."""
    return sb.fori_loop(5, lambda i, u: u * sb.cos(sb.astype(i, "float64") * a) + 0.1 * u * u, x)


def ref_indexed(x, a):
    u = x
    for i in range(5):
        u = u * np.cos(i * a) + 0.1 * u * u
    return u


def nested(x, a, h0):
    """A loop inside a loop body, reading the outer carry and a captured value."""
    def outer(c, _):
        inner = sb.fori_loop(3, lambda i, u: sb.tanh(u * a + c), c)
        return inner * 0.9 + x, sb.sum(inner)
    final, ys = sb.scan(outer, h0, length=4)
    return sb.sum(final) + sb.sum(ys * ys)


def ref_nested(x, a, h0):
    c, ys = h0, []
    for _ in range(4):
        u = c
        for _ in range(3):
            u = np.tanh(u * a + c)
        ys.append(np.sum(u))
        c = u * 0.9 + x
    return np.sum(c) + np.sum(np.array(ys) ** 2)


CASES: list[Case] = [
    Case("fori_loop[w5]", lambda x, a: sb.fori_loop(K, w5_step(a), x), ref_w5, ("x", "a")),
    Case("scan[tuple carry, tuple xs]", rnn, ref_rnn_expr, ("h0", "x", "M", "R", "w")),
    Case("scan[dense layers]", dense_stack, ref_dense_stack, ("O", "Ws", "bs")),
    Case("scan[run-time rows]", dense_stack, ref_dense_stack, ("On", "Ws", "bs")),
    Case("scan[reverse]", reverse_cumsum, ref_reverse_cumsum, ("R", "a")),
    Case("fori_loop[index]", indexed, ref_indexed, ("x", "a")),
    Case("scan[nested]", nested, ref_nested, ("x", "a", "h0")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_value(case):
    check_value(case, T)


@pytest.mark.parametrize("case", params(CASES))
def test_grad_matches_finite_differences(case):
    check_grad(case, T)


@pytest.mark.parametrize("case", params(CASES))
def test_jvp_matches_grad_and_finite_differences(case):
    check_jvp(case, T)


# --- the unrolled graph as an oracle ---------------------------------------------------------------


def _unrolled_rnn(h0, x, M, R, w):
    h, s, ys = h0, x, []
    for k in range(R.shape[0]):
        h = sb.tanh(M @ h + R[k] * w[k])
        ys.append(h[0] * s)
        s = s + sb.sum(h * h)
    return sb.stack(ys) * s + sb.sum(h)


def test_scan_equals_the_unrolled_graph_with_its_derivatives():
    args = [T[n] for n in ("h0", "x", "M", "R", "w")]
    y_loop, y_flat = rnn(*args), _unrolled_rnn(*args)
    weights = sb.const(np.array([0.5, -1.0, 2.0, 0.25]))
    loss_loop, loss_flat = sb.sum(y_loop * weights), sb.sum(y_flat * weights)
    wrt = [T[n] for n in ("h0", "x", "M", "R", "w")]
    env = T.env()
    got = sb.evaluate([loss_loop] + sb.grad(loss_loop, wrt), env)
    want = sb.evaluate([loss_flat] + sb.grad(loss_flat, wrt), env)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    tangents = {T["M"]: np.ones((3, 3)), T["x"]: 0.5}
    np.testing.assert_allclose(sb.evaluate(sb.jvp(loss_loop, tangents), env),
                               sb.evaluate(sb.jvp(loss_flat, tangents), env), rtol=1e-12)


@covers(COVERED, "scan", "scan_get")
def test_grad_of_grad_matches_finite_differences_of_the_gradient():
    """Hessian-vector products: the reverse scan is differentiated again."""
    x, a = T["x"], T["a"]
    y = sb.fori_loop(K, w5_step(a), x)
    g = sb.grad(y, [x, a])
    hv = sb.hvp(y, [x, a], [0.3, -1.0])
    env, h = T.env(), 1e-5
    plus = sb.evaluate(g, {**env, "x": env["x"] + 0.3 * h, "a": env["a"] - h})
    minus = sb.evaluate(g, {**env, "x": env["x"] - 0.3 * h, "a": env["a"] + h})
    fd = [(p - m) / (2 * h) for p, m in zip(plus, minus, strict=True)]
    np.testing.assert_allclose(sb.evaluate(hv, env), fd, rtol=1e-6, atol=1e-9)
    # and forward over reverse agrees with reverse over reverse
    fwd = sb.jvp(g, {x: 0.3, a: -1.0})
    np.testing.assert_allclose(sb.evaluate(fwd, env), sb.evaluate(hv, env), rtol=1e-10, atol=1e-14)


def test_to_sympy_unrolls_the_loop():
    import sympy
    x, a = T["x"], T["a"]
    y = sb.fori_loop(3, w5_step(a), x)
    u = sb.to_sympy(x)
    for _ in range(3):
        u = sympy.sin(u) * u + sympy.cos(sb.to_sympy(a) * u)
    assert sympy.simplify(sb.to_sympy(y) - u) == 0
    (gx,) = sb.grad(y, [x])
    diff = sb.to_sympy(gx) - sympy.diff(u, sb.to_sympy(x))
    point = {sympy.Symbol("x", real=True): 0.3, sympy.Symbol("a", real=True): 0.7}
    assert abs(float(diff.subs(point))) < 1e-12


# --- compiled ----------------------------------------------------------------------------------------


def _second_order():
    """Reverse over reverse and forward over reverse of a loop, as compiled outputs."""
    x, a = T["x"], T["a"]
    y = sb.fori_loop(K, w5_step(a), x)
    hv = sb.hvp(y, [x, a], [0.3, -1.0])
    fwd = sb.jvp(sb.grad(y, [x, a]), {x: 0.3, a: -1.0})
    return {"hvp[x]": hv[0], "hvp[a]": hv[1], "jvp of grad[a]": fwd[1]}


@pytest.fixture(scope="module")
def compiled():
    return Compiled(CASES, T, "ops_control", extras=_second_order(), vag_cases=[CASES[0]],
                    check_forward=True)


def test_compiled_matches_interpreter(compiled):
    """One kernel holds every case, its gradients and its JVP (several loops,
    forward and reverse, nested); a value_and_grad kernel checks that entry."""
    assert compiled.check_values() == len(CASES) + 3
    assert compiled.check_derivatives() == len(compiled.wrt)
    compiled.check_value_and_grad()
    assert "for k_" in compiled.kernel.source


def test_generated_code_is_a_loop_whose_size_does_not_depend_on_steps():
    x, a = sb.var("x"), sb.var("a")
    sources = []
    for steps in (10, 1000):
        y = sb.fori_loop(steps, w5_step(a), x)
        sources.append(sb.value_and_grad(y, [x, a], name="loop_size").source)   # not called: never JIT-compiled
    assert "range(1000)" in sources[1] and "range(1000 - 1, -1, -1)" in sources[1]
    assert sources[0].count("\n") == sources[1].count("\n") < 150
    forward = sources[1][sources[1].index("def _forward"):sources[1].index("def forward")]
    assert "_empty(" not in forward, "a forward-only kernel must not write the tape"
    vag = sources[1][sources[1].index("def _value_and_grad"):]
    backward = vag[vag.index("reverse loop"):vag.index("return")]
    assert "math." not in backward, "the reverse loop must read the tape, not recompute the step"


def test_run_time_sizes_change_between_calls(compiled):
    case = next(c for c in CASES if c.id == "scan[run-time rows]")
    for rows in (1, 9):
        env = {**T.env(), "On": np.random.default_rng(rows).normal(size=(rows, 3))}
        np.testing.assert_allclose(compiled.value(case.id, env), case.ref(*[env[a] for a in case.args]),
                                   rtol=1e-12)


def test_zero_steps_and_kernel_outputs_are_fresh_arrays():
    h = sb.var("h", (3,))
    final, ys = sb.scan(lambda c, _: (c * 2.0, c), h, length=0)
    value = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(sb.evaluate(final, {"h": value}), value)
    assert sb.evaluate(ys, {"h": value}).shape == (0, 3)


# --- errors at build -----------------------------------------------------------------------------------


def test_errors_name_the_argument():
    h, R = sb.var("h", (3,)), sb.var("R", (4, 3))
    with pytest.raises(LoopError, match="must return a pair"):
        sb.scan(lambda c, x: c + x, h, R)
    with pytest.raises(sb.ShapeError, match=r"carry.*shape \(\)"):
        sb.scan(lambda c, x: (sb.sum(c), x), h, R)
    with pytest.raises(LoopError, match=r"structure \(an array, an array\).*init is an array"):
        sb.scan(lambda c, x: ((c, c), x), h, R)
    with pytest.raises(LoopError, match="dtype int64"):
        sb.fori_loop(3, lambda i, c: i, sb.var("u"))
    with pytest.raises(sb.ShapeError, match=r"xs\[1\] has 5 rows"):
        sb.scan(lambda c, x: (c, None), h, (R, sb.var("S", (5, 3))))
    with pytest.raises(sb.ShapeError, match="length=3"):
        sb.scan(lambda c, x: (c, None), h, R, length=3)
    with pytest.raises(sb.ShapeError, match=r"xs has shape \(\?, 3\); the scanned axis needs a static size"):
        sb.scan(lambda c, x: (c, None), h, sb.var("Rn", (None, 3)))
    with pytest.raises(TypeError, match="give xs or length"):
        sb.scan(lambda c, x: (c, None), h)
    with pytest.raises(TypeError, match="fori_loop: n must be"):
        sb.fori_loop(2.5, lambda i, c: c, h)


def test_explain_degrades_gracefully_on_loops():
    x, a = sb.var("x"), sb.var("a")
    y = sb.fori_loop(3, w5_step(a), x) * 2.0
    text = str(sb.explain(y, [x, a], {"x": 0.3, "a": 0.7}))
    assert "loop" in text
    e = sb.explain(y, [x, a], {"x": 0.3, "a": 0.7})
    h = 1e-6
    fd = (2 * ref_w5(0.3 + h, 0.7, 3) - 2 * ref_w5(0.3 - h, 0.7, 3)) / (2 * h)
    np.testing.assert_allclose(e.gradient["x"], fd, rtol=1e-6)
