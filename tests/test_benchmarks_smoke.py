"""Smoke test of the benchmark suite's machinery (benchmarks/): no peer, no timing figures.

The suite itself is run by `python -m benchmarks`, never as a test; this only checks that
its pieces fit: the reference check accepts right and rejects wrong gradients, one small
workload runs end to end for symback and the hand-written numpy system, and the report
renders."""
from benchmarks import numpy_ref, report, sb_impl, suite, workloads


def test_check_accepts_the_reference_and_rejects_a_wrong_gradient():
    data = workloads.DATA["W2"]()
    ref = numpy_ref.VALUE_AND_GRAD["W2"](*workloads.args("W2", data))
    problem, err = suite.check("W2", ref[0], list(ref[1]), ref)
    assert problem is None and err == 0
    wrong = [g.copy() for g in ref[1]]
    wrong[2][0, 0] *= 1.001
    problem, _ = suite.check("W2", ref[0], wrong, ref)
    assert problem and "g_W" in problem


def test_w5_check_tolerates_an_underflowing_gradient():
    ref = numpy_ref.VALUE_AND_GRAD["W5"](0.3, 0.7, 200)
    value, (g_x, g_a) = ref
    problem, _ = suite.check("W5", value, [g_x + 1e-300, g_a], ref)
    assert problem is None


def test_one_workload_end_to_end_and_the_report():
    settings = dict(suite.SETTINGS["quick"], rounds=1, number=1)
    entry = suite.run_instance("W1", "W1", {}, ["symback", "numpy"], settings, quick=True,
                               latency=False, quiet_wait=0)
    for name in ("symback", "numpy"):
        rec = entry["systems"][name]
        assert rec["status"] == "ok", rec
        assert rec["vag_s"] > 0 and rec["fwd_s"] > 0
    assert entry["systems"]["jax"]["status"] == "not selected"
    assert entry["fastest_peer"] == "numpy"
    assert entry["systems"]["symback"]["program"]["value_and_grad"] > 0
    results = {"machine": {"date": "-", "cpu": "-", "cores": 2, "platform": "-", "python": "-",
                           "blas": "-", "numba_threads": 2, "symback_commit": "-", "env": {},
                           "loadavg_start": (0, 0, 0),
                           "versions": {k: "-" for k in ("symback", "numpy", "numba", "scipy",
                                                         "jax", "jaxlib", "torch", "autograd",
                                                         "sympy", "matplotlib")}},
               "settings": dict(settings, quick=True), "systems": {},
               "numpy_matmul_gflops": {"float64": 1.0, "float32": 2.0},
               "workloads": {"W1": entry}}
    text = report.markdown(results)
    assert "| W1 |" in text and "value_and_grad / forward" in text


def test_program_size_counts_assignments_of_called_helpers_once():
    source = (
        "def _helper(a):\n    b = a + 1\n    return b\n"
        "def _forward(x):\n    y = x * 2\n    return y\n"
        "def _value_and_grad(x):\n    y = _helper(x)\n    z = _helper(y)\n    z += 1\n"
        "    return y, z\n")
    assert sb_impl.assignments(source, "_forward") == 1
    assert sb_impl.assignments(source, "_value_and_grad") == 4
