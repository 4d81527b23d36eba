"""PyTorch with ``torch.compile`` (TorchInductor, C++ on the CPU), for W1v: the
elementwise workload where a fusing, vectorising compiler is the fair peer.

The loss is compiled once; ``loss.backward()`` runs the backward graph that
AOTAutograd traced and Inductor compiled alongside.  The first call (tracing and
the C++ build with the machine's compiler) is the system's first-call time.
"""
import torch

from ._common import System, n_params, numpy_args
from .torch_impl import LOSS

NAME = "torch.compile"
WORKLOADS = ("W1v",)


def versions():
    return {"torch.compile": f"inductor (torch {torch.__version__})"}


def prepare(workload, data):
    loss = torch.compile(LOSS[workload], fullgraph=True, dynamic=False)
    n = n_params(workload)
    args = tuple(torch.tensor(a, requires_grad=i < n) for i, a in enumerate(numpy_args(workload, data)))

    def value_and_grad(*args):
        params = args[:n]
        for p in params:
            p.grad = None
        y = loss(*args)
        y.backward()
        return y.detach(), tuple(p.grad for p in params)

    def forward(*args):
        with torch.no_grad():
            return loss(*args)

    def to_numpy(out):
        value, grads = out
        return float(value), [g.numpy() for g in grads]

    return System(value_and_grad, forward, args, to_numpy, {})
