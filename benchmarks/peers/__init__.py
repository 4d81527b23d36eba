"""Peer systems the benchmarks compare symback against, one module each.

Every module has the same small interface, so the suite treats them alike:

- ``NAME``: the system's name in tables; ``WORKLOADS``: the workloads it implements;
- ``versions()``: {package: version} for the RESULTS.md header;
- ``prepare(workload, data) -> System``: the callables and this system's own argument
  objects (tensors, device arrays) for one workload; ``data`` is a ``workloads.DATA[w]()``
  dict (W5's step count is ``data["K"]``, a static part of the program, never an argument).

A peer that is not installed fails to import; ``load`` turns that into "not installed".
"""
import importlib

from ._common import System  # noqa: F401

#: suite name -> module under benchmarks.peers
MODULES = {
    "numpy": "numpy_impl",
    "jax": "jax_impl",
    "torch": "torch_impl",
    "torch.compile": "torch_compile_impl",
    "autograd": "autograd_impl",
    "sympy": "sympy_impl",
}


def load(name):
    """The peer's module, or the reason it cannot be used (a string)."""
    try:
        return importlib.import_module(f"{__name__}.{MODULES[name]}")
    except ImportError as e:
        return f"not installed ({e.name or e})"
