"""The examples and their committed kernels in generated/.

* every examples/NAME/model.py regenerates generated/NAME.py byte for byte
  (``symback compile --check``, with the entry points its docstring's command
  names), in any process (hash seeds differ);
* generated modules import only numpy, numba, math and sys, and run.py scripts import
  nothing of symback;
* each example model computes what its docstring says (checked with the numpy
  interpreter against hand-written references: no Numba compile);
* a generated module works where ``import symback`` fails, gives the numbers of
  the in-process kernel, and a second fresh process loads its machine code from
  Numba's on-disk cache (no compilation: the dispatcher's cache statistics).

Numba compiles in this file: the lecture and xy2z kernels, once in-process
(cached across runs in the test cache) and once in a fresh process.  The deep
examples' kernels take minutes to JIT and are never called here.
"""
import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symback as sb
from symback.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/model.py"))
GENERATED = sorted((ROOT / "generated").glob("*.py"))


def model_file(name):
    return ROOT / "examples" / name / "model.py"


def load(name):
    return sb.load_model(model_file(name))


def compile_args(name):
    """The extra arguments of the ``symback compile`` command in the model's docstring."""
    doc = ast.get_docstring(ast.parse(model_file(name).read_text()))
    m = re.search(rf"^\s*symback compile examples/{name}/model\.py([^#\n]*)", doc or "", re.M)
    assert m, f"examples/{name}/model.py: the docstring must show its `symback compile` command"
    return m.group(1).split()


def subprocess_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(extra)
    return env


# --- the example set --------------------------------------------------------------------

def test_every_example_is_there():
    expected = {"lecture", "xy2z", "two_layer_sigmoid", "forward_mode", "iris_mlp", "mnist_mlp",
                "deep_sigmoid", "deep_residual"}
    assert expected <= set(EXAMPLES)
    for name in EXAMPLES:
        assert (ROOT / "examples" / name / "run.py").is_file(), name
        assert (ROOT / "generated" / f"{name}.py").is_file(), name
        assert ast.get_docstring(ast.parse(model_file(name).read_text())), name
        assert load(name).name == name


@pytest.mark.parametrize("name", EXAMPLES)
def test_generated_kernel_is_up_to_date(name, capsys):
    out = ROOT / "generated" / f"{name}.py"
    code = main(["compile", str(model_file(name)), "-o", str(out), "--check", *compile_args(name)])
    assert code == 0, capsys.readouterr().err
    assert "up to date" in capsys.readouterr().out


def test_generation_is_deterministic_across_processes(tmp_path):
    """Compile every example in two processes with different hash seeds: same bytes."""
    script = textwrap.dedent("""
        import sys
        from symback.cli import main
        out, jobs = sys.argv[1], sys.argv[2:]
        for job in jobs:
            name, *extra = job.split()
            model = f"examples/{name}/model.py"
            assert main(["compile", model, "-o", f"{out}/{name}.py", *extra]) == 0
    """)
    jobs = [" ".join([name, *compile_args(name)]) for name in EXAMPLES]
    for seed in ("0", "4242"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / seed), *jobs], cwd=ROOT, check=True,
                       capture_output=True, env=subprocess_env(PYTHONHASHSEED=seed))
    for name in EXAMPLES:
        a, b = (tmp_path / seed / f"{name}.py" for seed in ("0", "4242"))
        assert a.read_bytes() == b.read_bytes(), name
        assert a.read_bytes() == (ROOT / "generated" / f"{name}.py").read_bytes(), name


# --- what the generated modules and the scripts import ---------------------------------------

def imported_modules(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.stem)
def test_generated_module_imports_only_numpy_numba_math(path):
    # numpy and numba (with llvmlite, Numba's own LLVM layer, installed with it: the
    # intrinsics -- _matmul, vecmath's helpers -- write LLVM with it), and the standard
    # library (ctypes and os: heap.py's malloc tuning)
    assert {n.split(".")[0] for n in imported_modules(path)} <= {"numpy", "numba", "llvmlite", "math", "sys",
                                                                 "types", "ctypes", "os"}
    tree = ast.parse(path.read_text())
    jitted = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.decorator_list]
    # a body compiled serial and parallel: ``_f = numba.njit(...)(_f)`` and ``_parallel_twin``
    jitted_later = [a.value.func for a in tree.body if isinstance(a, ast.Assign) and isinstance(a.value, ast.Call)
                    and isinstance(a.value.func, ast.Call) and ast.unparse(a.value.func.func) == "numba.njit"]
    assert jitted or jitted_later
    decorators = [d for f in jitted for d in f.decorator_list] + jitted_later
    # vecmath's bit casts and helpers: LLVM instructions behind a plain Python function
    decorators = [d for d in decorators if ast.unparse(d).split("(")[0] not in
                  ("numba.extending.intrinsic", "numba.extending.overload", "_intrinsic")]
    for d in decorators:
        assert isinstance(d, ast.Call) and ast.unparse(d.func) == "numba.njit", ast.unparse(d)
        assert any(k.arg == "cache" and ast.literal_eval(k.value) is True for k in d.keywords), ast.unparse(d)
        # the GIL is released: threads (a threaded Dask scheduler) run kernels side by side
        assert any(k.arg == "nogil" and ast.literal_eval(k.value) is True for k in d.keywords), ast.unparse(d)
    header = ast.get_docstring(tree)
    assert header.startswith(f"{path.stem}: kernels generated by symback")
    assert "Content hash" in header


