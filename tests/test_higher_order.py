"""Higher-order gradients: autograd.grad, backward(create_graph=True), double backward through
every differentiable op (fused kernels included), jacobian and hessian, hooks."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_like as tg
import tinygrad_like.nn.functional as F
from tinygrad_like import nn

RNG = np.random.default_rng(7)


def t64(a, requires_grad=True):
    return tg.tensor(np.asarray(a, dtype=np.float64).tolist(), dtype=tg.float64, requires_grad=requires_grad)


def away_from_zero(shape, lo=0.3, hi=1.5):
    return RNG.uniform(lo, hi, shape) * RNG.choice([-1.0, 1.0], shape)


def positive(shape):
    return RNG.uniform(0.3, 2.0, shape)


# name -> (function of the inputs, input arrays); each is differentiated twice
OPS = {
    "exp": (lambda x: x.exp(), [away_from_zero((3, 2))]),
    "log": (lambda x: x.log(), [positive((3, 2))]),
    "sqrt": (lambda x: x.sqrt(), [positive((3, 2))]),
    "rsqrt": (lambda x: x.rsqrt(), [positive((3,))]),
    "sin": (lambda x: x.sin(), [away_from_zero((4,))]),
    "cos": (lambda x: x.cos(), [away_from_zero((4,))]),
    "tanh": (lambda x: x.tanh(), [away_from_zero((4,))]),
    "sigmoid": (lambda x: x.sigmoid(), [away_from_zero((4,))]),
    "relu": (lambda x: x.relu() * x, [away_from_zero((5,))]),
    "erf": (lambda x: x.erf(), [away_from_zero((4,))]),
    "reciprocal": (lambda x: x.reciprocal(), [away_from_zero((4,))]),
    "abs": (lambda x: x.abs() * x, [away_from_zero((4,))]),
    "gelu": (lambda x: x.gelu(), [away_from_zero((4,))]),
    "gelu_tanh": (lambda x: x.gelu(approximate="tanh"), [away_from_zero((4,))]),
    "leaky_relu": (lambda x: x.leaky_relu(0.1) * x, [away_from_zero((4,))]),
    "softplus": (lambda x: x.softplus(), [away_from_zero((4,))]),
    "log1p": (lambda x: x.log1p(), [positive((4,))]),
    "expm1": (lambda x: x.expm1(), [away_from_zero((4,))]),
    "clamp": (lambda x: x.clamp(-1.0, 1.0) * x, [away_from_zero((5,), 0.2, 2.0)]),
    "mul": (lambda a, b: a * b, [away_from_zero((2, 3)), away_from_zero((3,))]),
    "div": (lambda a, b: a / b, [away_from_zero((2, 3)), away_from_zero((2, 1))]),
    "pow": (lambda a, b: a ** b, [positive((3,)), away_from_zero((3,))]),
    "fmod": (lambda a, b: a.fmod(b) * a, [np.array([5.3, -7.2, 2.5]), np.array([2.0, 3.0, -1.5])]),
    "pow_scalar": (lambda a: a ** 3, [away_from_zero((3,))]),
    "maximum": (lambda a, b: tg.maximum(a, b) * a, [np.array([1.0, -2.0, 3.0]), np.array([0.5, -1.0, 4.0])]),
    "where": (lambda a, b: tg.where(a > 0, a * a, b * b), [away_from_zero((4,)), away_from_zero((4,))]),
    "sum": (lambda x: (x * x).sum(1), [away_from_zero((2, 3))]),
    "mean": (lambda x: (x * x).mean(0), [away_from_zero((2, 3))]),
    "max": (lambda x: (x * x).max(1), [np.array([[1.0, -3.0, 2.0], [0.5, 0.25, -0.75]])]),
    "prod": (lambda x: x.prod(1), [away_from_zero((2, 3))]),
    "var": (lambda x: x.var(1), [away_from_zero((2, 4))]),
    "std": (lambda x: x.std(0), [away_from_zero((3, 2))]),
    "logsumexp": (lambda x: x.logsumexp(1), [away_from_zero((2, 3))]),
    "softmax": (lambda x: x.softmax(-1), [away_from_zero((2, 3))]),
    "softmax_dim0": (lambda x: x.softmax(0), [away_from_zero((2, 3))]),
    "log_softmax": (lambda x: x.log_softmax(-1), [away_from_zero((2, 3))]),
    "movement": (lambda x: (x.permute(1, 0)[1:, ::-1].reshape(-1) * x.reshape(-1)[:4]).unsqueeze(0).expand(2, 4),
                 [away_from_zero((2, 3))]),
    "cat_stack": (lambda a, b: tg.stack([tg.cat([a, b]) * 2, tg.cat([b, a])]) ** 2,
                  [away_from_zero((2,)), away_from_zero((3,))]),
    "matmul": (lambda a, b: a @ b, [away_from_zero((2, 3)), away_from_zero((3, 2))]),
    "matmul_T": (lambda a, b: (a @ b.T).tanh(), [away_from_zero((2, 3)), away_from_zero((4, 3))]),
    "linear": (lambda x, w, b: F.linear(x, w, b).tanh(), [away_from_zero((2, 3)), away_from_zero((4, 3)),
                                                           away_from_zero((4,))]),
    "cross_entropy": (lambda x: F.cross_entropy(x, tg.tensor([0, 2, 1])), [away_from_zero((3, 3))]),
    "mse": (lambda a, b: F.mse_loss(a, b), [away_from_zero((3,)), away_from_zero((3,))]),
    "layer_norm": (lambda x: F.layer_norm(x, (3,)), [away_from_zero((2, 3))]),
    "gather": (lambda x: x.gather(0, tg.tensor([2, 0, 1, 2])) ** 2, [away_from_zero((3,))]),
    "index_select": (lambda x: x.index_select(1, tg.tensor([1, 1, 0])).exp(), [away_from_zero((2, 2))]),
    "scatter_add": (lambda x, s: x.scatter_add(0, tg.tensor([1, 1]), s) ** 2, [away_from_zero((3,)), away_from_zero((2,))]),
    "inplace": (lambda x: _inplace_chain(x), [away_from_zero((3,))]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1).tanh(),
               [away_from_zero((2, 2, 5, 5)), away_from_zero((3, 2, 3, 3)), away_from_zero((3,))]),
    "conv1d_groups": (lambda x, w: F.conv1d(x, w, groups=2, dilation=2) ** 2,
                      [away_from_zero((1, 4, 7)), away_from_zero((2, 2, 2))]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2).tanh(),
                         [away_from_zero((1, 2, 3, 3)), away_from_zero((2, 1, 2, 2))]),
    "max_pool2d": (lambda x: F.max_pool2d(x * x, 2), [np.arange(32.0).reshape(1, 2, 4, 4) * 0.1 + 0.05]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, padding=1) ** 2, [away_from_zero((1, 2, 4, 4))]),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), [away_from_zero((4, 3))]),
    "group_norm": (lambda x: F.group_norm(x, 2), [away_from_zero((2, 4, 3))]),
    "sort_topk": (lambda x: x.topk(2).values ** 2 + x.sort().values[..., :2], [np.array([[0.3, -1.2, 2.5, 0.7]])]),
    "cumsum_cumprod": (lambda x: x.cumsum(0) * x.cumprod(0), [away_from_zero((4,))]),
    "advanced_index": (lambda x: x[[0, 2, 2], [1, 0, 1]] ** 2 + x[x > 0].sum(), [away_from_zero((3, 2))]),
    "einsum": (lambda a, b: tg.einsum("ij,jk->ik", a, b).tanh(), [away_from_zero((2, 3)), away_from_zero((3, 2))]),
    "pad_reflect": (lambda x: F.pad(x, (1, 2), mode="reflect") ** 2, [away_from_zero((2, 4))]),
}


def _inplace_chain(x):
    y = x * 1.0
    y.mul_(x)
    y.add_(x, alpha=2.0)
    return y


@pytest.mark.parametrize("name", list(OPS))
def test_double_backward_matches_central_differences(name):
    fn, arrays = OPS[name]
    inputs = [t64(a) for a in arrays]
    proj = [tg.tensor(RNG.uniform(-1, 1, fn(*[t64(a, False) for a in arrays]).shape).tolist(),
                      dtype=tg.float64)]

    def first_derivative(*xs):
        # gradcheck evaluates its perturbed inputs under no_grad: they become fresh leaves here
        with tg.enable_grad():
            xs = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
            out = (fn(*xs) * proj[0]).sum()
            grads = tg.autograd.grad(out, xs, create_graph=True, allow_unused=True)
            return tg.cat([(g if g is not None else x * 0).reshape(-1) for g, x in zip(grads, xs)])
    assert tg.gradcheck(fn, inputs)
    assert tg.gradcheck(first_derivative, inputs, atol=1e-5, rtol=1e-3)


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    (g,) = tg.autograd.grad(y, x)
    assert g.tolist() == [2.0, 4.0] and x.grad is None and not g.requires_grad
    with pytest.raises(RuntimeError, match="second time"):
        tg.autograd.grad(y, x)


def test_grad_unused_inputs():
    x, z = t64([1.0]), t64([2.0])
    y = (x * 3).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = tg.autograd.grad(y, [x, z], allow_unused=True)
    assert gx.tolist() == [3.0] and gz is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.autograd.grad((x * 2).sum(), [tg.ones(1)])


def test_grad_with_respect_to_a_non_leaf_and_grad_outputs():
    x = t64([1.0, 2.0])
    h = x * 3
    y = h * h
    (gh,) = tg.autograd.grad(y, h, grad_outputs=tg.tensor([1.0, 0.5], dtype=tg.float64))
    assert gh.tolist() == [6.0, 6.0]


def test_hessian_vector_product_and_gradient_penalty():
    x = t64([1.0, -2.0, 0.5])
    y = (x ** 3).sum() + (x[0] * x[1])
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    v = tg.tensor([1.0, 1.0, 0.0], dtype=tg.float64)
    (hv,) = tg.autograd.grad((g * v).sum(), x)
    assert hv.tolist() == [6.0 * 1 + 1.0, 1.0 + 6.0 * -2.0, 0.0]
    w = t64([0.5, -1.0, 2.0])
    inp = t64([1.0, 2.0, 3.0])
    out = (w * inp).tanh().sum()
    (gi,) = tg.autograd.grad(out, inp, create_graph=True)
    penalty = (gi * gi).sum()
    penalty.backward()
    assert w.grad is not None and all(math.isfinite(v) for v in w.grad.tolist())


def test_backward_create_graph_then_backward_of_the_grad():
    x = t64([2.0])
    y = x ** 3
    y.backward(create_graph=True)
    assert x.grad.tolist() == [12.0] and x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.backward()
    assert x.grad.tolist() == [12.0]  # d(3x^2)/dx at 2


def test_jacobian_and_hessian():
    x = t64([0.5, -1.0])
    J = tg.autograd.functional.jacobian(lambda v: tg.stack([v[0] * v[1], v[0].exp()]), x)
    np.testing.assert_allclose(J.tolist(), [[-1.0, 0.5], [math.exp(0.5), 0.0]])
    H = tg.autograd.functional.hessian(lambda v: (v[0] ** 2) * v[1] + v[1] ** 3, x)
    np.testing.assert_allclose(H.tolist(), [[2 * -1.0, 2 * 0.5], [2 * 0.5, 6 * -1.0]])
    ja, jb = tg.autograd.functional.jacobian(lambda a, b: a * b, (t64([1.0, 2.0]), t64([3.0, 4.0])))
    assert ja.tolist() == [[3.0, 0.0], [0.0, 4.0]] and jb.tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_jacobian_against_central_differences():
    def f(v):
        return (v.sin() * v.sum()).softmax(0)
    x = RNG.uniform(-1, 1, 4)
    J = np.array(tg.autograd.functional.jacobian(f, t64(x)).tolist())
    eps = 1e-6
    num = np.stack([(np.array(f(t64(x + eps * e, False)).tolist()) - np.array(f(t64(x - eps * e, False)).tolist())) / (2 * eps)
                    for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(J, num, atol=1e-7)


# ---------------------------------------------------------------- hooks

def test_tensor_hook_sees_and_replaces_the_gradient_and_can_be_removed():
    x = t64([1.0, 2.0])
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]]
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]]
    y = x * 2
    y.register_hook(lambda g: g * 10)  # on a non-leaf: replaces the gradient flowing on
    x.grad = None
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 20.0]


def test_retain_grad_on_a_non_leaf():
    x = t64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    assert y.grad.tolist() == [4.0, 8.0]


def test_module_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []
    pre = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    post = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    out = m(tg.ones(4, 3))
    assert calls == [(4, 2)]
    np.testing.assert_allclose(out.tolist(), (np.array(m.bias.tolist()) + 1)[None].repeat(4, 0).tolist(), rtol=1e-6)
    pre.remove()
    post.remove()
    m(tg.ones(1, 3))
    assert calls == [(4, 2)]


def test_module_full_backward_hook():
    m = nn.Linear(3, 2)
    seen = []

    def hook(mod, grad_input, grad_output):
        seen.append((mod, grad_input[0].shape, grad_output[0].shape))
        return (grad_input[0] * 0,)
    h = m.register_full_backward_hook(hook)
    x = tg.randn(5, 3, requires_grad=True)
    m(x).sum().backward()
    assert seen == [(m, (5, 3), (5, 2))] and x.grad.abs().sum().item() == 0.0
    assert m.weight.grad is not None
    h.remove()
    x.grad = None
    m(x).sum().backward()
    assert len(seen) == 1 and x.grad.abs().sum().item() > 0
