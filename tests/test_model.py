"""sb.Model checks everything the kernels will need when it is made, so that a
mistake in a model file is reported as that (a one-line ModelError), and it
accepts its point ``at`` keyed by variable or by name."""
import numpy as np
import pytest

import symback as sb
from symback.errors import UserError


def lecture():
    x, z = sb.var("x"), sb.var("z")
    return sb.exp(x * z) + x * z / sb.log(x), x, z


def test_at_by_variable_or_by_name_is_stored_by_name():
    y, x, z = lecture()
    by_node = sb.Model(loss=y, params=[x, z], at={x: 2.0, z: 3.0})
    by_name = sb.Model(loss=y, params=[x, z], at={"x": 2.0, "z": 3.0})
    assert by_node.at == by_name.at == {"x": 2.0, "z": 3.0}


def test_at_arrays_keep_their_values_and_dtype():
    W = sb.var("W", (2, 2), "float32")
    m = sb.Model(loss=sb.sum(W * W), params=[W], at={W: [[1, 2], [3, 4]]})
    assert m.at["W"].dtype == np.float32 and m.at["W"].tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("at, words", [
    ({"q": 1.0}, "'q' is not a variable of the model nor its name (variables: x, z)"),
    ({"x": [1.0, 2.0]}, "'x' has shape (), got a value of shape (2,)"),
])
def test_bad_point_names_the_key(at, words):
    y, x, z = lecture()
    with pytest.raises(sb.ModelError) as e:
        sb.Model(loss=y, params=[x, z], at=at, name="m")
    assert words in str(e.value) and "Model 'm'" in str(e.value)


def test_a_variable_of_another_model_is_not_a_key():
    y, x, z = lecture()
    with pytest.raises(sb.ModelError, match=r"x\(3,\) is not a variable"):
        sb.Model(loss=y, params=[x, z], at={sb.var("x", (3,)): np.ones(3)})


@pytest.mark.parametrize("make, words", [
    (lambda x, z: dict(loss=sb.stack([x, z]), params=[x]), "loss must be a scalar"),
    (lambda x, z: dict(loss=x * z, params=[x], inputs=[]), "uses z, which is neither in params nor in inputs"),
    (lambda x, z: dict(loss=x * sb.astype(sb.var("k", (), "int64"), "float64"),
                       params=[x, sb.var("k", (), "int64")]), "'k', whose dtype is int64"),
    (lambda x, z: dict(loss=x * z, params=[x, z], entries=("forward", "backward")), "entries"),
    (lambda x, z: dict(loss=x * z, params=[x, z], sizes={"n": 3}), "sizes names 'n'"),
])
def test_model_mistakes_are_model_errors(make, words):
    x, z = sb.var("x"), sb.var("z")
    with pytest.raises(sb.ModelError, match=words):
        sb.Model(**make(x, z))


def test_model_error_is_a_user_error():
    """The command line prints UserErrors as one line; see symback.errors."""
    assert issubclass(sb.ModelError, UserError) and issubclass(sb.ShapeError, UserError)
    assert not issubclass(KeyError, UserError)
