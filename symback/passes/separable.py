"""Separability: is a loss a sum (or mean) over the batch rows of per-row terms?

Data-parallel training cuts the batch into row chunks, runs one kernel per
chunk and adds the results.  That gives the loss on all rows only when

    loss = a * sum_i f(row_i; params) + g(params)      (a: 1, or 1/N for a mean)

with nothing mixing rows before the reduction: row i's term must not see row
j (a batch mean, batch norm, a matmul contracting the batch axis, a softmax
over it, an index picking rows...).  The check reads the IR, so it is proved
for the graph that is compiled, not assumed from how the model was written.

Every node gets a class:

* free    -- does not depend on the batch;
* rows r  -- depends on the batch, and position i along its axis r depends on
             row i of the batch inputs only;
* summed  -- a linear function of sums over the rows (what chunk results can
             be added into).

The per-chunk loss is the same graph with two rewrites, so that the sum over
chunks of the chunk losses (and of their gradients) is the loss on all rows:
a count over the batch axis (the N of a mean) becomes the input ``n_rows``
(the row count of the whole data), and a free term added to a summed one is
multiplied by the input ``first`` (1 for one chunk, 0 for the others).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from ..errors import UserError
from ..ops.registry import OPS, apply
from ..shapes import show

FREE = ("free",)


class SeparabilityError(UserError, ValueError):
    """The loss is not a sum or mean of per-row terms over the batch; the message
    names the op that mixes rows."""


def _rows(r):
    return ("rows", r)


def _summed(origin):
    return ("summed", origin)


@dataclass
class Separable:
    """The result of :func:`separate`: the per-chunk loss and its two extra inputs."""

    chunk_loss: ir.Node
    n_rows: ir.Node      # float64 scalar var: rows of the whole data
    first: ir.Node       # float64 scalar var: 1 on one chunk, 0 on the others
    mean: bool           # the loss divides by the row count somewhere


def _what(node):
    if node.op == "var":
        return f"variable {node.name!r} {show(node.shape)}"
    if node.op == "const":
        return f"a constant of shape {show(node.shape)}"
    return f"'{node.op}' of shape {show(node.shape)}"


class _Analysis:
    def __init__(self, batch):
        self.batch = {id(b) for b in batch}
        self.cls = {}

    def fail(self, node, why):
        raise SeparabilityError(f"data_parallel: the loss is not a sum or mean of per-row terms: "
                                f"op '{node.op}' {why}")

    def of(self, node):
        return self.cls[id(node)]

    def visit(self, node):
        if node.op == "var":
            c = _rows(0) if id(node) in self.batch else FREE
        elif node.op == "const":
            c = FREE
        else:
            op = OPS[node.op]
            data = [a for i, a in enumerate(node.args) if i not in op.shape_args]
            classes = [self.of(a) for a in data]
            shape_classes = [self.of(a) for i, a in enumerate(node.args) if i in op.shape_args]
            if all(k == FREE for k in classes) and (node.op != "broadcast" or all(k[0] != "rows" for k in shape_classes)):
                c = FREE
            elif node.op == "count":
                c = FREE
            elif any(k[0] == "summed" for k in classes):
                c = self.summed(node, classes, shape_classes)
            else:
                c = self.rows(node, op, classes)
        self.cls[id(node)] = c
        return c

    # --- summed: linear functions of sums over rows -----------------------------
    def summed(self, node, classes, shape_classes=()):
        origin = next(k[1] for k in classes if k[0] == "summed")
        kinds = [k[0] for k in classes]
        if any(k[0] == "rows" for k in shape_classes):
            self.fail(node, f"spreads {origin} over the batch rows: a sum of it over rows would count "
                            "each chunk's rows, not all of them")
        if "rows" in kinds:
            self.fail(node, f"combines per-row values with {origin}, so one row's term depends on the "
                            "other rows (batch norm and other batch statistics do this)")
        op = node.op
        linear = (op in ("add", "sub") or op in ("neg", "sum", "index", "reshape", "transpose", "broadcast")
                  or (op == "astype" and node.dtype in ir.FLOAT_DTYPES)
                  or (op in ("mul", "matmul") and kinds.count("summed") == 1)
                  or (op == "div" and kinds == ["summed", "free"]))
        if not linear:
            self.fail(node, f"is applied to {origin}: only sums, differences and scalings of such "
                            "reductions (and terms without the batch) can be added up chunk by chunk")
        if op == "div" and node.args[1].op == "count" and origin.startswith("the sum"):
            origin = "the mean" + origin[len("the sum"):]
        return _summed(origin)

    # --- rows: where does the row axis go? -----------------------------------------
    def rows(self, node, op, classes):
        args = node.args
        if node.op == "sum":
            r = classes[0][1]
            axes = node.attr("axes")
            if r in axes:
                return _summed(f"the sum over the batch rows of {_what(args[0])}")
            return _rows(r if node.attr("keepdims") else r - sum(1 for a in axes if a < r))
        if op.kind == "elementwise":
            return self.elementwise(node, op)
        handler = getattr(self, "_" + node.op, None)
        if handler is None:
            self.fail(node, f"takes per-row values ({_what(next(a for a, k in zip(args, classes) if k != FREE))}) "
                            "and symback cannot tell whether it keeps the rows apart")
        return handler(node, classes)

    def elementwise(self, node, op):
        R = node.ndim
        axis = None
        for i, a in enumerate(node.args):
            k = self.of(a)
            if k[0] == "rows":
                pos = R - a.ndim + k[1]
                if axis is not None and pos != axis:
                    self.fail(node, f"lines up the batch rows of {_what(a)} with another axis of the rows")
                axis = pos
        for i, a in enumerate(node.args):
            if i in op.shape_args or self.of(a) != FREE:
                continue
            pos = axis - (R - a.ndim)
            if 0 <= pos < a.ndim and a.shape[pos] != 1:
                self.fail(node, f"combines the batch rows element by element with {_what(a)}, which is not a "
                                "batch input: its rows would not be cut into chunks with the batch (list it in batch=)")
        return _rows(axis)

    def _transpose(self, node, classes):
        return _rows(node.attr("axes").index(classes[0][1]))

    def _matmul(self, node, classes):
        a, b = node.args
        ka, kb = classes
        a_contracted = ka != FREE and ka[1] == a.ndim - 1     # a's last axis meets b's first
        b_contracted = kb != FREE and kb[1] == 0
        if ka != FREE and kb != FREE:
            if a_contracted and b_contracted:    # sum_i a[..., i] b[i, ...]: a sum over rows
                return _summed(f"the sum over the batch rows in 'matmul' of {_what(a)} and {_what(b)}")
            self.fail(node, f"multiplies {_what(a)} by {_what(b)}, both per-row, pairing different rows")
        if a_contracted or b_contracted:
            rows, other = (a, b) if a_contracted else (b, a)
            self.fail(node, f"contracts the batch axis of {_what(rows)} with {_what(other)}, "
                            "which is not a batch input (list it in batch=)")
        if ka != FREE:
            return _rows(0)
        return _rows(node.ndim - 1)

    def _index(self, node, classes):
        r = classes[0][1]
        src, out = 0, 0
        for k in node.attr("key"):
            if k[0] == "new":
                out += 1
                continue
            if src == r:
                if k[0] == "i" or k[1] is not None:
                    self.fail(node, f"selects some rows of {_what(node.args[0])} (axis {r} is the batch axis)")
                return _rows(out)
            src += 1
            out += k[0] == "s"
        return _rows(out)

    def _reshape(self, node, classes):
        x, r = node.args[0], classes[0][1]
        target = node.attr("shape")
        rest_src, rest_dst = x.shape[1:], node.shape[1:]
        if (r == 0 and target and target[0] == -1 and ir.shapes_static(rest_src) and ir.shapes_static(rest_dst)
                and _prod(rest_src) == _prod(rest_dst)):
            return _rows(0)
        self.fail(node, f"reshapes {_what(x)} to {target}, moving values across rows "
                        "(only reshape(x, (-1, ...)) of whole rows keeps them apart)")

    def _along(self, node, classes, reduces):
        r, a = classes[0][1], node.attr("axis")
        if a == r:
            self.fail(node, f"runs along the batch axis of {_what(node.args[0])} (axis {a}): it mixes rows")
        if reduces and not node.attr("keepdims") and a < r:
            r -= 1
        return _rows(r)

    def _softmax(self, node, classes):
        return self._along(node, classes, reduces=False)

    def _logsumexp(self, node, classes):
        return self._along(node, classes, reduces=True)

    def _softmax_cross_entropy(self, node, classes):
        logits, labels = node.args
        for x, k in zip(node.args, classes):
            if k == FREE:
                self.fail(node, f"pairs the batch rows with {_what(x)}, which is not a batch input (list it in batch=)")
            if k[1] != 0:
                self.fail(node, f"takes {_what(x)} whose batch axis is {k[1]}, not its rows")
        return _rows(0)

    def _one_hot(self, node, classes):
        return _rows(0)

    def _stack(self, node, classes):
        if any(k != classes[0] for k in classes):
            self.fail(node, "stacks per-row values with values laid out differently")
        r = classes[0][1]
        return _rows(r if r < node.attr("axis") % node.ndim else r + 1)


def _prod(shape):
    out = 1
    for d in shape:
        out *= d
    return out


def _fresh_var(name, taken):
    while name in taken:
        name += "_"
    taken.add(name)
    return ir.var(name, (), "float64")


def separate(loss, batch):
    """Check that ``loss`` is a sum/mean over the rows of the ``batch`` variables
    of per-row terms (plus terms without the batch) and build the per-chunk loss;
    raise :class:`SeparabilityError` naming the op that mixes rows."""
    for b in batch:
        if not isinstance(b, ir.Node) or b.op != "var":
            raise SeparabilityError(f"data_parallel: batch= must hold variables made with sb.var, got {b!r}")
        if not b.shape:
            raise SeparabilityError(f"data_parallel: batch input {b.name!r} is a scalar; it needs a row axis")
        if b.shape[0] is not None:
            raise SeparabilityError(
                f"data_parallel: batch input {b.name!r} has a fixed number of rows {show(b.shape)}; "
                f"declare it with None rows, e.g. sb.var({b.name!r}, {(None,) + tuple(b.shape[1:])!r})")
    if loss.shape != ():
        raise SeparabilityError(f"data_parallel: the loss must be a scalar, got shape {show(loss.shape)}")
    order = ir.topo_order([loss])
    analysis = _Analysis(batch)
    for node in order:
        analysis.visit(node)
    top = analysis.of(loss)
    if top == FREE:
        raise SeparabilityError("data_parallel: the loss does not depend on the batch inputs "
                                f"({', '.join(b.name for b in batch)})")
    taken = {v.name for v in ir.variables([loss])} | {b.name for b in batch}
    n_rows, first = _fresh_var("n_rows", taken), _fresh_var("first", taken)
    new, mean = {}, False
    for node in order:
        if node.op in ("var", "const"):
            new[id(node)] = node
            continue
        args = [new[id(a)] for a in node.args]
        k_in = analysis.of(node.args[0])
        if node.op == "count" and k_in[0] == "rows" and k_in[1] in node.attr("axes"):
            mean = True
            rest = tuple(a for a in node.attr("axes") if a != k_in[1])
            n = n_rows if node.dtype == "float64" else apply("astype", n_rows, dtype=node.dtype)
            new[id(node)] = n * apply("count", args[0], axes=rest) if rest else n
            continue
        if node.op in ("add", "sub") and analysis.of(node)[0] == "summed":
            for i, a in enumerate(node.args):
                if analysis.of(a) == FREE:
                    w = first if a.dtype == "float64" else apply("astype", first, dtype=a.dtype)
                    args[i] = args[i] * w
        if all(x is y for x, y in zip(args, node.args)):
            new[id(node)] = node
        else:
            new[id(node)] = apply(node.op, *args, **dict(node.attrs))
    return Separable(new[id(loss)], n_rows, first, mean)
