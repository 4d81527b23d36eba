"""W4r of WORKLOADS.md: the deep network of examples/deep_sigmoid with residual layers.

    o_0 = X                                               X: (N, 32)
    o_i = o_{i-1} + sigmoid(o_{i-1} W_i^T + c_i) V_i^T + b_i   i = 1 .. 50
    out = o_50 W_out^T + b_out;  loss = mean((out - target)^2)

The identity path o_{i-1} -> o_i passes the adjoint back unchanged
(g_{o_{i-1}} = g_{o_i} + ...), so the gradient of the first layers does not
vanish: run.py prints the norm of dloss/dW_i layer by layer, to compare with
deep_sigmoid's.

The 50 layers are written as a Python loop, one variable per layer; symback
compiles them as one loop over the stacked parameters (automatic rerolling,
symback/passes/reroll.py), so Numba compiles the kernel in seconds on the first
call (then it is cached on disk next to the module).

    symback compile examples/deep_residual/model.py    # -> generated/deep_residual.py
    python examples/deep_residual/run.py
"""
import symback as sb

DEPTH, WIDTH = 50, 32


def model():
    X, target = sb.var("X", (None, WIDTH)), sb.var("target", (None, 1))
    params, o = [], X
    for i in range(1, DEPTH + 1):
        W, c = sb.var(f"W{i}", (WIDTH, WIDTH)), sb.var(f"c{i}", (WIDTH,))
        V, b = sb.var(f"V{i}", (WIDTH, WIDTH)), sb.var(f"b{i}", (WIDTH,))
        params += [W, c, V, b]
        o = (o + sb.sigmoid(o @ W.T + c) @ V.T + b).named(f"o{i}")
    W_out, b_out = sb.var("W_out", (1, WIDTH)), sb.var("b_out", (1,))
    params += [W_out, b_out]
    loss = sb.mean((o @ W_out.T + b_out - target) ** 2)
    return sb.Model(name="deep_residual", loss=loss, params=params, inputs=[X, target],
                    sizes={"X": 64, "target": 64},
                    doc=f"deep residual network (W4r): {DEPTH} layers o + V sigmoid(W o + c) + b, width {WIDTH}, MSE")
