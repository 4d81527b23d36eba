"""Compiled kernels: agreement with the interpreter, the calling convention,
argument checking, generated source, standalone modules, and the benchmark
models W2, W3 and W5.

Numba compiles are slow, so the compiled kernels are few and module-scoped:
toy (value_and_grad + forward), arrays, io, f32, W2, W3, a names probe, and
one more in a subprocess for the standalone module.
"""
import gc
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symback as sb
from benchmarks import numpy_ref, sb_models, workloads
from symback.backend.numba import NJIT_FLAGS, Entry, emit_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_rel(got, want, rtol=1e-12, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-300) if want.size else 1.0
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    assert err <= rtol * scale, f"{what}: max abs error {err:.3g} > {rtol:g} * {scale:.3g}"


# --- the toy model: scalar, run-time dims, int labels, a non-differentiated input -------


def build_toy():
    A = sb.var("A", (None, 3))
    b = sb.var("b", (3,))
    s = sb.var("s")
    labels = sb.var("labels", (None,), "int64")
    M = sb.var("M", (3, 4))
    c = sb.var("c", (4,))
    logits = sb.tanh(A * s) @ M + c + sb.sum(b)
    loss = sb.mean(sb.softmax_cross_entropy(logits, labels)) + 0.1 * sb.sum(A * A * b) + s * s
    return loss, [A, b, s, M], [labels, c]


def toy_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"A": rng.normal(size=(n, 3)), "b": rng.normal(size=3), "s": 0.7,
            "M": rng.normal(size=(3, 4)), "labels": rng.integers(0, 4, n), "c": rng.normal(size=4)}


TOY_INPUTS = ["A", "b", "s", "M", "labels", "c"]


@pytest.fixture(scope="module")
def toy():
    loss, wrt, rest = build_toy()
    kernel = sb.value_and_grad(loss, wrt, name="toy")
    return kernel, loss, wrt


@pytest.fixture(scope="module")
def toy_unchecked():
    """The toy model in its own module whose compiled code must never run: bad
    calls on it must be rejected by the Python wrapper."""
    loss, wrt, rest = build_toy()
    return sb.value_and_grad(loss, wrt, name="toy_unchecked")


def toy_reference(loss, wrt, env):
    value, *grads = sb.evaluate([loss] + sb.grad(loss, wrt), env)
    return value, grads


def toy_args(env):
    return [env[n] for n in TOY_INPUTS]


def test_toy_inputs_follow_the_contract_order(toy):
    kernel, loss, wrt = toy
    # wrt first, in order; then the other variables in order of creation
    assert kernel.inputs == TOY_INPUTS


def test_value_and_grad_equals_interpreter(toy):
    kernel, loss, wrt = toy
    env = toy_data(6)
    value, grads = kernel(*toy_args(env))
    ref_value, ref_grads = toy_reference(loss, wrt, env)
    assert isinstance(grads, tuple) and len(grads) == 4
    assert_rel(value, ref_value, what="value")
    for w, g, r in zip(wrt, grads, ref_grads, strict=True):
        assert_rel(g, r, what=w.name)
    fwd = kernel.forward(*toy_args(env))  # the value alone
    assert np.shape(fwd) == ()
    assert_rel(fwd, ref_value, what="forward")


def test_scalar_outputs_have_shape_empty(toy):
    kernel, loss, wrt = toy
    value, (gA, gb, gs, gM) = kernel(*toy_args(toy_data(3)))
    assert np.shape(value) == () and np.shape(gs) == ()
    assert np.asarray(value).dtype == np.float64 and np.asarray(gs).dtype == np.float64
    assert gA.shape == (3, 3) and gb.shape == (3,) and gM.shape == (3, 4)


def test_runtime_dimension_changes_between_calls(toy):
    kernel, loss, wrt = toy
    for n in (5, 2, 9, 1):
        env = toy_data(n, seed=n)
        value, grads = kernel(*toy_args(env))
        ref_value, ref_grads = toy_reference(loss, wrt, env)
        assert grads[0].shape == (n, 3)
        assert_rel(value, ref_value, what=f"value n={n}")
        for w, g, r in zip(wrt, grads, ref_grads, strict=True):
            assert_rel(g, r, what=f"{w.name} n={n}")


