"""symback.nn: layers and losses against numpy formulas, their compiler-made gradients
against central finite differences, initialisers and Params.

Finite differences run on the numpy reference interpreter (``sb.evaluate`` of the loss
and of ``sb.grad``), so they cost no Numba compile; one compiled kernel (a small net
with layer norm, batch norm, dropout and L2) is checked against the interpreter and
against finite differences of its own forward entry.
"""
import numpy as np
import pytest

import symback as sb
from symback import nn

RNG = np.random.default_rng(7)


def fd_check(loss, wrt, env, h=1e-6, rtol=1e-6):
    """sb.grad (interpreted) against central differences of the interpreted loss."""
    grads = sb.evaluate(sb.grad(loss, wrt), env)
    for w, g in zip(wrt, grads, strict=True):
        base = np.array(env[w.name], dtype=float)
        fd = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[i] += h
            minus[i] -= h
            fd[i] = (sb.evaluate(loss, {**env, w.name: plus}) - sb.evaluate(loss, {**env, w.name: minus})) / (2 * h)
        scale = max(1.0, float(np.max(np.abs(fd))))
        assert np.max(np.abs(g - fd)) <= rtol * scale, f"d loss / d {w.name}: AD {g} vs FD {fd}"
    return grads


def weighted(out):
    """A scalar that depends on every output element in a different way (sum of an
    output is constant under normalisation, which would make the check vacuous)."""
    R = sb.const(RNG.normal(size=(5, 3)))
    return sb.sum(sb.sin(out) * R)


X = sb.var("X", (None, 3))
g, b = sb.var("g", (3,)), sb.var("b", (3,))
ENV = {"X": RNG.normal(size=(5, 3)) * 2 + 1, "g": RNG.normal(size=3), "b": RNG.normal(size=3)}


# --- layers: values ----------------------------------------------------------------------


def test_dense_and_residual_values():
    W, c, V, d = (sb.var(n, s) for n, s in [("W", (3, 3)), ("c", (3,)), ("V", (3, 3)), ("d", (3,))])
    vals = {n: RNG.normal(size=s) for n, s in [("W", (3, 3)), ("c", 3), ("V", (3, 3)), ("d", 3)]}
    env = {**ENV, **vals}
    x = env["X"]
    np.testing.assert_allclose(sb.evaluate(nn.dense(X, W, c), env), x @ vals["W"].T + vals["c"])
    sig = 1 / (1 + np.exp(-(x @ vals["W"].T + vals["c"])))
    want = x + sig @ vals["V"].T + vals["d"]
    np.testing.assert_allclose(sb.evaluate(nn.residual(X, W, c, V, d), env), want, rtol=1e-13)
    tanh = np.tanh(x @ vals["W"].T + vals["c"]) @ vals["V"].T
    np.testing.assert_allclose(sb.evaluate(nn.residual(X, W, c, V, d, act="tanh"), env), x + tanh + vals["d"])
    with pytest.raises(ValueError, match="activation"):
        nn.activation("swish")


def test_layer_norm_value():
    x = ENV["X"]
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * ENV["g"] + ENV["b"]
    np.testing.assert_allclose(sb.evaluate(nn.layer_norm(X, g, b), ENV), want, rtol=1e-12)


def test_batch_norm_training_and_inference_values():
    x = ENV["X"]
    want = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3) * ENV["g"] + ENV["b"]
    np.testing.assert_allclose(sb.evaluate(nn.batch_norm(X, g, b, eps=1e-3), ENV), want, rtol=1e-12)
    mean, var = sb.evaluate(list(nn.batch_stats(X)), ENV)
    np.testing.assert_allclose(mean, x.mean(0)), np.testing.assert_allclose(var, x.var(0))
    rm, rv = sb.var("rm", (3,)), sb.var("rv", (3,))
    env = {**ENV, "rm": np.array([0.5, -1, 2]), "rv": np.array([1.0, 4.0, 0.25])}
    want = (x - env["rm"]) / np.sqrt(env["rv"] + 1e-5) * ENV["g"] + ENV["b"]
    np.testing.assert_allclose(sb.evaluate(nn.batch_norm(X, g, b, running=(rm, rv)), env), want, rtol=1e-12)


