"""Benchmark workload data, drawn exactly as /work/shared/WORKLOADS.md specifies.

Every system in a benchmark must compute on the same numbers, so each `data_*` function
draws from its own fresh `numpy.random.default_rng(0)` in the documented order and returns
a dict of numpy arrays and numbers. Weights are stored (out, in): a dense layer of a row
batch O is `O @ W.T + b`.

Calling convention shared by every system: positional arguments are the workload's
parameters in `PARAMS[w]` order, then its data inputs in `INPUTS[w]` order (the same order
`sb.value_and_grad(y, wrt)` uses with `inputs=None`); `args(w, data)` builds that tuple.
"""
import numpy as np

N_DEEP = 50          # W4 / W4r depth
W5_SIZES = (50, 200, 1000)


def data_W1():
    """W1, lecture scalar: y = exp(x*z) + x*z/log(x) + sin(log(x))/(x*z) at x=2, z=3."""
    return {"x": 2.0, "z": 3.0}


def data_W1v(n=1_000_000):
    """W1v: the W1 formula elementwise over x ~ U(1.5, 3), z ~ U(0.5, 4) (n points); loss = sum(y)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(1.5, 3.0, n)
    z = rng.uniform(0.5, 4.0, n)
    return {"x": x, "z": z}


def data_W2():
    """W2, Iris-shaped MLP: z = sigmoid(X V^T + b1), logits = z W^T + b2, mean softmax CE.

    X (150x4) ~ N(0, 1) (synthetic, not the real Iris data), labels in {0, 1, 2}."""
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, (150, 4))
    labels = rng.integers(0, 3, 150)
    V = rng.normal(0.0, 0.5, (16, 4))        # variance 1/4
    b1 = rng.normal(0.0, 0.1, 16)
    W = rng.normal(0.0, 0.25, (3, 16))       # variance 1/16
    b2 = rng.normal(0.0, 0.1, 3)
    return {"V": V, "b1": b1, "W": W, "b2": b2, "X": X, "labels": labels}


def data_W3():
    """W3, MNIST-size MLP 784-256-256-10, ReLU hidden layers, mean softmax CE.

    X = U[0, 1) (256x784), 10 classes; He weights N(0, 2/fan_in), biases N(0, 0.1^2)."""
    rng = np.random.default_rng(0)
    d = {"X": rng.random((256, 784)), "labels": rng.integers(0, 10, 256)}
    for i, (n_out, n_in) in enumerate([(256, 784), (256, 256), (10, 256)], start=1):
        d[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in))
        d[f"b{i}"] = rng.normal(0.0, 0.1, n_out)
    return d


def data_W3f():
    """W3f: W3's numbers rounded to float32 (labels stay int64)."""
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
            for k, v in data_W3().items()}


# W3g / W3fg: W3 / W3f with the loss written in generic ops (one-hot labels, logsumexp,
# sum, mean) as users write their own losses; the same data, parameters and numbers.
data_W3g, data_W3fg = data_W3, data_W3f

#: the W3 family: the same network and numbers; (dtype, loss form) of each instance
W3_FAMILY = {"W3": ("float64", "fused"), "W3f": ("float32", "fused"),
             "W3g": ("float64", "generic"), "W3fg": ("float32", "generic")}


def data_W4():
    """W4, deep sigmoid: 50 layers o = sigmoid(o W^T + b) of width 32, then linear 32->1, MSE.

    X (64x32), target (64x1) ~ N(0, 1); every weight and bias ~ N(0, 0.1^2)."""
    rng = np.random.default_rng(0)
    d = {"X": rng.normal(0.0, 1.0, (64, 32)), "target": rng.normal(0.0, 1.0, (64, 1))}
    for i in range(1, N_DEEP + 1):
        d[f"W{i}"] = rng.normal(0.0, 0.1, (32, 32))
        d[f"b{i}"] = rng.normal(0.0, 0.1, 32)
    d["W_out"] = rng.normal(0.0, 0.1, (1, 32))
    d["b_out"] = rng.normal(0.0, 0.1, 1)
    return d


def data_W4r():
    """W4r, deep residual: 50 layers o = o + sigmoid(o W^T + c) V^T + b, then linear 32->1, MSE.

    Same X and target as W4; W, c, V, b per layer, every one ~ N(0, 0.1^2)."""
    rng = np.random.default_rng(0)
    d = {"X": rng.normal(0.0, 1.0, (64, 32)), "target": rng.normal(0.0, 1.0, (64, 1))}
    for i in range(1, N_DEEP + 1):
        d[f"W{i}"] = rng.normal(0.0, 0.1, (32, 32))
        d[f"c{i}"] = rng.normal(0.0, 0.1, 32)
        d[f"V{i}"] = rng.normal(0.0, 0.1, (32, 32))
        d[f"b{i}"] = rng.normal(0.0, 0.1, 32)
    d["W_out"] = rng.normal(0.0, 0.1, (1, 32))
    d["b_out"] = rng.normal(0.0, 0.1, 1)
    return d


def data_W5(K=200):
    """W5, expression swell: u0 = x; u_{k+1} = sin(u_k)*u_k + cos(a*u_k); loss = u_K.

    x, a ~ U(0, 1); K (steps, a static int: 50, 200 or 1000) is part of the data dict."""
    rng = np.random.default_rng(0)
    x, a = rng.uniform(0.0, 1.0, 2)
    return {"x": float(x), "a": float(a), "K": K}


def _deep(*per_layer):
    return [f"{p}{i}" for i in range(1, N_DEEP + 1) for p in per_layer] + ["W_out", "b_out"]


# Gradient order (= the leading positional arguments of every system's call).
PARAMS = {
    "W1": ["x", "z"],
    "W1v": ["x", "z"],
    "W2": ["V", "b1", "W", "b2"],
    "W3": ["W1", "b1", "W2", "b2", "W3", "b3"],
    "W3f": ["W1", "b1", "W2", "b2", "W3", "b3"],
    "W3g": ["W1", "b1", "W2", "b2", "W3", "b3"],
    "W3fg": ["W1", "b1", "W2", "b2", "W3", "b3"],
    "W4": _deep("W", "b"),
    "W4r": _deep("W", "c", "V", "b"),
    "W5": ["x", "a"],
}

# Non-differentiated inputs, passed after the parameters.
INPUTS = {
    "W1": [], "W1v": [],
    "W2": ["X", "labels"],
    "W3": ["X", "labels"], "W3f": ["X", "labels"],
    "W3g": ["X", "labels"], "W3fg": ["X", "labels"],
    "W4": ["X", "target"], "W4r": ["X", "target"],
    "W5": ["K"],
}

DATA = {"W1": data_W1, "W1v": data_W1v, "W2": data_W2, "W3": data_W3, "W3f": data_W3f,
        "W3g": data_W3g, "W3fg": data_W3fg,
        "W4": data_W4, "W4r": data_W4r, "W5": data_W5}


def args(workload, data):
    """The positional argument tuple for `workload`: parameters, then data inputs."""
    return tuple(data[k] for k in PARAMS[workload] + INPUTS[workload])
