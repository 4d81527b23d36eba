"""Model files: a Python file that defines a model for the CLI and for tools.

A model file defines a function ``model()`` (optionally taking ``dtype=``)
that returns :class:`Model`::

    import symback as sb

    def model():
        x, z = sb.var("x"), sb.var("z")
        y = sb.exp(x * z) + x * z / sb.log(x)
        return sb.Model(name="lecture", loss=y, params=[x, z], at={"x": 2.0, "z": 3.0})

``params`` are differentiated; ``inputs`` are the other arguments of the
kernels (default: every other variable the loss uses, in order of creation);
``at`` is an example point (used by ``check``, ``explain`` and ``bench``), keyed
by variable or by name (stored by name),
``sizes`` gives values for the ``None`` dimensions when random inputs are made,
and ``entries`` the entry points ``symback compile`` generates unless told.
"""
from __future__ import annotations

import importlib.util
import inspect
import pathlib
import sys
from dataclasses import dataclass, field

from .errors import UserError
from .ir import Node, variables
from .interpret import point


class ModelError(UserError):
    """A model that cannot be used; the message says why.

    :class:`Model` checks everything the kernels will need (a scalar loss,
    float params, every variable of the loss an argument, known entry points,
    ``at`` keyed by the model's variables) so that a mistake in a model file is
    reported as that, not found later as an error inside the compiler."""


@dataclass
class Model:
    loss: Node
    params: list
    inputs: list | None = None
    name: str = "model"
    at: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    doc: str = ""
    entries: tuple = ("forward", "value_and_grad")   # what `symback compile` generates by default

    def __post_init__(self):
        if not isinstance(self.loss, Node):
            raise ModelError(f"Model {self.name!r}: loss must be a symback expression, got {type(self.loss).__name__}")
        self.params = list(self.params)
        if self.inputs is None:
            self.inputs = [v for v in variables([self.loss]) if all(v is not p for p in self.params)]
        self.inputs = list(self.inputs)
        for v in self.params + self.inputs:
            if not isinstance(v, Node) or v.op != "var":
                raise ModelError(f"Model {self.name!r}: params and inputs must be variables made with "
                                 f"sb.var, got {v!r}")
        seen = set()
        for v in self.params + self.inputs:
            if v.name in seen:
                raise ModelError(f"Model {self.name!r}: variable {v.name!r} is listed twice "
                                 "(params and inputs must be distinct)")
            seen.add(v.name)
        if self.loss.shape != ():
            raise ModelError(f"Model {self.name!r}: the loss must be a scalar, got shape {self.loss.shape}")
        for p in self.params:
            if p.dtype not in ("float64", "float32"):
                raise ModelError(f"Model {self.name!r}: cannot differentiate with respect to {p.name!r}, "
                                 f"whose dtype is {p.dtype}; move it to inputs")
        missing = [v.name for v in variables([self.loss]) if v.name not in seen]
        if missing:
            raise ModelError(f"Model {self.name!r}: the loss uses {', '.join(missing)}, "
                             "which is neither in params nor in inputs")
        from .kernel import ENTRY_KINDS
        self.entries = tuple(self.entries)
        unknown = [e for e in self.entries if e not in ENTRY_KINDS]
        if unknown or not self.entries:
            raise ModelError(f"Model {self.name!r}: entries {self.entries!r}: each must be one of "
                             f"{', '.join(ENTRY_KINDS)}")
        try:
            self.at = point(self.at, self.arguments, f"Model {self.name!r}: at")
        except ValueError as e:
            raise ModelError(str(e)) from None
        unknown = [k for k in self.sizes if k not in seen]
        if unknown:
            raise ModelError(f"Model {self.name!r}: sizes names {unknown[0]!r}, which is not a variable "
                             f"of the model ({', '.join(sorted(seen))})")

    @property
    def arguments(self):
        """Every kernel argument, in order: params, then inputs."""
        return self.params + self.inputs


def load_model(path, dtype=None):
    """Import a model file and call its ``model()``; errors name the file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.suffix != ".py":
        raise ModelError(f"{path}: a model file must be a Python file (.py)")
    module_name = f"symback_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise ModelError(f"{path}: importing it failed: {type(e).__name__}: {e}") from e
    finally:
        sys.path.remove(str(path.parent))
    factory = getattr(module, "model", None)
    if not callable(factory):
        raise ModelError(f"{path}: defines no model() function returning sb.Model")
    takes_dtype = "dtype" in inspect.signature(factory).parameters
    try:
        model = factory(dtype=dtype) if (takes_dtype and dtype) else factory()
    except Exception as e:
        raise ModelError(f"{path}: model() raised {type(e).__name__}: {e}") from e
    if not isinstance(model, Model):
        raise ModelError(f"{path}: model() returned {type(model).__name__}, not sb.Model")
    if dtype and not takes_dtype:
        from .passes.precision import cast
        loss, mapping = cast(model.loss, dtype)
        model = Model(loss, [mapping.get(p, p) for p in model.params],
                      [mapping.get(v, v) for v in model.inputs], model.name, model.at, model.sizes,
                      model.doc, model.entries)
    return model
