"""Train an Iris classifier with symback.nn, symback.optim and sb.fit; draw its decision boundary.

    pip install -e ".[plot]" && python examples/iris_training/run.py

1. All 4 measurements: 4-16-3 network, 16 sigmoid hidden units, softmax
   cross-entropy, Adam on mini-batches of 16: prints the training accuracy
   (>= 95%) and saves training_curves.png.
2. Petal length and width only: the same network on 2 features, whose decision
   regions can be drawn: saves decision_boundary.png.

The data (150 flowers, examples/data/iris.csv) is standardised per feature.
Every gradient comes from a kernel symback compiled from the model below.
"""
import pathlib

import numpy as np

import symback as sb
from symback import nn, optim

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "iris.csv"


def load_iris():
    raw = np.genfromtxt(DATA, delimiter=",", dtype=str, skip_header=1)
    species = sorted(set(raw[:, 4]))
    X = raw[:, :4].astype(np.float64)
    labels = np.array([species.index(s) for s in raw[:, 4]], dtype=np.int64)
    columns = ["sepal length", "sepal width", "petal length", "petal width"]
    return X, labels, species, columns


def standardise(X):
    mean, std = X.mean(axis=0), X.std(axis=0)
    return (X - mean) / std, mean, std


def mlp(n_features, hidden=16, classes=3, seed=0):
    """The W2 network: logits = sigmoid(X V^T + b1) W^T + b2; returns the training
    kernel, the logits kernel and the initial parameter values."""
    X, labels = sb.var("X", (None, n_features)), sb.var("labels", (None,), "int64")
    p = nn.Params(seed)
    V, b1 = p.dense(n_features, hidden, init="xavier")
    W, b2 = p.dense(hidden, classes, init="xavier")
    logits = nn.dense(nn.sigmoid(nn.dense(X, V, b1)), W, b2)
    loss = nn.softmax_cross_entropy(logits, labels)
    kernel = sb.value_and_grad(loss, p.vars, p.vars + [X, labels], name=f"iris_training_{n_features}")
    predict = sb.compile(logits, p.vars + [X], name=f"iris_training_logits_{n_features}")
    return kernel, predict, p.values


def train(X, labels, epochs=200):
    kernel, predict, init = mlp(X.shape[1])
    opt = optim.Adam(init, lr=0.01)
    history = sb.fit(kernel, opt, (X, labels), epochs=epochs, batch_size=16, seed=0, predict=predict)
    return history, opt.params, predict


def main():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    X_raw, labels, species, columns = load_iris()

    # --- 1. all four features ----------------------------------------------------------
    X, _, _ = standardise(X_raw)
    history, params, predict = train(X, labels)
    print(f"4 features, 16 sigmoid hidden units, Adam, {history.epochs} epochs: "
          f"loss {history.loss[-1]:.4f}, training accuracy {history.accuracy[-1]:.1%} "
          f"(best {max(history.accuracy):.1%}); {np.median(history.seconds) * 1e3:.2f} ms per epoch")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, history.epochs + 1)
    ax1.semilogy(epochs, history.loss, color="C0")
    ax1.set(xlabel="epoch", ylabel="mean softmax cross-entropy", title="training loss")
    ax2.plot(epochs, np.array(history.accuracy) * 100, color="C2")
    ax2.axhline(95, color="gray", lw=0.8, ls="--")
    ax2.set(xlabel="epoch", ylabel="training accuracy (%)", ylim=(50, 100.5),
            title=f"accuracy: {history.accuracy[-1]:.1%} at the end")
    fig.suptitle("Iris, 4 features: 4-16-3 sigmoid MLP, Adam (lr 0.01, batches of 16)")
    fig.tight_layout()
    fig.savefig(HERE / "training_curves.png", dpi=110)

    # --- 2. petal length and width only: draw the decision regions --------------------------
    cols = [2, 3]
    X2, mean, std = standardise(X_raw[:, cols])
    history2, params2, predict2 = train(X2, labels)
    print(f"2 features ({columns[2]}, {columns[3]}): training accuracy {history2.accuracy[-1]:.1%}")

    lo, hi = X_raw[:, cols].min(axis=0) - 0.5, X_raw[:, cols].max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    grid = (np.column_stack([gx.ravel(), gy.ravel()]) - mean) / std
    (logits,) = predict2(*params2, grid)
    region = np.argmax(logits, axis=1).reshape(gx.shape)
    z = logits - logits.max(axis=1, keepdims=True)
    confidence = (np.exp(z).max(axis=1) / np.exp(z).sum(axis=1)).reshape(gx.shape)

    colours = ["#1b9e77", "#d95f02", "#7570b3"]
    fig, ax = plt.subplots(figsize=(6.4, 5))
    ax.contourf(gx, gy, region, levels=[-0.5, 0.5, 1.5, 2.5], colors=colours, alpha=0.25)
    ax.contour(gx, gy, confidence, levels=[0.6, 0.9], colors="k", linewidths=0.5, linestyles=":")
    ax.contour(gx, gy, region, levels=[0.5, 1.5], colors="k", linewidths=1.0)
    for k, name in enumerate(species):
        sel = labels == k
        ax.scatter(X_raw[sel, cols[0]], X_raw[sel, cols[1]], s=18, color=colours[k],
                   edgecolor="k", linewidth=0.4, label=name)
    ax.set(xlabel=f"{columns[2]} (cm)", ylabel=f"{columns[3]} (cm)",
           title=f"Iris decision regions, 2-16-3 sigmoid MLP\n"
                 f"training accuracy {history2.accuracy[-1]:.1%}; dotted: 60% and 90% confidence")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "decision_boundary.png", dpi=110)
    print(f"saved {HERE / 'training_curves.png'} and {HERE / 'decision_boundary.png'}")


if __name__ == "__main__":
    main()
