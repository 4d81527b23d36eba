"""Forward and reverse mode on a function with two outputs:

    a  = w1 x + w0
    y1 = sin(a)
    y2 = cos(a)

whose Jacobian with respect to (w0, w1) is

    J = [[ dy1/dw0, dy1/dw1 ],  =  [[  cos(a),  x cos(a) ],
         [ dy2/dw0, dy2/dw1 ]]      [ -sin(a), -x sin(a) ]]

Why the loss is ``u1 y1 + u2 y2``: symback's gradient kernels differentiate one
scalar, so the two outputs are combined with an *output seed* u = (u1, u2), an
input of the kernel.  That keeps the whole Jacobian reachable from one module
(``y1 + y2`` alone would only give the sum of the rows):

* forward mode, ``jvp(w0, w1, x, u1, u2, t_w0, t_w1)`` returns u . (J t): one
  sweep per input direction t = e_j gives column j (read with u = e_1, e_2);
* reverse mode, ``value_and_grad(w0, w1, x, u1, u2)`` returns u^T J: one sweep per
  output seed u = e_i gives row i.

Both give the same matrix; run.py prints it both ways next to the formula.
(The test suite also builds the vector-valued function and compares
``sb.jacobian(..., mode="fwd")`` with ``mode="rev"``.)

    symback compile examples/forward_mode/model.py      # its Model lists the jvp entry point too
    python examples/forward_mode/run.py
"""
import symback as sb


def outputs():
    """The two outputs as expressions and the variables (w0, w1, x)."""
    w0, w1, x = sb.var("w0"), sb.var("w1"), sb.var("x")
    a = w1 * x + w0
    return [sb.sin(a), sb.cos(a)], (w0, w1, x)


def model():
    (y1, y2), (w0, w1, x) = outputs()
    u1, u2 = sb.var("u1"), sb.var("u2")
    return sb.Model(name="forward_mode", loss=u1 * y1 + u2 * y2, params=[w0, w1], inputs=[x, u1, u2],
                    at={"w0": 0.5, "w1": 2.0, "x": 0.3, "u1": 1.0, "u2": 1.0},
                    doc="u1 sin(w1 x + w0) + u2 cos(w1 x + w0): Jacobian rows by reverse, columns by forward mode",
                    entries=("forward", "value_and_grad", "jvp"))
