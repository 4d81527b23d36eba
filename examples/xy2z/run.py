"""Use the generated kernel generated/xy2z.py (numpy + numba only, no symback).

    symback compile examples/xy2z/model.py && python examples/xy2z/run.py
"""
import importlib.util
import pathlib
import sys

path = pathlib.Path(__file__).resolve().parents[2] / "generated" / "xy2z.py"
spec = importlib.util.spec_from_file_location("xy2z", path)
xy2z = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = xy2z          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(xy2z)

x, y, z = 3.0, -2.0, 1.0
f, (df_dx, df_dy, df_dz) = xy2z.value_and_grad(x, y, z)
print(f"f = x (y^2 + z) at x = {x:g}, y = {y:g}, z = {z:g}")
print(f"  f     = {f:g}")
print(f"  df/dx = {df_dx:g}   (y^2 + z = {y * y + z:g})")
print(f"  df/dy = {df_dy:g}   (2 x y   = {2 * x * y:g})")
print(f"  df/dz = {df_dz:g}   (x       = {x:g})")
