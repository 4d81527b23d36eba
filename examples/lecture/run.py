"""Use the generated lecture kernel (generated/lecture.py) -- no symback needed.

    symback compile examples/lecture/model.py && python examples/lecture/run.py
"""
import importlib.util
import pathlib
import sys

path = pathlib.Path(__file__).resolve().parents[2] / "generated" / "lecture.py"
spec = importlib.util.spec_from_file_location("lecture", path)
lecture = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = lecture          # Numba's on-disk cache finds the module by name
spec.loader.exec_module(lecture)

value, (dy_dx, dy_dz) = lecture.value_and_grad(2.0, 3.0)
print("y = exp(xz) + xz/ln(x) + sin(ln(x))/(xz) at x = 2, z = 3")
print(f"  y     = {value:.10f}")
print(f"  dy/dx = {dy_dx:.10f}")
print(f"  dy/dz = {dy_dz:.10f}")
