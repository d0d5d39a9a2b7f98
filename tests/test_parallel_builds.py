"""Every threaded kernel path of the numba and C backends, on both sides of its size threshold.

A backend runs a kernel's parallel build (numba: `parallel=True`, C: the thread pool) only above
a size threshold, so tests on small tensors never compile or run it. Each test here drives an op
through the public API (the fused kernels through the backend's protocol methods) at sizes
derived from the backend's own threshold constants, on 1 and 2 threads, against numpy.
`test_every_numba_kernel_factory_is_driven_here` fails when a numba kernel factory is added
without a test here. The python backend has no threads: these tests skip there.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like.dtypes import float32, float64, int64
from tinygrad_like.view import View

UNARY = {
    "neg": (lambda t: -t, lambda a: -a),
    "abs": (lambda t: t.abs(), np.abs),
    "sign": (lambda t: t.sign(), np.sign),
    "exp": (lambda t: t.exp(), np.exp),
    "log": (lambda t: t.abs().log(), lambda a: np.log(np.abs(a))),
    "sqrt": (lambda t: t.abs().sqrt(), lambda a: np.sqrt(np.abs(a))),
    "sin": (lambda t: t.sin(), np.sin),
    "cos": (lambda t: t.cos(), np.cos),
    "tanh": (lambda t: t.tanh(), np.tanh),
    "sigmoid": (lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    "relu": (lambda t: t.relu(), lambda a: np.maximum(a, 0)),
    "erf": (lambda t: t.erf(), np.vectorize(math.erf, otypes=[np.float64])),
    "reciprocal": (lambda t: t.reciprocal(), lambda a: 1 / a),
    "floor": (lambda t: t.floor(), np.floor),
    "ceil": (lambda t: t.ceil(), np.ceil),
    "logical_not": (lambda t: (t > 0).logical_not(), lambda a: ~(a > 0)),
}
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: np.abs(a) ** b),
    "maximum": (tg.maximum, np.maximum),
    "minimum": (tg.minimum, np.minimum),
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}


# ---------------------------------------------------------------- thresholds and threads

def _thresholds(backend: str) -> dict:
    """Element (or multiply-add) counts where the backend switches to its threaded build."""
    if backend == "numba":
        from tinygrad_like.backends import numba_backend as nb
        return {"elementwise": (nb.PAR_ELEMWISE,), "reduce": (nb.PAR_REDUCE,), "matmul": (nb.PAR_MATMUL,)}
    from tinygrad_like.backends import c_backend as cb
    # csrc/core.c: PAR_MIN_COSTLY for transcendental and row-wise kernels, PAR_MIN_CHEAP for the
    # rest; csrc/blas.c: MM_PAR_MIN = 2^20 multiply-adds, the own GEMM from 2^21 to 2^27
    both = (cb.PAR_MIN_COSTLY, cb.PAR_MIN_CHEAP)
    return {"elementwise": both, "reduce": both, "matmul": (1 << 20, 1 << 21, 1 << 27)}


def _sizes(limits: tuple) -> list:
    """Sizes on both sides of each threshold, and well above it (several parallel chunks, a tail)."""
    out = set()
    for t in limits:
        out.update((t // 2 + 3, t - 1, t, 2 * t + 4099))
    return sorted(out)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, backend):
    """Run the test with the backend's kernels on 1, then 2 threads (restored afterwards)."""
    n = request.param
    if backend == "python":
        pytest.skip("the python backend has no threaded kernels")
    if backend == "numba":
        import numba
        if n > numba.config.NUMBA_NUM_THREADS:
            pytest.skip(f"numba allows {numba.config.NUMBA_NUM_THREADS} threads here")
        prev = numba.get_num_threads()
        numba.set_num_threads(n)
        yield n
        numba.set_num_threads(prev)
    else:
        be = tg.backends.load("c")
        prev = be.get_num_threads()
        be.set_num_threads(n)
        yield n
        be.set_num_threads(prev)


