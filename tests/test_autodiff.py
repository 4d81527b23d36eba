"""Reverse mode, forward mode, Jacobians and Hessians, checked against central
finite differences on the reference interpreter and against SymPy."""
import numpy as np
import pytest
import sympy

import symback as sb
from symback.ir import topo_order

# --- helpers ---------------------------------------------------------------------------


def fd(expr, env, name, h=1e-6):
    """Central differences of ``expr`` (any shape) with respect to every element
    of the variable ``name``: an array of shape expr.shape + var.shape."""
    base = np.asarray(env[name], dtype=float)
    y0 = np.asarray(sb.evaluate(expr, env))
    out = np.zeros(y0.shape + base.shape)
    for idx in np.ndindex(*base.shape) if base.shape else [()]:
        plus, minus = base.copy(), base.copy()
        plus[idx] += h
        minus[idx] -= h
        yp = sb.evaluate(expr, {**env, name: plus if base.shape else float(plus)})
        ym = sb.evaluate(expr, {**env, name: minus if base.shape else float(minus)})
        out[(Ellipsis,) + idx] = (yp - ym) / (2 * h)
    return out


def rng_env(seed, **shapes):
    rng = np.random.default_rng(seed)
    return {k: (rng.normal(size=s) if s != () else float(rng.normal())) for k, s in shapes.items()}


# --- grad vs finite differences on several models -------------------------------------


def model_lecture():
    x, z = sb.var("x"), sb.var("z")
    y = sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z)
    return y, [x, z], {"x": 2.0, "z": 3.0}


def model_mlp():
    X, W, b, V = sb.var("X", (5, 4)), sb.var("W", (3, 4)), sb.var("b", (3,)), sb.var("V", (3, 2))
    labels = np.array([0, 1, 1, 0, 1])
    logits = sb.tanh(X @ W.T + b) @ V
    y = sb.mean(sb.softmax_cross_entropy(logits, labels))
    return y, [X, W, b, V], rng_env(0, X=(5, 4), W=(3, 4), b=(3,), V=(3, 2))


def model_stable_reductions():
    A, B = sb.var("A", (3, 4)), sb.var("B", (3, 4))
    y = sb.sum(sb.logsumexp(A, axis=0)) + sb.sum(sb.softmax(A, axis=1) * B) \
        + sb.sum(sb.log_softmax(B, axis=0) * A)
    return y, [A, B], rng_env(1, A=(3, 4), B=(3, 4))


def model_structure():
    A, C, s = sb.var("A", (3, 4)), sb.var("C", (2, 5)), sb.var("s")
    r = sb.reshape(A, (6, 2)).T @ sb.reshape(sb.transpose(A), (2, 6)).T  # (2, 2)
    y = sb.sum((r @ C) ** 2) * 0.01 + sb.sum(A[1, :]) * sb.sigmoid(s) \
        + sb.sum(sb.stack([A[0], A[2] * s], axis=1) ** 3) + sb.mean(A[:, 1:3] * A[:, None, 0]) + sb.sum(A[::2, -1])
    return y, [A, C, s], rng_env(2, A=(3, 4), C=(2, 5), s=())


def model_singular_ops():
    A, B = sb.var("A", (4, 3)), sb.var("B", (4, 3))
    y = sb.sum(sb.where(A > 0.0, sb.sqrt(A * A + 1.0), A ** 2) / (1.0 + B * B)) \
        + sb.sum(sb.abs(B) ** 1.5) + sb.sum(sb.log(1.0 + A * A) * sb.cos(B)) + sb.sum(sb.tan(0.3 * B))
    return y, [A, B], rng_env(3, A=(4, 3), B=(4, 3))


def model_kinks_away_from_ties():
    a, b = sb.var("a", (6,)), sb.var("b", (6,))
    y = sb.sum(sb.maximum(a, b) * sb.minimum(a, 2.0 * b)) + sb.sum(sb.relu(a) * b) + sb.sum(sb.abs(a - b))
    return y, [a, b], rng_env(4, a=(6,), b=(6,))


def model_runtime_dim():
    X, w = sb.var("X", (None, 3)), sb.var("w", (3,))
    y = sb.mean(sb.log(1.0 + sb.exp(-(X @ w)))) + 0.1 * (w @ w)
    env = rng_env(5, w=(3,))
    env["X"] = np.random.default_rng(6).normal(size=(7, 3))
    return y, [w], env


