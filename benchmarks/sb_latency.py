"""symback's start-up latencies, each measured in a fresh process (run by the suite).

    python -m benchmarks.sb_latency cold   W2 '{}'         # build + differentiate + emit + JIT
    python -m benchmarks.sb_latency warm   W2 '{}'         # the same, kernel already cached
    python -m benchmarks.sb_latency module W2 '{}' PATH    # import the cached module + first call

SYMBACK_CACHE_DIR (set by the caller) decides where kernels and their Numba machine code
live: an empty directory for "cold", the same directory afterwards for "warm" and
"module". The workload's data are drawn before any clock starts; ``import symback`` is
timed on its own and is not part of the first-call figure. "module" first times
``import numba`` alone: what the module costs on top of it is the cached-latency figure.
Prints one JSON object.
"""
import importlib.util
import json
import os
import sys
import time

from . import workloads


def _data_and_args(workload, params):
    data = workloads.DATA[workload](**params)
    args = tuple(data[k] for k in workloads.PARAMS[workload] + workloads.INPUTS[workload]
                 if k != "K")
    return data, args


def kernel_name(workload, params):
    return "bench_" + workload + "".join(f"_{k}{v}" for k, v in sorted(params.items()))


def build_kernel(workload, params):
    """(loss graph build seconds, kernel): BUILD, then value_and_grad (grad + emit + import)."""
    import symback as sb

    from . import sb_models
    t0 = time.perf_counter()
    loss, wrt, inputs = sb_models.BUILD[workload](*([params["K"]] if "K" in params else []))
    t1 = time.perf_counter()
    kernel = sb.value_and_grad(loss, wrt, wrt + inputs, name=kernel_name(workload, params))
    return t1 - t0, kernel


def first_call(workload, params):
    _, args = _data_and_args(workload, params)
    t0 = time.perf_counter()
    import symback  # noqa: F401
    t1 = time.perf_counter()
    build_s, kernel = build_kernel(workload, params)
    t2 = time.perf_counter()
    kernel(*args)
    t3 = time.perf_counter()
    return {"import_symback_s": t1 - t0, "build_s": build_s,
            "grad_emit_s": t2 - t1 - build_s, "jit_and_call_s": t3 - t2,
            "first_call_s": t3 - t1, "path": str(kernel.path)}


def module_call(workload, params, path):
    _, args = _data_and_args(workload, params)
    t0 = time.perf_counter()
    import numba  # noqa: F401
    t1 = time.perf_counter()
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t2 = time.perf_counter()
    module.value_and_grad(*args)
    t3 = time.perf_counter()
    return {"import_numba_s": t1 - t0, "import_module_s": t2 - t1, "call_s": t3 - t2,
            "cached_s": t3 - t1}


if __name__ == "__main__":
    mode, workload, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if mode == "module":
        print(json.dumps(module_call(workload, params, sys.argv[4])))
    else:
        print(json.dumps(first_call(workload, params)))
