"""What every peer module shares: the System record and argument helpers."""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..workloads import INPUTS, N_DEEP, PARAMS


@dataclass
class System:
    """One system ready to run one workload.

    value_and_grad(*args) -> (value, grads) and forward(*args) -> value, both finished
    when they return (asynchronous systems block inside); ``args`` are this system's
    own argument objects; ``to_numpy(out)`` turns a value_and_grad result into
    (float, [numpy arrays]) for checking against the numpy reference; ``info`` holds
    extra figures (build time, program size, ...)."""
    value_and_grad: Callable
    forward: Callable
    args: tuple
    to_numpy: Callable
    info: dict


def numpy_args(workload, data):
    """Parameters then data inputs, as numpy values; W5's K is static, not an argument."""
    return tuple(data[k] for k in PARAMS[workload] + INPUTS[workload] if k != "K")


def n_params(workload):
    return len(PARAMS[workload])


def split_deep(args, n_per_layer):
    """W4/W4r's flat (per-layer params..., W_out, b_out, X, target) as
    (list of per-layer tuples, W_out, b_out, X, target)."""
    k = N_DEEP * n_per_layer
    layers = [tuple(args[i:i + n_per_layer]) for i in range(0, k, n_per_layer)]
    W_out, b_out, X, target = args[k:k + 4]
    return layers, W_out, b_out, X, target


def as_numpy_result(out):
    value, grads = out
    return float(np.asarray(value)), [np.asarray(g) for g in grads]
