"""The lecture's running network: a 2-3-1 multilayer perceptron with sigmoid units.

    h = sigmoid(W1 x + b1)          hidden layer, 3 units
    y = sigmoid(W2 h + b2)          output layer, 1 unit
    E = 1/2 (y - y*)^2              square loss on one training example (x, y*)

The kernel differentiates E with respect to W1, b1, W2, b2 (x and y* are inputs).
The run script compares the gradient with the hand-derived backpropagation
equations (delta2 = (y - y*) y (1 - y), delta1 = (W2^T delta2) h (1 - h), ...)
and takes a few gradient-descent steps.

    symback compile examples/two_layer_sigmoid/model.py    # -> generated/two_layer_sigmoid.py
    python examples/two_layer_sigmoid/run.py
    symback explain examples/two_layer_sigmoid/model.py    # forward values, adjoint equations
"""
import numpy as np

import symback as sb

# one example point (also used by `symback check` / `explain`)
AT = {
    "W1": [[0.15, 0.20], [0.25, 0.30], [-0.10, 0.40]], "b1": [0.35, 0.35, 0.35],
    "W2": [[0.40, 0.45, -0.50]], "b2": [0.60],
    "x": [0.05, 0.10], "y_star": [0.01],
}


def model():
    x, y_star = sb.var("x", (2,)), sb.var("y_star", (1,))
    W1, b1 = sb.var("W1", (3, 2)), sb.var("b1", (3,))
    W2, b2 = sb.var("W2", (1, 3)), sb.var("b2", (1,))
    h = sb.sigmoid(W1 @ x + b1).named("h")
    y = sb.sigmoid(W2 @ h + b2).named("y")
    E = 0.5 * sb.sum((y - y_star) ** 2)
    at = {k: np.array(v) for k, v in AT.items()}
    return sb.Model(name="two_layer_sigmoid", loss=E, params=[W1, b1, W2, b2], inputs=[x, y_star],
                    at=at, doc="2-3-1 sigmoid network, square loss 1/2 (y - y*)^2")
