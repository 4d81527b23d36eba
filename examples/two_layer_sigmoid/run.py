"""Use generated/two_layer_sigmoid.py (numpy + numba only, no symback): check its
gradient against the hand-derived backpropagation equations, then train.

    symback compile examples/two_layer_sigmoid/model.py && python examples/two_layer_sigmoid/run.py
"""
import importlib.util
import pathlib
import sys

import numpy as np

path = pathlib.Path(__file__).resolve().parents[2] / "generated" / "two_layer_sigmoid.py"
spec = importlib.util.spec_from_file_location("two_layer_sigmoid", path)
net = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = net          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(net)

W1 = np.array([[0.15, 0.20], [0.25, 0.30], [-0.10, 0.40]])
b1 = np.array([0.35, 0.35, 0.35])
W2 = np.array([[0.40, 0.45, -0.50]])
b2 = np.array([0.60])
x, y_star = np.array([0.05, 0.10]), np.array([0.01])

E, (g_W1, g_b1, g_W2, g_b2) = net.value_and_grad(W1, b1, W2, b2, x, y_star)

# the same gradient by the textbook backpropagation equations
sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
h = sigmoid(W1 @ x + b1)
y = sigmoid(W2 @ h + b2)
delta2 = (y - y_star) * y * (1 - y)
delta1 = (W2.T @ delta2) * h * (1 - h)
hand = {"W1": np.outer(delta1, x), "b1": delta1, "W2": np.outer(delta2, h), "b2": delta2}

print(f"E = 1/2 (y - y*)^2 = {E:.10f}   (y = {y[0]:.6f}, y* = {y_star[0]})")
for name, g in zip(["W1", "b1", "W2", "b2"], [g_W1, g_b1, g_W2, g_b2]):
    err = np.max(np.abs(g - hand[name]))
    print(f"  dE/d{name} = {np.array2string(g, precision=6, separator=', ').replace(chr(10), '')}"
          f"   |kernel - hand backprop| = {err:.1e}")

print("\ngradient descent, learning rate 0.5:")
lr = 0.5
for step in range(201):
    E, (g_W1, g_b1, g_W2, g_b2) = net.value_and_grad(W1, b1, W2, b2, x, y_star)
    if step % 50 == 0:
        y = sigmoid(W2 @ sigmoid(W1 @ x + b1) + b2)
        print(f"  step {step:3d}: E = {E:.3e}   y = {y[0]:.4f}")
    W1, b1, W2, b2 = W1 - lr * g_W1, b1 - lr * g_b1, W2 - lr * g_W2, b2 - lr * g_b2
