"""Automatic rerolling: repeated runs of a graph become scans, with the same numbers.

Each model is written the ordinary way (a Python loop, one variable per layer)
and checked three ways: the rerolled graph holds a loop of the expected length,
its value and gradient equal the unrolled graph's in the interpreter (and its
JVP), and the compiled kernel -- whose arguments and gradients stay one per
variable -- equals the interpreter.  Graphs without a long repetition are
returned unchanged, node for node.
"""
from __future__ import annotations

import numpy as np
import pytest

import symback as sb
from symback.backend import vecmath
from symback.ir import topo_order
from symback.passes.reroll import MIN_STEPS, reroll


def loops(expr):
    return sorted(n.attr("length") for n in topo_order([expr]) if n.op == "scan")


def assert_same_derivatives(flat, rolled, wrt, env, tangents=None):
    got = sb.evaluate([rolled] + sb.grad(rolled, wrt), env)
    want = sb.evaluate([flat] + sb.grad(flat, wrt), env)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    if tangents:
        np.testing.assert_allclose(sb.evaluate(sb.jvp(rolled, tangents), env),
                                   sb.evaluate(sb.jvp(flat, tangents), env), rtol=1e-12, atol=1e-14)


def w5(K):
    x, a = sb.var("x"), sb.var("a")
    u = x
    for _ in range(K):
        u = sb.sin(u) * u + sb.cos(a * u)
    return u, [x, a]


def dense_net(depth, width=3, residual=False):
    X = sb.var("X", (4, width))
    params, o = [], X
    for i in range(depth):
        W, b = sb.var(f"W{i}", (width, width)), sb.var(f"b{i}", (width,))
        params += [W, b]
        o = o + sb.tanh(o @ W.T + b) if residual else sb.sigmoid(o @ W.T + b)
    return sb.mean(o ** 2), params, X


def values_for(params, X, seed=0):
    rng = np.random.default_rng(seed)
    return {**{p.name: rng.normal(0, 0.7, p.shape) for p in params}, X.name: rng.normal(size=X.shape)}


def test_a_chain_of_scalar_steps_becomes_one_loop():
    y, wrt = w5(30)
    rolled = reroll(y)
    assert loops(rolled) == [30]
    assert len(topo_order([rolled])) < 10
    assert_same_derivatives(y, rolled, wrt, {"x": 0.3, "a": 0.7}, {wrt[0]: 1.0, wrt[1]: -0.5})


@pytest.mark.parametrize("residual", [False, True])
def test_layers_with_their_own_parameters_become_a_scan_over_stacked_parameters(residual):
    loss, params, X = dense_net(8, residual=residual)
    rolled = reroll(loss)
    assert sum(loops(rolled)) >= 7, loops(rolled)
    assert {n.op for n in topo_order([rolled])} >= {"scan", "stack"}
    env = values_for(params, X)
    assert_same_derivatives(loss, rolled, params, env, {params[0]: np.ones((3, 3))})


def test_structures_it_was_not_written_for():
    """Two carries, a per-step input shared by two ops, a value read after the
    loop from every step (stacked), and a second, different loop after it."""
    h0, A, t0 = sb.var("h0", (3,)), sb.var("A", (3, 3)), sb.var("t0")
    xs = [sb.var(f"x{k}", (3,)) for k in range(7)]
    h, total, outs = h0, t0, []
    for x in xs:
        h = sb.tanh(A @ h + x) * sb.sum(x)
        total = total + sb.sum(h * h)
        outs.append(h[0])
    c = sb.sum(sb.stack(outs) * np.arange(7.0))
    for _ in range(6):
        c = c * 0.5 + sb.sin(c) * total
    rolled = reroll(c)
    assert loops(rolled) == [6, 7]
    rng = np.random.default_rng(3)
    env = {"h0": rng.normal(size=3), "A": 0.5 * rng.normal(size=(3, 3)), "t0": 0.2,
           **{x.name: rng.normal(size=3) for x in xs}}
    assert_same_derivatives(c, rolled, [h0, A, xs[2], t0], env)
    # starting from 0.0, the first step simplifies (0 + s is s): it stays unrolled
    total = sb.const(0.0)
    for x in xs:
        total = total + sb.sum(sb.tanh(x * total))
    assert loops(reroll(total)) == [6]


def test_graphs_without_a_long_repetition_are_left_alone():
    X = sb.var("X", (5, 4))
    V, W = sb.var("V", (6, 4)), sb.var("W", (2, 6))
    loss = sb.mean(sb.softmax_cross_entropy(sb.sigmoid(X @ V.T) @ W.T, np.array([0, 1, 1, 0, 1])))
    assert reroll(loss) is loss
    short, _ = w5(MIN_STEPS - 1)
    assert reroll(short) is short
    outputs = [loss, short]
    assert all(a is b for a, b in zip(reroll(outputs), outputs, strict=True))



def test_sizes_known_only_at_call_time():
    Xn = sb.var("Xn", (None, 3))
    o, us = Xn, [sb.var(f"U{i}", (3, 3)) for i in range(14)]
    for u in us:
        o = sb.tanh(o @ u)
    loss = sb.sum(o * o)
    rolled = reroll(loss)
    assert loops(rolled) == [14]
    assert_same_derivatives(loss, rolled, us + [Xn], {"Xn": np.ones((2, 3)), **{u.name: np.eye(3) * 0.5 for u in us}})


