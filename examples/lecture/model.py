"""The lecture's worked example: y = exp(x z) + x z / ln(x) + sin(ln(x)) / (x z).

At x = 2, z = 3: y = 412.1914..., dy/dx = 1208.3812..., dy/dz = 809.7074...

    symback compile examples/lecture/model.py     # -> generated/lecture.py
    symback explain examples/lecture/model.py     # forward values, adjoint equations
    symback check examples/lecture/model.py       # AD vs SymPy vs finite differences
"""
import symback as sb


def model():
    x, z = sb.var("x"), sb.var("z")
    y = sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z)
    return sb.Model(name="lecture", loss=y, params=[x, z], at={"x": 2.0, "z": 3.0},
                    doc="the lecture's worked example")