def test_running_stats_update():
    rm, rv = np.zeros(3), np.ones(3)
    bm, bv = np.array([1.0, 2, 3]), np.array([2.0, 2, 2])
    nn.update_running_stats(rm, rv, bm, bv, 5, 0.1)
    np.testing.assert_allclose(rm, 0.1 * bm)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * bv * 5 / 4)      # unbiased batch variance


def test_dropout_mask_and_value():
    rate = 0.25
    mask = nn.dropout_mask(np.random.default_rng(0), (400, 50), rate)
    assert set(np.unique(mask)) == {0.0, 1 / (1 - rate)}
    assert abs(np.mean(mask == 0) - rate) < 0.01 and abs(mask.mean() - 1) < 0.02   # expectation kept
    np.testing.assert_array_equal(mask, nn.dropout_mask(np.random.default_rng(0), (400, 50), rate))
    M = sb.var("M", (None, 3))
    m = nn.dropout_mask(RNG, (5, 3), 0.5)
    np.testing.assert_array_equal(sb.evaluate(nn.dropout(X, M), {**ENV, "M": m}), ENV["X"] * m)
    with pytest.raises(ValueError):
        nn.dropout_mask(RNG, 3, 1.0)


# --- layers: gradients against finite differences ----------------------------------------


def test_layer_norm_gradient_fd():
    fd_check(weighted(nn.layer_norm(X, g, b)), [X, g, b], ENV)


def test_batch_norm_gradient_fd():
    grads = fd_check(weighted(nn.batch_norm(X, g, b)), [X, g, b], ENV)
    # the batch statistics are differentiated too: not the gradient of a fixed affine map
    # (inference mode with the same statistics as fixed inputs gives another gradient)
    x = ENV["X"]
    rm, rv = sb.var("rm", (3,)), sb.var("rv", (3,))
    env = {**ENV, "rm": x.mean(0), "rv": x.var(0)}
    g_fixed = sb.evaluate(sb.grad(weighted(nn.batch_norm(X, g, b, running=(rm, rv))), [X]), env)[0]
    assert np.max(np.abs(g_fixed - grads[0])) > 1e-3
    fd_check(weighted(nn.batch_norm(X, g, b, running=(rm, rv))), [X, g, b, rm, rv], env)


def test_dropout_gradient_fd():
    M = sb.var("M", (None, 3))
    mask = nn.dropout_mask(np.random.default_rng(3), (5, 3), 0.4)
    env = {**ENV, "M": mask}
    (gX,) = fd_check(weighted(nn.dropout(sb.tanh(X), M)), [X], env)
    assert np.all(gX[mask == 0] == 0)                         # dropped units pass no gradient


# --- losses ----------------------------------------------------------------------------


def test_square_and_mse():
    Y, T = sb.var("Y", (None, 2)), sb.var("T", (None, 2))
    y, t = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 2))
    env = {"Y": y, "T": t}
    assert sb.evaluate(nn.square(Y, T), env) == pytest.approx(np.mean(0.5 * np.sum((y - t) ** 2, 1)))
    assert sb.evaluate(nn.mse(Y, T), env) == pytest.approx(np.mean((y - t) ** 2))
    np.testing.assert_allclose(sb.evaluate(nn.square(Y, T, "none"), env), 0.5 * np.sum((y - t) ** 2, 1))
    assert sb.evaluate(nn.square(Y, T, "sum"), env) == pytest.approx(0.5 * np.sum((y - t) ** 2))
    # the 1/2 makes the derivative y - t (per example, then the batch mean)
    (gy,) = sb.evaluate(sb.grad(nn.square(Y, T, "sum"), [Y]), env)
    np.testing.assert_allclose(gy, y - t)
    with pytest.raises(ValueError, match="reduction"):
        nn.mse(Y, T, "max")


