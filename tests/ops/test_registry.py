"""Coverage of the op registry: every op in ``symback.ops.OPS`` is tested.

An op counts as covered when it appears in the value graph of some case of the
four op test modules (each case is checked against numpy, finite differences
and the compiled kernels) or when a dedicated test declares it with
``covers``.  Ops with a derivative must also appear in a differentiated case.
Adding an op to the registry without a test makes this fail.
"""
from __future__ import annotations

import pytest

from symback.ops import OPS
from symback.ops.scalar import Expr

from . import test_control, test_elementwise, test_linalg, test_nn, test_reduce
from .helpers import ops_in

MODULES = [test_elementwise, test_reduce, test_linalg, test_nn, test_control]

#: ops without a derivative of their own (leaves, shape-only, boolean, integer-valued)
NON_DIFFERENTIABLE = {
    "var", "const", "count", "one_hot", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_not",
}


def _case_ops(diff_only=False):
    found = {}
    for m in MODULES:
        for case in m.CASES:
            if diff_only and not case.diff:
                continue
            for op in ops_in([case.expr(m.T)]):
                found.setdefault(op, []).append(f"{m.__name__.split('.')[-1]}:{case.id}")
    return found


def _declared():
    out = set()
    for m in MODULES:
        out |= m.COVERED
    return out


def test_every_registered_op_is_tested():
    covered = set(_case_ops()) | _declared()
    missing = sorted(set(OPS) - covered)
    assert not missing, f"ops in symback.ops.OPS without a test: {missing}"


def test_every_differentiable_op_has_a_derivative_test():
    covered = set(_case_ops(diff_only=True)) | {"index_adjoint", "adjoint_mul"} & _declared()
    missing = sorted(set(OPS) - NON_DIFFERENTIABLE - covered)
    assert not missing, f"differentiable ops never differentiated in a test: {missing}"


def test_declared_coverage_names_real_ops():
    unknown = sorted(_declared() - set(OPS))
    assert not unknown, f"covers() names ops that are not registered: {unknown}"
    assert NON_DIFFERENTIABLE <= set(OPS)


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_has_all_rules(op):
    """Every op holds its rules in one registry entry (DESIGN: 'Ops: one place each')."""
    entry = OPS[op]
    assert entry.name == op
    assert callable(entry.infer) and callable(entry.eval)
    if entry.kind == "leaf":
        return
    assert entry.vjp is not None and entry.jvp is not None, f"{op}: missing a derivative rule"
    assert entry.sympy is not None, f"{op}: missing its SymPy translation"
    if entry.kind in ("elementwise",):
        tree = entry.scalar if isinstance(entry.scalar, Expr) else None
        assert tree is not None or callable(entry.scalar), f"{op}: elementwise op without a scalar rule"


# --- leaves -----------------------------------------------------------------------------------------


def test_leaves_evaluate_to_their_values():
    import numpy as np

    import symback as sb
    x = sb.var("leaf_x", (2,))
    c = sb.const(np.array([1.5, -2.0]))
    assert x.op == "var" and c.op == "const" and c.dtype == "float64"
    assert sb.const(3).dtype == "int64" and sb.const(True).dtype == "bool"
    np.testing.assert_array_equal(sb.evaluate(x + c, {"leaf_x": np.array([1.0, 2.0])}), [2.5, 0.0])
    with pytest.raises(KeyError):
        sb.evaluate(x, {})


@pytest.mark.parametrize("name", ["lambda", "is", "None"])
def test_var_named_like_a_keyword_is_rejected_up_front(name):
    """A keyword cannot be a parameter of the generated functions (a var named
    'is' once made compile emit a SyntaxError), so var() refuses it, naming it."""
    import symback as sb
    with pytest.raises(ValueError, match=f"'{name}'.*not a keyword"):
        sb.var(name, (2,))
