"""The ``symback`` command line: compile, check, explain, graph and bench model files.

A user mistake (missing file, no model, unknown entry point, bad dtype: any
:class:`symback.errors.UserError`) is one line on stderr and exit status 2, never
a traceback.  Anything else is a bug in symback and keeps its traceback (exit
status 1), so that it is reported rather than mistaken for a usage error.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from .errors import UserError
from .kernel import ENTRY_KINDS

EXIT_USAGE, EXIT_FAILED = 2, 1


class UsageError(UserError):
    """A bad command line, or something the command needs that the model lacks."""


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value
    return parse


def _entries(text):
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    for k in kinds:
        if k not in ENTRY_KINDS:
            raise argparse.ArgumentTypeError(f"unknown entry point {k!r} (choose from {', '.join(ENTRY_KINDS)})")
    if not kinds:
        raise argparse.ArgumentTypeError("no entry point given")
    return kinds


def _parser():
    p = argparse.ArgumentParser(prog="symback", description="Compile model files into gradient kernels.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_cmd(name, help_text, several=False):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("model", metavar="MODEL.py", nargs="+" if several else None,
                       help="a Python file defining model() -> sb.Model" + (" (several allowed)" if several else ""))
        c.add_argument("--dtype", choices=("float64", "float32"), default=None,
                       help="build the model in this precision")
        return c

    c = model_cmd("compile", "Generate the model's kernel module (forward, value_and_grad, ...).", several=True)
    c.add_argument("-o", "--output", help="where to write it (default: generated/NAME.py)")
    c.add_argument("--entry", type=_entries, default=None,
                   help=f"comma-separated entry points among {', '.join(ENTRY_KINDS)} "
                        "(default: the model's own list, else forward,value_and_grad)")
    c.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the file on disk differs from what would be generated")

    c = model_cmd("check", "Check every derivative: AD vs SymPy vs finite differences.")
    c.add_argument("--points", type=_positive(int), default=3, help="random points for the 50-digit comparison")
    c.add_argument("--timeout", type=_positive(float), default=5.0, help="seconds SymPy may spend simplifying one entry")
    c.add_argument("--json", action="store_true", help="print the report as JSON")

    model_cmd("explain", "Print the forward pass and the adjoint equations at the model's point.")

    c = model_cmd("graph", "Write the computation graph as Graphviz DOT (SVG/PNG when graphviz is installed).")
    c.add_argument("--grad", action="store_true", help="draw the gradient (adjoint) graph too")
    c.add_argument("-o", "--output", help="a .dot, .svg or .png file (default: DOT on stdout)")

    c = model_cmd("bench", "Microseconds per call of each entry point on random inputs.")
    c.add_argument("--size", type=_positive(int), default=128, help="value for every None dimension")
    c.add_argument("--entry", type=_entries, default=None, help="entry points to time (default: the model's)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except UserError as e:   # model files, arguments, shapes: see symback.errors
        print(f"symback {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE


def _load(args):
    from .model import load_model
    return load_model(args.model, dtype=args.dtype)


def _compile(args):
    if len(args.model) > 1 and args.output:
        raise UsageError("-o names one output file: give one model file with it")
    status = 0
    for path in args.model:
        status = max(status, _compile_one(args, path))
    return status


def _compile_one(args, path):
    from .backend.numba import emit_module
    from .kernel import gradient_entries, write_atomic
    from .model import load_model
    model = load_model(path, dtype=args.dtype)
    entries = gradient_entries(model.loss, model.params, model.arguments, args.entry or model.entries)
    source = emit_module(entries, model.name, model.doc)
    out = pathlib.Path(args.output or pathlib.Path("generated") / f"{model.name}.py")
    if args.check:
        if not out.exists():
            print(f"{out}: missing (run: symback compile {path})", file=sys.stderr)
            return EXIT_FAILED
        if out.read_text(encoding="utf-8") != source:
            print(f"{out}: out of date (run: symback compile {path})", file=sys.stderr)
            return EXIT_FAILED
        print(f"{out}: up to date")
        return 0
    try:
        write_atomic(out, source)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"wrote {out} ({', '.join(e.name for e in entries)})")
    return 0


def _point(model):
    import numpy as np
    rng = np.random.default_rng(0)
    at = {}
    for v in model.arguments:
        if v.name in model.at:
            at[v.name] = model.at[v.name]
            continue
        shape = tuple(model.sizes.get(v.name, 128) if d is None else d for d in v.shape)
        if v.dtype == "int64":
            raise UsageError(f"give the integer input {v.name} a value in Model(at=...)")
        at[v.name] = rng.uniform(0.5, 1.5, shape).astype(v.dtype) if shape else float(rng.uniform(0.5, 1.5))
    return at


def _check(args):
    import json
    from .sympy_bridge import check
    model = _load(args)
    report = check(model.loss, model.params, at=_point(model), points=args.points, timeout=args.timeout)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0 if report.ok else EXIT_FAILED


def _explain(args):
    from .explain import explain
    model = _load(args)
    print(explain(model.loss, model.params, _point(model)))
    return 0


def _graph(args):
    from .graph import render, to_dot
    model = _load(args)
    dot = to_dot(model.loss, grad=args.grad, wrt=model.params, name=model.name)
    if not args.output:
        sys.stdout.write(dot)
        return 0
    out = pathlib.Path(args.output)
    try:
        if out.suffix == ".dot":
            out.write_text(dot)
            print(f"wrote {out}")
            return 0
        done = render(dot, out)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"wrote {done}" if done else f"graphviz is not installed: wrote {out.with_suffix('.dot')} instead")
    return 0


def _bench(args):
    import numpy as np
    from .kernel import compile_model
    model = _load(args)
    entries = args.entry or model.entries
    kernel = compile_model(model, entries)
    rng = np.random.default_rng(0)
    values = []
    for v in model.arguments:
        if v.name in model.at:
            values.append(model.at[v.name])
            continue
        shape = tuple(model.sizes.get(v.name, args.size) if d is None else d for d in v.shape)
        if v.dtype == "int64":
            raise UsageError(f"give the integer input {v.name} a value in Model(at=...)")
        values.append(rng.standard_normal(shape).astype(v.dtype) if shape else float(rng.standard_normal()))
    import timeit
    for entry in entries:
        fn = getattr(kernel, entry)
        extra = [np.ones(p.shape, p.dtype) if p.shape else 1.0 for p in model.params] if entry in ("jvp", "hvp") else []
        call = (lambda f=fn, a=values + extra: f(*a))
        call()
        number, elapsed = timeit.Timer(call).autorange()
        best = min(timeit.Timer(call).repeat(5, number)) / number
        print(f"{entry:<16} {best * 1e6:12.2f} us/call")
    return 0


COMMANDS = {"compile": _compile, "check": _check, "explain": _explain, "graph": _graph, "bench": _bench}

if __name__ == "__main__":
    sys.exit(main())
