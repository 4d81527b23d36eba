"""Per-layer gradient norms of the 50-layer residual network (W4r) with
generated/deep_residual.py (numpy + numba only): thanks to the skip connections
the gradient reaches the first layers.  Compare with examples/deep_sigmoid/run.py.

The first run compiles the kernel (Numba: a few seconds); later runs load it from
Numba's cache in generated/__pycache__.

    symback compile examples/deep_residual/model.py && python examples/deep_residual/run.py
"""
import importlib.util
import pathlib
import sys
import time

import numpy as np

path = pathlib.Path(__file__).resolve().parents[2] / "generated" / "deep_residual.py"
spec = importlib.util.spec_from_file_location("deep_residual", path)
deep = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = deep          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(deep)

DEPTH = 50
# W4r's data (WORKLOADS.md): X, target ~ N(0, 1); W_i, c_i, V_i, b_i, then W_out, b_out ~ N(0, 0.1^2)
rng = np.random.default_rng(0)
X, target = rng.normal(0.0, 1.0, (64, 32)), rng.normal(0.0, 1.0, (64, 1))
params = []
for _ in range(DEPTH):
    params += [rng.normal(0.0, 0.1, (32, 32)), rng.normal(0.0, 0.1, 32),
               rng.normal(0.0, 0.1, (32, 32)), rng.normal(0.0, 0.1, 32)]
params += [rng.normal(0.0, 0.1, (1, 32)), rng.normal(0.0, 0.1, 1)]

print("compiling or loading the 50-layer kernel ...", flush=True)
t0 = time.perf_counter()
loss, grads = deep.value_and_grad(*params, X, target)
print(f"first call {time.perf_counter() - t0:.1f} s; loss = {loss:.6f}\n")

norms = [np.linalg.norm(grads[4 * i]) for i in range(DEPTH)]
print("layer   |dloss/dW_i|   log scale: one # per factor of 10 above 1e-45")
for i in [1, 2, 3, 5, 10, 20, 30, 40, 45, 48, 49, 50]:
    n = norms[i - 1]
    bar = "#" * max(1, int(round(np.log10(n) + 45)))
    print(f"  {i:3d}   {n:11.3e}   {bar}")
print(f"\n|dloss/dW_1| / |dloss/dW_50| = {norms[0] / norms[-1]:.2e}: no vanishing gradient")
