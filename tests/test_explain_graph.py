"""explain() reproduces the lecture's numbers; to_dot() draws the lecture's boxes."""
import re

import pytest

import symback as sb


def lecture():
    x, z = sb.var("x"), sb.var("z")
    return sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z), [x, z]


def test_explain_lecture_numbers_and_notation():
    y, wrt = lecture()
    ex = sb.explain(y, wrt, {"x": 2.0, "z": 3.0})
    text = str(ex)
    assert "a = x * z = 6" in text
    assert "g_y = 1" in text
    assert ex.gradient["x"] == pytest.approx(1208.3812151266, rel=1e-12)
    assert ex.gradient["z"] == pytest.approx(809.7074792186, rel=1e-12)
    # fan-out: a = x*z feeds three consumers, so g_a has three terms
    g_a = next(line for line, _ in ex.backward if line.startswith("g_a ="))
    assert g_a.count("g_") - 1 == 3


def test_explain_agrees_with_the_compiled_gradient():
    y, wrt = lecture()
    kernel = sb.value_and_grad(y, wrt, name="lecture_explain")
    _, (gx, gz) = kernel(1.5, 0.5)
    ex = sb.explain(y, wrt, {"x": 1.5, "z": 0.5})
    assert ex.gradient["x"] == pytest.approx(float(gx), rel=1e-12)
    assert ex.gradient["z"] == pytest.approx(float(gz), rel=1e-12)


def test_to_dot_structure():
    y, _ = lecture()
    dot = sb.to_dot(y)
    assert dot.startswith("digraph")
    nodes = re.findall(r'^\s+(n\d+) \[label="([^"]*)"(?:, xlabel="([^"]*)")?', dot, re.M)
    edges = re.findall(r"^\s+(n\d+) -> (n\d+);", dot, re.M)
    labels = {n: lab for n, lab, _ in nodes}
    assert sorted(lab for lab in labels.values()) == sorted(["x", "z", "*", "exp", "log", "/", "+", "sin", "/", "+"])
    assert len(edges) == 13
    assert all(a in labels and b in labels for a, b in edges)
    assert 'xlabel="y"' in dot and "peripheries=2" in dot


def test_to_dot_with_gradient_names_the_adjoints():
    y, wrt = lecture()
    dot = sb.to_dot(y, grad=True, wrt=wrt)
    assert 'xlabel="g_x"' in dot and 'xlabel="g_z"' in dot


def test_explain_accepts_the_point_by_variable_or_by_name():
    y, (x, z) = lecture()
    by_node = sb.explain(y, [x, z], {x: 2.0, z: 3.0})
    by_name = sb.explain(y, [x, z], {"x": 2.0, "z": 3.0})
    mixed = sb.explain(y, [x, z], {x: 2.0, "z": 3.0})
    assert str(by_node) == str(by_name) == str(mixed)
    assert by_node.gradient["x"] == pytest.approx(1208.3812151266, rel=1e-12)


@pytest.mark.parametrize("at, words", [
    ({"x": 2.0, "z": 3.0, "q": 1.0}, "'q' is not a variable of the model nor its name (variables: x, z)"),
    ({"x": 2.0}, "at gives no value for z"),
    ({"x": [2.0, 1.0], "z": 3.0}, "'x' has shape (), got a value of shape (2,)"),
])
def test_explain_names_what_is_wrong_with_the_point(at, words):
    y, wrt = lecture()
    with pytest.raises(ValueError, match=re.escape(words)):
        sb.explain(y, wrt, at)


def test_explain_point_given_twice():
    y, (x, z) = lecture()
    with pytest.raises(ValueError, match="'x' is given twice"):
        sb.explain(y, [x, z], {x: 2.0, "x": 2.0, z: 3.0})