def test_binary_cross_entropy_stable_and_exact():
    Z, T = sb.var("Z", (None,)), sb.var("T", (None,))
    z = np.array([-3.0, -0.5, 0.0, 0.7, 2.0])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.3])
    p = 1 / (1 + np.exp(-z))
    naive = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    loss = nn.binary_cross_entropy(Z, T)
    assert sb.evaluate(loss, {"Z": z, "T": t}) == pytest.approx(naive.mean(), rel=1e-13)
    (gz,) = sb.evaluate(sb.grad(loss, [Z]), {"Z": z, "T": t})
    np.testing.assert_allclose(gz, (p - t) / len(z), rtol=1e-12)   # z = 0 included
    # extreme logits: finite, ~|z| for a confident wrong answer, ~0 for a right one
    big = {"Z": np.array([1000.0, -1000.0, 1000.0]), "T": np.array([0.0, 1.0, 1.0])}
    np.testing.assert_allclose(sb.evaluate(nn.binary_cross_entropy(Z, T, "none"), big), [1000, 1000, 0])
    (gz,) = sb.evaluate(sb.grad(nn.binary_cross_entropy(Z, T, "sum"), [Z]), big)
    np.testing.assert_allclose(gz, [1, -1, 0])


def test_softmax_cross_entropy_and_l2():
    L, labels = sb.var("L", (None, 3)), sb.var("labels", (None,), "int64")
    logits, lab = RNG.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    env = {"L": logits, "labels": lab}
    assert sb.evaluate(nn.softmax_cross_entropy(L, labels), env) == pytest.approx(-logp[range(4), lab].mean())
    W, V = sb.var("W", (2, 3)), sb.var("V", (3,))
    w, v = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    reg = nn.l2([W, V], 0.1)
    assert sb.evaluate(reg, {"W": w, "V": v}) == pytest.approx(0.05 * (np.sum(w ** 2) + np.sum(v ** 2)))
    gw, gv = sb.evaluate(sb.grad(reg, [W, V]), {"W": w, "V": v})
    np.testing.assert_allclose(gw, 0.1 * w), np.testing.assert_allclose(gv, 0.1 * v)   # weight decay