@pytest.mark.parametrize("s", [0.7, np.float64(0.7), np.array(0.7), np.array(0.7)[()], 1, np.int64(1),
                               np.float32(0.5)],
                         ids=["float", "np.float64", "0-d array", "np scalar from 0-d", "int", "np.int64",
                              "np.float32"])
def test_scalar_inputs_accept_numbers_numpy_scalars_and_0d_arrays(toy, s):
    kernel, loss, wrt = toy
    env = toy_data(4)
    env["s"] = s
    value, grads = kernel(*toy_args(env))
    ref_value, ref_grads = toy_reference(loss, wrt, {**env, "s": float(np.asarray(s))})
    assert_rel(value, ref_value)
    for g, r in zip(grads, ref_grads, strict=True):
        assert_rel(g, r)


def test_non_contiguous_arrays(toy):
    kernel, loss, wrt = toy
    env = toy_data(5, seed=3)
    rng = np.random.default_rng(4)
    views = dict(env)
    views["A"] = np.asfortranarray(env["A"]).T.copy().T          # Fortran order, same values
    assert not views["A"].flags.c_contiguous
    bigM = np.zeros((6, 8))
    bigM[::2, ::2] = env["M"]
    views["M"] = bigM[::2, ::2]                                  # strided view
    views["b"] = env["b"][::-1].copy()[::-1]                     # negative stride
    lab = np.zeros(10, np.int64)
    lab[::2] = env["labels"]
    views["labels"] = lab[::2]
    views["c"] = np.stack([env["c"], rng.normal(size=4)], axis=1)[:, 0]
    for k in ("M", "b", "labels", "c"):
        assert not views[k].flags.c_contiguous, k
    value, grads = kernel(*toy_args(views))
    ref_value, ref_grads = kernel(*toy_args(env))
    assert value == ref_value
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_array_equal(g, r)


def test_kernels_never_modify_inputs(toy):
    kernel, loss, wrt = toy
    env = toy_data(5, seed=5)
    env["A"] = np.asfortranarray(env["A"])
    before = {k: np.array(v, copy=True) for k, v in env.items()}
    kernel(*toy_args(env))
    kernel.forward(*toy_args(env))
    for k in TOY_INPUTS:
        np.testing.assert_array_equal(env[k], before[k], err_msg=k)


def test_outputs_are_fresh_arrays(toy):
    kernel, loss, wrt = toy
    env = toy_data(5, seed=6)
    args = toy_args(env)
    v1, g1 = kernel(*args)
    v2, g2 = kernel(*args)
    for a, b in zip(g1, g2, strict=True):
        if np.ndim(a):
            assert not np.shares_memory(a, b)
        for x in args:
            if isinstance(x, np.ndarray):
                assert not np.shares_memory(a, x)
    saved = [np.array(g, copy=True) for g in g1]
    for g in g1:
        if np.ndim(g):
            g[...] = 12345.0
    v3, g3 = kernel(*args)
    assert v3 == v1
    for a, b in zip(g3, saved, strict=True):
        np.testing.assert_array_equal(a, b)


def test_label_out_of_range_raises_value_error(toy):
    kernel, loss, wrt = toy
    env = toy_data(4)
    for bad in (4, -1, 100):
        env_bad = dict(env, labels=np.array([0, 1, bad, 2]))
        with pytest.raises(ValueError):
            kernel(*toy_args(env_bad))
        with pytest.raises(ValueError):
            kernel.forward(*toy_args(env_bad))
    value, _ = kernel(*toy_args(env))  # still usable afterwards
    assert np.isfinite(value)


# --- array ops with a run-time leading dimension ---------------------------------------------


