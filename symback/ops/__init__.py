"""The op registry and its families; importing this package registers every op."""
from . import control, elementwise, leaves, linalg, nn, reduce  # noqa: F401  (registration)
from .registry import OPS, Op, apply, as_node, register

__all__ = ["OPS", "Op", "apply", "as_node", "register"]
