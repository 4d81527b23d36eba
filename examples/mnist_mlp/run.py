"""A few SGD steps of the MNIST-size MLP (W3) with generated/mnist_mlp.py (numpy +
numba only), on W3's random data since no MNIST copy is available.

    symback compile examples/mnist_mlp/model.py && python examples/mnist_mlp/run.py
"""
import importlib.util
import pathlib
import sys
import time

import numpy as np

path = pathlib.Path(__file__).resolve().parents[2] / "generated" / "mnist_mlp.py"
spec = importlib.util.spec_from_file_location("mnist_mlp", path)
mnist_mlp = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mnist_mlp          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(mnist_mlp)

# W3's data (WORKLOADS.md): X ~ U[0, 1) (256 x 784), 10 classes, He weights, N(0, 0.1^2) biases
rng = np.random.default_rng(0)
X, labels = rng.random((256, 784)), rng.integers(0, 10, 256)
params = []
for n_out, n_in in [(256, 784), (256, 256), (10, 256)]:
    params += [rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in)), rng.normal(0.0, 0.1, n_out)]

lr, batch, epochs = 0.02, 32, 10
order = np.random.default_rng(1)
print(f"784-256-256-10 ReLU MLP, {len(X)} random examples, SGD: batch {batch}, learning rate {lr}")
t0 = time.perf_counter()
loss = mnist_mlp.forward(*params, X, labels)
print(f"  epoch  0: loss on all 256 = {loss:.4f}   (first call, includes JIT or cache load: "
      f"{time.perf_counter() - t0:.2f} s)")
steps = 0
t0 = time.perf_counter()
for epoch in range(1, epochs + 1):
    for idx in np.array_split(order.permutation(len(X)), len(X) // batch):
        _, grads = mnist_mlp.value_and_grad(*params, X[idx], labels[idx])
        params = [p - lr * g for p, g in zip(params, grads)]
        steps += 1
    if epoch % 2 == 0:
        loss = mnist_mlp.forward(*params, X, labels)
        print(f"  epoch {epoch:2d}: loss on all 256 = {loss:.4f}")
elapsed = time.perf_counter() - t0
print(f"{steps} SGD steps in {elapsed:.2f} s (the first value_and_grad call includes its JIT or cache load)")
