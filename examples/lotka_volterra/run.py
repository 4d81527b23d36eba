"""Fitting an ODE by gradient descent: Lotka-Volterra, RK4, 1,000 steps, one loop.

    pip install -e ".[plot]" && python examples/lotka_volterra/run.py

Predators and prey:

    dx/dt = alpha x - beta x y        (prey)
    dy/dt = delta x y - gamma y       (predators)

The data are 100 noisy observations of both populations over t in [0, 10],
made with alpha, beta, delta, gamma = 1.1, 0.4, 0.1, 0.4.  The model integrates
the ODE from the known initial state with 1,000 classical Runge-Kutta steps
(dt = 0.01) written once as the body of ``sb.scan``; the loss is the mean
squared error at the observation times; the four rates (as logarithms, so they
stay positive) are fitted by Adam from a guess 40-60 % off.

Because the integrator is a loop and not 1,000 unrolled steps, the kernel --
value and gradient through all 1,000 steps, by a reverse loop over the values
the forward loop stored -- is one module of about 540 lines (forward,
value_and_grad and their argument-checking wrappers) whatever the number of
steps; unrolled, it would hold 1,000 copies of the step and of its adjoint.
The picture (fit.png) shows the data, the first guess and the fit; the script
prints the fitted rates and checks one derivative by a central difference.
"""
import pathlib
import time

import numpy as np

import symback as sb
from symback import optim

HERE = pathlib.Path(__file__).resolve().parent
TRUE = np.array([1.1, 0.4, 0.1, 0.4])          # alpha, beta, delta, gamma
STATE0 = np.array([10.0, 5.0])                  # prey, predators at t = 0
STEPS, DT, EVERY = 1000, 0.01, 10               # observe every 10th step: 100 observations


def rates(state, theta):
    """The right-hand side of the ODE, for symback expressions or numpy arrays alike."""
    alpha, beta, delta, gamma = theta[0], theta[1], theta[2], theta[3]
    x, y = state[0], state[1]
    return alpha * x - beta * x * y, delta * x * y - gamma * y


def rk4_numpy(theta, steps=STEPS):
    s, out = STATE0.copy(), []
    f = lambda s: np.array(rates(s, theta))  # noqa: E731
    for _ in range(steps):
        k1 = f(s)
        k2 = f(s + DT / 2 * k1)
        k3 = f(s + DT / 2 * k2)
        k4 = f(s + DT * k3)
        s = s + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(s)
    return np.array(out)


def model():
    """(loss, log_theta, observations): one scan of RK4 steps."""
    log_theta = sb.var("log_theta", (4,))
    observed = sb.var("observed", (STEPS // EVERY, 2))
    theta = sb.exp(log_theta)

    def f(s):
        return sb.stack(list(rates(s, theta)))

    def rk4_step(s, _):
        k1 = f(s)
        k2 = f(s + DT / 2 * k1)
        k3 = f(s + DT / 2 * k2)
        k4 = f(s + DT * k3)
        s = s + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return s, s

    _, path = sb.scan(rk4_step, sb.const(STATE0), length=STEPS)   # path: (1000, 2)
    predicted = path[EVERY - 1::EVERY]                            # the observation times
    return sb.mean((predicted - observed) ** 2), log_theta, observed


def main():
    rng = np.random.default_rng(0)
    clean = rk4_numpy(TRUE)[EVERY - 1::EVERY]
    observed = clean + rng.normal(0.0, 0.3, clean.shape)
    guess = TRUE * np.array([1.5, 0.6, 1.4, 0.55])

    t0 = time.perf_counter()
    loss, log_theta, observed_var = model()
    kernel = sb.value_and_grad(loss, [log_theta], name="lotka_volterra")
    value, (grad,) = kernel(np.log(guess), observed)
    print(f"built, compiled (or loaded) and called in {time.perf_counter() - t0:.2f} s; "
          f"the kernel module is {kernel.source.count(chr(10))} lines")
    h = 1e-6
    e0 = np.eye(4)[0] * h
    fd = (kernel.forward(np.log(guess) + e0, observed) - kernel.forward(np.log(guess) - e0, observed)) / (2 * h)
    print(f"d loss / d log(alpha) = {grad[0]:.6f} (central difference {float(fd):.6f})")

    opt = optim.Adam([np.log(guess)], lr=0.05)
    losses = []
    t0 = time.perf_counter()
    for _ in range(600):
        value, grads = kernel(*opt.params, observed)
        losses.append(float(value))
        opt.step(grads)
    elapsed = time.perf_counter() - t0
    fitted = np.exp(opt.params[0])
    print(f"600 Adam steps in {elapsed:.2f} s ({elapsed / 600 * 1e3:.2f} ms per value and gradient "
          f"through {STEPS} RK4 steps); loss {losses[0]:.3f} -> {losses[-1]:.4f}")
    for name, t, g, f in zip(["alpha", "beta", "delta", "gamma"], TRUE, guess, fitted):
        print(f"  {name:<6} true {t:.3f}   guess {g:.3f}   fitted {f:.3f}")
    plot(observed, guess, fitted, losses)


def plot(observed, guess, fitted, losses):
    try:
        import matplotlib
    except ImportError:
        print("(matplotlib is not installed: no picture)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = DT * np.arange(1, STEPS + 1)
    t_obs = t[EVERY - 1::EVERY]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    for i, (label, colour) in enumerate([("prey", "C0"), ("predators", "C3")]):
        ax1.plot(t_obs, observed[:, i], "o", ms=3, color=colour, alpha=0.6, label=f"{label}: data")
        ax1.plot(t, rk4_numpy(guess)[:, i], ":", color=colour, label=f"{label}: first guess")
        ax1.plot(t, rk4_numpy(fitted)[:, i], "-", color=colour, label=f"{label}: fitted")
    ax1.set_xlabel("t")
    ax1.set_ylabel("population")
    ax1.set_title("Lotka-Volterra fitted through 1,000 RK4 steps (one sb.scan)")
    ax1.legend(fontsize=8, ncol=3)
    ax2.semilogy(np.arange(1, len(losses) + 1), losses, color="k")
    ax2.set_xlabel("Adam step")
    ax2.set_ylabel("mean squared error")
    ax2.set_title("loss")
    fig.tight_layout()
    fig.savefig(HERE / "fit.png", dpi=110)
    print(f"wrote {HERE / 'fit.png'}")


if __name__ == "__main__":
    main()
