"""The lecture's worked examples of backpropagation, compiled by symback.

1. y = exp(x z) + x z / ln(x) + sin(ln(x)) / (x z) at x = 2, z = 3: the value and
   both partial derivatives (dy/dx = 1208.38..., dy/dz = 809.71...), from one
   compiled value_and_grad kernel, next to the interpreter's numbers.
2. f(x, y, z) = x (y^2 + z): its gradient (y^2 + z, 2 x y, x) at x=3, y=-2, z=1.

The generated kernels are written to generated/ so they can be read and
imported without symback.

Run:  python examples/lecture.py
"""
import pathlib

import symback as sb

GENERATED = pathlib.Path(__file__).resolve().parent.parent / "generated"


def lecture():
    x, z = sb.var("x"), sb.var("z")
    y = sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z)
    return y, [x, z]


def xy2z():
    x, y, z = sb.var("x"), sb.var("y"), sb.var("z")
    return x * (y ** 2 + z), [x, y, z]


def main():
    y, wrt = lecture()
    kernel = sb.value_and_grad(y, wrt, name="lecture")
    kernel.save(GENERATED / "lecture.py")
    value, (dx, dz) = kernel(2.0, 3.0)
    print("y = exp(xz) + xz/ln(x) + sin(ln(x))/(xz) at x = 2, z = 3")
    print(f"  y     = {value:.10f}")
    print(f"  dy/dx = {dx:.10f}")
    print(f"  dy/dz = {dz:.10f}")
    ref = sb.evaluate([y] + sb.grad(y, wrt), {"x": 2.0, "z": 3.0})
    print(f"  (interpreter: {float(ref[0]):.10f}, {float(ref[1]):.10f}, {float(ref[2]):.10f})")

    f, wrt = xy2z()
    kernel = sb.value_and_grad(f, wrt, name="xy2z")
    kernel.save(GENERATED / "xy2z.py")
    value, grads = kernel(3.0, -2.0, 1.0)
    print("f = x (y^2 + z) at x = 3, y = -2, z = 1")
    print(f"  f = {value:g}, (df/dx, df/dy, df/dz) = ({', '.join(f'{g:g}' for g in grads)})"
          "   [expected (5, -12, 3)]")


if __name__ == "__main__":
    main()
