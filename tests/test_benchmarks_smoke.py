"""Smoke test of the benchmark suite's machinery (benchmarks/): no peer, no timing figures.

The suite itself is run by `python -m benchmarks`, never as a test; this only checks that
its pieces fit: the reference check accepts right and rejects wrong gradients, one small
workload runs end to end for symback and the hand-written numpy system, and the report
renders."""
import numpy as np

from benchmarks import numpy_ref, report, sb_impl, sb_models, suite, workloads
from benchmarks.peers import numpy_impl


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
    assert entry["hand_numba_s"] > 0          # the hand-written Numba W1, same rounds
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
    assert "## Aims of issue 12" in text and "within 2x of a hand-written Numba" in text


def test_every_workload_is_enumerated_everywhere():
    for w in workloads.PARAMS:
        assert w in workloads.INPUTS and w in workloads.DATA and w in sb_models.BUILD
        assert w in numpy_ref.VALUE_AND_GRAD and w in numpy_impl.WORKLOADS
        assert w in sb_impl.WORKLOADS and w in report.TITLES
    ids = {w for _, w, _ in suite.FULL}
    assert set(workloads.W3_FAMILY) <= ids and set(workloads.W3_FAMILY) <= {
        w for _, w, _ in suite.QUICK}


def test_blas_floor_computes_the_products_of_w3_and_reports_them():
    data = workloads.DATA["W3fg"]()
    floor, forward_floor, shapes, outs = suite.blas_floor(data)
    forward_floor()
    floor()
    assert len(shapes) == 8 and "(256, 784)@(784, 256) (transposed view)" in shapes[0]
    # the floor's weight-gradient products are those of the reference backprop
    _, (g_W1, _, g_W2, _, g_W3, _) = numpy_ref.VALUE_AND_GRAD["W3fg"](
        *workloads.args("W3fg", data))
    for out, g in zip(outs[5:], (g_W3, g_W2, g_W1)):
        assert out.dtype == np.float32 and out.shape == g.shape
        assert np.allclose(out, g, rtol=1e-4, atol=1e-4 * np.abs(g).max())
    # a fake W3-family entry renders with the floor in the summary, its section and issue 12
    sys_rec = {"status": "ok", "vag_s": 2e-3, "fwd_s": 1e-3, "vag_over_fwd": 2.0,
               "check_error": 0.0, "gflops_vag": 10.0, "x_blas_floor": 1.25,
               "fwd_x_blas_floor": 1.1}
    entry = {"workload": "W3g", "params": {}, "flops": {"forward": 1, "value_and_grad": 3},
             "systems": {n: {"status": "not selected"} for n in suite.SYSTEMS},
             "blas_floor": {"products": shapes, "vag_s": 1.6e-3, "fwd_s": 0.9e-3,
                            "gflops_vag": 20.0}}
    entry["systems"]["symback"] = sys_rec
    results = {"numpy_matmul_gflops": {"float64": 20.0, "float32": 40.0},
               "workloads": {"W3g": entry}}
    aims = {a: (v, ev) for a, v, ev in report.aims12(results)}
    assert aims["W3g: value_and_grad within 1.15x of the BLAS floor"][0] == "NOT met"
    assert aims["W3g: vag/fwd <= 3"][0] == "met"
    assert aims["W3g: faster than PyTorch eager"][0] == "not measured"
    assert aims["W1v: faster than torch.compile"][0] == "not measured"


def test_program_size_counts_assignments_of_called_helpers_once():
    source = (
        "def _helper(a):\n    b = a + 1\n    return b\n"
        "def _forward(x):\n    y = x * 2\n    return y\n"
        "def _value_and_grad(x):\n    y = _helper(x)\n    z = _helper(y)\n    z += 1\n"
        "    return y, z\n")
    assert sb_impl.assignments(source, "_forward") == 1
    assert sb_impl.assignments(source, "_value_and_grad") == 4
