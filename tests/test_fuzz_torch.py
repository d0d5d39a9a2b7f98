"""A differential fuzzer: random small programs run on our tensors and on PyTorch's.

Hypothesis draws a program of up to a few dozen ops over a pool of float64 tensors: unary math,
broadcast binary ops, reductions, matmul, movement ops (permute, strided and negative slicing,
reshape, expand, unsqueeze) and in-place ops on non-leaf results. Each op runs on PyTorch
first; where PyTorch raises, we must raise a `tg.TensorError`; where it computes, we compute
the same values. At the end every tensor that requires grad is reduced into one loss, and the
gradients of the leaves must agree too.

`TG_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_torch.py` hunts longer. Every bug this
finds becomes a plain regression test in the test module of its op.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tinygrad_like as tg

torch = pytest.importorskip("torch")

EXAMPLES = int(os.environ.get("TG_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("TG_FUZZ_EXAMPLES"),
                suppress_health_check=list(HealthCheck))

UNARY = {
    "tanh": lambda t: t.tanh(), "sigmoid": lambda t: t.sigmoid(), "sin": lambda t: t.sin(),
    "relu": lambda t: t.relu(), "abs": lambda t: t.abs(), "neg": lambda t: -t,
    "exp_tanh": lambda t: t.tanh().exp(), "log_abs1": lambda t: (t.abs() + 1).log(),
    "sqrt_abs1": lambda t: (t.abs() + 1).sqrt(), "square": lambda t: t * t,
    "softplus": lambda t: t.softplus() if isinstance(t, tg.Tensor) else torch.nn.functional.softplus(t),
    "gelu": lambda t: t.gelu() if isinstance(t, tg.Tensor) else torch.nn.functional.gelu(t),
    "clamp": lambda t: t.clamp(-0.5, 0.7),
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b.abs() + 1), "maximum": lambda a, b: a.maximum(b),
    "where": lambda a, b: (a.where(a > b, b) if not isinstance(a, tg.Tensor) else tg.where(a > b, a, b)),
}


def _reduce(kind, dim, keepdim):
    def f(t):
        if kind == "max":
            return t.amax(dim, keepdim=keepdim)
        if kind == "softmax":
            return t.softmax(dim)
        if kind == "logsumexp":
            return t.logsumexp(dim, keepdim=keepdim)
        return getattr(t, kind)(dim, keepdim=keepdim)
    return f


@st.composite
def programs(draw):
    n_inputs = draw(st.integers(1, 3))
    shapes = [tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))) for _ in range(n_inputs)]
    steps = []
    for _ in range(draw(st.integers(3, 25))):
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "matmul", "permute",
                                     "slice", "reshape", "unsqueeze_expand", "inplace"]))
        steps.append((kind, draw(st.integers(0, 10 ** 6)), draw(st.integers(0, 10 ** 6))))
    return shapes, steps


def _pick(pool, r):
    return pool[r % len(pool)]


def _apply(kind, r1, r2, pool):
    """One step on both libraries: (ours, theirs, is_view) or None when the step does not apply."""
    ours, theirs, _ = _pick(pool, r1)
    shape = tuple(theirs.shape)
    nd = len(shape)
    if kind == "unary":
        name = sorted(UNARY)[r2 % len(UNARY)]
        return lambda t: UNARY[name](t), False
    if kind == "binary":
        o2, t2, _ = _pick(pool, r2)
        name = sorted(BINARY)[r2 % len(BINARY)]
        return (lambda t, u: BINARY[name](t, u)), (o2, t2)
    if kind == "reduce" and nd:
        red = ["sum", "mean", "max", "softmax", "logsumexp"][r2 % 5]
        dim, keep = (r2 // 5) % nd - (nd if r2 % 2 else 0), bool(r2 % 3 == 0)
        return _reduce(red, dim, keep), False
    if kind == "matmul":
        o2, t2, _ = _pick(pool, r2)
        return (lambda t, u: t @ u), (o2, t2)
    if kind == "permute" and nd >= 2:
        perm = list(np.random.default_rng(r2).permutation(nd))
        return (lambda t: t.permute(*perm)), True
    if kind == "slice" and nd:
        d = r2 % nd
        size = shape[d]
        start, step = (r2 // 7) % size, [1, 2, -1, -2, 3][r2 % 5]
        key = [slice(None)] * nd
        key[d] = slice(start, None, step) if step > 0 else slice(size - 1 - start, None, step)
        if step < 0:
            # PyTorch has no negative steps: flip, then slice forward (same elements, same order)
            return ("flip", d, slice(start, None, -step)), True
        return (lambda t: t[tuple(key)]), True
    if kind == "reshape":
        return (lambda t: t.reshape(-1)), True
    if kind == "unsqueeze_expand" and nd < 3:
        k = (r2 % 3) + 1
        return (lambda t: t.unsqueeze(0).expand(k, *shape)), True
    if kind == "inplace":
        return "inplace", r2
    return None


def run_program(shapes, steps):
    rng = np.random.default_rng(len(steps) * 31 + sum(sum(s) for s in shapes))
    pool = []
    leaves = []
    for s in shapes:
        a = rng.uniform(-1.5, 1.5, s)
        o = tg.tensor(a.tolist(), dtype=tg.float64, requires_grad=True)
        t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        leaves.append((o, t))
        pool.append((o, t, False))
    fresh = None  # the last result, if nothing has used it yet: the only target of in-place ops
    for kind, r1, r2 in steps:
        spec = _apply(kind, r1, r2, pool)
        if spec is None:
            continue
        fn, extra = spec
        ours_in, theirs_in, _ = _pick(pool, r1)
        if fn == "inplace":
            if fresh is None:
                continue
            o, t = fresh
            op = ["mul_", "add_", "sub_", "div_"][extra % 4]
            val = [0.5, -1.25, 2.0, 3.0][extra % 4]
            try:
                getattr(t, op)(val)
            except RuntimeError:
                with pytest.raises(tg.TensorError):
                    getattr(o, op)(val)
                continue
            getattr(o, op)(val)
            continue
        if isinstance(fn, tuple):  # a negative-step slice: torch flips, we slice backwards
            _, d, fwd = fn
            key = [slice(None)] * theirs_in.ndim
            key[d] = fwd
            theirs = torch.flip(theirs_in, (d,))[tuple(key)]
            okey = [slice(None)] * ours_in.ndim
            okey[d] = slice(theirs_in.shape[d] - 1 - fwd.start, None, -fwd.step)
            ours = ours_in[tuple(okey)]
            is_view = True
        else:
            args_t, args_o = (theirs_in,), (ours_in,)
            is_view = extra is True
            if isinstance(extra, tuple):
                args_o, args_t = (ours_in, extra[0]), (theirs_in, extra[1])
                is_view = False
            try:
                theirs = fn(*args_t)
            except (RuntimeError, IndexError, ValueError) as e:
                with pytest.raises(tg.TensorError):
                    fn(*args_o)
                del e
                continue
            ours = fn(*args_o)
        assert tuple(ours.shape) == tuple(theirs.shape), f"{kind}: shape {ours.shape} vs {tuple(theirs.shape)}"
        np.testing.assert_allclose(np.array(ours.tolist()).reshape(ours.shape), theirs.detach().numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=kind)
        pool.append((ours, theirs, is_view))
        # in-place targets: results of ops that save nothing for backward in either library (which
        # op saves what differs between the two; where only PyTorch saves, only it would refuse)
        saves_nothing = kind == "binary" and sorted(BINARY)[r2 % len(BINARY)] in ("add", "sub") or \
            kind == "reduce" and ["sum", "mean", "max", "softmax", "logsumexp"][r2 % 5] in ("sum", "mean")
        fresh = (ours, theirs) if saves_nothing and not is_view else None
    # one loss over everything that requires grad, with fixed random weights
    loss_o, loss_t = None, None
    for i, (o, t, _) in enumerate(pool):
        if not t.requires_grad:
            continue
        w = float(rng.uniform(0.5, 1.5))
        lo, lt = (o * w).sum(), (t * w).sum()
        loss_o = lo if loss_o is None else loss_o + lo
        loss_t = lt if loss_t is None else loss_t + lt
    try:
        loss_t.backward()
    except RuntimeError:  # e.g. a saved tensor modified in place: ours must refuse too
        with pytest.raises(tg.TensorError):
            loss_o.backward()
        return
    loss_o.backward()
    for o, t in leaves:
        expected = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
        got = np.array(o.grad.tolist()).reshape(o.shape) if o.grad is not None else np.zeros(o.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


@FUZZ
@given(programs())
def test_random_programs_agree_with_pytorch(program):
    shapes, steps = program
    run_program(shapes, steps)
