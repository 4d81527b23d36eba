"""The fuzzer's oracles can fail: bugs planted in one rule are caught.

A fuzzer whose checks cannot fail would pass forever.  Each test swaps one
op's rule for a wrong one (a registry entry replaced for the test only), runs
random programs that use the op through the Python tier and asserts that the
oracle meant for that kind of bug reports it.

The allowance for ill-conditioned graphs (``oracles.sensitivity``) is tested
both ways: two correct evaluations an ulp apart where the graph amplifies it
are accepted, and a wrong value or gradient next to them is still caught.
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


# --- ill-conditioned graphs: two correct evaluations differ, a wrong one is still caught ---------


def _undetermined_sine(prefix):
    """sin of ~9e19 (seed 23769 of the Python tier, shrunk): an ulp of its
    argument is 16384 radians, so no float64 evaluation determines the sine;
    libm's exp and numpy's differ in the last bit at this point, and the pow
    chain makes that a different argument for sin."""
    import symback as sb
    from .programs import program_of
    x = sb.var(prefix + "x")
    t2 = sb.exp(x) ** x
    t6 = (t2 * t2 + 0.5) ** ((sb.abs(t2) + 0.25) ** 2.0)
    out = sb.stack([sb.tan(x), sb.sin(t6)], 0)
    return program_of(prefix, {x: 1.1613147729026854}, out)


def _saturated_tanh(prefix):
    """tanh near 1 (seeds 20574, 21267, 23205, shrunk): its derivative
    ``1 - n*n`` (as JAX and PyTorch compute it) turns an ulp of n into a
    relative error of about 1e-10 in the gradient."""
    import symback as sb
    from .programs import program_of
    x = sb.var(prefix + "x")
    return program_of(prefix, {x: 6.767732437050385}, 100.0 * sb.tanh(x))


def _evaluated_with(c, op, fn):
    """The derived outputs of ``c`` evaluated with ``op`` replaced by ``fn``
    (numpy's result -> another one): a stand-in for the kernel's libm."""
    import symback as sb
    from .oracles import _env
    saved = OPS[op]
    OPS[op] = dataclasses.replace(saved, eval=lambda values, attrs: fn(saved.eval(values, attrs)))
    try:
        return sb.evaluate(c.outputs, _env(c))
    finally:
        OPS[op] = saved


def _one_ulp_up(x):
    import numpy as np
    return np.nextafter(x, np.inf)


@pytest.mark.parametrize("make, op, first", [(_undetermined_sine, "exp", "output"), (_saturated_tanh, "tanh", "grad")])
def test_an_ulp_amplified_by_the_graph_is_not_a_failure(monkeypatch, make, op, first):
    """The other side's ``op`` an ulp off (libm against numpy) moves the
    outputs (``first``: the sine, resp. the gradient) far beyond the fixed
    tolerance, but within what rounding moves them (``sensitivity``): accepted
    and counted as ill-conditioned; without the sensitivity it is a failure."""
    from . import oracles
    c = oracles._outputs(make("ill_"), 0)
    got = _evaluated_with(c, op, _one_ulp_up)
    skipped = []
    assert oracles.check_compiled(c, got, skipped)[0] == []
    assert skipped == [(c.program, oracles.ILL_CONDITIONED)]
    monkeypatch.setattr(oracles, "SENSITIVITY_FACTOR", 0)
    failures = oracles.check_compiled(c, got)[0]
    assert failures and failures[0].detail.startswith(first), failures


def test_a_wrong_value_in_an_ill_conditioned_graph_is_caught():
    """Next to an undetermined sine, the well-conditioned tan(x) off by 1e-10
    relative is a failure: the spread is per element."""
    import numpy as np
    from . import oracles
    c = oracles._outputs(_undetermined_sine("ill_"), 0)
    got = _evaluated_with(c, "exp", _one_ulp_up)
    got[0] = np.array(got[0], copy=True)
    got[0][0] *= 1 + 1e-10
    failures = oracles.check_compiled(c, got)[0]
    assert [f.detail for f in failures if f.detail.startswith("output")], failures


def test_a_wrong_gradient_of_a_saturated_tanh_is_caught():
    """The gradient of the saturated tanh, accepted with an ulp of tanh
    amplified (above), is a failure when off by 1e-8 relative: 50 times the
    difference that ulp makes, far below what finite differences or SymPy's
    tolerance (1e-9 absolute) would see at a gradient of 1e-3."""
    import numpy as np
    from . import oracles
    c = oracles._outputs(_saturated_tanh("ill_"), 0)
    got = _evaluated_with(c, "tanh", _one_ulp_up)
    got[2] = np.asarray(got[2] * (1 + 1e-8))
    failures = oracles.check_compiled(c, got)[0]
    assert [f.detail for f in failures if f.detail.startswith("grad ill_x")], failures


def test_wrong_emitted_tanh_is_caught_in_a_saturated_gradient(monkeypatch):
    """A kernel whose tanh is off by 1e-13 relative: too little to see in its
    value (1e-12), but ``1 - n*n`` makes it 5e-8 in the gradient, beyond the
    spread of rounding there: a failure, through the whole pipeline."""
    programs = [_saturated_tanh("ill_")]
    assert not check_batch(programs, "saturated_tanh", jit=False)
    _planted(monkeypatch, "tanh", scalar=call("tanh", X0) * lit(1.0 - 1e-13))
    failures = check_batch(programs, "planted_tanh", jit=False)
    assert [f.detail for f in failures if f.detail.startswith("grad")], failures


def test_an_undetermined_value_is_not_compared_with_sympy():
    """SymPy's sine of the exact argument (-0.696 here) is no oracle for a
    float64 evaluation (0.215 in numpy): the loss and its derivative are
    excused by their spread; the saturated tanh, well determined, still meets
    SymPy to 1e-9."""
    from . import oracles
    for make in (_undetermined_sine, _saturated_tanh):
        c = oracles._outputs(make("ill_"), 0)
        want = __import__("symback").evaluate(c.outputs, oracles._env(c))
        assert oracles.check_sympy(c, want[1:]) == []


def test_a_wrong_derivative_of_a_saturated_tanh_is_caught_by_sympy(monkeypatch):
    _planted(monkeypatch, "tanh", vjp=lambda n, g: (g * (1.0 - n * n) * (1.0 + 1e-4),))
    from . import oracles
    c = oracles._outputs(_saturated_tanh("ill_"), 0)
    want = __import__("symback").evaluate(c.outputs, oracles._env(c))
    assert "gradient vs SymPy" in _kinds(oracles.check_sympy(c, want[1:]))
