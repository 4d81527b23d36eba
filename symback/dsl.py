"""The model-building DSL: numpy-named functions, re-exported from the ops'
constructor layer (:mod:`symback.ops.build`), and Node's operators.

The names here are the public contract (``sb.exp``, ``sb.sum``, ...).  Op rules
never import this module: they build IR through ``ops.build`` directly, so the
DSL sits on top of the ops and nothing below imports it back.
"""
from __future__ import annotations

from .ops.build import (  # noqa: F401  (the public names)
    exp, log, sin, cos, tan, tanh, sqrt, abs, sigmoid, relu, sign, square,
    add, subtract, multiply, divide, negative, power, maximum, minimum, where,
    equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_not,
    astype, sum, mean, matmul, dot, transpose, reshape, broadcast_to, broadcast_like, zeros_like,
    expand_dims, stack, softmax, logsumexp, log_softmax, softmax_cross_entropy, one_hot,
)
