"""Every differentiable op against central differences in float64 (tg.gradcheck), on broadcast,
non-contiguous (transposed, strided, flipped) and expanded inputs.

gradcheck perturbs its inputs, so each input is a contiguous float64 leaf (the *base*) and the
function under test first rebuilds the view from it (`case.apply(base)`); the analytic gradient
therefore also flows back through the movement ops that made the view.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_like as tg

from helpers import FEW, SETTINGS, broadcast_pair, shapes, view_cases

# value domains keep inputs away from kinks and poles, where central differences lie
DOMAINS = {
    "any": lambda x: x,
    "pos": lambda x: np.abs(x) + 0.3,                       # log, sqrt, pow base, divisor
    "kink": lambda x: np.sign(x) * (np.abs(x) + 0.1) + (x == 0) * 0.5,  # relu, abs at 0
}


def draw_input(data, shape: tuple, domain: str = "any", kinds=None):
    case = data.draw(view_cases(tuple(shape)) if kinds is None else view_cases(tuple(shape), kinds))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    base = DOMAINS[domain](rng.uniform(-2.0, 2.0, size=case.base_shape))
    return tg.tensor(np.asarray(base).tolist(), dtype=tg.float64, requires_grad=True), case


def check(fn, *inputs) -> None:
    bases = [b for b, _ in inputs]
    cases = [c for _, c in inputs]
    assert tg.gradcheck(lambda *xs: fn(*[c.apply(x) for c, x in zip(cases, xs)]), bases)


BINARY = {
    "add": (lambda a, b: a + b, "any", "any"),
    "sub": (lambda a, b: a - b, "any", "any"),
    "mul": (lambda a, b: a * b, "any", "any"),
    "div": (lambda a, b: a / b, "any", "pos"),
    "pow": (lambda a, b: a ** b, "pos", "any"),
    "maximum": (tg.maximum, "any", "any"),
    "minimum": (tg.minimum, "any", "any"),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data())
@SETTINGS
def test_binary_broadcast(name, data):
    fn, da, db = BINARY[name]
    sa, sb = data.draw(broadcast_pair(0, 3, 3))
    check(fn, draw_input(data, sa, da), draw_input(data, sb, db))


SCALAR_FORMS = {
    "add": (lambda x: x + 1.5, lambda x: 1.5 + x, "any"),
    "sub": (lambda x: x - 1.5, lambda x: 1.5 - x, "any"),
    "mul": (lambda x: x * -2.5, lambda x: -2.5 * x, "any"),
    "div": (lambda x: x / 3.0, lambda x: 3.0 / x, "pos"),
    "pow": (lambda x: x ** 2.5, lambda x: 2.5 ** x, "pos"),
    "pow_int": (lambda x: x ** 3, lambda x: x ** 2, "any"),
    "pow_neg": (lambda x: x ** -1.5, lambda x: x ** 0.5, "pos"),
}


@pytest.mark.parametrize("name", list(SCALAR_FORMS))
@given(data=st.data())
@FEW
def test_scalar_on_both_sides(name, data):
    f1, f2, dom = SCALAR_FORMS[name]
    shape = data.draw(shapes(0, 3, 1, 3))
    check(f1, draw_input(data, shape, dom))
    check(f2, draw_input(data, shape, dom))


UNARY = {
    "neg": (lambda x: -x, "any"),
    "abs": (lambda x: x.abs(), "kink"),
    "exp": (lambda x: x.exp(), "any"),
    "log": (lambda x: x.log(), "pos"),
    "sqrt": (lambda x: x.sqrt(), "pos"),
    "sin": (lambda x: x.sin(), "any"),
    "cos": (lambda x: x.cos(), "any"),
    "tanh": (lambda x: x.tanh(), "any"),
    "sigmoid": (lambda x: x.sigmoid(), "any"),
    "relu": (lambda x: x.relu(), "kink"),
    "gelu": (lambda x: x.gelu(), "any"),
    "gelu_tanh": (lambda x: x.gelu(approximate="tanh"), "any"),
    "leaky_relu": (lambda x: x.leaky_relu(), "kink"),
    "leaky_relu_0.3": (lambda x: x.leaky_relu(0.3), "kink"),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), "any"),
    "clamp_min": (lambda x: x.clamp(min=0.05), "any"),
    "clamp_max": (lambda x: x.clamp(max=-0.05), "any"),
    "erf": (lambda x: x.erf(), "any"),
    "reciprocal": (lambda x: x.reciprocal(), "pos"),
    "square": (lambda x: x.square(), "any"),
    "contiguous": (lambda x: x.contiguous() * 1.0, "any"),
    "clone": (lambda x: x.clone(), "any"),
    "double": (lambda x: x.double().to(tg.float64), "any"),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
@SETTINGS
def test_unary(name, data):
    fn, dom = UNARY[name]
    inp = draw_input(data, data.draw(shapes(0, 3, 1, 3)), dom)
    if name.startswith("clamp"):  # keep away from the bounds (-0.5, 0.5, 0.05, -0.05)
        b = inp[0]
        vals = np.asarray(b.detach().tolist())
        for bound in (-0.5, 0.5, 0.05, -0.05):
            vals = np.where(np.abs(vals - bound) < 0.02, vals + 0.05, vals)
        inp = (tg.tensor(vals.tolist(), dtype=tg.float64, requires_grad=True), inp[1])
    check(fn, inp)


@given(data=st.data())
@SETTINGS
def test_where(data):
    sa, sb = data.draw(broadcast_pair(0, 3, 3))
    sc, _ = data.draw(broadcast_pair(0, len(np.broadcast_shapes(sa, sb)), 3))
    shape = np.broadcast_shapes(sa, sb)
    sc = tuple(1 if data.draw(st.booleans()) else n for n in shape[len(shape) - len(sc):]) if sc else ()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    cond = tg.tensor((rng.random(sc) < 0.5).tolist()) if sc else tg.tensor(bool(rng.random() < 0.5))
    check(lambda a, b: tg.where(cond, a, b), draw_input(data, sa), draw_input(data, sb))
    check(lambda a: tg.where(cond, a, 0.5), draw_input(data, sa))
    check(lambda b: tg.where(cond, -1.0, b), draw_input(data, sb))


def draw_dim(data, ndim: int):
    if ndim == 0:
        return None
    kind = data.draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return data.draw(st.integers(-ndim, ndim - 1))
    return tuple(data.draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim)))


REDUCTIONS = {
    "sum": lambda x, d, k: x.sum(d, k),
    "mean": lambda x, d, k: x.mean(d, k),
    "max": lambda x, d, k: x.max(d, k),
    "min": lambda x, d, k: x.min(d, k),
    "var": lambda x, d, k: x.var(d, k),
    "var_c0": lambda x, d, k: x.var(d, k, correction=0),
    "std": lambda x, d, k: x.std(d, k),
    "logsumexp": lambda x, d, k: x.logsumexp(d if d is not None else tuple(range(x.ndim)), k),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(data=st.data())
@FEW
def test_reductions(name, data):
    shape = data.draw(shapes(1, 3, 1, 3))
    dim = draw_dim(data, len(shape))
    keepdim = data.draw(st.booleans())
    n = int(np.prod(shape)) if dim is None else int(np.prod([shape[d] for d in np.atleast_1d(dim)]))
    if name in ("var", "std") and n < 2:
        return
    kinds = ("contiguous", "transposed", "sliced", "flipped", "mixed")  # expanded copies make ties
    check(lambda x: REDUCTIONS[name](x, dim, keepdim), draw_input(data, shape, kinds=kinds))


def test_max_min_with_ties_match_pytorch_rule():
    """With ties, gradcheck's numeric derivative is not defined; check the even split exactly."""
    x = tg.tensor([[1.0, 4.0, 4.0], [2.0, 2.0, 2.0]], dtype=tg.float64, requires_grad=True)
    (x.max(1) * tg.tensor([1.0, 3.0], dtype=tg.float64)).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]]


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@given(data=st.data())
@SETTINGS
def test_softmax(fn, data):
    shape = data.draw(shapes(1, 3, 1, 3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: getattr(x, fn)(dim), draw_input(data, shape))
    check(lambda x: getattr(x * 50.0, fn)(dim), draw_input(data, shape))  # large logits


@given(data=st.data())
@SETTINGS
def test_matmul(data):
    m, k, n = (data.draw(st.integers(1, 3)) for _ in range(3))
    ba, bb = data.draw(broadcast_pair(0, 2, 2))
    sa = (k,) if data.draw(st.booleans()) else ba + (m, k)
    sb = (k,) if data.draw(st.booleans()) else bb + (k, n)
    check(lambda a, b: a @ b, draw_input(data, sa), draw_input(data, sb))


@given(data=st.data())
@FEW
def test_matmul_transposed_inputs(data):
    m, k, n = (data.draw(st.integers(1, 3)) for _ in range(3))
    check(lambda a, b: a.T @ b.mT, draw_input(data, (k, m)), draw_input(data, (2, n, k)))


MOVEMENT = {
    "reshape": lambda x: x.reshape(-1) * 1.0,
    "reshape_split": lambda x: x.reshape(x.shape[0], 1, -1) if x.ndim else x.reshape(1),
    "permute": lambda x: x.permute(*reversed(range(x.ndim))) if x.ndim else x * 1.0,
    "transpose": lambda x: x.transpose(0, -1) if x.ndim else x * 1.0,
    "T": lambda x: x.T * 2.0,
    "expand": lambda x: x.unsqueeze(0).expand(3, *x.shape),
    "squeeze": lambda x: x.squeeze(),
    "unsqueeze": lambda x: x.unsqueeze(-1),
    "flatten": lambda x: x.flatten(),
    "index": lambda x: x[..., ::-1, None] if x.ndim else x[None],
    "index_int": lambda x: x[-1] if x.ndim else x,
    "index_step": lambda x: x[::2] if x.ndim else x,
    "narrow_split": lambda x: tg.cat(x.split(1, 0)[::-1], 0) if x.ndim else x,
}


@pytest.mark.parametrize("name", list(MOVEMENT))
@given(data=st.data())
@FEW
def test_movement_ops(name, data):
    check(MOVEMENT[name], draw_input(data, data.draw(shapes(0, 3, 1, 3))))


@given(data=st.data())
@FEW
def test_cat_stack(data):
    shape = data.draw(shapes(1, 3, 1, 3))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    other = list(shape)
    other[d] = data.draw(st.integers(1, 3))
    check(lambda a, b: tg.cat([a, b, a], d), draw_input(data, shape), draw_input(data, tuple(other)))
    sd = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda a, b: tg.stack([a, b], sd), draw_input(data, shape), draw_input(data, shape))


