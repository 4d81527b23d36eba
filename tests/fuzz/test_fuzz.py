"""The fuzzer: random programs over every registered op, checked by every oracle.

Programs are drawn by hypothesis (``HypothesisChooser``, seeded per shard so
runs are reproducible) and go through one of two tiers:

* the **Python tier** runs the generated module with CPython (Numba's JIT
  disabled): every oracle, thousands of programs a minute, checking what
  symback writes;
* the **Numba tier** compiles the same kind of module with Numba, one entry
  point per program in one module per batch: about a second a program, so it
  runs on a sample, checking what Numba makes of it.

Programs hold loops (``sb.scan``, ``sb.fori_loop``, blocks repeated by a
Python loop for the rerolling pass: see ``loops.py``), which cost about 1.7x
in the Python tier and several times more in Numba.  CI runs
``test_fuzz_ci_*`` (800 seeded programs in Python, 20 straight-line and 4 with
loops in Numba, 80 drawn by hypothesis, a minute or two); ``pytest -m fuzz_long`` runs 10,000 programs in Python and 1,000 in
Numba (``SYMBACK_FUZZ_PROGRAMS``, ``SYMBACK_FUZZ_JIT``), reporting every
failing program, each with its source as a reproduction.  A new op gets a step
in ``programs.Builder``; ``test_every_op_is_generated`` keeps that so.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import symback as sb
from symback.ops import OPS

from .oracles import check_batch
from .programs import HypothesisChooser, RandomChooser, build_program

#: ops a random program never contains on purpose: internal ops that only
#: autodiff builds (they are generated through the gradients in every program)
INTERNAL = {"adjoint_mul", "index_adjoint", "broadcast", "count", "var", "const"}


def _batch(data, size):
    chooser = HypothesisChooser(data)
    return [build_program(chooser, f"p{i}_", scalar_only=(i % 6 == 0)) for i in range(size)]


class Tally:
    """What a profile saw: programs run, failures, programs left to the other tier."""

    def __init__(self, progress=False):
        self.programs, self.failures, self.skipped = 0, [], []
        self.stats = Counter()   # programs with loops, with repeated blocks, rerolled
        self.progress = progress

    def report(self, tier):
        kinds = {}
        for f in self.failures:
            kinds[f.what] = kinds.get(f.what, 0) + 1
        failing = len({id(f.program) for f in self.failures})
        reasons = {}
        for _, why in self.skipped:
            reasons[why] = reasons.get(why, 0) + 1
        head = (f"{tier}: {failing} of {self.programs} programs fail {kinds}; not compared: {reasons}; "
                f"{dict(self.stats)}\n")
        return head + "\n".join(str(f) for f in self.failures[:20])


def _run_batch(programs, tag, jit, tally):
    tally.programs += len(programs)
    found = check_batch(programs, tag, jit=jit, skipped=tally.skipped, stats=tally.stats)
    tally.failures.extend(found)
    if tally.progress:   # long runs: a line per batch, so a run cut short still reports
        print(f"{tag}: {tally.programs} programs, {len({id(f.program) for f in tally.failures})} failing",
              flush=True)
        for f in found:
            print(f, flush=True)


def _profile(shard, batches, size, jit, tally):
    """``batches`` hypothesis examples of ``size`` programs each; ``shard``
    seeds hypothesis, so the shards of a profile draw different programs."""
    tag = f"{'jit' if jit else 'py'}{shard}"

    @seed(shard)
    @settings(max_examples=batches, deadline=None, database=None,
              phases=(Phase.generate,), print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        programs = _batch(data, size)   # hypothesis may stop here (its data ran out): not counted
        run.count += 1
        _run_batch(programs, f"fuzz_{tag}_{run.count}", jit, tally)
    run.count = 0
    run()
    assert run.count == batches, f"hypothesis ran {run.count} of {batches} batches"
    return tally


def _seeded_profile(seeds, size, jit, tally, loops=True):
    """The programs of ``RandomChooser(seed)`` for each of ``seeds``, ``size``
    to a batch.  CI uses these: hypothesis draws also from constants it finds
    in the loaded modules, so its programs change with the set of tests run;
    a numpy generator per seed gives CI the same programs everywhere."""
    seeds = list(seeds)
    for k in range(0, len(seeds), size):
        programs = [build_program(RandomChooser(s), f"p{i}_", scalar_only=s % 6 == 0, loops=loops)
                    for i, s in enumerate(seeds[k:k + size])]
        _run_batch(programs, f"fuzz_{'jit' if jit else 'py'}_{seeds[k]}", jit, tally)
    return tally


#: CI: four shards of 200 programs through the Python tier, two batches of 10
#: through Numba (no loops) and 4 programs with loops; ``SYMBACK_FUZZ_SCALE`` multiplies both (e.g. 0 < s < 1 locally)
SCALE = float(os.environ.get("SYMBACK_FUZZ_SCALE", "1"))


@pytest.mark.parametrize("shard", range(4))
def test_fuzz_ci_python(shard):
    n = max(20, round(200 * SCALE))
    tally = _seeded_profile(range(100_000 + shard * n, 100_000 + (shard + 1) * n), 20, False, Tally())
    assert not tally.failures, tally.report("Python tier")
    assert len(tally.skipped) < tally.programs / 5, tally.report("Python tier")
    # the rerolling pass fires on the repeated blocks (not on all: a short
    # block, a block whose first repeat simplifies, may stay unrolled)
    assert tally.stats["rerolled"] >= tally.stats["repeated blocks"] / 4 > 0, tally.report("Python tier")


@pytest.mark.parametrize("shard", range(2))
def test_fuzz_ci_numba(shard):
    n = max(4, round(10 * SCALE))
    tally = _seeded_profile(range(200_000 + shard * n, 200_000 + (shard + 1) * n), n, True, Tally(), loops=False)
    assert not tally.failures, tally.report("Numba tier")


def _with_loops(start, count):
    """The first ``count`` seeds from ``start`` whose program holds a loop or a repeated block."""
    seeds, s = [], start
    while len(seeds) < count:
        p = build_program(RandomChooser(s), "q_", scalar_only=s % 6 == 0)
        if "scan" in p.ops or p.repeats:
            seeds.append(s)
        s += 1
    return seeds


def test_fuzz_ci_numba_loops():
    """A few programs with loops through Numba: a loop costs Numba several
    times what a straight-line program does (its body, the tape, the reverse
    loop), so CI compiles a handful; the long profile, many."""
    tally = _seeded_profile(_with_loops(250_000, max(2, round(4 * SCALE))), 20, True, Tally())
    assert not tally.failures, tally.report("Numba tier, loops")
    assert tally.stats["loops"] + tally.stats["repeated blocks"] >= tally.programs


def test_fuzz_ci_hypothesis():
    """A short hypothesis-driven run, so its generator stays exercised in CI
    (its programs depend on the loaded modules: a failure prints its source)."""
    tally = _profile(7, 4, 20, False, Tally())
    assert not tally.failures, tally.report("Python tier, hypothesis")


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
def test_fuzz_long_python():
    """10,000 programs (``SYMBACK_FUZZ_PROGRAMS``) through the Python tier."""
    n = int(os.environ.get("SYMBACK_FUZZ_PROGRAMS", "10000"))
    tally = _profile(1000, -(-n // 20), 20, False, Tally(progress=True))
    print(tally.report("Python tier").splitlines()[0])
    assert not tally.failures, tally.report("Python tier")


@pytest.mark.fuzz_long
def test_fuzz_long_numba():
    """``SYMBACK_FUZZ_JIT`` programs (1,000) through Numba: about a second each."""
    n = int(os.environ.get("SYMBACK_FUZZ_JIT", "1000"))
    tally = _profile(2000, -(-n // 20), 20, True, Tally(progress=True))
    print(tally.report("Numba tier").splitlines()[0])
    assert not tally.failures, tally.report("Numba tier")