@pytest.mark.parametrize("name", EXAMPLES)
def test_run_script_uses_only_the_generated_module(name):
    path = ROOT / "examples" / name / "run.py"
    assert imported_modules(path) <= {"importlib.util", "pathlib", "sys", "time", "numpy"}
    text = path.read_text()
    assert f'"{name}.py"' in text
    # the module is registered in sys.modules: Numba's cache needs to find it by name
    assert "sys.modules[spec.name] = " in text


# --- the example models compute what they say (numpy interpreter, no Numba) ----------------

def value_and_grad_ref(model, at):
    env = {v.name: at[v.name] for v in model.arguments}
    value, *grads = sb.evaluate([model.loss] + sb.grad(model.loss, model.params), env)
    return value, grads


def test_xy2z_gradient():
    m = load("xy2z")
    value, grads = value_and_grad_ref(m, m.at)
    assert value == 15.0
    assert [float(g) for g in grads] == [5.0, -12.0, 3.0]


def test_two_layer_sigmoid_matches_hand_backprop():
    m = load("two_layer_sigmoid")
    at = m.at
    E, (g_W1, g_b1, g_W2, g_b2) = value_and_grad_ref(m, at)
    s = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h = s(at["W1"] @ at["x"] + at["b1"])
    y = s(at["W2"] @ h + at["b2"])
    d2 = (y - at["y_star"]) * y * (1 - y)
    d1 = (at["W2"].T @ d2) * h * (1 - h)
    np.testing.assert_allclose(E, 0.5 * np.sum((y - at["y_star"]) ** 2), rtol=1e-14)
    for got, want in [(g_W1, np.outer(d1, at["x"])), (g_b1, d1), (g_W2, np.outer(d2, h)), (g_b2, d2)]:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-17)