def _close(got: np.ndarray, ref: np.ndarray, dtype=np.float32, rtol: float | None = None) -> None:
    if got.dtype == np.bool_ or np.issubdtype(got.dtype, np.integer):
        assert np.array_equal(got, ref)
        return
    tol = rtol if rtol is not None else (3e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(got, ref.astype(got.dtype) if ref.dtype != got.dtype else ref,
                               rtol=tol, atol=tol)


def _close_sum(got: np.ndarray, a: np.ndarray, dim=None) -> None:
    """A sum to float32 rounding: the error bound scales with the sum of magnitudes (cancellation)."""
    a64 = a.astype(np.float64)
    ref = a64.sum(dim)
    if got.dtype.kind == "i":
        assert np.array_equal(got, ref.astype(got.dtype))
        return
    eps = 1e-6 if got.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, ref, rtol=eps, atol=eps * np.abs(np.nan_to_num(a64)).sum(dim).max())


def _data(n, seed, dtype=np.float32, shape=None):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-3, 3, n).astype(dtype)
    a[a == 0] = 1  # reciprocal, log
    return a.reshape(shape) if shape else a


# ---------------------------------------------------------------- elementwise

@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_flat_and_strided(backend, threads, op):
    """make_unary1 (flat, and a strided 1-D view)."""
    f, ref = UNARY[op]
    for n in _sizes(_thresholds(backend)["elementwise"]):
        a = _data(n, n)
        _close(f(tg.tensor(a)).numpy(), ref(a.astype(np.float64)))
        b = _data(2 * n, n + 1)
        _close(f(tg.tensor(b)[::2]).numpy(), ref(b[::2].astype(np.float64)))


