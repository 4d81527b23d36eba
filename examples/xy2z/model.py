"""f = x (y^2 + z): the smallest example with a shared subexpression.

Gradient: (df/dx, df/dy, df/dz) = (y^2 + z, 2 x y, x); at x = 3, y = -2, z = 1
that is (5, -12, 3) and f = 15.

    symback compile examples/xy2z/model.py     # -> generated/xy2z.py
    python examples/xy2z/run.py                # uses the generated kernel only
    symback explain examples/xy2z/model.py     # forward values and adjoint equations
"""
import symback as sb


def model():
    x, y, z = sb.var("x"), sb.var("y"), sb.var("z")
    f = x * (y ** 2 + z)
    return sb.Model(name="xy2z", loss=f, params=[x, y, z], at={"x": 3.0, "y": -2.0, "z": 1.0},
                    doc="f = x (y^2 + z)")
