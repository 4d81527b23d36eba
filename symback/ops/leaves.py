"""The leaves: variables (inputs) and constants."""
from __future__ import annotations

from .registry import Op, register


def _no_infer(shapes, dtypes, attrs):
    raise TypeError("leaves are made by sb.var and sb.const, not by apply")


def _var_eval(values, attrs):
    raise KeyError(f"no value given for variable {attrs['name']!r}")


def _var_sympy(sp, values, attrs):
    raise KeyError(f"no SymPy symbol given for variable {attrs['name']!r}")


register(Op(name="var", kind="leaf", infer=_no_infer, eval=_var_eval, sympy=_var_sympy))
register(Op(name="const", kind="leaf", infer=_no_infer,
            eval=lambda values, attrs: attrs["value"].array,
            sympy=lambda sp, values, attrs: attrs["value"].array))
