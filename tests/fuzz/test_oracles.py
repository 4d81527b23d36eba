"""The fuzzer's oracles can fail: bugs planted in one rule are caught.

A fuzzer whose checks cannot fail would pass forever.  Each test swaps one
op's rule for a wrong one (a registry entry replaced for the test only), runs
random programs that use the op through the Python tier and asserts that the
oracle meant for that kind of bug reports it.
"""
from __future__ import annotations

import dataclasses

import pytest

import symback.dsl as F
from symback.ops import OPS
from symback.ops.scalar import X0, call, lit

from .oracles import check_batch
from .programs import RandomChooser, build_program


def _programs_using(op, count=12):
    """``count`` float64 programs using ``op`` that pass every oracle as they are."""
    found = []
    for s in range(5000):
        p = build_program(RandomChooser(s), f"m{s}_", scalar_only=s % 6 == 0)
        if op in p.ops and p.dtype == "float64" and not p.lossy:
            found.append(p)
            if len(found) == count:
                break
    assert len(found) == count, f"only {len(found)} programs with {op}"
    clean = check_batch(found, f"unplanted_{op}", jit=False)
    assert not clean, "\n".join(map(str, clean))
    return found


def _planted(monkeypatch, op, **rules):
    monkeypatch.setitem(OPS, op, dataclasses.replace(OPS[op], **rules))


def _kinds(failures):
    return {f.what for f in failures}


def test_a_wrong_derivative_is_caught_by_finite_differences(monkeypatch):
    programs = _programs_using("sin")
    _planted(monkeypatch, "sin", vjp=lambda n, g: (g * F.sin(n.args[0]),))
    assert "gradient vs finite differences" in _kinds(check_batch(programs, "planted_vjp", jit=False))


def test_a_wrong_tangent_is_caught_by_the_gradient(monkeypatch):
    programs = _programs_using("exp")
    _planted(monkeypatch, "exp", jvp=lambda n, t: 2.0 * n * t[0])
    assert "jvp vs grad" in _kinds(check_batch(programs, "planted_jvp", jit=False))


def test_wrong_emitted_code_is_caught_by_the_interpreter(monkeypatch):
    programs = _programs_using("tanh")
    _planted(monkeypatch, "tanh", scalar=call("tanh", X0) * lit(1.0 + 1e-9))
    assert "kernel vs interpreter" in _kinds(check_batch(programs, "planted_scalar", jit=False))


@pytest.mark.parametrize("op", ["cos"])
def test_a_wrong_derivative_is_caught_by_sympy(monkeypatch, op):
    """SymPy differentiates the forward expression itself, so a wrong VJP
    shows against it in scalar programs."""
    programs = [p for p in _programs_using(op, 40) if not any(v.shape for v in p.inputs)]
    assert programs, "no scalar programs with cos"
    _planted(monkeypatch, op, vjp=lambda n, g: (g * F.sin(n.args[0]),))
    assert "gradient vs SymPy" in _kinds(check_batch(programs, "planted_sympy", jit=False))


def test_rounding_ties_are_recognised():
    """``x > log(exp(x))`` is decided by the last bit of exp and log, which
    libm and numpy's SIMD loops round differently: such a program is excused
    from the kernel comparison (and counted), one without ties is not."""
    from .oracles import _outputs, rounding_tie
    from .programs import program_of
    import symback as sb

    x = sb.var("tie_x", (3,))
    values = {x: [0.38163760380822376, 0.8438488511951099, -1.37]}
    tied = program_of("tie_", values, sb.astype(x > sb.log(sb.exp(x)), "float64") * x)
    clear = program_of("tie_", values, sb.astype(x > 0.5, "float64") * x)
    assert rounding_tie(_outputs(tied, 0))
    assert not rounding_tie(_outputs(clear, 0))
