"""Error classes and messages: every library error is a tg.TensorError and the matching built-in
(ValueError for shapes and values, IndexError for indices, TypeError for dtypes, RuntimeError for
autograd misuse and backend mixing); messages name the shapes, dims and values involved."""
from __future__ import annotations

import pytest

import tinygrad_like as tg


def raises(builtin, *words):
    """Context manager: a TensorError that is also `builtin`, whose message holds every word."""
    class _Check:
        def __enter__(self):
            self.cm = pytest.raises(tg.TensorError)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.cm.__exit__(*exc)
            assert isinstance(self.info.value, builtin), f"{type(self.info.value).__mro__} is not a {builtin.__name__}"
            for w in words:
                assert w in str(self.info.value), f"{w!r} not in message: {self.info.value}"
            return handled
    return _Check()


def test_broadcast_error_names_both_shapes_and_the_dim():
    with raises(ValueError, "(2, 3)", "(4,)", "dim 1", "3 vs 4"):
        tg.ones(2, 3) + tg.ones(4)
    with raises(ValueError, "(2, 3)", "(3, 1, 2)"):
        tg.ones(2, 3) * tg.ones(3, 1, 2)
    with raises(ValueError, "(5,)"):
        tg.where(tg.ones(2, dtype=tg.bool_), tg.ones(2), tg.ones(5))
    with raises(ValueError, "(2, 3)"):
        tg.maximum(tg.ones(2, 3), tg.ones(2))


def test_matmul_errors_name_shapes_and_dims():
    with raises(ValueError, "matmul", "(2, 3) @ (4, 5)", "inner dimensions 3 and 4 differ"):
        tg.ones(2, 3) @ tg.ones(4, 5)
    with raises(ValueError, "(2, 2, 3)", "(3, 3, 4)"):
        tg.ones(2, 2, 3) @ tg.ones(3, 3, 4)
    with raises(ValueError, "()"):
        tg.ones(3) @ tg.tensor(1.0)
    with raises(TypeError, "int64"):
        tg.ones(2, 2, dtype=tg.int64) @ tg.ones(2, 2, dtype=tg.int64)


def test_movement_errors():
    t = tg.ones(2, 3)
    with raises(ValueError, "(4, 2)", "(2, 3)"):
        t.reshape(4, 2)
    with raises(ValueError, "-1"):
        t.reshape(-1, -1)
    with raises(ValueError, "(3, 2)", "(6,)", "reshape"):
        t.T.view(6)
    with raises(ValueError, "(2, 3)", "(2, 5)", "dim 1"):
        t.expand(2, 5)
    with raises(ValueError, "(2, 3)"):
        t.permute(0)
    with raises(ValueError, "permutation"):
        t.permute(0, 0)
    with raises(ValueError, "dim 0", "(2, 3)", "(2, 4)"):
        tg.cat([t, tg.ones(2, 4)], 0)
    with raises(ValueError, "(2, 3)", "(3, 2)"):
        tg.stack([t, t.T])
    with raises(ValueError, "zero-dimensional", "position 1"):
        tg.cat([tg.ones(1), tg.tensor(1.0)])
    with raises(ValueError):
        t.flatten(1, 0)
    with raises(TypeError):
        t.reshape("a", 3)


def test_index_errors_name_index_dim_and_size():
    t = tg.ones(2, 3)
    with raises(IndexError, "index 2", "dim 0", "size 2"):
        t[2]
    with raises(IndexError, "index -4", "dim 1", "size 3"):
        t[:, -4]
    with raises(IndexError, "too many indices", "(2, 3)"):
        t[0, 0, 0]
    with raises(IndexError, "dim 2", "2 dims"):
        t.sum(2)
    with raises(IndexError, "dim -3"):
        t.softmax(-3)
    with raises(IndexError):
        t.transpose(0, 2)
    with raises(IndexError):
        t.unsqueeze(4)
    with raises(IndexError):
        t.size(2)
    with raises(IndexError, "index 5", "size 2"):
        t.index_select(0, tg.tensor([5]))
    with raises(IndexError, "1.5"):
        t[1.5]
    with raises(IndexError):
        t.sum(1.5)
    with raises(IndexError):
        t.narrow(1, 2, 5)


def test_dtype_errors():
    with raises(TypeError, "float16", "float32", "float64", "int64", "bool"):
        tg.ones(2, dtype="float16")
    with raises(TypeError, "floating point"):
        tg.ones(2, dtype=tg.int64).requires_grad_()
    with raises(TypeError, "mean"):
        tg.ones(2, dtype=tg.int64).mean()
    with raises(TypeError, "leaky_relu", "int64"):  # PyTorch refuses too
        tg.tensor([1, -2]).leaky_relu()
    with raises(TypeError):
        tg.tensor([True]) - tg.tensor([False])
    with raises(TypeError, "NoneType"):
        tg.ones(2) + None
    with raises(TypeError, "int64"):
        tg.ones(3).gather(0, tg.ones(3))
    with raises(TypeError):
        tg.tensor(["x"])
    with raises(TypeError):
        tg.arange("a")
    with raises(TypeError):
        tg.manual_seed(1.5)
    with raises(TypeError):
        len(tg.tensor(1.0))


