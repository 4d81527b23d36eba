"""sb.fit: training lowers the loss, the same seed gives the same history, one kernel
call per batch, termination criteria (epochs, tolerance, early stopping), per-batch
extras (dropout masks), and the optional progress bar.

Two compiled kernels, module-scoped: a small tanh MLP with dropout on three Gaussian
blobs (value_and_grad with the mask as an input) and its logits without dropout.
"""
import sys

import numpy as np
import pytest

import symback as sb
from symback import nn, optim
from symback.train import _progress


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    return centres[labels] + rng.normal(0, 0.9, (n, 2)), labels


@pytest.fixture(scope="module")
def model():
    p = nn.Params(seed=0)
    X, labels, M = sb.var("X", (None, 2)), sb.var("labels", (None,), "int64"), sb.var("M", (None, 8))
    W1, b1 = p.dense(2, 8)
    W2, b2 = p.dense(8, 3)
    hidden = nn.tanh(nn.dense(X, W1, b1))
    loss = nn.softmax_cross_entropy(nn.dense(nn.dropout(hidden, M), W2, b2), labels)
    kernel = sb.value_and_grad(loss, p.vars, p.vars + [X, labels, M], name="test_train_mlp")
    predict = sb.compile(nn.dense(hidden, W2, b2), p.vars + [X], name="test_train_logits")
    return p, kernel, predict


def masks(rate):
    def extras(rng, n, training):
        return (nn.dropout_mask(rng, (n, 8), rate) if training else np.ones((n, 8)),)
    return extras


TRAIN, VALID = blobs(120, 1), blobs(60, 2)


def train(model, opt=None, **kw):
    p, kernel, predict = model
    opt = opt or optim.Adam(p.values, lr=0.05)
    kw = {"epochs": 15, "batch_size": 16, "predict": predict, "extras": masks(0.2), "progress": False, **kw}
    return sb.fit(kernel, opt, TRAIN, **kw), opt


def test_training_lowers_the_loss_and_learns(model):
    history, opt = train(model, validation=VALID)
    assert history.epochs == 15 and history.stop_reason == "15 epochs"
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.accuracy[-1] > 0.85 and history.val_accuracy[-1] > 0.85
    assert len(history.val_loss) == len(history.lr) == len(history.seconds) == 15
    # the parameters really moved, and the optimizer's views are what was trained
    assert not np.allclose(opt.params[0], model[0].values[0])
    assert history.val_loss[-1] == pytest.approx(
        sb.train.evaluate_loss(model[1], opt.params, VALID, masks(0.2)))


def test_same_seed_same_history(model):
    a, _ = train(model, seed=3, epochs=5)
    b, _ = train(model, seed=3, epochs=5)
    c, _ = train(model, seed=4, epochs=5)
    assert a.loss == b.loss and a.accuracy == b.accuracy
    assert a.loss != c.loss


def test_one_kernel_call_per_batch(model):
    p, kernel, predict = model
    calls = []

    def counting(*args):
        calls.append(args[len(p.vars)].shape[0])     # the batch size of X
        return kernel(*args)

    sb.fit(counting, optim.SGD(p.values, lr=0.1), TRAIN, epochs=2, batch_size=50,
           extras=masks(0.0), progress=False)
    assert calls == [50, 50, 20] * 2


def test_no_shuffle_full_batch_is_gradient_descent(model):
    """batch_size=None, no shuffling, no dropout: fit's first epoch is one plain step."""
    p, kernel, _ = model
    opt = optim.SGD(p.values, lr=0.1)
    history = sb.fit(kernel, opt, TRAIN, epochs=1, batch_size=None, shuffle=False,
                     extras=masks(0.0), progress=False)
    loss, grads = kernel(*p.values, *TRAIN, np.ones((120, 8)))
    assert history.loss == [loss]
    for got, v, g in zip(opt.params, p.values, grads, strict=True):
        np.testing.assert_allclose(got, v - 0.1 * g, rtol=1e-14)


def test_tolerance_stops(model):
    history, _ = train(model, opt=optim.SGD(model[0].values, lr=1e-9), epochs=50, tol=1e-6, extras=masks(0.0))
    assert history.epochs == 2 and "less than" in history.stop_reason


def test_early_stopping_restores_the_best(model):
    p, kernel, _ = model
    stop = optim.EarlyStopping(patience=3)
    # a learning rate that grows each step: the validation loss improves, then blows up
    opt = optim.SGD(p.values, lr=optim.exponential_decay(0.05, 1.04))
    history, _ = train(model, opt=opt, epochs=100, validation=VALID, early_stopping=stop, extras=masks(0.0))
    assert history.epochs < 100 and history.stop_reason.startswith("early stopping")
    best = int(np.argmin(history.val_loss))
    assert 5 < best and stop.best_epoch == best and history.epochs == best + 1 + 3
    restored = sb.train.evaluate_loss(kernel, opt.params, VALID, masks(0.0))
    assert restored == pytest.approx(min(history.val_loss), rel=1e-12)


def test_non_finite_loss_stops(model):
    p, kernel, _ = model
    with np.errstate(all="ignore"):
        history, _ = train(model, opt=optim.SGD(p.values, lr=np.inf), epochs=20)
    assert history.epochs == 1 and "not finite" in history.stop_reason


def test_bad_data_is_refused(model):
    p, kernel, _ = model
    with pytest.raises(ValueError, match="rows"):
        sb.fit(kernel, optim.SGD(p.values, lr=0.1), (TRAIN[0], TRAIN[1][:5]), progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        sb.fit(kernel, optim.SGD(p.values, lr=0.1), TRAIN, batch_size=0, progress=False)


def test_progress_bar_optional(monkeypatch):
    assert isinstance(_progress(3, False), range)
    monkeypatch.setitem(sys.modules, "tqdm", None)            # as if tqdm were not installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert isinstance(_progress(3, True), range)


def test_on_batch_hook_sees_every_batch(model):
    p, kernel, _ = model
    seen = []
    opt = optim.SGD(p.values, lr=0.1)
    sb.fit(kernel, opt, TRAIN, epochs=1, batch_size=64, extras=masks(0.5), progress=False,
           on_batch=lambda params, batch, more: seen.append((params is opt.params, len(batch[0]), more[0].shape)))
    assert seen == [(True, 64, (64, 8)), (True, 56, (56, 8))]