def test_accuracy_helper():
    assert nn.accuracy(np.array([[1, 0, 0], [0, 2, 1], [0, 3, 4]]), np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert nn.accuracy(np.array([[-1.0], [2.0]]), np.array([0, 0])) == 0.5


# --- initialisers and Params --------------------------------------------------------------


def test_initialisers_seeded_and_scaled():
    shape = (400, 300)                                        # (out, in)
    for name, std in [("xavier", np.sqrt(2 / 700)), ("he", np.sqrt(2 / 300)), ("normal", 0.1),
                      ("xavier_uniform", np.sqrt(2 / 700)), ("he_uniform", np.sqrt(2 / 300)),
                      ("uniform", 0.1 / np.sqrt(3))]:
        a = nn.initial_value(name, np.random.default_rng(1), shape)
        np.testing.assert_array_equal(a, nn.initial_value(name, np.random.default_rng(1), shape))
        assert a.std() == pytest.approx(std, rel=0.02), name
    assert np.all(nn.initial_value("zeros", None, (2, 2)) == 0) and np.all(nn.initial_value(0.0, None, 3) == 0)
    with pytest.raises(ValueError, match="initialiser"):
        nn.initial_value("glorot", np.random.default_rng(), (2, 2))


def test_params_follow_the_workloads_draw_order():
    """Params(rng) after the data reproduces W4r's numbers (W, c, V, b per layer, then the output)."""
    rng = np.random.default_rng(0)
    rng.normal(0.0, 1.0, (64, 32)), rng.normal(0.0, 1.0, (64, 1))
    p = nn.Params(rng)
    for _ in range(2):
        p.residual(32, init=0.1, bias=0.1)
    p.dense(32, 1, init=0.1, bias=0.1, name="_out")
    assert [v.name for v in p.vars] == ["W1", "c1", "V1", "b1", "W2", "c2", "V2", "b2", "W_out", "b_out"]
    want = np.random.default_rng(0)
    want.normal(0.0, 1.0, (64, 32)), want.normal(0.0, 1.0, (64, 1))
    for v, value in zip(p.vars, p.values, strict=True):
        np.testing.assert_array_equal(value, want.normal(0.0, 0.1, v.shape))
    q = nn.Params(seed=3)
    gain, bias = q.norm(4)
    assert gain.name == "ln_gain1" and np.all(q.values[0] == 1) and np.all(q.values[1] == 0)
    with pytest.raises(ValueError, match="already"):
        q.add("ln_gain1", (4,))


# --- one compiled kernel: dense, layer norm, batch norm, dropout, L2 ------------------------


@pytest.fixture(scope="module")
def net():
    p = nn.Params(seed=11)
    Xin, T, M = sb.var("X", (None, 4)), sb.var("T", (None, 2)), sb.var("M", (None, 5))
    W1, b1 = p.dense(4, 5)
    g1, c1 = p.norm(5)
    g2, c2 = p.norm(5, prefix="bn")
    W2, b2 = p.dense(5, 2)
    h = nn.layer_norm(nn.dense(Xin, W1, b1), g1, c1)
    h = nn.dropout(nn.batch_norm(nn.tanh(h), g2, c2), M)
    loss = nn.mse(nn.dense(h, W2, b2), T) + nn.l2([W1, W2], 0.01)
    kernel = sb.value_and_grad(loss, p.vars, p.vars + [Xin, T, M], name="test_nn_norms")
    rng = np.random.default_rng(5)
    data = [rng.normal(size=(6, 4)), rng.normal(size=(6, 2)), nn.dropout_mask(rng, (6, 5), 0.3)]
    # non-trivial gains and biases
    values = [v + rng.normal(0, 0.3, v.shape) for v in p.values]
    return loss, p, kernel, values, data


def test_compiled_norms_kernel_matches_interpreter(net):
    loss, p, kernel, values, data = net
    value, grads = kernel(*values, *data)
    env = {**{v.name: a for v, a in zip(p.vars, values, strict=True)}, "X": data[0], "T": data[1], "M": data[2]}
    assert value == pytest.approx(sb.evaluate(loss, env), rel=1e-12)
    for got, want in zip(grads, sb.evaluate(sb.grad(loss, p.vars), env), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_compiled_norms_kernel_fd(net):
    loss, p, kernel, values, data = net
    _, grads = kernel(*values, *data)
    h = 1e-6
    for k in range(len(values)):
        for i in list(np.ndindex(values[k].shape))[:3]:
            plus = [v.copy() for v in values]
            minus = [v.copy() for v in values]
            plus[k][i] += h
            minus[k][i] -= h
            fd = (kernel.forward(*plus, *data) - kernel.forward(*minus, *data)) / (2 * h)
            assert grads[k][i] == pytest.approx(fd, rel=1e-5, abs=1e-8), (p.vars[k].name, i)


# --- a compiler issue found while building the examples -------------------------------------


def test_same_model_same_text_whatever_was_built_before():
    import gc

    def source():
        x, w = sb.var("x_det", (None, 3)), sb.var("w_det", (3,))
        return sb.value_and_grad(sb.sum(sb.sin(x + w)), [w], [w, x], name="det").source

    first = source()
    gc.collect()
    keep = sb.var("w_det", (3,))   # noqa: F841 - an earlier model's variable, still alive
    assert source() == first


# --- repeated layers as one loop ------------------------------------------------------------


def test_repeat_is_one_loop_equal_to_the_python_loop():
    X = sb.var("X", (None, 4))
    p = nn.Params(3)
    layers = [p.residual(4, init=0.3) for _ in range(5)]
    looped = nn.mse(nn.repeat(nn.residual, X, layers), 1.0)
    o = X
    for layer in layers:
        o = nn.residual(o, *layer)
    flat = nn.mse(o, 1.0)
    assert [n.attr("length") for n in sb.ir.topo_order([looped]) if n.op == "scan"] == [5]
    env = {**{v.name: value for v, value in zip(p.vars, p.values)},
           "X": np.random.default_rng(0).normal(size=(3, 4))}
    got = sb.evaluate([looped] + sb.grad(looped, p.vars), env)
    want = sb.evaluate([flat] + sb.grad(flat, p.vars), env)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="layer 2 has parameters of shapes"):
        nn.repeat(nn.dense, X, [p.dense(4, 4), p.dense(4, 3)])
