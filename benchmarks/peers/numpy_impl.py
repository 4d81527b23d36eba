"""Hand-written numpy backprop (benchmarks/numpy_ref.py) as a peer system.

The reference itself lives in numpy_ref.py (it is also the oracle every system is
checked against); this module only adapts it to the peer interface."""
import functools

import numpy as np

from .. import numpy_ref
from ._common import System, as_numpy_result, numpy_args

NAME = "numpy"
WORKLOADS = ("W1", "W1v", "W2", "W3", "W3f", "W3g", "W3fg", "W4", "W4r", "W5")


def versions():
    return {"numpy": np.__version__}


def prepare(workload, data):
    vag, loss = numpy_ref.VALUE_AND_GRAD[workload], numpy_ref.LOSS[workload]
    if workload == "W5":             # K is static: bind it
        vag = functools.partial(vag, K=data["K"])
        loss = functools.partial(loss, K=data["K"])
    return System(vag, loss, numpy_args(workload, data), as_numpy_result, {})
