"""symback as a benchmarked system: the kernel of sb_models.BUILD[w], plus its first-call
and cached latencies measured in fresh processes (sb_latency.py).

The suite gives every workload its own, initially empty, kernel cache directory
(SYMBACK_CACHE_DIR): a fresh process compiles the kernel there ("cold": build +
differentiate + emit + JIT), two more fresh processes then start from the warm cache
(importing the generated module directly; going through symback's API), and finally this
process builds the same kernel, which finds module and machine code in that cache.
"""
import ast
import json
import os
import subprocess
import sys

import symback as sb

from .peers._common import System, as_numpy_result, numpy_args
from .sb_latency import build_kernel

NAME = "symback"
WORKLOADS = ("W1", "W1v", "W2", "W3", "W3f", "W3g", "W3fg", "W4", "W4r", "W5")


def versions():
    return {"symback": sb.__version__ if hasattr(sb, "__version__") else _version()}


def _version():
    from symback.version import __version__
    return __version__


def _latency(mode, workload, params, cache_dir, timeout, path=None):
    cmd = [sys.executable, "-m", "benchmarks.sb_latency", mode, workload, json.dumps(params)]
    cmd += [path] if path else []
    env = dict(os.environ, SYMBACK_CACHE_DIR=str(cache_dir))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"sb_latency {mode} {workload} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def latencies(workload, params, cache_dir, timeout):
    """{cold: ..., module: ..., warm: ...} from three fresh processes (see sb_latency)."""
    cold = _latency("cold", workload, params, cache_dir, timeout)
    module = _latency("module", workload, params, cache_dir, timeout, cold["path"])
    warm = _latency("warm", workload, params, cache_dir, timeout)
    return {"cold": cold, "module": module, "warm": warm}


def prepare(workload, data, params):
    _, kernel = build_kernel(workload, params)
    # the generated module's functions, as a user who imports the kernel calls them
    # (``kernel(...)`` adds one Python frame for the convenience of the Kernel object)
    return System(kernel.value_and_grad, kernel.forward, numpy_args(workload, data), as_numpy_result,
                  {"kernel": kernel})


# ---- program size (W5) ---------------------------------------------------------------

def assignments(source, entry):
    """Assignment statements of njit function ``entry`` in a generated module, plus those of
    the module's functions it calls (each counted once): the size of that program."""
    functions = {node.name: node for node in ast.parse(source).body
                 if isinstance(node, ast.FunctionDef)}
    seen, todo, count = set(), [entry], 0
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                count += 1
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append(node.func.id)
    return count
