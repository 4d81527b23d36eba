"""Train the Iris MLP (W2) with generated/iris_mlp.py: numpy + numba only, no symback.

    symback compile examples/iris_mlp/model.py && python examples/iris_mlp/run.py
"""
import importlib.util
import pathlib
import sys

import numpy as np

root = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("iris_mlp", root / "generated" / "iris_mlp.py")
iris_mlp = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = iris_mlp          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(iris_mlp)

# the data: 150 flowers, 4 measurements, 3 species
raw = np.genfromtxt(root / "examples" / "data" / "iris.csv", delimiter=",", dtype=str, skip_header=1)
species = sorted(set(raw[:, 4]))
X = raw[:, :4].astype(np.float64)
X = (X - X.mean(axis=0)) / X.std(axis=0)                 # standardised
labels = np.array([species.index(s) for s in raw[:, 4]], dtype=np.int64)

# initial parameters as in WORKLOADS.md (W2)
rng = np.random.default_rng(0)
V, b1 = rng.normal(0.0, 0.5, (16, 4)), rng.normal(0.0, 0.1, 16)
W, b2 = rng.normal(0.0, 0.25, (3, 16)), rng.normal(0.0, 0.1, 3)


def accuracy(V, b1, W, b2):
    z = 1.0 / (1.0 + np.exp(-(X @ V.T + b1)))
    return np.mean(np.argmax(z @ W.T + b2, axis=1) == labels)


print(f"Iris: {len(X)} flowers, classes {', '.join(species)}; 4-16-3 sigmoid MLP, gradient descent")
lr, steps = 1.0, 500
for step in range(steps + 1):
    loss, (g_V, g_b1, g_W, g_b2) = iris_mlp.value_and_grad(V, b1, W, b2, X, labels)
    if step % 50 == 0:
        print(f"  step {step:3d}: loss {loss:.4f}   training accuracy {accuracy(V, b1, W, b2):6.1%}")
    V, b1, W, b2 = V - lr * g_V, b1 - lr * g_b1, W - lr * g_W, b2 - lr * g_b2