def test_gather_index_select_scatter_add():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.uniform(-1, 1, (3, 4)).tolist(), dtype=tg.float64, requires_grad=True)
    idx = tg.tensor([[0, 2, 2, 1], [1, 1, 0, 0]])
    assert tg.gradcheck(lambda t: t.gather(0, idx), [x])
    assert tg.gradcheck(lambda t: t.index_select(1, tg.tensor([3, 3, 0])), [x])
    assert tg.gradcheck(lambda t: t[tg.tensor([2, 0, 2])], [x])
    src = tg.tensor(rng.uniform(-1, 1, (2, 4)).tolist(), dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda t, s: t.scatter_add(0, idx, s), [x, src])


def test_composite_expression_through_views():
    rng = np.random.default_rng(1)
    a = tg.tensor(rng.uniform(-1, 1, (4, 3)).tolist(), dtype=tg.float64, requires_grad=True)
    b = tg.tensor(rng.uniform(-1, 1, (3,)).tolist(), dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda a, b: ((a.T[:, ::-1] * b[:, None]).tanh() @ a).log_softmax(-1).sum(0), [a, b])


def test_gradcheck_raises_on_a_wrong_gradient():
    from tinygrad_like.autograd import record

    def bad_square(x):
        with tg.no_grad():
            out = x * x
        wrong = tg.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=tg.float64)  # off at element (1, 0) only
        return record(out, "BadSquare", (x,), lambda g: (g * x * 2.0 + g * wrong,))

    x = tg.tensor([[0.5, -1.0], [2.0, 1.5]], dtype=tg.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"element \(1, 0\)") as e:
        tg.gradcheck(bad_square, [x])
    assert isinstance(e.value, tg.TensorError)
    assert "numeric" in str(e.value) and "analytic" in str(e.value)
    assert tg.gradcheck(lambda x: x * x, [x])


def test_gradcheck_rejects_float32_inputs():
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda x: x * 2, [tg.tensor([1.0], requires_grad=True)])