@pytest.fixture(scope="module")
def arrays_kernel():
    T, w, r, e = sb.var("T", (None, 3, 4)), sb.var("w", (4,)), sb.var("r", (3, 1)), sb.var("e")
    P = sb.softmax(T * w, axis=1)                                   # middle axis of a 3-d array
    L = sb.logsumexp(T, axis=1, keepdims=True)                      # (N, 1, 4)
    R = sb.reshape(sb.transpose(P * L, (0, 2, 1)), (-1, 3))         # (4N, 3)
    S = sb.stack([sb.maximum(R[:, 0], R[:, 1]), sb.minimum(R[:, 1], R[:, 2]) ** e], axis=1)
    y = sb.mean(sb.sqrt(S * S + 1.0)) \
        + sb.sum(sb.where(T > 0.0, sb.log(1.0 + T * T), sb.abs(T)) * r) \
        + sb.sum(sb.relu(T[:, None, 1, :] - 0.1) / (1.0 + w * w)) \
        + sb.sum(sb.sigmoid(sb.logsumexp(T, axis=2)) * r[:, 0])
    wrt = [T, w, r, e]
    return sb.value_and_grad(y, wrt, name="arrays"), y, wrt


@pytest.mark.parametrize("n", [3, 1, 6])
def test_array_ops_value_and_grad_equals_interpreter(arrays_kernel, n):
    kernel, y, wrt = arrays_kernel
    rng = np.random.default_rng(n)
    env = {"T": rng.normal(size=(n, 3, 4)), "w": rng.normal(size=4), "r": rng.normal(size=(3, 1)), "e": 1.7}
    value, grads = kernel(*[env[k] for k in kernel.inputs])
    ref = sb.evaluate([y] + sb.grad(y, wrt), env)
    assert_rel(value, ref[0], what="value")
    for v, g, r in zip(wrt, grads, ref[1:], strict=True):
        assert_rel(g, r, what=v.name)


# --- bad calls are rejected before compiled code runs ---------------------------------------


def _assert_never_compiled(kernel):
    for entry in ("_value_and_grad", "_forward"):
        assert getattr(kernel.module, entry).signatures == [], f"{entry} ran compiled code"


def _bad_calls():
    good = toy_data(4)
    cases = []

    def case(label, exc, names, **changes):
        cases.append(pytest.param(dict(good, **changes), exc, names, id=label))

    case("A rank 1", ValueError, ["A"], A=np.ones(3))
    case("A rank 3", ValueError, ["A"], A=np.ones((4, 3, 1)))
    case("A static size", ValueError, ["A"], A=np.ones((4, 2)))
    case("b static size", ValueError, ["b"], b=np.ones(4))
    case("M static size", ValueError, ["M"], M=np.ones((4, 3)))
    case("A float32", TypeError, ["A"], A=np.ones((4, 3), np.float32))
    case("b int64", TypeError, ["b"], b=np.ones(3, np.int64))
    case("labels float", TypeError, ["labels"], labels=np.zeros(4))
    case("labels int32", TypeError, ["labels"], labels=np.zeros(4, np.int32))
    case("s array", ValueError, ["s"], s=np.ones(2))
    case("s string", TypeError, ["s"], s="0.5")
    case("s None", TypeError, ["s"], s=None)
    case("mismatched N", ValueError, ["A", "labels"], labels=np.zeros(3, np.int64))
    return cases


@pytest.mark.parametrize("env,exc,names", _bad_calls())
def test_bad_arguments_raise_naming_the_argument(toy_unchecked, env, exc, names):
    for entry in (toy_unchecked, toy_unchecked.forward):
        with pytest.raises(exc) as info:
            entry(*toy_args(env))
        for name in names:
            assert re.search(rf"\b{name}", str(info.value)), (name, str(info.value))
    _assert_never_compiled(toy_unchecked)


def test_wrong_number_of_arguments_raises_type_error(toy_unchecked):
    args = toy_args(toy_data(4))
    with pytest.raises(TypeError, match="'c'"):
        toy_unchecked(*args[:-1])
    with pytest.raises(TypeError):
        toy_unchecked(*args, 1.0)
    with pytest.raises(TypeError):
        toy_unchecked()
    with pytest.raises(TypeError):
        toy_unchecked.forward(*args[:3])
    _assert_never_compiled(toy_unchecked)