def forward_mode_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("examples_forward_mode_model", model_file("forward_mode"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_forward_mode_jacobians():
    mod = forward_mode_module()
    (y1, y2), (w0, w1, x) = mod.outputs()
    at = {"w0": 0.5, "w1": 2.0, "x": 0.3}
    a = at["w1"] * at["x"] + at["w0"]
    formula = np.array([[np.cos(a), at["x"] * np.cos(a)], [-np.sin(a), -at["x"] * np.sin(a)]])
    J = {mode: np.array([[float(v) for v in sb.evaluate(row, at)]
                         for row in sb.jacobian([y1, y2], [w0, w1], mode=mode)]) for mode in ("fwd", "rev")}
    np.testing.assert_array_equal(J["fwd"], J["rev"])
    np.testing.assert_allclose(J["fwd"], formula, rtol=1e-15)

    # the example's scalar model: reverse mode with seed u = e_i gives row i, forward
    # mode with seed e_i along direction e_j gives J[i, j]
    m = mod.model()
    for i, (u1, u2) in enumerate([(1.0, 0.0), (0.0, 1.0)]):
        point = dict(at, u1=u1, u2=u2)
        _, row = value_and_grad_ref(m, point)
        np.testing.assert_allclose([float(g) for g in row], formula[i], rtol=1e-15)
        for j, (t0, t1) in enumerate([(1.0, 0.0), (0.0, 1.0)]):
            (d,) = sb.jvp([m.loss], {m.params[0]: t0, m.params[1]: t1})
            np.testing.assert_allclose(float(sb.evaluate(d, point)), formula[i, j], rtol=1e-15)


# the workloads' numpy backprop in benchmarks/ is the reference for the network examples
@pytest.mark.parametrize("name, workload", [("iris_mlp", "W2"), ("mnist_mlp", "W3"),
                                            ("deep_sigmoid", "W4"), ("deep_residual", "W4r")])
def test_network_example_matches_numpy_backprop(name, workload):
    from benchmarks import numpy_ref, workloads
    m = load(name)
    data = workloads.DATA[workload]()
    assert [p.name for p in m.params] == workloads.PARAMS[workload]
    assert [v.name for v in m.inputs] == workloads.INPUTS[workload]
    args = workloads.args(workload, data)
    value, grads = value_and_grad_ref(m, dict(zip([v.name for v in m.arguments], args, strict=True)))
    ref_value, ref_grads = numpy_ref.VALUE_AND_GRAD[workload](*args)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for p, got, want in zip(m.params, grads, ref_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.max(np.abs(want)), err_msg=p.name)


def test_iris_data_is_the_real_iris():
    raw = np.genfromtxt(ROOT / "examples" / "data" / "iris.csv", delimiter=",", dtype=str, skip_header=1)
    assert raw.shape == (150, 5)
    assert sorted(set(raw[:, 4])) == ["setosa", "versicolor", "virginica"]


# --- standalone generated modules in fresh processes -------------------------------------

# Runs examples/NAME/run.py (which imports generated/NAME.py by path) in a process
# where `import symback` fails, then reports the kernel's numbers at the model's
# point and the compile statistics of its value_and_grad dispatcher.
FRESH_PROCESS = textwrap.dedent("""
    import json, runpy, sys
    sys.modules["symback"] = None          # `import symback` raises ImportError
    try:
        import symback
    except ImportError:
        pass
    else:
        raise SystemExit("symback was importable")
    name, args = sys.argv[1], json.loads(sys.argv[2])
    runpy.run_path(f"examples/{name}/run.py", run_name="__main__")
    kernel = sys.modules[name]
    value, grads = kernel.value_and_grad(*args)
    stats = kernel._value_and_grad.stats
    print(json.dumps({
        "value": float(value).hex(),
        "grads": [float(g).hex() for g in grads],
        "hits": sum(stats.cache_hits.values()),
        "misses": sum(stats.cache_misses.values()),
        "symback_modules": sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] == "symback"),
    }))
""")


@pytest.mark.parametrize("name", ["lecture", "xy2z"])
def test_generated_module_standalone_and_cached(name, tmp_path):
    # a copy of the example and its kernel: a fresh Numba cache in tmp/generated/__pycache__
    (tmp_path / "examples" / name).mkdir(parents=True)
    (tmp_path / "generated").mkdir()
    shutil.copy(ROOT / "examples" / name / "run.py", tmp_path / "examples" / name / "run.py")
    shutil.copy(ROOT / "generated" / f"{name}.py", tmp_path / "generated" / f"{name}.py")

    model = load(name)
    args = [model.at[v.name] for v in model.arguments]
    kernel = sb.compile_model(model)
    assert kernel.source == (ROOT / "generated" / f"{name}.py").read_text()
    value, grads = kernel(*args)

    def fresh():
        proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, name, json.dumps(args)], cwd=tmp_path,
                              capture_output=True, text=True, env=subprocess_env(), timeout=300)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        return lines[:-1], json.loads(lines[-1])

    printed1, first = fresh()
    assert (first["hits"], first["misses"]) == (0, 1)          # compiled, and saved next to the module
    cache = tmp_path / "generated" / "__pycache__"
    assert list(cache.glob(f"{name}._value_and_grad-*.nbi")) and list(cache.glob(f"{name}._value_and_grad-*.nbc"))

    printed2, second = fresh()
    assert (second["hits"], second["misses"]) == (1, 0)        # loaded from the cache, no compilation
    assert printed2 == printed1 and printed1

    for run in (first, second):
        assert run["symback_modules"] == []
        assert float.fromhex(run["value"]) == value
        assert [float.fromhex(g) for g in run["grads"]] == [float(g) for g in grads]


# Imports generated/lecture.py by path under the module name argv[1]; argv[2] says
# whether the module is registered in sys.modules before it runs.
IMPORT_AS = textwrap.dedent("""
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location(sys.argv[1], "lecture.py")
    module = importlib.util.module_from_spec(spec)
    if sys.argv[2] == "register":
        sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    print(float(module.value_and_grad(2.0, 3.0)[0]).hex())
""")


def test_generated_module_cache_does_not_depend_on_the_import_name(tmp_path):
    shutil.copy(ROOT / "generated" / "lecture.py", tmp_path / "lecture.py")

    def fresh(*args):
        return subprocess.run([sys.executable, "-c", IMPORT_AS, *args], cwd=tmp_path, capture_output=True,
                              text=True, env=subprocess_env(), timeout=300)

    first = fresh("first_name", "register")              # compiles and writes the cache
    assert first.returncode == 0, first.stderr
    for args in [("other_name", "register"), ("any_name", "no")]:
        proc = fresh(*args)
        assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1]
        assert proc.stdout == first.stdout
