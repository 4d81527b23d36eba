"""The vanishing gradient of a 50-layer sigmoid network, and the residual fix.

    pip install -e ".[plot]" && python examples/vanishing_gradients/run.py

W4 and W4r of WORKLOADS.md: X (64x32), target (64x1) ~ N(0, 1); 50 layers of
width 32 then a linear 32->1 output, mean squared error; every weight and bias
~ N(0, 0.1^2), drawn in the workloads' order.

    W4  (plain):     o <- sigmoid(o W^T + b)
    W4r (residual):  o <- o + sigmoid(o W^T + c) V^T + b

Backpropagation multiplies one Jacobian per layer.  A sigmoid layer's is
diag(sigmoid') W with sigmoid' <= 1/4 and |W| ~ 0.1 * sqrt(32): each layer shrinks
the adjoint by a factor of about 10, so after 50 layers almost nothing is left for
the first ones.  A residual layer's Jacobian is I + (small): the identity carries
the adjoint back unchanged.  The picture (gradient_norms.png) shows the norm of
dloss/dW per layer at initialisation on a log scale, and the training loss of both
networks under the same Adam run.

Numba compiles each 50-layer kernel once (a few seconds: the layers compile as a
loop; cached afterwards in
$SYMBACK_CACHE_DIR or ~/.cache/symback).
"""
import pathlib
import time

import numpy as np

import symback as sb
from symback import nn, optim

HERE = pathlib.Path(__file__).resolve().parent
DEPTH, WIDTH = 50, 32


def build(residual):
    """(kernel, initial values, names of the per-layer weights W_i) of W4 or W4r."""
    rng = np.random.default_rng(0)
    X_data, t_data = rng.normal(0.0, 1.0, (64, WIDTH)), rng.normal(0.0, 1.0, (64, 1))
    X, target = sb.var("X", (None, WIDTH)), sb.var("target", (None, 1))
    p = nn.Params(rng)                              # continues the generator, as WORKLOADS.md does
    o = X
    for _ in range(DEPTH):
        if residual:
            o = nn.residual(o, *p.residual(WIDTH, init=0.1, bias=0.1), act="sigmoid")
        else:
            o = nn.sigmoid(nn.dense(o, *p.dense(WIDTH, WIDTH, init=0.1, bias=0.1)))
    W_out, b_out = p.dense(WIDTH, 1, init=0.1, bias=0.1, name="_out")
    loss = nn.mse(nn.dense(o, W_out, b_out), target)
    name = "vanishing_residual" if residual else "vanishing_sigmoid"
    kernel = sb.value_and_grad(loss, p.vars, p.vars + [X, target], name=name)
    layer_weights = [i for i, v in enumerate(p.vars) if v.name.startswith("W") and v.name != "W_out"]
    return kernel, p.values, layer_weights, (X_data, t_data)


def main():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = {}
    for residual in (False, True):
        label = "residual (W4r)" if residual else "sigmoid (W4)"
        t0 = time.perf_counter()
        kernel, values, layers, data = build(residual)
        loss, grads = kernel(*values, *data)
        print(f"{label}: built, compiled (or loaded) and called in {time.perf_counter() - t0:.1f} s; "
              f"loss {loss:.4f}")
        norms = np.array([np.linalg.norm(grads[i]) for i in layers])
        print(f"   |dloss/dW_1| = {norms[0]:.2e}, |dloss/dW_50| = {norms[-1]:.2e}, "
              f"ratio {norms[0] / norms[-1]:.1e}")
        opt = optim.Adam(values, lr=5e-4)
        history = sb.fit(kernel, opt, data, epochs=300, batch_size=None, shuffle=False, progress=False)
        print(f"   300 full-batch Adam steps: loss {history.loss[0]:.4f} -> {history.loss[-1]:.4f}")
        results[label] = norms, history.loss

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    layer = np.arange(1, DEPTH + 1)
    for (label, (norms, losses)), colour in zip(results.items(), ["C3", "C0"]):
        ax1.semilogy(layer, norms, "o-", ms=3, color=colour, label=label)
        ax2.semilogy(np.arange(1, len(losses) + 1), losses, color=colour, label=label)
    ax1.set(xlabel="layer (1 = next to the input)", ylabel="|| d loss / d W_layer ||  (log scale)",
            title="gradient norm per layer at initialisation")
    ax1.grid(True, which="major", alpha=0.3)
    ax1.legend()
    ax2.set(xlabel="Adam step (lr 5e-4, full batch of 64)", ylabel="mean squared error (log scale)",
            title="training loss")
    ax2.legend()
    fig.suptitle("50 layers of width 32, weights and biases ~ N(0, 0.1^2)")
    fig.tight_layout()
    fig.savefig(HERE / "gradient_norms.png", dpi=110)
    print(f"saved {HERE / 'gradient_norms.png'}")


if __name__ == "__main__":
    main()