@pytest.mark.parametrize("op", ["exp", "neg", "floor", "logical_not"])
def test_unary_nd_rows_and_transposed(backend, threads, op):
    """make_unaryN (rows with a gap between them, and its tiled build for a transposed view)."""
    f, ref = UNARY[op]
    for n in _sizes(_thresholds(backend)["elementwise"]):
        cols = 97
        rows = max(2, n // cols)
        a = _data(rows * (cols + 3), n, shape=(rows, cols + 3))
        _close(f(tg.tensor(a)[:, :cols]).numpy(), ref(a[:, :cols].astype(np.float64)))
        b = _data(rows * cols, n + 1, shape=(cols, rows))
        _close(f(tg.tensor(b).T).numpy(), ref(b.T.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_unary_copy_and_cast(backend, threads, dtype):
    """The copy/tobool codes of the unary kernels: contiguous(), casts, bool()."""
    for n in _sizes(_thresholds(backend)["elementwise"]):
        a = (_data(2 * n, n) * 10).astype(dtype)
        t = tg.tensor(a)
        assert np.array_equal(t[::2].contiguous().numpy(), a[::2])
        assert np.array_equal(t[::2].bool().numpy(), a[::2] != 0)
        assert np.array_equal(t.float().numpy(), a.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_permute_copy(backend, threads, dtype):
    """contiguous() of permuted views whose last dim stays contiguous (c: one copy per row when a row
    is at least 32 bytes; shorter rows, and a last dim that moves, take the element loop)."""
    for n in _sizes(_thresholds(backend)["elementwise"]):
        for inner in (3, 7, 8, 16, 40):
            outer = max(1, n // (4 * inner))
            a = (_data(outer * 4 * inner, n + inner) * 40).astype(dtype).reshape(outer, 4, inner)
            t = tg.tensor(a)
            assert np.array_equal(t.permute(1, 0, 2).contiguous().numpy(), a.transpose(1, 0, 2))
            assert np.array_equal(t[:, ::2].permute(1, 0, 2).contiguous().numpy(), a[:, ::2].transpose(1, 0, 2))
            assert np.array_equal(t.permute(2, 0, 1).contiguous().numpy(), a.transpose(2, 0, 1))
    empty = tg.tensor(np.zeros((0, 3, 16), dtype))
    assert empty.permute(1, 0, 2).contiguous().numpy().shape == (3, 0, 16)


def test_overlapping_setitem_of_rows(backend, threads):
    """x[1:] = x[:-1] on rows of 16 floats: the core's setitem gives numpy's result (a copy first)."""
    a = _data(64 * 16, 5).reshape(64, 16)
    t = tg.tensor(a)
    t[1:] = t[:-1]
    b = a.copy()
    b[1:] = a[:-1]
    assert np.array_equal(t.numpy(), b)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_flat(backend, threads, op):
    """make_binary1: flat operands, a strided one, a scalar broadcast."""
    f, ref = BINARY[op]
    for n in _sizes(_thresholds(backend)["elementwise"]):
        a, b = _data(n, n), _data(2 * n, n + 1)
        b[:200] = np.repeat(a[:100], 2)  # equal values for the comparisons
        a64, b64 = a.astype(np.float64), b[::2].astype(np.float64)
        _close(f(tg.tensor(a), tg.tensor(b)[::2]).numpy(), ref(a64, b64), rtol=2e-5 if op == "pow" else None)
        _close(f(tg.tensor(a), tg.tensor(np.array(0.5, np.float32))).numpy(), ref(a64, np.float64(0.5)))


@pytest.mark.parametrize("op", ["add", "mul", "lt", "maximum"])
def test_binary_nd_broadcast_and_transposed(backend, threads, op):
    """make_binaryN (a row broadcast, and its tiled build for a transposed operand)."""
    f, ref = BINARY[op]
    for n in _sizes(_thresholds(backend)["elementwise"]):
        cols = 61
        rows = max(2, n // cols)
        a, v = _data(rows * cols, n, shape=(rows, cols)), _data(cols, n + 1)
        _close(f(tg.tensor(a), tg.tensor(v)).numpy(), ref(a.astype(np.float64), v.astype(np.float64)))
        b = _data(rows * cols, n + 2, shape=(cols, rows))
        _close(f(tg.tensor(a), tg.tensor(b).T).numpy(), ref(a.astype(np.float64), b.T.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_binary_inplace(backend, threads, dtype):
    """make_binary1_inplace: x.add_(y) on a flat contiguous tensor."""
    for n in _sizes(_thresholds(backend)["elementwise"]):
        a, b = (_data(n, n) * 10).astype(dtype), (_data(n, n + 1) * 10).astype(dtype)
        with tg.no_grad():
            t = tg.tensor(a)
            t.add_(tg.tensor(b))
            t.mul_(tg.tensor(b))
        _close(t.numpy(), (a.astype(np.float64) + b) * b, rtol=1e-6)


def test_where_flat_and_broadcast(backend, threads):
    """make_where1 (flat) and make_whereN (a broadcast condition)."""
    for n in _sizes(_thresholds(backend)["elementwise"]):
        a, b = _data(n, n), _data(n, n + 1)
        assert np.array_equal(tg.where(tg.tensor(a > 0), tg.tensor(a), tg.tensor(b)).numpy(), np.where(a > 0, a, b))
        cols = 53
        rows = max(2, n // cols)
        c, x = _data(cols, n) > 0, _data(rows * cols, n + 2, shape=(rows, cols))
        got = tg.where(tg.tensor(c), tg.tensor(x), tg.tensor(np.array(-1, np.float32))).numpy()
        assert np.array_equal(got, np.where(c, x, np.float32(-1)))


# ---------------------------------------------------------------- reductions

def _reduce_shapes(backend: str) -> list:
    out = []
    for n in _sizes(_thresholds(backend)["reduce"]):
        out += [(n,), (max(2, n // 300), 300), (max(8, n // 10), 10), (3, max(1, n // 3))]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sum_max_min_rows_cols_and_full(backend, threads, dtype):
    """make_reduce_rows (per row, and one long row split over threads) and make_reduce_cols."""
    for shape in _reduce_shapes(backend):
        a = (_data(math.prod(shape), len(shape) + shape[0], shape=shape) * 10).astype(dtype)
        if dtype != np.int64:
            a.reshape(-1)[7] = np.nan  # max/min propagate it; sums too
        t = tg.tensor(a)
        _close_sum(t.sum().numpy(), a)
        _close(t.max().numpy(), np.asarray(a.max()), dtype)
        _close(t.min().numpy(), np.asarray(a.min()), dtype)
        if len(shape) == 2:
            for d in (0, 1):
                _close_sum(t.sum(d).numpy(), a, d)
                _close(t.max(d).numpy(), a.max(d), dtype)
                _close(t.min(d).numpy(), a.min(d), dtype)


def test_reduce_over_inner_dims_of_3d(backend, threads):
    """make_reduceN: a middle dim, and two non-adjacent dims, of a 3-d tensor."""
    for n in _sizes(_thresholds(backend)["reduce"]):
        shape = (max(2, n // 600), 20, 30)
        a = _data(math.prod(shape), n, shape=shape)
        t = tg.tensor(a)
        for dims in (1, (0, 2)):
            _close_sum(t.sum(dims).numpy(), a, dims)
            _close(t.amax(dims).numpy(), a.max(dims))
            _close(t.amin(dims).numpy(), a.min(dims))
        for d in (0, 1, 2):
            _close(t.max(d).numpy(), a.max(d))


def test_argmax_argmin_ties_and_nan(backend, threads):
    """make_arg_reduce: the first extreme wins a tie, the first NaN wins over everything."""
    for n in _sizes(_thresholds(backend)["reduce"]):
        for shape in ((n,), (max(2, n // 300), 300), (max(2, n // 10), 10)):
            a = np.round(_data(math.prod(shape), n, shape=shape))  # few distinct values: ties
            flat = a.reshape(-1)
            flat[5] = np.nan
            if len(shape) == 2:
                a[-1, 3] = np.nan
                a[-1, 1] = np.nan
            t = tg.tensor(a)
            for d in range(len(shape)):
                assert np.array_equal(t.argmax(d).numpy(), a.argmax(d)), (shape, d)
                assert np.array_equal(t.argmin(d).numpy(), a.argmin(d)), (shape, d)


def _rows_cols(backend: str) -> list:
    out = []
    for n in _sizes(_thresholds(backend)["reduce"]):
        out += [(max(1, n // 100), 100), (max(1, n // 7), 7)]
    return out


@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows(backend, threads, log):
    """make_softmax (the fused forward kernel) over rows, with a NaN row and an all -inf row."""
    for rows, cols in _rows_cols(backend):
        a = _data(rows * cols, rows, shape=(rows, cols)).astype(np.float64) * 5
        a[0, 3] = np.nan
        if rows > 1:
            a[1] = -np.inf
        t = tg.tensor(a.astype(np.float32))
        got = (t.log_softmax(1) if log else t.softmax(1)).numpy()
        a = a.astype(np.float32).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.max(a, 1, keepdims=True)
            m = np.where(np.isfinite(m), m, 0)
            e = np.exp(a - m)
            ref = (a - m) - np.log(e.sum(1, keepdims=True)) if log else e / e.sum(1, keepdims=True)
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6)


# ---------------------------------------------------------------- fused kernels (protocol calls)

def _buf(be, a: np.ndarray, dtype):
    return be.from_buffer(memoryview(np.ascontiguousarray(a)).cast("B"), dtype)


def _read(be, buf, dtype, np_dtype) -> np.ndarray:
    return np.frombuffer(be.memoryview(buf, dtype), dtype=np_dtype).copy()


def test_relu_backward_and_axpy(backend, threads):
    """make_relu_backward and make_axpy."""
    be = tg.backends.load(backend)
    for n in _sizes(_thresholds(backend)["elementwise"]):
        g, y = _data(n, n), np.maximum(_data(n, n + 1), 0)
        v = View((n,), (1,), 0)
        out = be.relu_backward(_buf(be, g, float32), v, _buf(be, y, float32), v, float32)
        assert np.array_equal(_read(be, out, float32, np.float32), np.where(y > 0, g, 0))
        ref = y + np.float32(-0.25) * g
        yb = _buf(be, y.copy(), float32)
        be.axpy(yb, v, _buf(be, g, float32), v, -0.25, float32)
        assert np.array_equal(_read(be, yb, float32, np.float32), ref)



def test_adam_step(backend, threads):
    """make_adam_step (c: the costly threshold): two steps of AdamW against numpy at float32."""
    be = tg.backends.load(backend)
    f = np.float32
    for n in _sizes(_thresholds(backend)["elementwise"]):
        p, g, m = _data(n, n), _data(n, n + 1), _data(n, n + 2) * f(0.1)
        v = np.abs(_data(n, n + 3))
        bufs = [_buf(be, a.copy(), float32) for a in (p, g, m, v)]
        sbuf = _buf(be, np.zeros(1, f), float32)
        view = View((n,), (1,), 0)
        for t in (1, 2):
            be.adam_step(bufs[0], view, bufs[1], view, bufs[2], view, bufs[3], view, sbuf, View((1,), (1,), 0),
                         float32, 0.01, (0.9, 0.99), 1e-8, 0.1, True, False)
            p = p * f(1 - 0.01 * 0.1)
            m = m + f(0.1) * (g - m)
            v = v * f(0.99) + (f(1 - 0.99) * g) * g
            p = p + (f(-(0.01 / (1 - 0.9 ** t))) * m) / (np.sqrt(v) / f((1 - 0.99 ** t) ** 0.5) + f(1e-8))
        for buf, ref in ((bufs[0], p), (bufs[2], m), (bufs[3], v)):
            np.testing.assert_allclose(_read(be, buf, float32, f), ref, rtol=2e-6, atol=1e-7)
        assert _read(be, sbuf, float32, f).tolist() == [2.0]


def test_gelu(backend, threads):
    """make_gelu (forward and backward; c: the costly threshold) against numpy's float64 formula."""
    be = tg.backends.load(backend)
    for n in _sizes(_thresholds(backend)["elementwise"]):
        x, g = _data(n, n), _data(n, n + 1)
        v = View((n,), (1,), 0)
        x64 = x.astype(np.float64)
        cdf = 0.5 * (1 + np.vectorize(math.erf)(x64 / math.sqrt(2)))
        y = _read(be, be.gelu(_buf(be, x, float32), v, float32), float32, np.float32)
        np.testing.assert_allclose(y, x64 * cdf, rtol=2e-6, atol=2e-7)
        dx = _read(be, be.gelu_backward(_buf(be, g, float32), v, _buf(be, x, float32), v, float32), float32, np.float32)
        ref = g * (cdf + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi))
        np.testing.assert_allclose(dx, ref, rtol=2e-6, atol=2e-7)


def _np_layer_norm(x, w, b, g):
    """Layer norm over rows in float64 and its gradients (dx, dw, db) for output gradient g."""
    mean = x.mean(1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(1, keepdims=True) + 1e-5)
    xh = (x - mean) * rstd
    d = g * w
    dx = rstd * (d - d.mean(1, keepdims=True) - xh * (d * xh).mean(1, keepdims=True))
    return xh * w + b, dx, (g * xh).sum(0), g.sum(0)


@pytest.mark.parametrize("dt", [float64, float32], ids=str)
def test_layer_norm(backend, threads, dt):
    """make_layer_norm and make_layer_norm_backward (rows split; dw / db over column blocks; c's float32
    16-lane rows with 7, 100 and 40,000 columns: tails, 32-column steps, 64-column blocks of dw / db)."""
    be = tg.backends.load(backend)
    npt = np.float64 if dt is float64 else np.float32
    tol = dict(rtol=1e-10, atol=1e-10) if dt is float64 else dict(rtol=1e-4, atol=2e-4)
    for rows, cols in _rows_cols(backend) + [(3, 40_000)]:
        x = _data(rows * cols, rows, shape=(rows, cols)).astype(npt)
        g = _data(rows * cols, rows + 1, shape=(rows, cols)).astype(npt)
        w, b = _data(cols, 5).astype(npt), _data(cols, 6).astype(npt)
        v, vc = View((rows, cols), (cols, 1), 0), View((cols,), (1,), 0)
        out, mean, rstd = be.layer_norm(_buf(be, x, dt), v, _buf(be, w, dt), vc, _buf(be, b, dt), vc, 1e-5, dt)
        dx, dw, db = be.layer_norm_backward(_buf(be, g, dt), v, _buf(be, x, dt), v, mean, rstd,
                                            _buf(be, w, dt), vc, dt, True, True)
        refs = _np_layer_norm(*(a.astype(np.float64) for a in (x, w, b, g)))
        for got, ref in zip((out, dx, dw, db), refs):
            scale = np.sqrt(rows) if ref is refs[2] or ref is refs[3] else 1  # dw / db: sums over rows
            np.testing.assert_allclose(_read(be, got, dt, npt), ref.reshape(-1), rtol=tol["rtol"], atol=tol["atol"] * scale)

@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward(backend, threads, log):
    """make_softmax_backward: the input gradient of (log-)softmax over rows."""
    be = tg.backends.load(backend)
    for rows, cols in _rows_cols(backend):
        g = _data(rows * cols, rows, shape=(rows, cols)).astype(np.float64)
        x = _data(rows * cols, rows + 1, shape=(rows, cols)).astype(np.float64)
        e = np.exp(x - x.max(1, keepdims=True))
        s = e / e.sum(1, keepdims=True)
        y = np.log(s) if log else s
        v = View((rows, cols), (cols, 1), 0)
        out = be.softmax_backward(_buf(be, g, float64), v, _buf(be, y, float64), v, float64, log)
        ref = g - s * g.sum(1, keepdims=True) if log else s * (g - (g * s).sum(1, keepdims=True))
        np.testing.assert_allclose(_read(be, out, float64, np.float64).reshape(rows, cols), ref,
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("grad", [False, True])
def test_cross_entropy(backend, threads, grad):
    """make_cross_entropy: per-row loss, and the logits' gradient."""
    be = tg.backends.load(backend)
    for rows, cols in _rows_cols(backend):
        x = _data(rows * cols, rows, shape=(rows, cols)).astype(np.float64) * 4
        tgt = np.random.default_rng(rows).integers(0, cols, rows).astype(np.int64)
        loss, gbuf = be.cross_entropy(_buf(be, x, float64), View((rows, cols), (cols, 1), 0),
                                      _buf(be, tgt, int64), View((rows,), (1,), 0), float64, grad)
        m = x.max(1, keepdims=True)
        lse = np.log(np.exp(x - m).sum(1)) + m[:, 0]
        np.testing.assert_allclose(_read(be, loss, float64, np.float64), lse - x[np.arange(rows), tgt],
                                   rtol=1e-10, atol=1e-12)
        if grad:
            ref = np.exp(x - lse[:, None])
            ref[np.arange(rows), tgt] -= 1
            np.testing.assert_allclose(_read(be, gbuf, float64, np.float64).reshape(rows, cols), ref,
                                       rtol=1e-10, atol=1e-12)
        else:
            assert gbuf is None


# ---------------------------------------------------------------- matmul and random

# (batch, m, k, n, layout): products on both sides of every GEMM threshold of either backend
MATMUL_CASES = [
    ((), 64, 64, 64, "nn"),         # 2^18: serial everywhere
    ((), 100, 100, 104, "nn"),      # just below 2^20
    ((), 100, 100, 105, "nn"),      # just above 2^20: threaded (C: OpenBLAS in blocks; numba: few rows, column tasks)
    ((), 32, 784, 64, "nn"),        # C: OpenBLAS, split by columns
    ((), 128, 784, 256, "nn"),      # C: own GEMM, split by column panels
    ((), 128, 784, 256, "tn"),
    ((), 1024, 64, 40, "nn"),       # C: own GEMM, split by rows (numba: blocked, from 193 rows)
    ((), 448, 64, 256, "nn"),       # C: own GEMM, A read in place (k <= 256), split by column panels
    ((), 448, 64, 192, "nt"),
    ((), 200, 64, 100, "tn"),       # C: A read in place (transposed), 4 panels: split by rows
    ((), 1024, 784, 10, "nt"),      # C: the dot kernel (x @ w.T, few columns)
    ((), 520, 520, 520, "nt"),      # just above 2^27: OpenBLAS again
    ((8,), 64, 64, 64, "nn"),       # a batch split over threads
    ((3,), 100, 200, 300, "tt"),
    ((128,), 14, 16, 14, "tn"),     # numba: a batch of small products, serial (2^18.6)
    ((96,), 32, 16, 32, "nt"),      # numba: a batch of small products, threaded (2^20.6)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", MATMUL_CASES, ids=lambda c: f"{c[0]}x{c[1]}x{c[2]}x{c[3]}{c[4]}")
def test_matmul_both_sides_of_thresholds(backend, threads, case, dtype):
    """make_gemm (numba) and csrc/blas.c + gemm.c (C): every split of the product."""
    batch, m, k, n, layout = case
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((*batch, k, m) if layout[0] == "t" else (*batch, m, k)).astype(dtype)
    b = rng.standard_normal((*batch, n, k) if layout[1] == "t" else (*batch, k, n)).astype(dtype)
    ta, tb = tg.tensor(a), tg.tensor(b)
    ta = ta.transpose(-1, -2) if layout[0] == "t" else ta
    tb = tb.transpose(-1, -2) if layout[1] == "t" else tb
    an = np.swapaxes(a, -1, -2) if layout[0] == "t" else a
    bn = np.swapaxes(b, -1, -2) if layout[1] == "t" else b
    ref = an.astype(np.float64) @ bn.astype(np.float64)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose((ta @ tb).numpy(), ref, rtol=tol, atol=tol * math.sqrt(k) * 4)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_random_streams_agree_across_builds(backend, threads, dtype):
    """make_random: a draw of n numbers starts with the draw of fewer (same seed), whichever
    build (serial or parallel) made each."""
    sizes = _sizes(_thresholds(backend)["elementwise"])
    for draw in (tg.rand, tg.randn):
        tg.manual_seed(7)
        small = draw(sizes[0], dtype=dtype).numpy()
        for n in sizes[1:]:
            tg.manual_seed(7)
            big = draw(n, dtype=dtype).numpy()
            assert np.array_equal(big[:small.size], small)
        assert np.isfinite(big).all()
        if draw is tg.rand:
            assert big.min() >= 0 and big.max() < 1 and abs(big.mean() - 0.5) < 0.01
        else:
            assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02


# ---------------------------------------------------------------- convolution and pooling

def _np_conv2d(x, w, pad):
    """Cross-correlation with zero padding `pad`, stride 1 (numpy, float64)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # (N, C, OH, OW, kh, kw)
    return np.einsum("nchwij,ocij->nohw", win, w)


# (n, c, oc, hw, k, pad): below the C pool's 8192 multiply-adds, and above numba's 2^20 with one
# sample, three (uneven chunks on 2 threads) and eight
CONV_SIZES = [(2, 1, 2, 4, 3, 1), (1, 8, 16, 32, 3, 1), (3, 4, 8, 24, 5, 2), (8, 6, 16, 14, 5, 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_kernels_both_sides_of_thresholds(backend, threads, dtype):
    """make_conv2d and make_conv2d_backward (numba), tg_conv2d / tg_conv2d_backward (C): forward,
    input, weight and bias gradients, samples split over the threads."""
    for n, c, oc, hw, k, pad in CONV_SIZES:
        rng = np.random.default_rng(n + c + oc)
        x, w, b = rng.standard_normal((n, c, hw, hw)), rng.standard_normal((oc, c, k, k)), rng.standard_normal(oc)
        X, W, B = (tg.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b))
        out = tg.nn.functional.conv2d(X, W, B, padding=pad)
        g = rng.standard_normal(out.shape)
        out.backward(tg.tensor(g.astype(dtype)))
        ref = _np_conv2d(x, w, pad) + b[None, :, None, None]
        # the input gradient is the full correlation of g with the flipped weight; the weight's,
        # the correlation of the padded input with g
        gx = _np_conv2d(g, np.flip(w, (2, 3)).swapaxes(0, 1), k - 1 - pad)
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        gw = np.einsum("ncijhw,nohw->ocij", np.lib.stride_tricks.sliding_window_view(xp, g.shape[2:], axis=(2, 3)), g)
        tol = 2e-4 if dtype == "float32" else 1e-10
        for got, want in ((out, ref), (X.grad, gx), (W.grad, gw), (B.grad, g.sum((0, 2, 3)))):
            np.testing.assert_allclose(got.detach().numpy(), want, rtol=tol, atol=tol * c * k * k)


@pytest.mark.parametrize("shape", [(2, 2, 4, 6), (8, 16, 32, 32)], ids=["serial", "parallel"])
def test_max_pool_kernels_both_sides_of_thresholds(backend, threads, shape):
    """make_max_pool2d and make_max_pool2d_backward (numba), tg_max_pool2d / tg_max_pool2d_backward
    (C): values, flat indices and the gradient of 2x2 pooling, planes split over the threads."""
    x = np.random.default_rng(3).standard_normal(shape)
    X = tg.tensor(x, requires_grad=True)
    out, idx = tg.nn.functional.max_pool2d(X, 2, return_indices=True)
    n, c, h, w = shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    am = win.argmax(-1)
    rows = np.arange(h // 2)[:, None] * 2 + am // 2
    cols = np.arange(w // 2)[None, :] * 2 + am % 2
    assert np.array_equal(out.detach().numpy(), win.max(-1))
    assert np.array_equal(idx.numpy(), rows * w + cols)
    g = np.random.default_rng(4).standard_normal(out.shape)
    out.backward(tg.tensor(g))
    ref = np.zeros((n * c, h * w))
    np.add.at(ref, (np.arange(n * c)[:, None], (rows * w + cols).reshape(n * c, -1)), g.reshape(n * c, -1))
    assert np.array_equal(X.grad.numpy(), ref.reshape(shape))


# ---------------------------------------------------------------- coverage

# every numba kernel factory with a serial and a parallel build -> the tests above that drive it
DRIVERS = {
    "make_unary1": "test_unary_flat_and_strided",
    "make_unaryN": "test_unary_nd_rows_and_transposed",
    "make_binary1": "test_binary_flat",
    "make_binary1_inplace": "test_binary_inplace",
    "make_binaryN": "test_binary_nd_broadcast_and_transposed",
    "make_where1": "test_where_flat_and_broadcast",
    "make_whereN": "test_where_flat_and_broadcast",
    "make_reduce_rows": "test_sum_max_min_rows_cols_and_full",
    "make_reduce_cols": "test_sum_max_min_rows_cols_and_full",
    "make_reduceN": "test_reduce_over_inner_dims_of_3d",
    "make_arg_reduce": "test_argmax_argmin_ties_and_nan",
    "make_softmax": "test_softmax_rows",
    "make_relu_backward": "test_relu_backward_and_axpy",
    "make_axpy": "test_relu_backward_and_axpy",
    "make_softmax_backward": "test_softmax_backward",
    "make_cross_entropy": "test_cross_entropy",
    "make_gemm": "test_matmul_both_sides_of_thresholds",
    "make_gemm_small": "test_matmul_both_sides_of_thresholds",
    "make_gemm_cols": "test_matmul_both_sides_of_thresholds",
    "make_random": "test_random_streams_agree_across_builds",
    "make_conv2d": "test_conv2d_kernels_both_sides_of_thresholds",
    "make_conv2d_backward": "test_conv2d_kernels_both_sides_of_thresholds",
    "make_max_pool2d": "test_max_pool_kernels_both_sides_of_thresholds",
    "make_max_pool2d_backward": "test_max_pool_kernels_both_sides_of_thresholds",
    "make_adam_step": "test_adam_step",
    "make_gelu": "test_gelu",
    "make_layer_norm": "test_layer_norm",
    "make_layer_norm_backward": "test_layer_norm",
}


def test_every_numba_kernel_factory_is_driven_here(backend):
    if backend != "numba":
        pytest.skip("checked once, with the numba backend")
    from tinygrad_like.backends import (numba_conv, numba_elementwise, numba_fused, numba_matmul, numba_misc,
                                        numba_reduce)
    found = set()
    for mod in (numba_elementwise, numba_fused, numba_matmul, numba_misc, numba_reduce, numba_conv):
        for name, make in vars(mod).items():
            if name.startswith("make_") and inspect.isfunction(make) and make.__module__ == mod.__name__ \
                    and "par" in inspect.signature(make).parameters:
                found.add(name)
    assert found == set(DRIVERS), f"add a test for {sorted(found - set(DRIVERS))}, " \
                                  f"drop {sorted(set(DRIVERS) - found)}"
    assert all(callable(globals().get(t)) for t in DRIVERS.values())
