"""The fuzzer: random programs over every registered op, checked by every oracle.

Two profiles, both driven by hypothesis (``HypothesisChooser``):

* ``test_fuzz_ci`` -- a fixed, derandomized set of batches that CI runs (a few
  hundred programs, a few minutes with Numba's compile of one kernel per batch);
* ``test_fuzz_long`` -- ``pytest -m fuzz_long``: 10,000 programs (500 batches of
  20), on demand; every failing program is reported, not only the first.

Programs are batched into one kernel per hypothesis example: Numba's compile
time is the fuzzer's cost, and one larger kernel costs far less than many small.
The programs are generated with the ops of the registry in mind; a new op gets a
step in ``programs.Builder`` and ``test_every_op_is_generated`` keeps that so.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import symback as sb
from symback.ops import OPS

from .oracles import check_batch
from .programs import HypothesisChooser, build_program

#: ops a random program never contains on purpose: internal ops that only
#: autodiff builds (they are generated through the gradients in every program)
#: ``scan``/``scan_get`` (loops) are not generated: a loop needs a traced step
#: function, which the op-by-op generator cannot build; tests/ops/test_control.py
#: checks them against the same oracles
INTERNAL = {"adjoint_mul", "index_adjoint", "broadcast", "count", "var", "const", "scan", "scan_get"}


def _batch(data, size):
    chooser = HypothesisChooser(data)
    return [build_program(chooser, f"p{i}_", scalar_only=(i % 6 == 0)) for i in range(size)]


def _profile(batches, size, tag, failures):
    @settings(max_examples=batches, derandomize=True, deadline=None, database=None,
              phases=(Phase.generate,), print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        programs = _batch(data, size)
        run.count += 1
        failures.extend(check_batch(programs, f"fuzz_{tag}_{run.count}"))
    run.count = 0
    run()
    return run.count


def _report(failures, total):
    kinds = {}
    for f in failures:
        kinds.setdefault(f.what, 0)
        kinds[f.what] += 1
    head = f"{len({id(f.program) for f in failures})} of {total} programs fail: {kinds}\n"
    return head + "\n".join(str(f) for f in failures[:20])


def test_fuzz_ci():
    failures = []
    batches = int(os.environ.get("SYMBACK_FUZZ_BATCHES", "8"))
    n = _profile(batches, 12, "ci", failures)
    assert n == batches
    assert not failures, _report(failures, n * 12)


def test_every_op_is_generated():
    """Every registered op, but the internal ones, appears in some program of a
    modest sample: an op added to the registry needs a step in the generator."""
    from .programs import RandomChooser
    seen = set()
    for seed in range(400):
        p = build_program(RandomChooser(seed), "q_", scalar_only=seed % 6 == 0)
        seen |= p.ops
        seen |= {n.op for n in sb.ir.topo_order([p.loss])}
    missing = sorted(set(OPS) - INTERNAL - seen)
    assert not missing, f"the fuzzer never generates {missing}: add a step for them to programs.Builder"


@pytest.mark.fuzz_long
def test_fuzz_long():
    failures = []
    n = _profile(500, 20, "long", failures)
    print(f"fuzz_long: {n * 20} programs, {len({id(f.program) for f in failures})} failing")
    assert not failures, _report(failures, n * 20)
