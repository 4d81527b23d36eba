"""JAX: ``jit(value_and_grad(loss))`` on the CPU, float64 enabled.

Each loss is the plain jax.numpy translation of the workload; the gradient is
``jax.value_and_grad`` w.r.t. every parameter (argnums), jitted once per workload.
JAX dispatches asynchronously, so the timed callables block until the result is ready.
W5's loop is a Python loop unrolled at trace time (K is static), as a JAX user writes it.
"""
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from ._common import System, as_numpy_result, n_params, numpy_args, split_deep  # noqa: E402

NAME = "jax"
WORKLOADS = ("W1", "W1v", "W2", "W3", "W3f", "W3g", "W3fg", "W4", "W4r", "W5")


def versions():
    import jaxlib
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


def loss_W1(x, z):
    lx, xz = jnp.log(x), x * z
    return jnp.exp(xz) + xz / lx + jnp.sin(lx) / xz


def loss_W1v(x, z):
    return jnp.sum(loss_W1(x, z))


def mean_cross_entropy(logits, labels):
    picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def loss_W2(V, b1, W, b2, X, labels):
    z = jax.nn.sigmoid(X @ V.T + b1)
    return mean_cross_entropy(z @ W.T + b2, labels)


def loss_W3(W1, b1, W2, b2, W3, b3, X, labels):
    h1 = jax.nn.relu(X @ W1.T + b1)
    h2 = jax.nn.relu(h1 @ W2.T + b2)
    return mean_cross_entropy(h2 @ W3.T + b3, labels)


def loss_W4(*args):
    layers, W_out, b_out, X, target = split_deep(args, 2)
    o = X
    for W, b in layers:
        o = jax.nn.sigmoid(o @ W.T + b)
    return jnp.mean((o @ W_out.T + b_out - target) ** 2)


def loss_W4r(*args):
    layers, W_out, b_out, X, target = split_deep(args, 4)
    o = X
    for W, c, V, b in layers:
        o = o + jax.nn.sigmoid(o @ W.T + c) @ V.T + b
    return jnp.mean((o @ W_out.T + b_out - target) ** 2)


def make_loss_W5(K):
    def loss_W5(x, a):
        u = x
        for _ in range(K):
            u = jnp.sin(u) * u + jnp.cos(a * u)
        return u
    return loss_W5


LOSS = {"W1": loss_W1, "W1v": loss_W1v, "W2": loss_W2, "W3": loss_W3, "W3f": loss_W3,
        "W3g": loss_W3, "W3fg": loss_W3,   # symback's generic-loss W3: peers keep their best form
        "W4": loss_W4, "W4r": loss_W4r}


def blocking(fn):
    def call(*args):
        return jax.block_until_ready(fn(*args))
    return call


def prepare(workload, data):
    loss = make_loss_W5(data["K"]) if workload == "W5" else LOSS[workload]
    vag = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(n_params(workload)))))
    args = tuple(jnp.asarray(a) for a in numpy_args(workload, data))
    return System(blocking(vag), blocking(jax.jit(loss)), args, as_numpy_result, {})