def test_a_skip_connection_two_blocks_back_is_not_a_loop_of_one_block():
    x = sb.var("x")
    prev, u = x, x * 1.5
    for _ in range(12):
        prev, u = u, sb.sin(u) + 0.5 * prev
    rolled = reroll(u)
    assert_same_derivatives(u, rolled, [x], {"x": 0.4})


def test_kernel_of_a_rerolled_model_keeps_the_users_signature():
    loss, params, X = dense_net(6)
    kernel = sb.value_and_grad(loss, params, params + [X], name="rerolled_dense")
    assert kernel.inputs == [p.name for p in params] + ["X"]
    src = kernel.source
    compiled = src[src.index("def _value_and_grad("):].split("\n")[0]
    assert "W0" not in compiled, "per-layer parameters reach the compiled function stacked"
    env = values_for(params, X, seed=1)
    value, grads = kernel(*[env[p.name] for p in params], env["X"])
    want = sb.evaluate([loss] + sb.grad(loss, params), env)
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    assert len(grads) == len(params)
    for g, w, p in zip(grads, want[1:], params, strict=True):
        assert g.shape == p.shape
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-14)
    bad = [env[p.name] for p in params] + [env["X"]]
    bad[4] = np.ones((3, 2))   # W2: checked where the parameters are stacked, still named
    with pytest.raises(ValueError, match=r"W2: expected shape \(3, 3\)"):
        kernel(*bad)
    unrolled = sb.value_and_grad(loss, params, params + [X], name="rerolled_dense", reroll=False)
    assert "for k_" not in unrolled.source and "for k_" in src


def test_generated_code_does_not_grow_with_depth():
    sizes = []
    for depth in (10, 40):
        loss, params, X = dense_net(depth)
        src = sb.value_and_grad(loss, params, params + [X], name="depth").source   # never called: no JIT
        used = [h for h in vecmath.HELPERS.values() if f"{h}(" in src]
        src = src.replace("\n".join(vecmath.source(used)), "")   # the fixed math helpers
        body = src[src.index("@numba.njit"):src.index("\ndef forward(")]
        sizes.append(body.count("\n"))
    assert sizes[0] == sizes[1] < 80


def test_a_loop_reading_every_step_of_another_reads_its_stacked_array():
    x, a, v0 = sb.var("x"), sb.var("a"), sb.var("v")
    u, outs = x, []
    for _ in range(8):
        u = sb.sin(u) * a + sb.cos(u * 0.5)
        outs.append(u)
    v = v0
    for k in range(8):
        v = v * outs[k] + sb.tanh(v * outs[k] - 0.1)
    rolled = reroll(v)
    assert loops(rolled) == [8, 8]
    assert {n.op for n in topo_order([rolled])} == {"scan", "scan_get", "var"}, "no per-step code between the loops"
    assert_same_derivatives(v, rolled, [x, a, v0], {"x": 0.3, "a": 0.7, "v": 0.2})


def _random_block(rng, width):
    """A random step: a few ops over two carries (a vector and a scalar), one
    per-step vector input and a shared matrix; returns the new carries."""
    unary = [sb.tanh, sb.sin, sb.sigmoid, lambda v: v * 0.5]

    def step(h, s, x, M):
        pool = [h, x, M @ h]
        for _ in range(int(rng.integers(2, 6))):
            a, b = pool[int(rng.integers(len(pool)))], pool[int(rng.integers(len(pool)))]
            pool.append(unary[int(rng.integers(len(unary)))](a + b * float(rng.uniform(-1, 1))))
        new_h = sb.tanh(pool[-1] + pool[-2] * 0.3)
        return new_h, s * 0.9 + sb.sum(new_h * x)
    return step


@pytest.mark.parametrize("seed", range(12))
def test_random_repeated_blocks(seed):
    """Blocks the pass was not written for: random ops, repeated K times."""
    rng = np.random.default_rng(seed)
    width, K = 3, int(rng.integers(MIN_STEPS + 1, 12))
    h0, s0, M = sb.var("h0", (width,)), sb.var("s0"), sb.var("M", (width, width))
    xs = [sb.var(f"x{k}", (width,)) for k in range(K)]
    ops = [int(v) for v in rng.integers(0, 1 << 30, 8)]
    h, s = h0, s0
    for x in xs:
        h, s = _random_block(np.random.default_rng(ops), width)(h, s, x, M)   # the same block each step
    loss = s + sb.sum(h)
    rolled = reroll(loss)
    assert loops(rolled) == [K]
    values = np.random.default_rng(seed + 100)
    env = {"h0": values.normal(size=width), "s0": 0.3, "M": 0.5 * values.normal(size=(width, width)),
           **{x.name: values.normal(size=width) for x in xs}}
    assert_same_derivatives(loss, rolled, [h0, s0, M, xs[1]], env, {M: np.ones((width, width))})


def test_the_loop_does_not_depend_on_what_earlier_models_built():
    """Regression (this file was flaky under xdist): a node the first step needs
    already existed, made by an earlier test as ``x * 0.5`` (hash-consing gave it
    back with its old serial, and in another argument order), so the first step
    sorted apart from the others and one step fewer was rolled."""
    x, a = sb.var("x_hist"), sb.var("a_hist")
    earlier = [x * 0.5, sb.sin(x) * a]      # kept alive, as another model would
    u = x
    for _ in range(8):
        u = sb.sin(u) * a + sb.cos(0.5 * u)
    rolled = reroll(u)
    assert earlier[0] is 0.5 * x
    assert loops(rolled) == [8]
    assert_same_derivatives(u, rolled, [x, a], {"x_hist": 0.3, "a_hist": 0.7})
