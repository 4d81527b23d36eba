"""The Jacobian of (sin(w1 x + w0), cos(w1 x + w0)) with respect to (w0, w1), by
forward mode (columns, the jvp entry point) and by reverse mode (rows, the
value_and_grad entry point) of generated/forward_mode.py (numpy + numba only).

    symback compile examples/forward_mode/model.py --entry forward,value_and_grad,jvp
    python examples/forward_mode/run.py
"""
import importlib.util
import pathlib
import sys

import numpy as np

path = pathlib.Path(__file__).resolve().parents[2] / "generated" / "forward_mode.py"
spec = importlib.util.spec_from_file_location("forward_mode", path)
fm = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = fm          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(fm)

w0, w1, x = 0.5, 2.0, 0.3
seeds = [(1.0, 0.0), (0.0, 1.0)]     # u = e_1 selects y1, u = e_2 selects y2
directions = [(1.0, 0.0), (0.0, 1.0)]  # t = e_1 along w0, t = e_2 along w1

# forward mode: one jvp sweep per input direction t = e_j -> column j
J_fwd = np.zeros((2, 2))
for j, (t_w0, t_w1) in enumerate(directions):
    for i, (u1, u2) in enumerate(seeds):
        _, J_fwd[i, j] = fm.jvp(w0, w1, x, u1, u2, t_w0, t_w1)

# reverse mode: one value_and_grad sweep per output seed u = e_i -> row i
J_rev = np.zeros((2, 2))
for i, (u1, u2) in enumerate(seeds):
    _, (J_rev[i, 0], J_rev[i, 1]) = fm.value_and_grad(w0, w1, x, u1, u2)

a = w1 * x + w0
J_formula = np.array([[np.cos(a), x * np.cos(a)], [-np.sin(a), -x * np.sin(a)]])

print(f"y1 = sin(w1 x + w0), y2 = cos(w1 x + w0) at w0 = {w0}, w1 = {w1}, x = {x}")
print(f"  y = ({fm.forward(w0, w1, x, 1.0, 0.0):.6f}, {fm.forward(w0, w1, x, 0.0, 1.0):.6f})")
for label, J in [("forward mode (jvp, by columns)", J_fwd),
                 ("reverse mode (value_and_grad, by rows)", J_rev),
                 ("formula [[cos a, x cos a], [-sin a, -x sin a]]", J_formula)]:
    print(f"\n{label}:")
    for row in J:
        print("   " + "  ".join(f"{v:+.10f}" for v in row))
print(f"\nmax |forward - reverse| = {np.max(np.abs(J_fwd - J_rev)):.1e}, "
      f"max |forward - formula| = {np.max(np.abs(J_fwd - J_formula)):.1e}")