# --- several outputs, aliasing --------------------------------------------------------------


@pytest.fixture(scope="module")
def io_kernel():
    A = sb.var("A", (None, 3))
    outs = [A, A.T, A * 2.0, sb.sum(A), A[:, 1], sb.reshape(A, (-1,)), A, A * 2.0]
    return sb.compile(outs, [A], name="io"), outs


def test_compile_returns_one_item_per_output_without_aliasing(io_kernel):
    kernel, outs = io_kernel
    A = np.arange(12.0).reshape(4, 3)
    A_before = A.copy()
    res = kernel(A)
    assert isinstance(res, tuple) and len(res) == len(outs)
    want = [A, A.T, A * 2.0, A.sum(), A[:, 1], A.reshape(-1), A, A * 2.0]
    for got, w in zip(res, want, strict=True):
        np.testing.assert_array_equal(got, w)
        assert np.shape(got) == np.shape(w)
    assert np.shape(res[3]) == ()
    for i, got in enumerate(res):
        if np.ndim(got):
            assert not np.shares_memory(got, A), i
            for j, other in enumerate(res[:i]):
                if np.ndim(other):
                    assert not np.shares_memory(got, other), (i, j)
    for got in res:
        if np.ndim(got):
            got[...] = -1.0
    np.testing.assert_array_equal(A, A_before)
    again = kernel(A)
    for got, w in zip(again, want, strict=True):
        np.testing.assert_array_equal(got, w)
    # a transposed input and a Python list work too
    np.testing.assert_array_equal(kernel(np.ascontiguousarray(A.T).T)[2], 2 * A)
    np.testing.assert_array_equal(kernel([[1.0, 2.0, 3.0]])[3], 6.0)


# --- float32 stays float32 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def f32_kernel():
    X = sb.var("X", (None, 3), "float32")
    w = sb.var("w", (3,), "float32")
    t = sb.var("t", (), "float32")
    u = sb.var("u", (2,), "float32")  # differentiated, but the loss does not depend on it
    loss = sb.mean(sb.tanh(X @ w) * 0.5 - t) ** 2 + 0.01 * sb.sum(w * w)
    assert loss.dtype == "float32"
    return sb.value_and_grad(loss, [w, t, u], name="f32"), loss, [w, t, u]


def test_float32_kernel(f32_kernel):
    kernel, loss, wrt = f32_kernel
    rng = np.random.default_rng(0)
    env = {"w": rng.normal(size=3).astype(np.float32), "t": np.float32(0.3),
           "u": np.ones(2, np.float32), "X": rng.normal(size=(7, 3)).astype(np.float32)}
    assert kernel.inputs == ["w", "t", "u", "X"]
    value, (gw, gt, gu) = kernel(env["w"], env["t"], env["u"], env["X"])
    for out in (value, gw, gt, gu):
        assert np.asarray(out).dtype == np.float32
    assert gu.shape == (2,) and np.all(gu == 0.0)
    ref = sb.evaluate([loss] + sb.grad(loss, wrt), env)
    for got, r in zip([value, gw, gt, gu], ref, strict=True):
        np.testing.assert_allclose(got, r, rtol=2e-5, atol=1e-6)
    # and close to the same formula computed in float64 by numpy
    X64, w64, t64 = (np.asarray(env[k], np.float64) for k in ("X", "w", "t"))
    value64 = np.mean(np.tanh(X64 @ w64) * 0.5 - t64) ** 2 + 0.01 * np.sum(w64 * w64)
    np.testing.assert_allclose(value, value64, rtol=1e-4)
    with pytest.raises(TypeError, match="X"):
        kernel(env["w"], env["t"], env["u"], env["X"].astype(np.float64))
    with pytest.raises(TypeError, match="t"):
        kernel(env["w"], np.float64(0.3), env["u"], env["X"])  # would lose precision silently