def test_value_errors():
    with raises(ValueError, "ragged"):
        tg.tensor([[1, 2], [3]])
    with raises(ValueError, "6 elements", "(2, 3)"):
        tg.ones(2, 3).item()
    with raises(ValueError, "negative"):
        tg.tensor([2]) ** -1
    with raises(ValueError, "zero"):
        tg.ones(3)[::0]
    with raises(ValueError):
        tg.arange(0, 3, 0)
    with raises(ValueError):
        tg.zeros(-1)
    with raises(ValueError):
        tg.rand(-1)
    with raises(ValueError, "int64"):
        tg.tensor([2**70])
    with raises(ValueError):
        tg.ones(3).split(0)
    with raises(ValueError):
        tg.ones(3).chunk(0)
    with raises(ValueError):
        tg.ones(0).max()


def test_autograd_misuse_is_runtime_error():
    a = tg.ones(2, requires_grad=True)
    with raises(RuntimeError, "scalar", "(2,)"):
        (a * 2).backward()
    y = (a * 2).sum()
    y.backward()
    with raises(RuntimeError, "retain_graph=True"):
        y.backward()
    with raises(RuntimeError):
        tg.ones(2).sum().backward()
    with raises(RuntimeError, "in-place"):
        a.mul_(2)
    with raises(RuntimeError, "detach"):
        a.numpy()
    with raises(RuntimeError, "ambiguous"):
        bool(tg.ones(2))
    with raises(RuntimeError):
        (a * 2).requires_grad_(False)


def test_unknown_backend_lists_valid_ones():
    with raises(ValueError, "nope", "python", "numba", "c"):
        tg.set_backend("nope")
    with raises(ValueError, "python"):
        tg.ones(2).to(backend="nope")
    with raises(ValueError):
        tg.zeros(2, backend="nope")


def test_mixing_backends_names_both(backend):
    others = [b for b in tg.backends.available() if b != backend]
    if not others:
        pytest.skip("needs a second backend")
    other = others[0]
    a = tg.ones(2)
    b = tg.ones(2, backend=other)
    assert a.backend == backend and b.backend == other
    for op in (lambda: a + b, lambda: b * a, lambda: tg.where(a > 0, a, b), lambda: a @ b,
               lambda: tg.cat([a, b]), lambda: tg.maximum(a, b)):
        with raises(RuntimeError, repr(backend), repr(other)):
            op()
    # moving explicitly works, and keeps gradients flowing
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x.to(other) * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0] and x.grad.backend == backend


def test_no_bare_builtin_errors_escape():
    """A sample of misuse: each raises a TensorError, never a plain built-in exception."""
    t = tg.ones(2, 3)
    misuse = [lambda: t + "a", lambda: t[{}], lambda: t.sum("x"), lambda: tg.eye("a"), lambda: tg.rand("a"),
              lambda: t.narrow(0, "a", 1), lambda: tg.tensor(None), lambda: t.expand(3), lambda: t.view(-2, 3),
              lambda: tg.full((2,), "x"), lambda: t.to("cuda:0"), lambda: tg.stack([]), lambda: tg.cat([t, 1])]
    for f in misuse:
        with pytest.raises(tg.TensorError):
            f()


def test_where_needs_a_bool_condition():
    a, b = tg.ones(3), tg.zeros(3)
    with pytest.raises(tg.DTypeError, match="boolean tensor.*float32"):
        tg.where(tg.tensor([1.0, 0.0, 0.5]), a, b)
    with pytest.raises(TypeError, match="int64"):
        tg.where(tg.tensor([1, 0, 1]), a, b)
    assert tg.where(tg.tensor([1.0, 0.0, 0.5]) != 0, a, b).tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("write", [
    lambda t: t.add_(1), lambda t: t.mul_(2.0), lambda t: t.fill_(3.0), lambda t: t.zero_(),
    lambda t: t.copy_(tg.ones(2, 3)), lambda t: t.__setitem__((slice(None), slice(0, 2)), 5.0),
])
def test_writing_through_an_expanded_view_is_refused(write):
    base = tg.zeros(3)
    e = base.expand(2, 3)
    with pytest.raises(tg.TensorError, match=r"strides \(0, 1\)\) refers to a single memory location.*clone\(\)"):
        write(e)
    assert base.tolist() == [0.0, 0.0, 0.0]  # nothing was written
    c = e.clone()
    write(c)  # a clone owns its memory: fine
    tg.zeros(1, 3).expand(1, 3).add_(1)  # a size-1 dim with stride 0 shares nothing
