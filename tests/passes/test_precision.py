"""The precision pass: a float64 model rebuilt in float32 stays float32."""
import numpy as np

import symback as sb
from symback.ir import topo_order
from symback.passes.precision import cast


def test_cast_to_float32_reaches_every_node():
    x, W = sb.var("x", (3,)), sb.var("W", (2, 3))
    y = sb.sum(sb.sigmoid(W @ x) * 0.5) + sb.mean(sb.softmax(W, axis=0))
    y32, mapping = cast(y, "float32")
    assert y32.dtype == "float32"
    assert {n.dtype for n in topo_order([y32]) if n.dtype.startswith("float")} == {"float32"}
    x32, W32 = mapping[x], mapping[W]
    rng = np.random.default_rng(0)
    xv, Wv = rng.normal(size=3), rng.normal(size=(2, 3))
    v64 = sb.evaluate(y, {x: xv, W: Wv})
    v32 = sb.evaluate(y32, {x32: xv.astype(np.float32), W32: Wv.astype(np.float32)})
    assert v32.dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
