"""symback: compile models declared as expression DAGs into gradient code."""
from .version import __version__
from .ir import Node, var, const, variables, name
from .shapes import ShapeError
from . import ops  # noqa: F401  (registers every op)
from .dsl import (
    exp, log, sin, cos, tan, tanh, sqrt, abs, sigmoid, relu, sign, square,
    add, subtract, multiply, divide, negative, power, maximum, minimum, where,
    equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_not,
    astype, sum, mean, matmul, dot, transpose, reshape, broadcast_to, zeros_like,
    expand_dims, stack, softmax, logsumexp, log_softmax, softmax_cross_entropy, one_hot,
)
from .control_flow import scan, fori_loop
from .autodiff import grad, jvp, jacobian, hvp
from .interpret import evaluate
from .kernel import Kernel, compile, value_and_grad, compile_model
from .model import Model, ModelError, load_model
from .sympy_bridge import to_sympy, from_sympy, check
from .explain import explain
from .graph import to_dot
from .data_parallel import DataParallel, data_parallel, flatten_params, unflatten_params
from .passes.separable import SeparabilityError
__all__ = [n for n in dir() if not n.startswith("_")] + ["nn", "optim", "fit"]


def __getattr__(name):
    """Training (sb.nn, sb.optim, sb.fit) loads on first use: it imports numba,
    which building and differentiating models never needs."""
    import importlib
    if name in ("nn", "optim"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "fit":
        return importlib.import_module(f"{__name__}.train").fit
    raise AttributeError(f"module 'symback' has no attribute {name!r}")
