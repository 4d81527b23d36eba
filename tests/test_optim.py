"""Optimizers: the first steps equal the lectures' formulas worked by hand in numpy;
the flat parameter buffer; schedules; early stopping.

No symback kernel is compiled here: the gradients are fixed arrays, so each test is
about the update rule alone (the numba update kernels are cached on disk).
"""
import math

import numpy as np
import pytest

from symback import optim

RNG = np.random.default_rng(42)
W0, B0 = RNG.normal(size=(3, 4)), RNG.normal(size=4)          # two parameters
G1 = [RNG.normal(size=(3, 4)), RNG.normal(size=4)]            # gradient at step 1
G2 = [RNG.normal(size=(3, 4)), RNG.normal(size=4)]            # gradient at step 2
G3 = [RNG.normal(size=(3, 4)), RNG.normal(size=4)]


def run(opt, grads):
    """The parameters after each step, as copies."""
    out = []
    for g in grads:
        opt.step(g)
        out.append([p.copy() for p in opt.params])
    return out


def close(got, want):
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_sgd_two_steps():
    eta = 0.1
    (s1, s2) = run(optim.SGD([W0, B0], lr=eta), [G1, G2])
    w1 = [W0 - eta * G1[0], B0 - eta * G1[1]]
    close(s1, w1)
    close(s2, [w1[0] - eta * G2[0], w1[1] - eta * G2[1]])


def test_momentum_heavy_ball_form():
    """W <- W - eta (beta G_prev + G), G_prev the previous step's direction."""
    eta, beta = 0.1, 0.9
    steps = run(optim.Momentum([W0, B0], lr=eta, beta=beta), [G1, G2, G3])
    for k in range(2):  # each parameter by hand
        p0, g1, g2, g3 = [W0, B0][k], G1[k], G2[k], G3[k]
        p1 = p0 - eta * g1                                # G_prev = 0 at the first step
        p2 = p1 - eta * (beta * g1 + g2)
        p3 = p2 - eta * (beta * (beta * g1 + g2) + g3)   # directions accumulate
        close([steps[0][k], steps[1][k], steps[2][k]], [p1, p2, p3])


def test_momentum_moving_average_form():
    """m <- beta m + (1 - beta) g, W <- W - eta m."""
    eta, beta = 0.1, 0.8
    steps = run(optim.Momentum([W0, B0], lr=eta, beta=beta, average=True), [G1, G2])
    for k in range(2):
        m1 = (1 - beta) * G1[k]
        p1 = [W0, B0][k] - eta * m1
        m2 = beta * m1 + (1 - beta) * G2[k]
        close([steps[0][k], steps[1][k]], [p1, p1 - eta * m2])


def test_rmsprop_two_steps():
    eta, rho, eps = 0.01, 0.9, 1e-8
    steps = run(optim.RMSProp([W0, B0], lr=eta, rho=rho, eps=eps), [G1, G2])
    for k in range(2):
        s1 = (1 - rho) * G1[k] ** 2
        p1 = [W0, B0][k] - eta * G1[k] / (np.sqrt(s1) + eps)
        s2 = rho * s1 + (1 - rho) * G2[k] ** 2
        close([steps[0][k], steps[1][k]], [p1, p1 - eta * G2[k] / (np.sqrt(s2) + eps)])


def test_adam_two_steps_with_bias_correction():
    eta, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    steps = run(optim.Adam([W0, B0], lr=eta, beta1=b1, beta2=b2, eps=eps), [G1, G2])
    for k in range(2):
        p, m, v = [W0, B0][k], 0.0, 0.0
        for t, g in ((1, G1[k]), (2, G2[k])):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            p = p - eta * m_hat / (np.sqrt(v_hat) + eps)
            np.testing.assert_allclose(steps[t - 1][k], p, rtol=1e-13, atol=1e-15)
    # bias correction makes Adam's first step about eta * sign(g) for every number
    first = steps[0][0] - W0
    np.testing.assert_allclose(first, -eta * np.sign(G1[0]), rtol=1e-5)


def test_float32_parameters_stay_float32():
    opt = optim.Adam([W0.astype(np.float32)], lr=0.1)
    opt.step([G1[0].astype(np.float32)])
    assert opt.params[0].dtype == np.float32 and opt.flat.data.dtype == np.float32


def test_flat_buffer_views():
    opt = optim.SGD([W0, B0], lr=1.0)
    W, b = opt.params
    assert W.shape == W0.shape and b.shape == B0.shape
    assert all(v.flags.c_contiguous and np.shares_memory(v, opt.flat.data) for v in opt.params)
    assert W.base is not None and not np.shares_memory(W, W0)      # the inputs are copied, not taken
    np.testing.assert_array_equal(opt.flat.data, np.concatenate([W0.ravel(), B0]))
    opt.step([np.ones_like(W0), np.zeros_like(B0)])
    np.testing.assert_array_equal(W, W0 - 1)                      # updated in place, through the view
    with pytest.raises(ValueError, match="numbers"):
        opt.step([np.ones_like(W0)])


def test_learning_rate_schedule_is_used_step_by_step():
    schedule = optim.step_decay(1.0, factor=0.5, every=1)
    opt = optim.SGD([np.zeros(2)], lr=schedule)
    run(opt, [[np.ones(2)]] * 3)
    np.testing.assert_allclose(opt.params[0], -(1.0 + 0.5 + 0.25))
    assert opt.learning_rate() == 0.125 and opt.t == 3


def test_schedules():
    assert optim.constant(0.3)(100) == 0.3
    assert optim.step_decay(1.0, 0.1, 10)(25) == pytest.approx(0.01)
    assert optim.exponential_decay(2.0, 0.5)(3) == 0.25
    assert optim.inverse_time_decay(1.0, 0.5)(2) == 0.5
    cos = optim.cosine_decay(1.0, 10, 0.1)
    assert cos(0) == 1.0 and cos(5) == pytest.approx(0.55) and cos(10) == cos(50) == pytest.approx(0.1)


def test_early_stopping_patience_and_best():
    stop = optim.EarlyStopping(patience=2, min_delta=0.01)
    losses = [1.0, 0.8, 0.795, 0.9, 0.7, 0.71, 0.705]
    decisions = [stop.update(loss, [np.array([i])]) for i, loss in enumerate(losses)]
    assert decisions == [False, False, False, True, False, False, True]
    assert stop.best == 0.7 and stop.best_epoch == 4 and stop.best_params[0][0] == 4
    stop.reset()
    assert stop.best == math.inf and not stop.update(5.0)


def test_one_update_kernel_call_per_step_whatever_the_number_of_parameters(monkeypatch):
    calls = []
    real = optim._adam
    monkeypatch.setattr(optim, "_adam", lambda w, g, *rest: (calls.append(w.size), real(w, g, *rest)))
    shapes = [(3, 2), (2,), (4, 4), (1,), (5,)] * 20                 # 100 parameter arrays
    opt = optim.Adam([np.ones(s) for s in shapes], lr=0.1)
    opt.step([np.ones(s) for s in shapes])
    opt.step([np.ones(s) for s in shapes])
    assert calls == [opt.flat.data.size] * 2 == [20 * 30] * 2
    assert all(np.allclose(p, 1 - 0.2) for p in opt.params)         # steps of lr, twice
