"""W4 of WORKLOADS.md: a deep sigmoid network, 50 dense layers of width 32.

    o_0 = X                               X: (N, 32)
    o_i = sigmoid(o_{i-1} W_i^T + b_i)    i = 1 .. 50, W_i: (32, 32)
    out = o_50 W_out^T + b_out            W_out: (1, 32)
    loss = mean((out - target)^2)         target: (N, 1)

With weights ~ N(0, 0.1^2) every layer multiplies the backward signal by about
sigmoid' (<= 1/4) times a small matrix, so the gradient of the first layers
vanishes: run.py prints the norm of dloss/dW_i layer by layer.  Compare with
examples/deep_residual, where a skip connection keeps it alive.

The 50 layers are written as a Python loop, one variable per layer; symback
compiles them as one loop over the stacked parameters (automatic rerolling,
symback/passes/reroll.py), so Numba compiles the kernel in seconds on the first
call (then it is cached on disk next to the module).

    symback compile examples/deep_sigmoid/model.py     # -> generated/deep_sigmoid.py
    python examples/deep_sigmoid/run.py
"""
import symback as sb

DEPTH, WIDTH = 50, 32


def model():
    X, target = sb.var("X", (None, WIDTH)), sb.var("target", (None, 1))
    params, o = [], X
    for i in range(1, DEPTH + 1):
        W, b = sb.var(f"W{i}", (WIDTH, WIDTH)), sb.var(f"b{i}", (WIDTH,))
        params += [W, b]
        o = sb.sigmoid(o @ W.T + b).named(f"o{i}")
    W_out, b_out = sb.var("W_out", (1, WIDTH)), sb.var("b_out", (1,))
    params += [W_out, b_out]
    loss = sb.mean((o @ W_out.T + b_out - target) ** 2)
    return sb.Model(name="deep_sigmoid", loss=loss, params=params, inputs=[X, target],
                    sizes={"X": 64, "target": 64},
                    doc=f"deep sigmoid network (W4): {DEPTH} layers of width {WIDTH}, linear output, MSE")