MODELS = [model_lecture, model_mlp, model_stable_reductions, model_structure, model_singular_ops,
          model_kinks_away_from_ties, model_runtime_dim]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_grad_matches_finite_differences(model):
    y, wrt, env = model()
    grads = sb.grad(y, wrt)
    assert len(grads) == len(wrt)
    values = sb.evaluate(grads, env)
    for w, g, v in zip(wrt, grads, values, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(v, fd(y, env, w.name), rtol=1e-6, atol=1e-7, err_msg=w.name)


def test_grad_of_single_variable_returns_single_expression():
    x = sb.var("x")
    g = sb.grad(sb.sin(x) * x, x)
    assert isinstance(g, sb.Node)
    np.testing.assert_allclose(sb.evaluate(g, {"x": 0.7}), np.cos(0.7) * 0.7 + np.sin(0.7), rtol=1e-14)


# --- fan-out: the lecture example ---------------------------------------------------------


def test_lecture_example_values():
    y, (x, z), env = model_lecture()
    gx, gz = sb.grad(y, [x, z])
    yv, gxv, gzv = sb.evaluate([y, gx, gz], env)
    np.testing.assert_allclose(yv, 412.19145728412117552, rtol=1e-13)
    np.testing.assert_allclose(gxv, 1208.3812151266096294, rtol=1e-13)
    np.testing.assert_allclose(gzv, 809.70747921856408121, rtol=1e-13)


def test_fan_out_contributions_are_summed():
    x = sb.var("x")
    a = sb.sin(x)  # used by four consumers
    y = a * a + a / x + sb.exp(a) + a
    g = sb.grad(y, x)
    xv = 0.4
    s, c = np.sin(xv), np.cos(xv)
    expected = c * (2 * s + 1 / xv + np.exp(s) + 1) - s / xv ** 2
    np.testing.assert_allclose(sb.evaluate(g, {"x": xv}), expected, rtol=1e-14)


def test_lecture_gradient_graph_has_no_duplicate_node():
    y, (x, z), _ = model_lecture()
    grads = sb.grad(y, [x, z])
    nodes = topo_order([y] + grads)
    keys = [(n.op, tuple(id(a) for a in n.args), n.attrs) for n in nodes]
    assert len(set(keys)) == len(keys)
    assert len({id(n) for n in nodes}) == len(nodes)
    # the gradient reuses the forward values: x*z and log(x) exist once in the whole graph
    xz = x * z
    assert sum(1 for n in nodes if n.op == "mul" and set(map(id, n.args)) == {id(x), id(z)}) == 1
    assert xz in nodes and sb.log(x) in nodes and sb.exp(xz) in nodes
    assert sum(1 for n in nodes if n.op == "log") == 1
    assert sum(1 for n in nodes if n.op == "exp") == 1


# --- second order -------------------------------------------------------------------------

# (name, symback function, sympy function) of two scalars x, y; evaluated at (x0, y0)
SECOND_ORDER = [
    ("exp_sin_div", lambda m, x, y: m.exp(x * y) + m.sin(x) / y),
    ("log_pow", lambda m, x, y: m.log(x) * y ** 3 + x ** y),
    ("tanh_sqrt", lambda m, x, y: m.tanh(x * y) * m.sqrt(x)),
    ("sigmoid_cos", lambda m, x, y: (m.sigmoid(x - 2 * y) if m is sb else 1 / (1 + m.exp(-(x - 2 * y))))
     * m.cos(y)),
    ("lecture", lambda m, x, y: m.exp(x * y) + x * y / m.log(x) + m.sin(m.log(x)) / (x * y)),
    ("tan_rational", lambda m, x, y: m.tan(x / 3) / (1 + y * y) - x ** 2 * y ** 2),
]
X0, Y0 = 1.3, 0.7


@pytest.mark.parametrize("name,fn", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_hessian_by_grad_of_grad(name, fn):
    x, y = sb.var("x"), sb.var("y")
    f = fn(sb, x, y)
    g = sb.grad(f, [x, y])
    H = [sb.grad(gi, [x, y]) for gi in g]
    env = {"x": X0, "y": Y0}
    Hv = np.array([[float(v) for v in sb.evaluate(row, env)] for row in H])
    # vs sympy.diff twice, on an independently written SymPy expression
    sx, sy = sympy.symbols("x y", real=True)
    fs = fn(sympy, sx, sy)
    subs = {sx: sympy.Float(X0, 30), sy: sympy.Float(Y0, 30)}
    Hs = np.array([[float(sympy.diff(fs, a, b).evalf(30, subs=subs)) for b in (sx, sy)] for a in (sx, sy)])
    np.testing.assert_allclose(Hv, Hs, rtol=1e-11, atol=1e-12)
    # vs central differences of the gradient
    Hfd = np.array([[float(fd(gi, env, w)) for w in ("x", "y")] for gi in g])
    np.testing.assert_allclose(Hv, Hfd, rtol=1e-6, atol=1e-7)
    # first order also agrees with SymPy
    gs = [float(sympy.diff(fs, a).evalf(30, subs=subs)) for a in (sx, sy)]
    np.testing.assert_allclose([float(v) for v in sb.evaluate(g, env)], gs, rtol=1e-12)


def test_hessian_is_symmetric_and_to_sympy_agrees():
    x, y = sb.var("x"), sb.var("y")
    f = sb.exp(x * y) * sb.sin(x + y * y)
    (gx, gy) = sb.grad(f, [x, y])
    hxy, hyx = sb.grad(gx, y), sb.grad(gy, x)
    env = {"x": 0.3, "y": -0.8}
    np.testing.assert_allclose(sb.evaluate(hxy, env), sb.evaluate(hyx, env), rtol=1e-13)
    sx, sy = sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)
    expected = sympy.diff(sympy.exp(sx * sy) * sympy.sin(sx + sy * sy), sx, sy)
    diff = sympy.simplify(sb.to_sympy(hxy) - expected)
    assert diff == 0


def _hvp_model():
    w, A = sb.var("w", (3,)), sb.var("A", (4, 3))
    f = sb.sum(sb.tanh(A @ w)) + sb.sum(w ** 4) + (w @ w) * w[0]
    return f, w, rng_env(7, w=(3,), A=(4, 3))


def test_hvp_matches_finite_differences_of_grad():
    f, w, env = _hvp_model()
    v = np.array([0.3, -1.2, 0.5])
    hv = sb.hvp(f, w, v)
    assert hv.shape == (3,)
    g = sb.grad(f, w)
    h = 1e-6
    gp = sb.evaluate(g, {**env, "w": env["w"] + h * v})
    gm = sb.evaluate(g, {**env, "w": env["w"] - h * v})
    np.testing.assert_allclose(sb.evaluate(hv, env), (gp - gm) / (2 * h), rtol=1e-6, atol=1e-7)
    # and with the full Hessian (jacobian of the gradient)
    H = sb.evaluate(sb.jacobian(g, w), env)
    np.testing.assert_allclose(sb.evaluate(hv, env), H @ v, rtol=1e-12)


def test_hvp_several_variables():
    a, B = sb.var("a", (2,)), sb.var("B", (2, 2))
    f = sb.sum(sb.exp(B @ a)) + sb.sum(B * B * a)
    env = rng_env(8, a=(2,), B=(2, 2))
    va, vB = np.array([1.0, -0.5]), np.array([[0.2, 0.1], [-0.3, 0.4]])
    ha, hB = sb.hvp(f, [a, B], [va, vB])
    assert ha.shape == (2,) and hB.shape == (2, 2)
    ga, gB = sb.grad(f, [a, B])
    h = 1e-6
    plus = sb.evaluate([ga, gB], {**env, "a": env["a"] + h * va, "B": env["B"] + h * vB})
    minus = sb.evaluate([ga, gB], {**env, "a": env["a"] - h * va, "B": env["B"] - h * vB})
    got = sb.evaluate([ha, hB], env)
    for g, p, m in zip(got, plus, minus, strict=True):
        np.testing.assert_allclose(g, (p - m) / (2 * h), rtol=1e-6, atol=1e-7)


# --- forward mode and Jacobians ----------------------------------------------------------


def test_jvp_is_the_directional_derivative_of_grad():
    y, wrt, env = model_mlp()
    rng = np.random.default_rng(9)
    tangents = {w: rng.normal(size=w.shape) for w in wrt}
    t = sb.jvp(y, tangents)
    assert t.shape == ()
    grads = sb.evaluate(sb.grad(y, wrt), env)
    expected = sum(float(np.sum(g * tangents[w])) for w, g in zip(wrt, grads, strict=True))
    np.testing.assert_allclose(sb.evaluate(t, env), expected, rtol=1e-12)
    # a single-variable tangent, given as an expression
    W = wrt[1]
    t1 = sb.jvp([y], {W: sb.const(tangents[W])})
    assert isinstance(t1, list) and len(t1) == 1
    np.testing.assert_allclose(sb.evaluate(t1[0], env), np.sum(grads[1] * tangents[W]), rtol=1e-12)


def test_jvp_of_vector_outputs_matches_finite_differences():
    x, W = sb.var("x", (3,)), sb.var("W", (2, 3))
    ys = [sb.tanh(W @ x), sb.softmax(W * x, axis=1)]
    env = rng_env(10, x=(3,), W=(2, 3))
    dx = np.array([0.5, -1.0, 2.0])
    ts = sb.jvp(ys, {x: dx})
    for y, t in zip(ys, ts, strict=True):
        assert t.shape == y.shape
        h = 1e-6
        yp = sb.evaluate(y, {**env, "x": env["x"] + h * dx})
        ym = sb.evaluate(y, {**env, "x": env["x"] - h * dx})
        np.testing.assert_allclose(sb.evaluate(t, env), (yp - ym) / (2 * h), rtol=1e-6, atol=1e-8)


def _vector_functions():
    x, W = sb.var("x", (3,)), sb.var("W", (2, 3))
    y1 = sb.tanh(W @ x) + x[0] * x[1]                                  # (2,)
    y2 = sb.reshape(sb.sin(sb.stack([x * x[0], sb.exp(x)])), (3, 2))   # (3, 2)
    y3 = sb.softmax(W * x, axis=0)                                      # (2, 3)
    return [y1, y2, y3], [x, W], rng_env(11, x=(3,), W=(2, 3))


def test_jacobian_rev_equals_fwd_equals_finite_differences():
    ys, wrt, env = _vector_functions()
    J_rev = sb.jacobian(ys, wrt, mode="rev")
    J_fwd = sb.jacobian(ys, wrt, mode="fwd")
    for i, y in enumerate(ys):
        for j, w in enumerate(wrt):
            assert J_rev[i][j].shape == y.shape + w.shape
            assert J_fwd[i][j].shape == y.shape + w.shape
            r, f = sb.evaluate([J_rev[i][j], J_fwd[i][j]], env)
            np.testing.assert_allclose(r, f, rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(r, fd(y, env, w.name), rtol=1e-6, atol=1e-8)


def test_jacobian_single_items_and_bad_mode():
    x = sb.var("x", (2,))
    y = sb.exp(x) * x[1]
    J = sb.jacobian(y, x)
    assert isinstance(J, sb.Node) and J.shape == (2, 2)
    xv = np.array([0.2, -0.4])
    expected = np.diag(np.exp(xv) * xv[1]) + np.outer(np.exp(xv), [0.0, 1.0])
    np.testing.assert_allclose(sb.evaluate(J, {"x": xv}), expected, rtol=1e-14)
    with pytest.raises(ValueError):
        sb.jacobian(y, x, mode="sideways")


# --- broadcasting adjoints ------------------------------------------------------------


def test_bias_adjoint_is_summed_over_rows():
    A, b = sb.var("A", (4, 3)), sb.var("b", (3,))
    f = sb.sum((A + b) ** 2)
    gA, gb = sb.grad(f, [A, b])
    assert gA.shape == (4, 3) and gb.shape == (3,)
    env = rng_env(12, A=(4, 3), b=(3,))
    vA, vb = sb.evaluate([gA, gb], env)
    np.testing.assert_allclose(vb, 2 * np.sum(env["A"] + env["b"], axis=0), rtol=1e-14)
    np.testing.assert_allclose(vA, 2 * (env["A"] + env["b"]), rtol=1e-14)


def test_outer_broadcast_adjoints_keep_size_one_axes():
    u, w = sb.var("u", (3, 1)), sb.var("w", (1, 4))
    f = sb.sum(sb.sin(u * w))
    gu, gw = sb.grad(f, [u, w])
    assert gu.shape == (3, 1) and gw.shape == (1, 4)
    env = rng_env(13, u=(3, 1), w=(1, 4))
    c = np.cos(env["u"] * env["w"])
    vu, vw = sb.evaluate([gu, gw], env)
    np.testing.assert_allclose(vu, np.sum(c * env["w"], axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(vw, np.sum(c * env["u"], axis=0, keepdims=True), rtol=1e-13)


def test_scalar_times_matrix_adjoint_is_a_scalar():
    s, M = sb.var("s"), sb.var("M", (2, 3))
    f = sb.sum(s * M * M)
    gs, gM = sb.grad(f, [s, M])
    assert gs.shape == () and gM.shape == (2, 3)
    env = rng_env(14, s=(), M=(2, 3))
    vs, vM = sb.evaluate([gs, gM], env)
    np.testing.assert_allclose(vs, np.sum(env["M"] ** 2), rtol=1e-14)
    np.testing.assert_allclose(vM, 2 * env["s"] * env["M"], rtol=1e-14)


def test_broadcast_against_a_runtime_dimension():
    X, b, c = sb.var("X", (None, 3)), sb.var("b", (3,)), sb.var("c", (1, 3))
    f = sb.sum(sb.exp(X * c + b)) + sb.sum(sb.mean(X - b, axis=0, keepdims=True) ** 2)
    gb, gc = sb.grad(f, [b, c])
    assert gb.shape == (3,) and gc.shape == (1, 3)
    for n in (2, 5):
        env = rng_env(15 + n, b=(3,), c=(1, 3))
        env["X"] = np.random.default_rng(n).normal(size=(n, 3))
        vb, vc = sb.evaluate([gb, gc], env)
        np.testing.assert_allclose(vb, fd(f, env, "b"), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(vc, fd(f, env, "c"), rtol=1e-6, atol=1e-8)


# --- symbolic zeros --------------------------------------------------------------------


def test_grad_wrt_unused_variables_is_an_explicit_zero_of_the_right_shape():
    x, y, s = sb.var("x"), sb.var("y", (2, 3)), sb.var("s")
    f = sb.sin(x) * 2.0
    gx, gy, gs = sb.grad(f, [x, y, s])
    assert gy.shape == (2, 3) and gy.dtype == "float64"
    assert gs.shape == ()
    env = {"x": 0.5, "y": np.ones((2, 3)), "s": 1.0}
    vx, vy, vs = sb.evaluate([gx, gy, gs], env)
    np.testing.assert_allclose(vx, 2 * np.cos(0.5), rtol=1e-15)
    assert vy.shape == (2, 3) and np.all(vy == 0.0)
    assert vs.shape == () and vs == 0.0


def test_grad_through_nondifferentiable_paths_is_zero():
    x, y = sb.var("x"), sb.var("y")
    f = sb.where(y > 0.0, x * x, 3.0 * x)    # y only selects
    gx, gy = sb.grad(f, [x, y])
    assert float(sb.evaluate(gy, {"x": 1.5, "y": 1.0})) == 0.0
    assert float(sb.evaluate(gx, {"x": 1.5, "y": 1.0})) == 3.0
    assert float(sb.evaluate(gx, {"x": 1.5, "y": -1.0})) == 3.0
    g32 = sb.grad(sb.sum(sb.var("v", (3,), "float32") * 2.0), [sb.var("u", (2,), "float32")])[0]
    assert g32.shape == (2,) and g32.dtype == "float32"


# --- stated conventions at kinks, and no NaN through selection -------------------------


def test_kink_conventions():
    x, y = sb.var("x"), sb.var("y")
    at0 = {"x": 0.0, "y": 0.0}
    assert float(sb.evaluate(sb.grad(sb.relu(x), x), at0)) == 0.0
    assert float(sb.evaluate(sb.grad(sb.abs(x), x), at0)) == 0.0
    for f in (sb.maximum(x, y), sb.minimum(x, y)):
        assert [float(v) for v in sb.evaluate(sb.grad(f, [x, y]), at0)] == [0.5, 0.5]


def test_no_nan_through_unselected_singular_branches():
    x, y = sb.var("x"), sb.var("y")
    at0 = {"x": 0.0, "y": 2.0}
    for f in (sb.where(x > 0.0, sb.sqrt(x), 0.0), sb.where(x > 0.0, 1.0 / x, x * 0.0),
              sb.where(x > 0.0, sb.log(x), 2.0 * x)):
        v = float(sb.evaluate(sb.grad(f, x), at0))
        assert np.isfinite(v)
    assert [float(v) for v in sb.evaluate(sb.grad(x ** y, [x, y]), at0)] == [0.0, 0.0]


# --- errors -------------------------------------------------------------------------------


def test_grad_of_a_non_scalar_raises():
    v = sb.var("v", (3,))
    with pytest.raises(ValueError, match="scalar"):
        sb.grad(sb.exp(v), [v])


def test_grad_wrt_an_int_variable_raises_type_error():
    x, i = sb.var("x"), sb.var("i", (), "int64")
    with pytest.raises(TypeError, match="i"):
        sb.grad(x * i, [x, i])
    with pytest.raises(TypeError):
        sb.jvp(x * i, {i: 1})


def test_grad_wrt_a_non_variable_raises():
    x = sb.var("x")
    with pytest.raises(TypeError):
        sb.grad(x * x, ["x"])


@pytest.mark.parametrize("build,op,shapes", [
    (lambda: sb.var("a", (3,)) + sb.var("b", (4,)), "add", ["(3,)", "(4,)"]),
    (lambda: sb.var("a", (2, 3)) * sb.var("b", (3, 2)), "mul", ["(2, 3)", "(3, 2)"]),
    (lambda: sb.var("a", (3,)) - sb.var("b", (4,)), "sub", ["(3,)", "(4,)"]),
    (lambda: sb.maximum(sb.var("a", (5,)), sb.var("b", (2,))), "maximum", ["(5,)", "(2,)"]),
    (lambda: sb.var("a", (2, 3)) @ sb.var("b", (4, 5)), "matmul", ["(2, 3)", "(4, 5)"]),
    (lambda: sb.var("a", (None, 3)) + sb.var("b", (4,)), "add", ["3", "(4,)"]),
])
def test_shape_mismatch_at_build_names_the_op_and_both_shapes(build, op, shapes):
    with pytest.raises(ValueError) as info:
        build()
    assert isinstance(info.value, sb.ShapeError)
    msg = str(info.value)
    assert op in msg
    for s in shapes:
        assert s in msg, msg


# --- second order through array ops ----------------------------------------------------


def _second_order_array_models():
    L = sb.var("L", (4, 3))
    T = sb.var("T", (2, 3, 4))
    v, M = sb.var("v", (3,)), sb.var("M", (3, 4))
    return [
        ("softmax_cross_entropy", sb.mean(sb.softmax_cross_entropy(L * L, np.array([0, 2, 1, 2]))), L,
         rng_env(20, L=(4, 3))),
        ("logsumexp", sb.sum(sb.logsumexp(L * L, axis=0) ** 2), L, rng_env(21, L=(4, 3))),
        ("softmax", sb.sum(sb.softmax(L, axis=0) ** 3), L, rng_env(22, L=(4, 3))),
        ("matmul_1d", sb.sum(sb.sin(v @ M)) + (v @ v) ** 2, v, rng_env(23, v=(3,), M=(3, 4))),
        ("transpose_sum_axes", sb.sum(sb.transpose(T, (2, 0, 1)) ** 3) + sb.sum(sb.sum(T, axis=(0, 2)) ** 3),
         T, rng_env(24, T=(2, 3, 4))),
        ("index_stack", sb.sum(T[1, :, ::2] ** 3) + sb.sum(sb.stack([T[0], T[1] * 2.0], axis=2) ** 3), T,
         rng_env(25, T=(2, 3, 4))),
    ]


@pytest.mark.parametrize("case", range(6))
def test_hvp_through_array_ops_matches_finite_differences(case):
    name, f, w, env = _second_order_array_models()[case]
    direction = np.random.default_rng(case).normal(size=w.shape)
    hv = sb.hvp(f, w, direction)
    g = sb.grad(f, w)
    h = 1e-6
    gp = sb.evaluate(g, {**env, w.name: env[w.name] + h * direction})
    gm = sb.evaluate(g, {**env, w.name: env[w.name] - h * direction})
    np.testing.assert_allclose(sb.evaluate(hv, env), (gp - gm) / (2 * h), rtol=1e-5, atol=1e-7, err_msg=name)
