"""SGD, momentum, RMSProp and Adam on the same problem: loss curves.

    pip install -e ".[plot]" && python examples/optimizers/run.py

The problem: three interleaved spirals (300 points in the plane, seeded), a 2-64-3
tanh network, mean softmax cross-entropy, mini-batches of 32, 300 epochs.  Every
optimizer starts from the same initial weights and sees the same batches (same
seed); only the update rule differs.  One compiled value_and_grad kernel serves all
of them; each update is one compiled in-place kernel over all parameters.

    SGD                       lr 0.1
    momentum (heavy ball)     lr 0.1, beta 0.9   W <- W - eta (beta G_prev + G)
    momentum (moving average) lr 0.1, beta 0.9   m <- beta m + (1 - beta) g, W <- W - eta m
    RMSProp                   lr 0.01, rho 0.9
    Adam                      lr 0.01, betas 0.9, 0.999

The heavy-ball form takes steps about 1 / (1 - beta) = 10 times longer than SGD
once the directions agree, so it crosses the long flat start much sooner; the
moving-average form, at the same eta, moves like SGD (smoothed).  RMSProp and Adam
scale each number's step by its own recent gradient size.  Saves loss_curves.png.
"""
import pathlib

import numpy as np

import symback as sb
from symback import nn, optim

HERE = pathlib.Path(__file__).resolve().parent
EPOCHS = 300

OPTIMIZERS = {
    "SGD": lambda v: optim.SGD(v, lr=0.1),
    "momentum (heavy ball)": lambda v: optim.Momentum(v, lr=0.1, beta=0.9),
    "momentum (moving average)": lambda v: optim.Momentum(v, lr=0.1, beta=0.9, average=True),
    "RMSProp": lambda v: optim.RMSProp(v, lr=0.01, rho=0.9),
    "Adam": lambda v: optim.Adam(v, lr=0.01),
}


def spirals(n=100, arms=3, seed=0):
    """``arms`` noisy spiral arms of ``n`` points each in the unit disc, labelled by arm."""
    rng = np.random.default_rng(seed)
    X, labels = [], []
    for arm in range(arms):
        r = np.linspace(0.05, 1.0, n)
        start = arm * 2 * np.pi / arms
        t = np.linspace(start, start + 1.75 * np.pi, n) + rng.normal(0.0, 0.15, n)
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        labels.append(np.full(n, arm))
    return np.concatenate(X), np.concatenate(labels).astype(np.int64)


def main():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X_data, labels_data = spirals()
    X, labels = sb.var("X", (None, 2)), sb.var("labels", (None,), "int64")
    p = nn.Params(seed=0)
    W1, b1 = p.dense(2, 64, init="xavier")
    W2, b2 = p.dense(64, 3, init="xavier")
    logits = nn.dense(nn.tanh(nn.dense(X, W1, b1)), W2, b2)
    kernel = sb.value_and_grad(nn.softmax_cross_entropy(logits, labels), p.vars, p.vars + [X, labels],
                               name="optimizers_spirals")
    predict = sb.compile(logits, p.vars + [X], name="optimizers_spirals_logits")

    histories = {}
    for name, make in OPTIMIZERS.items():
        opt = make(p.values)                      # same initial values for every optimizer
        histories[name] = h = sb.fit(kernel, opt, (X_data, labels_data), epochs=EPOCHS, batch_size=32,
                                     seed=0, predict=predict, progress=False)
        print(f"{name:<26} loss {h.loss[0]:.3f} -> {h.loss[-1]:.4f}   training accuracy {h.accuracy[-1]:6.1%}"
              f"   {np.median(h.seconds) * 1e3:.2f} ms/epoch")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    epochs = np.arange(1, EPOCHS + 1)
    styles = {"momentum (moving average)": "--"}
    for (name, h), colour in zip(histories.items(), ["C7", "C0", "C9", "C2", "C3"]):
        ls = styles.get(name, "-")
        ax1.semilogy(epochs, h.loss, ls, color=colour, label=name)
        ax2.plot(epochs, np.array(h.accuracy) * 100, ls, color=colour, label=name)
    ax1.set(xlabel="epoch", ylabel="mean softmax cross-entropy (log scale)", title="training loss")
    ax1.legend(fontsize=8)
    ax2.set(xlabel="epoch", ylabel="training accuracy (%)", ylim=(0, 101), title="training accuracy")
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle("Three spirals, 2-64-3 tanh network, batches of 32: same start, same batches")
    fig.tight_layout()
    fig.savefig(HERE / "loss_curves.png", dpi=110)
    print(f"saved {HERE / 'loss_curves.png'}")


if __name__ == "__main__":
    main()
