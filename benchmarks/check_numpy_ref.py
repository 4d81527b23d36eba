"""Self check of the hand-written gradients in numpy_ref: `python -m benchmarks.check_numpy_ref`.

Each workload's value_and_grad is compared with central finite differences (5-point
stencil) of its forward-only loss on a few random coordinates of every parameter, in
float64; a coordinate passes with relative error < 1e-6.

Finite differences cannot resolve a partial derivative much smaller than the rounding
noise of the loss (about eps * |loss| / h), and some workloads have many of those by
design: W4's early layers get gradients of 1e-45 (vanishing gradients through 50
sigmoids) and W5's d/dx decays to 0 as the chain converges. Such coordinates are checked
with the complex step derivative, Im f(x + ih) / h, which has no cancellation and is
exact to rounding at any magnitude (all array workloads are complex-analytic here); for
the `math`-based scalar W5 they can only be checked to lie within the FD noise, and are
counted as such. Exit status is non-zero on any failure.
"""
import sys

import numpy as np

from . import numpy_ref as ref
from . import workloads as wl

TOL = 1e-6
EPS = np.finfo(np.float64).eps

# (label, workload, data, relative FD step). W1v uses 1000 points so that the rounding
# noise of the summed loss stays far below each point's partial; W3 uses a small step so
# the stencil rarely straddles a ReLU kink; W5 is checked at K=8 (d/dx still O(1)) and at
# the smallest benchmark size K=50.
CASES = [
    ("W1", "W1", wl.data_W1(), 1e-3),
    ("W1v (n=1000)", "W1v", wl.data_W1v(1000), 1e-3),
    ("W2", "W2", wl.data_W2(), 1e-3),
    ("W3", "W3", wl.data_W3(), 1e-5),
    ("W4", "W4", wl.data_W4(), 1e-3),
    ("W4r", "W4r", wl.data_W4r(), 1e-3),
    ("W5 (K=8)", "W5", wl.data_W5(8), 1e-3),
    ("W5 (K=50)", "W5", wl.data_W5(50), 1e-3),
]
SCALAR = {"W1", "W5"}        # math-based references: no complex step


def _rel(a, b):
    m = max(abs(a), abs(b))
    return 0.0 if m == 0 else abs(a - b) / m


def _with(args, k, idx, delta):
    """args with parameter k's entry idx shifted by delta (a copy; complex if delta is)."""
    args = list(args)
    if np.ndim(args[k]) == 0:
        args[k] = args[k] + delta
    else:
        p = args[k].astype(np.result_type(args[k], delta))
        p[idx] += delta
        args[k] = p
    return args


def check_case(label, w, data, step, rng, per_param=3):
    loss_fn, vg_fn = ref.LOSS[w], ref.VALUE_AND_GRAD[w]
    args = wl.args(w, data)
    loss, grads = vg_fn(*args)
    ok = _rel(loss, loss_fn(*args)) < 1e-12
    fd_err, cs_err, n_fd, n_cs, n_noise = 0.0, 0.0, 0, 0, 0
    for k, name in enumerate(wl.PARAMS[w]):
        size = np.size(args[k])
        for flat in rng.choice(size, min(per_param, size), replace=False):
            idx = np.unravel_index(flat, np.shape(args[k]))
            theta, g = np.asarray(args[k])[idx], float(np.asarray(grads[k])[idx])
            h = step * max(1.0, abs(theta))
            f = {s: loss_fn(*_with(args, k, idx, s * h)) for s in (-2, -1, 1, 2)}
            fd = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
            noise = 2 * EPS * max(abs(v) for v in f.values()) / h
            if abs(g) > 1e7 * noise:              # FD resolves this partial to ~1e-7
                n_fd += 1
                fd_err = max(fd_err, _rel(fd, g))
            elif w not in SCALAR:                 # too small for FD: complex step
                n_cs += 1
                hc = 1e-30 * max(1.0, abs(theta))
                cs = float(np.imag(loss_fn(*_with(args, k, idx, 1j * hc)))) / hc
                cs_err = max(cs_err, _rel(cs, g))
            else:                                 # scalar, tiny: only bounded by FD noise
                n_noise += 1
                ok &= abs(fd - g) <= 10 * noise
    ok &= fd_err < TOL and cs_err < TOL
    line = (f"{label:14s} {'ok' if ok else 'FAIL':4s} loss {float(loss):.10g}: "
            f"{n_fd} coords by FD (max rel err {fd_err:.1e})")
    if n_cs:
        line += f", {n_cs} by complex step (max rel err {cs_err:.1e})"
    if n_noise:
        line += f", {n_noise} below FD noise and consistent with it"
    print(line)
    return ok


def check_float32():
    """W3f: float32 in, float32 out, and the same numbers as W3 to float32 accuracy."""
    l64, g64 = ref.value_and_grad_W3(*wl.args("W3", wl.data_W3()))
    l32, g32 = ref.value_and_grad_W3f(*wl.args("W3f", wl.data_W3f()))
    dtypes = {np.asarray(x).dtype for x in (l32, *g32)}
    err = max(np.linalg.norm(a - b) / np.linalg.norm(a) for a, b in zip(g64, g32))
    ok = dtypes == {np.dtype(np.float32)} and err < 1e-4 and _rel(l64, l32) < 1e-5
    print(f"{'W3f':14s} {'ok' if ok else 'FAIL':4s} loss {float(l32):.7g}: all float32, "
          f"max relative gradient difference from W3 {err:.1e}")
    return ok


def check_generic_loss():
    """W3g / W3fg: the reference (and every peer) runs W3's own form; the generic loss
    symback is given, mean(logsumexp(o) - sum(o * onehot)), written here in numpy on W3's
    logits, must give W3's loss to rounding in float64 and float32."""
    ok = True
    for w, rtol in (("W3g", 1e-13), ("W3fg", 1e-5)):
        args = wl.args(w, wl.DATA[w]())
        W1, b1, W2, b2, W3, b3, X, labels = args
        o = np.maximum(np.maximum(X @ W1.T + b1, 0) @ W2.T + b2, 0) @ W3.T + b3
        Y = np.eye(10, dtype=o.dtype)[labels]
        m = o.max(axis=1, keepdims=True)
        lse = np.log(np.exp(o - m).sum(axis=1)) + m[:, 0]
        generic = np.mean(lse - np.sum(o * Y, axis=1))
        err = _rel(float(generic), float(ref.LOSS[w](*args)))
        same = ref.VALUE_AND_GRAD[w] is ref.VALUE_AND_GRAD[w.replace("g", "")]
        ok_w = err < rtol and same and generic.dtype == X.dtype
        ok &= ok_w
        print(f"{w:14s} {'ok' if ok_w else 'FAIL':4s} generic-ops loss {float(generic):.10g} "
              f"= the {w.replace('g', '')} reference to {err:.1e} ({X.dtype}); gradient: "
              f"the {w.replace('g', '')} reference")
    return ok


def main():
    rng = np.random.default_rng(12345)
    results = [check_case(*case, rng) for case in CASES] + [check_float32(),
                                                            check_generic_loss()]
    if not all(results):
        print("numpy reference gradient check FAILED")
        return 1
    print("all numpy reference gradients agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