# --- generated source -------------------------------------------------------------------------


def test_source_header_names_symback_and_version(toy):
    kernel, _, _ = toy
    header = kernel.source.split("import numba")[0]
    assert header.startswith('"""')
    assert "symback" in header and sb.__version__ in header
    assert "toy" in header
    assert "import symback" not in kernel.source and "from symback" not in kernel.source


def test_source_is_deterministic_within_a_process():
    def source():
        loss, params, inputs = sb_models.build_W3f()
        return emit_module([
            Entry("forward", params + inputs, [loss], ["value"]),
            Entry("value_and_grad", params + inputs, [loss] + sb.grad(loss, params),
                  ["value"] + [f"g_{p.name}" for p in params], [0, len(params)])], "W3f")
    first = source()
    gc.collect()
    sb.var("unrelated", (2,)) * 3.0  # shift serial numbers
    second = source()
    assert first == second


def test_source_is_deterministic_across_processes(toy, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
        sys.path.insert(0, {ROOT!r})
        import symback as sb
        sb.var("warmup", (3,)) + 1.0
        from test_kernel import build_toy
        loss, wrt, rest = build_toy()
        k = sb.value_and_grad(loss, wrt, name="toy")
        sys.stdout.write(k.source)
    """)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == toy[0].source


def test_model_names_appear_in_the_source(w3):
    kernel = w3[0]
    src = kernel.source
    for name in ("g_W1", "g_b1", "g_W2", "g_b2", "g_W3", "g_b3"):
        assert re.search(rf"\b{name}\b", src), name
    assert "def value_and_grad(W1, b1, W2, b2, W3, b3, X, labels):" in src
    assert "def forward(W1, b1, W2, b2, W3, b3, X, labels):" in src
    # one body per entry point, compiled serial and as its parallel twin (the
    # batch size is known only at call time, so the wrapper picks one by size)
    bodies = re.findall(r"^def (_\w+)\(", src, re.M)
    assert sorted(b for b in bodies if not b.startswith(("_scalar", "_array", "_show", "_parallel_twin", "_matmul", "_empty", "_reshape", "_contiguous",
                                                                  "_keep_freed_memory"))) \
        == ["_forward", "_value_and_grad"]
    for name in ("_forward", "_value_and_grad"):
        assert f"{name}_parallel = _parallel_twin({name})" in src
        assert f'{name} = numba.njit({NJIT_FLAGS})({name})' in src
    assert "range(1)" not in src
    module = kernel.module
    assert module._forward_parallel.targetoptions.get("parallel") is True
    assert module._forward_parallel.targetoptions.get("nogil") is True and module._forward.targetoptions.get("nogil")
    assert not module._forward.targetoptions.get("parallel")
    assert "_matmul(" in src and src.count("np.dot(") == 1   # in the NUMBA_DISABLE_JIT fallback


# --- standalone modules ---------------------------------------------------------------------------


def test_saved_module_runs_without_symback(toy, tmp_path):
    kernel, loss, wrt = toy
    path = kernel.save(tmp_path / "toy_standalone.py")
    assert open(path, encoding="utf-8").read() == kernel.source
    env = toy_data(6, seed=11)
    np.savez(tmp_path / "args.npz", **{k: np.asarray(v) for k, v in env.items()})
    script = textwrap.dedent("""
        import importlib.util, sys
        import numpy as np
        sys.modules["symback"] = None      # any import of symback now fails
        try:
            import symback  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("symback is importable")
        spec = importlib.util.spec_from_file_location("toy_standalone", "toy_standalone.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        d = np.load("args.npz")
        args = [d[k] for k in ["A", "b", "s", "M", "labels", "c"]]
        args[2] = float(args[2])
        value, grads = mod.value_and_grad(*args)
        fwd = mod.forward(*args)
        np.savez("out.npz", value=value, fwd=fwd, *grads)
        assert "symback" not in sys.modules or sys.modules["symback"] is None
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    res = np.load(tmp_path / "out.npz")
    value, grads = kernel(*toy_args(env))
    assert res["value"] == value and res["fwd"] == value
    for i, g in enumerate(grads):
        np.testing.assert_array_equal(res[f"arr_{i}"], g)


# --- input names must survive the generated code ------------------------------------------------


def test_input_names_that_look_like_loop_indices():
    X, p, i0 = sb.var("X", (2, 3)), sb.var("p"), sb.var("i0")
    y = sb.sum(sb.softmax(X) * X) * p + sb.sum(X * i0)
    kernel = sb.compile(y, [X, p, i0], name="loop_names")
    Xv = np.arange(6.0).reshape(2, 3) / 7
    (got,) = kernel(Xv, 5.0, 3.0)
    assert_rel(got, sb.evaluate(y, {"X": Xv, "p": 5.0, "i0": 3.0}))


# --- the benchmark workloads -------------------------------------------------------------------


def central_fd(f, args, index, coord, h):
    plus = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    minus = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    plus[index][coord] += h
    minus[index][coord] -= h
    return (f(*plus) - f(*minus)) / (2 * h)


def _workload(name):
    loss, params, inputs = sb_models.BUILD[name]()
    kernel = sb.value_and_grad(loss, params, params + inputs, name=name)
    data = workloads.DATA[name]()
    return kernel, workloads.args(name, data), params


@pytest.fixture(scope="module")
def w2():
    return _workload("W2")


@pytest.fixture(scope="module")
def w3():
    return _workload("W3")


@pytest.mark.parametrize("wl", ["w2", "w3"])
def test_workload_matches_numpy_reference(wl, request):
    kernel, args, params = request.getfixturevalue(wl)
    name = wl.upper()
    assert kernel.inputs == workloads.PARAMS[name] + workloads.INPUTS[name]
    value, grads = kernel(*args)
    ref_value, ref_grads = getattr(numpy_ref, f"value_and_grad_{name}")(*args)
    assert_rel(value, ref_value, rtol=1e-12, what="value")
    for p, g, r in zip(params, grads, ref_grads, strict=True):
        assert_rel(g, r, rtol=1e-10, what=p.name)


@pytest.mark.parametrize("wl", ["w2", "w3"])
def test_workload_matches_finite_differences(wl, request):
    kernel, args, params = request.getfixturevalue(wl)
    value, grads = kernel(*args)
    rng = np.random.default_rng(42)
    loss = lambda *a: float(kernel(*a)[0])  # noqa: E731
    checked = 0
    for i, p in enumerate(params):
        for _ in range(2):
            coord = tuple(int(rng.integers(0, d)) for d in p.shape)
            num = central_fd(loss, args, i, coord, 1e-5)
            np.testing.assert_allclose(grads[i][coord], num, rtol=1e-5, atol=1e-9, err_msg=f"{p.name}{coord}")
            checked += 1
    assert checked == 2 * len(params)


def test_w2_on_fewer_rows(w2):
    kernel, args, params = w2
    args = list(args)
    args[-2], args[-1] = args[-2][:40], args[-1][:40]
    value, grads = kernel(*args)
    ref_value, ref_grads = numpy_ref.value_and_grad_W2(*args)
    assert_rel(value, ref_value)
    for g, r in zip(grads, ref_grads, strict=True):
        assert_rel(g, r, rtol=1e-10)


# --- W5: reverse mode does not swell the program ---------------------------------------------------

ASSIGN = re.compile(r"^\s+\w+(\[.*\])? [+\-*/]?= ")


def count_assignments(source, function):
    """Assignments in ``function``'s body; a long body cut into parts
    (symback/backend/segment.py) is counted over its parts."""
    parts = re.findall(rf"^def ({function}_\d+)\(", source, re.MULTILINE)
    if parts:
        return sum(count_assignments(source, part) for part in parts)
    lines = source.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"def {function}(")))
    n = 0
    for line in lines[start + 1:]:
        if line and not line[0].isspace():
            break
        if ASSIGN.match(line):
            n += 1
    return n


