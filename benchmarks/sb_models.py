"""The workloads of WORKLOADS.md written in symback's DSL.

Each ``build_*`` returns ``(loss, params, inputs)``: the scalar loss node, the
parameters to differentiate (in ``PARAMS`` order of ``workloads``) and the
data inputs, so that ``sb.value_and_grad(loss, params, params + inputs)`` has the
benchmarks' calling convention.
"""
import symback as sb

from .workloads import N_DEEP


def _dense(o, W, b):
    return o @ W.T + b


def build_W1(shape=()):
    x, z = sb.var("x", shape), sb.var("z", shape)
    y = sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z)
    return (sb.sum(y) if shape else y), [x, z], []


def build_W1v(n=None):
    return build_W1((n,))


def build_W2(n=None, dtype="float64"):
    X, labels = sb.var("X", (n, 4), dtype), sb.var("labels", (n,), "int64")
    V, b1 = sb.var("V", (16, 4), dtype), sb.var("b1", (16,), dtype)
    W, b2 = sb.var("W", (3, 16), dtype), sb.var("b2", (3,), dtype)
    z = sb.sigmoid(_dense(X, V, b1))
    loss = sb.mean(sb.softmax_cross_entropy(_dense(z, W, b2), labels))
    return loss, [V, b1, W, b2], [X, labels]


def build_W3(n=None, dtype="float64", generic=False):
    """W3; with ``generic`` (W3g, W3fg) the loss is written in generic ops, as users write
    their own losses, instead of the fused ``softmax_cross_entropy``:
    ``mean(logsumexp(o, axis=1) - sum(o * Y, axis=1))`` with a one-hot Y."""
    X, labels = sb.var("X", (n, 784), dtype), sb.var("labels", (n,), "int64")
    params, o = [], X
    for i, (n_out, n_in) in enumerate([(256, 784), (256, 256), (10, 256)], start=1):
        W, b = sb.var(f"W{i}", (n_out, n_in), dtype), sb.var(f"b{i}", (n_out,), dtype)
        params += [W, b]
        o = _dense(o, W, b)
        if i < 3:
            o = sb.relu(o)
    if generic:
        Y = sb.astype(sb.one_hot(labels, 10), dtype)
        loss = sb.mean(sb.logsumexp(o, axis=1) - sb.sum(o * Y, axis=1))
    else:
        loss = sb.mean(sb.softmax_cross_entropy(o, labels))
    return loss, params, [X, labels]


def build_W3f(n=None):
    return build_W3(n, "float32")


def build_W3g(n=None):
    return build_W3(n, "float64", generic=True)


def build_W3fg(n=None):
    return build_W3(n, "float32", generic=True)


def build_W4(n=None, residual=False):
    X, target = sb.var("X", (n, 32)), sb.var("target", (n, 1))
    params, o = [], X
    for i in range(1, N_DEEP + 1):
        if residual:
            W, c, V, b = (sb.var(f"{p}{i}", s) for p, s in
                          [("W", (32, 32)), ("c", (32,)), ("V", (32, 32)), ("b", (32,))])
            params += [W, c, V, b]
            o = o + _dense(sb.sigmoid(_dense(o, W, c)), V, b)
        else:
            W, b = sb.var(f"W{i}", (32, 32)), sb.var(f"b{i}", (32,))
            params += [W, b]
            o = sb.sigmoid(_dense(o, W, b))
    W_out, b_out = sb.var("W_out", (1, 32)), sb.var("b_out", (1,))
    params += [W_out, b_out]
    return sb.mean((_dense(o, W_out, b_out) - target) ** 2), params, [X, target]


def build_W4r(n=None):
    return build_W4(n, residual=True)


def build_W5(K=200):
    x, a = sb.var("x"), sb.var("a")
    u = x
    for _ in range(K):
        u = sb.sin(u) * u + sb.cos(a * u)
    return u, [x, a], []


BUILD = {"W1": build_W1, "W1v": build_W1v, "W2": build_W2, "W3": build_W3, "W3f": build_W3f,
         "W3g": build_W3g, "W3fg": build_W3fg,
         "W4": build_W4, "W4r": build_W4r, "W5": build_W5}