def test_w5_gradient_program_is_at_most_4x_the_forward():
    loss, params, inputs = sb_models.build_W5(K=1000)
    grads = sb.grad(loss, params)
    source = emit_module([
        Entry("forward", params, [loss], ["value"]),
        Entry("value_and_grad", params, [loss] + grads, ["value", "g_x", "g_a"], [0, 2]),
    ], "W5")
    n_fwd = count_assignments(source, "_forward")
    n_vg = count_assignments(source, "_value_and_grad")
    assert n_fwd >= 1000          # one statement at least per step
    assert n_vg <= 4 * n_fwd, (n_fwd, n_vg)
    compile(source, "<W5>", "exec")


def test_w5_small_kernel_matches_numpy_reference():
    """Interpreter only (no compile): the W5 gradient graph is the right one."""
    loss, params, inputs = sb_models.build_W5(K=50)
    d = workloads.data_W5(50)
    value, gx, ga = sb.evaluate([loss] + sb.grad(loss, params), d)
    ref_value, (rgx, rga) = numpy_ref.value_and_grad_W5(d["x"], d["a"], 50)
    assert_rel(value, ref_value)
    assert_rel(gx, rgx, rtol=1e-10)
    assert_rel(ga, rga, rtol=1e-10)


def test_parallel_twin_is_cached_apart_and_agrees(tmp_path, monkeypatch):
    """The serial and the parallel compilation of one body are two entries of
    Numba's on-disk cache (same code, different flags), and compute the same."""
    monkeypatch.setenv("SYMBACK_CACHE_DIR", str(tmp_path))
    X, w = sb.var("X", (None, 3)), sb.var("w", (3,))
    kernel = sb.value_and_grad(sb.sum(sb.tanh(X @ w) ** 2), [w], name="twin_cache")
    rng = np.random.default_rng(0)
    wv, Xv = rng.normal(size=3), rng.normal(size=(40, 3))
    serial = kernel.module._value_and_grad(wv, Xv)
    parallel = kernel.module._value_and_grad_parallel(wv, Xv)
    (v_s, (g_s,)), (v_p, (g_p,)) = serial, parallel   # the caller's nesting, built inside
    np.testing.assert_allclose(v_p, v_s, rtol=1e-12)
    np.testing.assert_allclose(g_p, g_s, rtol=1e-12)
    t = np.tanh(Xv @ wv)
    np.testing.assert_allclose(g_s, Xv.T @ (2 * t * (1 - t * t)), rtol=1e-12)
    index = sorted(p.name.split("-")[0] for p in tmp_path.rglob("*.nbi"))
    assert any(n.endswith("._value_and_grad") for n in index), index
    assert any(n.endswith("._value_and_grad_parallel") for n in index), index


def test_large_constants_are_arguments_and_cache(tmp_path, monkeypatch):
    """An array constant over 1 MB (data embedded in a model) is passed to the
    compiled function, not frozen into it: Numba can cache the machine code
    (it warns and does not for a large global array) and the values are right."""
    import warnings
    monkeypatch.setenv("SYMBACK_CACHE_DIR", str(tmp_path))
    D = np.random.default_rng(0).normal(size=(400, 400))      # 1.28 MB
    w = sb.var("w", (400,))
    kernel = sb.value_and_grad(sb.sum(sb.tanh(sb.const(D) @ w)), [w], name="large_const")
    assert "def _value_and_grad(w, _C0):" in kernel.source
    wv = np.linspace(-1, 1, 400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # NumbaWarning: cannot cache ... dynamic globals
        value, (g,) = kernel(wv)
    t = np.tanh(D @ wv)
    np.testing.assert_allclose(value, t.sum(), rtol=1e-12)
    want = D.T @ (1 - t * t)   # sums of 400 terms: BLAS's order decides the last bits
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-13 * np.abs(want).max())
    assert list(tmp_path.rglob("*_value_and_grad*.nbc")), "no machine code cached"
