"""The numba backend's own kernels, directly: matmul tiles and packing, the vectorized exp,
SIMD sums, transposed elementwise staging. Run once, when the numba backend is selected."""
from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinygrad_like as tg
from tinygrad_like.view import View

BACKEND = "numba"  # tests/conftest.py: these run once, on the numba backend, when it is selected


def T(a: np.ndarray) -> tg.Tensor:
    return tg.Tensor(a)


_MICRO_RUNNERS: dict = {}


def _micro_runner(mr: int, nv: int):
    """A jitted caller of the mr x nv micro-kernel, kept for the whole session: a collected
    dispatcher leaves dead weak proxies in gc.get_objects() (test_nn's memory test walks them)."""
    if (mr, nv) not in _MICRO_RUNNERS:
        from numba import njit
        from tinygrad_like.backends import numba_matmul as mm
        micro = mm._build_micro(mr, nv)

        @njit
        def run(ap, bp, kc, c, first):
            micro(ap, 0, bp, 0, kc, c, 0, bp.size // kc, first)

        _MICRO_RUNNERS[mr, nv] = run
    return _MICRO_RUNNERS[mr, nv]


@pytest.mark.parametrize("mr,nv", [(6, 2), (12, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_micro_kernels_of_both_tile_shapes(mr, nv, dtype):
    """Both generated micro-kernels (AVX2's 6x2 and AVX-512's 12x2), whichever the CPU uses:
    a store (`first`) and an accumulate of sum_p a[p, r] * b[p, j] against numpy."""
    from numba.core import types
    from tinygrad_like.backends.numba_simd import LANES
    nr = nv * LANES[types.float32 if dtype == np.float32 else types.float64]
    run = _micro_runner(mr, nv)
    rng = np.random.default_rng(mr)
    kc = 7
    ap = rng.standard_normal(kc * mr).astype(dtype)
    bp = rng.standard_normal(kc * nr).astype(dtype)
    ref = ap.reshape(kc, mr).T.astype(np.float64) @ bp.reshape(kc, nr).astype(np.float64)
    c = np.full(mr * nr, np.nan, dtype)
    run(ap, bp, kc, c, True)
    np.testing.assert_allclose(c.reshape(mr, nr), ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    run(ap, bp, kc, c, False)
    np.testing.assert_allclose(c.reshape(mr, nr), 2 * ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_op_codes_follow_the_protocol_table():
    """The kernels' op codes are protocol.py's; numba's own extra unary ops come after them."""
    from tinygrad_like.backends import numba_elementwise as ew, numba_reduce as red, protocol
    assert {n: ew.UNARY_CODES[n] for n in protocol.UNARY_OPS} == protocol.UNARY_CODES
    assert set(ew.UNARY_CODES) - set(protocol.UNARY_OPS) == {"copy", "tobool", "toint"}
    assert (red.SUM, red.MAX, red.MIN) == tuple(protocol.REDUCE_CODES[n] for n in ("sum", "max", "min"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 3, 7), (13, 17, 33), (12, 256, 32), (37, 300, 45), (130, 520, 70)])
def test_matmul_layouts_and_edges(dtype, ta, tb, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    x = T(a).T if ta else T(a)
    y = T(b).T if tb else T(b)
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    got = (x @ y).numpy()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * math.sqrt(k) * 4)


def test_matmul_batched_broadcast_and_nan():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 20, 30)).astype(np.float32)
    b = rng.standard_normal((30, 40)).astype(np.float32)
    np.testing.assert_allclose((T(a) @ T(b)).numpy(), a @ b, rtol=1e-4, atol=1e-4)
    a[1, 2, 3] = np.nan
    b[4, 5] = np.inf
    got = (T(a) @ T(b)).numpy()
    with np.errstate(invalid="ignore"):
        ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and np.array_equal(np.isinf(got), np.isinf(ref))


@pytest.mark.parametrize("case", ["contiguous", "unit_dims", "one_row", "permuted", "sliced_rows", "transposed",
                                  "b_batched", "zero_batch"])
@pytest.mark.parametrize("big", [False, True], ids=["serial", "parallel"])
def test_matmul_batch_folded_into_rows_or_not(case, big):
    """x @ w with w broadcast over x's batch: one GEMM over every row when the batch and row dims
    of x are one evenly strided run, the batch loop otherwise (size-1 dims, odd strides)."""
    from tinygrad_like.backends import numba_backend as nb
    rng = np.random.default_rng(len(case))
    bsz, t, k, n = (4, 70, 64, 64) if big else (3, 5, 7, 6)
    assert (bsz * t * k * n >= nb.PAR_MATMUL) == big
    x = rng.standard_normal((bsz, t, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    tx, tw = T(x), T(w)
    if case == "unit_dims":
        x, tx = x[:, None, :, None, :][:, :, :, 0], tx[:, None, :, None, :][:, :, :, 0]
    elif case == "one_row":
        x, tx = x[:, :1], tx[:, :1]
    elif case == "permuted":  # (t, b, k) memory seen as (b, t, k): rows do not form one run
        x2 = rng.standard_normal((t, bsz, k)).astype(np.float32)
        x, tx = x2.transpose(1, 0, 2), T(x2).permute(1, 0, 2)
    elif case == "sliced_rows":  # every other row: still one evenly strided run
        x2 = rng.standard_normal((bsz, 2 * t, k)).astype(np.float32)
        x, tx = x2[:, ::2], T(x2)[:, ::2]
    elif case == "transposed":  # column-major rows of x
        x2 = rng.standard_normal((k, bsz * t)).astype(np.float32)
        x, tx = x2.T.reshape(bsz, t, k), T(x2).T.reshape(bsz, t, k)
    elif case == "b_batched":
        w = rng.standard_normal((x.shape[0], k, n)).astype(np.float32)
        tw = T(w)
    elif case == "zero_batch":
        x, tx = x[:0], tx[:0]
    ref = x.astype(np.float64) @ w.astype(np.float64)
    got = (tx @ tw).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * math.sqrt(k) * 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("batch,m,k,n", [((2,), 1, 1, 1), ((3, 2), 14, 16, 14), ((5,), 8, 3, 16), ((2,), 17, 5, 33),
                                         ((4, 33), 16, 16, 64), ((130,), 14, 14, 16), ((3,), 9, 0, 4)])
def test_matmul_batch_of_small_products(dtype, ta, tb, batch, m, k, n):
    """make_gemm_small: partial row tiles and column vectors, several vectors per row, serial and
    threaded builds (the last batches reach PAR_MATMUL), k = 0, NaN propagation."""
    from tinygrad_like.backends import numba_backend as nb, numba_matmul as mm
    assert m * n * k <= mm.SMALL_MACS
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal(batch + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.standard_normal(batch + ((n, k) if tb else (k, n))).astype(dtype)
    if a.size and b.size:
        a.reshape(-1)[a.size // 2] = np.nan
    x = T(a).transpose(-1, -2) if ta else T(a)
    y = T(b).transpose(-1, -2) if tb else T(b)
    an = np.swapaxes(a, -1, -2) if ta else a
    bn = np.swapaxes(b, -1, -2) if tb else b
    with np.errstate(invalid="ignore"):
        ref = an.astype(np.float64) @ bn.astype(np.float64)
    got = (x @ y).numpy()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * math.sqrt(max(k, 1)) * 4)
    if batch == (4, 33):
        assert math.prod(batch) * m * n * k >= nb.PAR_MATMUL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nn", "nt", "tn"])
@pytest.mark.parametrize("m,k,n,tasks", [(64, 784, 128, 2), (64, 128, 784, 2), (13, 300, 70, 3), (1, 5, 1, 2),
                                         (192, 64, 33, 8), (7, 0, 5, 2), (25, 257, 64, 1)])
def test_few_rows_gemm_equals_the_blocked_gemm_bit_for_bit(dtype, layout, m, k, n, tasks):
    """make_gemm_cols (column blocks, each task packing A and its own B panels) sums in the same
    order as make_gemm: the same bits, for any task count (more tasks than B panels too), row
    and column tails, several k blocks, k = 0, transposed operands, NaN propagation."""
    from tinygrad_like.backends import numba_matmul as mm
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((k, m) if layout == "tn" else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if layout == "nt" else (k, n)).astype(dtype)
    if a.size:
        a.reshape(-1)[a.size // 3] = np.nan
    sam, sak = (1, m) if layout == "tn" else (k, 1)
    sbk, sbn = (1, k) if layout == "nt" else (n, 1)
    offs = np.zeros(1, np.int64)
    got = np.full(m * n, 7, dtype)
    want = np.full(m * n, 7, dtype)
    mm.make_gemm_cols(True)(a.reshape(-1), offs, sam, sak, b.reshape(-1), offs, sbk, sbn, got, m, n, k, tasks)
    mm.make_gemm(False)(a.reshape(-1), offs, sam, sak, b.reshape(-1), offs, sbk, sbn, want, m, n, k, 1)
    np.testing.assert_array_equal(got, want)
    an = a.T if layout == "tn" else a
    bn = b.T if layout == "nt" else b
    with np.errstate(invalid="ignore"):
        ref = (an.astype(np.float64) @ bn.astype(np.float64)).reshape(-1)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * math.sqrt(max(k, 1)) * 4)


def test_matmul_of_few_rows_takes_the_column_kernel():
    """An MLP layer's product (batch 64) above PAR_MATMUL runs make_gemm_cols and gives the
    blocked GEMM's bits; one of more rows than MC_PANELS panels does not."""
    from tinygrad_like.backends import numba_backend as nb, numba_matmul as mm
    rng = np.random.default_rng(3)
    for m in (64, mm.MR * mm.MC_PANELS + 1):
        x = rng.standard_normal((m, 784)).astype(np.float32)
        w = rng.standard_normal((128, 784)).astype(np.float32)
        kernel = nb._matmul_kernel(View.contiguous((m, 784)), View((784, 128), (1, 784), 0), tg.float32)
        assert (kernel.__name__ == "few_rows") == (m <= mm.MR * mm.MC_PANELS)
        got = (T(x) @ T(w).T).numpy().reshape(-1)
        want = np.empty(m * 128, np.float32)
        offs = np.zeros(1, np.int64)
        mm.make_gemm(False)(x.reshape(-1), offs, 784, 1, w.reshape(-1), offs, 1, 784, want, m, 128, 784, 1)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("layout", ["contiguous", "expanded", "transposed"])
def test_gather_scatter_add_and_index_check_walk_rows(dim, layout):
    """gather, scatter_add and first_bad_index step along the last dim from each row's start:
    an index expanded along it (embedding), strided, or varying along dim itself."""
    from tinygrad_like.backends import numba_fused as fu
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    shape = (3, 4, 5)
    idx = rng.integers(0, x.shape[dim], shape)
    if layout == "expanded":  # one index per row, expanded along the last dim (stride 0)
        idx = np.broadcast_to(idx[:, :, :1], shape)
        ti = T(idx[:, :, :1].copy()).expand(*shape)
    elif layout == "transposed":  # column-major index
        ti = T(idx.transpose(2, 1, 0).copy()).permute(2, 1, 0)
    else:
        ti = T(idx.copy())
    ref = np.empty(shape, np.float32)
    for p in np.ndindex(*shape):
        q = list(p)
        q[dim] = idx[p]
        ref[p] = x[tuple(q)]
    assert np.array_equal(T(x).gather(dim, ti).numpy(), ref)
    src = rng.standard_normal(shape).astype(np.float32)
    ref = np.zeros_like(x)
    for p in np.ndindex(*shape):
        q = list(p)
        q[dim] = idx[p]
        ref[tuple(q)] += src[p]
    got = tg.zeros(*x.shape).scatter_add(dim, ti, T(src)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    bad = np.array(idx)
    bad[2, 1, 3] = x.shape[dim]
    flat = np.ascontiguousarray(bad).reshape(-1)
    assert fu.first_bad_index(flat, 0, (20, 5, 1), shape, x.shape[dim]) == 2 * 20 + 1 * 5 + 3
    assert fu.first_bad_index(flat, 0, (20, 5, 1), shape, x.shape[dim] + 1) == -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cols", [5, 14, 40])
def test_softmax_masked_and_far_below_the_max(dtype, cols):
    """Causal-mask rows (-inf past the diagonal) and terms whose exp is below the normal range:
    softmax gives those 0 (within any tolerance: they are < 1.7e-38 in float32), log-softmax the
    exact shifted values; rows cross the kernel's row blocks."""
    from tinygrad_like.backends import numba_reduce as red
    rows = red.SOFTMAX_BLOCK // cols * 2 + 3
    rng = np.random.default_rng(cols)
    a = rng.standard_normal((rows, cols)) * 3
    a[np.triu_indices(cols, 1)[0] % rows, np.triu_indices(cols, 1)[1]] = -np.inf
    a[:, -1] = np.where(np.arange(rows) % 3 == 0, -95.0, a[:, -1])  # exp(-95) is subnormal in float32
    a[::7, -1] = -800.0  # below float64's range too
    a = a.astype(dtype)
    a64 = a.astype(np.float64)
    m = a64.max(1, keepdims=True)
    e = np.exp(a64 - m)
    for log in (False, True):
        got = (T(a).log_softmax(1) if log else T(a).softmax(1)).numpy()
        ref = (a64 - m) - np.log(e.sum(1, keepdims=True)) if log else e / e.sum(1, keepdims=True)
        assert np.array_equal(np.isneginf(got), np.isneginf(ref))
        fin = np.isfinite(ref)
        tol = 2e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got[fin], ref[fin], rtol=tol, atol=tol)
        if not log:
            assert np.all(got[np.isneginf(a)] == 0)


def _minmax_sizes(dtype) -> list:
    """Row lengths on both sides of the SIMD max/min kernel's edges: one vector, the four-vector
    unrolled step, and the overlapping ragged end."""
    from tinygrad_like.backends.numba_simd import LANES
    from numba import types
    L = LANES[types.float32 if dtype == np.float32 else types.float64]
    return sorted({1, 2, L - 1, L, L + 1, 2 * L + 3, 4 * L - 1, 4 * L, 4 * L + 1, 5 * L + 3, 8 * L + L - 1})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_max_min_propagate_nan_from_every_lane(dtype, op):
    """The SIMD max/min (four vector accumulators, a ragged end that overlaps the last vector)
    against numpy: a NaN at every position of rows of every edge length gives NaN, as does a NaN
    next to an inf of either sign; +-inf win or lose where they should."""
    rng = np.random.default_rng(5)
    for n in _minmax_sizes(dtype):
        x = rng.standard_normal(n).astype(dtype)
        assert getattr(T(x), op)().item() == getattr(np, op)(x)
        for p in range(n):
            for special in (np.nan, np.inf, -np.inf):
                y = x.copy()
                y[p] = special
                assert np.array_equal(getattr(T(y), op)().numpy(), getattr(np, op)(y), equal_nan=True), (n, p, special)
            y = x.copy()
            y[p] = np.nan
            y[(p + 1) % n] = np.inf if op == "amax" else -np.inf
            assert math.isnan(getattr(T(y), op)().item()) or n == 1, (n, p)
        y = np.full(n, -np.inf if op == "amax" else np.inf, dtype)
        assert getattr(T(y), op)().item() == y[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_max_min_rows_and_columns_with_nan(dtype, op):
    """dim 1 (a SIMD row walk each) and dim 0 (ROWS_PER_PASS rows at a time down vector-wide
    column blocks, the columns past the last full vector one by one) with a NaN in one place of
    each of several rows and columns; also through a transposed and a step-sliced view, and on
    both sides of PAR_REDUCE."""
    from tinygrad_like.backends import numba_backend as nb
    from tinygrad_like.backends import numba_reduce as red
    rng = np.random.default_rng(6)
    rp = red.ROWS_PER_PASS
    widths = _minmax_sizes(dtype)
    for rows in (1, 2, rp, rp + 1, 2 * rp + 3):
        for cols in widths:
            x = rng.standard_normal((rows, cols)).astype(dtype)
            x[rows // 2, cols // 3] = np.nan
            x[rows - 1, cols - 1] = np.nan
            x[0, 0] = np.inf if op == "amin" else -np.inf
            for d in (0, 1):
                want = getattr(np, op)(x, axis=d)
                assert np.array_equal(getattr(T(x), op)(d).numpy(), want, equal_nan=True), (rows, cols, d)
                assert np.array_equal(getattr(T(x.T.copy()).T, op)(d).numpy(), want, equal_nan=True)
    big = rng.standard_normal((300, 257)).astype(dtype)  # 77,100 elements: the parallel builds
    assert big.size >= nb.PAR_REDUCE
    big[7, 100] = big[250, 256] = np.nan
    tb = T(big)
    for v, tv in ((big, tb), (big[::2, 1::2], tb[::2, 1::2]), (big[:, 5:200], tb[:, 5:200])):
        for d in (0, 1, None):
            want = getattr(np, op)(v, axis=d)
            got = getattr(tv, op)() if d is None else getattr(tv, op)(d)
            assert np.array_equal(got.numpy(), want, equal_nan=True), (v.shape, d)


def test_matmul_empty_k_gives_zeros():
    a = T(np.zeros((3, 0), np.float32))
    b = T(np.zeros((0, 4), np.float32))
    assert np.array_equal((a @ b).numpy(), np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_within_one_ulp_and_specials(dtype):
    lo, hi = (-87.0, 88.0) if dtype == np.float32 else (-700.0, 700.0)
    x = np.concatenate([np.linspace(lo, hi, 100_003), np.linspace(-2, 2, 10_001)]).astype(dtype)
    got = T(x).exp().numpy()
    ref = np.exp(x.astype(np.float64)).astype(dtype) if dtype == np.float32 else np.exp(x)
    ulps = np.abs(got.astype(np.float64) - ref) / np.spacing(ref).astype(np.float64)
    assert ulps.max() <= 1.0
    big = 89.0 if dtype == np.float32 else 710.0
    sp = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, big, -big * 2, 1e30, -1e30], dtype)
    with np.errstate(over="ignore"):
        expect = np.exp(sp)
    got = T(sp).exp().numpy()
    assert np.array_equal(got, expect, equal_nan=True)
    # results in the subnormal range stay within one subnormal step of libm's
    tiny = np.linspace(-103.9, -87.4, 1001).astype(np.float32) if dtype == np.float32 else \
        np.linspace(-745.0, -708.5, 1001)
    d = np.abs(T(tiny).exp().numpy().astype(np.float64) - np.exp(tiny.astype(np.float64)).astype(dtype))
    assert d.max() <= np.finfo(dtype).smallest_subnormal


def test_float32_sum_of_1e7_is_accurate():
    rng = np.random.default_rng(2)
    x = (rng.random(10_000_000) + 0.5).astype(np.float32)
    ref = x.astype(np.float64).sum()
    assert abs(T(x).sum().item() - ref) / ref < 1e-6
    m = x[:4096 * 2048].reshape(4096, 2048)
    for dim in (0, 1):
        ref = m.astype(np.float64).sum(dim)
        np.testing.assert_allclose(T(m).sum(dim).numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (8, 8), (65, 130), (200, 33), (7, 300)])
def test_transposed_operands_stage_correctly(dtype, shape):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    r, c = shape
    x = (rng.standard_normal((r, c)) * 10).astype(dtype)
    y = (rng.standard_normal((c, r)) * 10).astype(dtype)
    v = (rng.standard_normal(r) * 10).astype(dtype)
    assert np.array_equal(T(x).T.contiguous().numpy(), x.T)
    if dtype != np.bool_:
        assert np.array_equal((T(x).T + T(v)).numpy(), x.T + v)
        assert np.array_equal((T(x).T * T(y)).numpy(), x.T * y)
        assert np.array_equal((T(x).T - T(y.T).T).numpy(), x.T - y)
    if dtype in (np.float32, np.float64):
        np.testing.assert_allclose(T(x).T.exp().numpy(), np.exp(x.T.astype(np.float64)).astype(dtype),
                                   rtol=2e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_step_sliced_operands_gather_their_even_elements(dtype):
    """Operands with inner stride 2 (`x[:, ::2]`) against stride 2, 1 and 0 on either side: rows
    whose length is on both sides of the vector width and of STEP2_CHUNK, rows ending at the
    buffer's last element, NaN/inf among the values, in the serial and the parallel build."""
    from tinygrad_like.backends import numba_backend as nb
    from tinygrad_like.backends import numba_elementwise as ew
    from tinygrad_like.backends.numba_simd import LANES
    from numba import types
    L = LANES.get(types.float32 if dtype == np.float32 else types.float64, 4)
    rng = np.random.default_rng(8)
    widths = sorted({1, L - 1, L, L + 1, 3 * L + 2, ew.STEP2_CHUNK - 1, ew.STEP2_CHUNK + 1, 2 * ew.STEP2_CHUNK + L})
    for rows, cols in [(3, c) for c in widths] + [(130, 1000)]:
        x = (rng.standard_normal((rows, 2 * cols - 1)) * 100).astype(dtype)  # x[:, ::2] ends at the buffer's end
        y = (rng.standard_normal((rows, 2 * cols)) * 100).astype(dtype)
        if dtype != np.int64:
            x[0, 0], x[-1, -1], y[1, -1] = np.nan, np.inf, -np.inf
        X, Y = T(x), T(y)
        pairs = [(X[:, ::2], Y[:, 1::2], x[:, ::2], y[:, 1::2]), (X[:, ::2], Y[:, :cols], x[:, ::2], y[:, :cols]),
                 (Y[:, :cols], X[:, ::2], y[:, :cols], x[:, ::2]), (X[:, ::2], Y[:, :1], x[:, ::2], y[:, :1]),
                 (Y[:, 1:2], X[:, ::2], y[:, 1:2], x[:, ::2]), (X[:, ::2], Y[0, ::2], x[:, ::2], y[0, ::2])]
        for a, b, na, nb_ in pairs:
            assert np.array_equal((a - b).numpy(), na - nb_, equal_nan=True), (rows, cols)
            assert np.array_equal((a < b).numpy(), na < nb_)
    assert 130 * 1000 >= nb.PAR_ELEMWISE


@pytest.mark.parametrize("op", ["exp", "sigmoid", "neg", "tanh", "copy", "toint"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_parallel_build_calls_the_same_row_loop(op, dtype):
    """make_unary1's parallel build runs each task through `un_chunk` (a function of its own, one
    build per op code): bit for bit the serial build's results, specials included, on both sides
    of a task boundary (PAR_CHUNK) and over a strided view."""
    from tinygrad_like.backends import numba_elementwise as ew
    from tinygrad_like.backends.numba_index import PAR_CHUNK
    code = ew.UNARY_CODES[op]
    ser, par = ew.make_unary1(code, False), ew.make_unary1(code, True)
    rng = np.random.default_rng(9)
    for n in (1, PAR_CHUNK - 1, 2 * PAR_CHUNK + 17):
        x = (rng.standard_normal(2 * n + 4) * 50).astype(dtype)  # the offset 3 and stride 2 stay inside
        x[: min(n, 5)] = np.array([np.nan, np.inf, -np.inf, -0.0, 1e30], dtype)[: min(n, 5)]
        for sx in (1, 2, 0):
            out_type = np.int64 if op == "toint" else dtype
            want, got = np.empty(n, out_type), np.empty(n, out_type)
            if op == "toint":
                x = np.nan_to_num(x, posinf=0, neginf=0)
            ser(x, 3 if n > 1 else 0, sx, want, n)
            par(x, 3 if n > 1 else 0, sx, got, n)
            assert np.array_equal(got, want, equal_nan=True), (n, sx)


def test_every_kernel_build_has_its_own_disk_cache_entry():
    """numba keys its disk cache on a kernel's bytecode and closure values, not on njit flags:
    a factory argument the kernel does not close over (`par`, which only sets parallel=) makes
    the serial and parallel builds share one cache entry, and whichever compiled first then
    runs for both (a parallel kernel on one thread, or a serial call waking the pool)."""
    import inspect
    from tinygrad_like.backends import (numba_elementwise, numba_fused, numba_matmul, numba_misc,
                                        numba_reduce)
    seen = 0
    for mod in (numba_elementwise, numba_fused, numba_matmul, numba_misc, numba_reduce):
        for name, make in vars(mod).items():
            if not (name.startswith("make_") and inspect.isfunction(make) and make.__module__ == mod.__name__):
                continue
            params = list(inspect.signature(make).parameters)
            kernel = make(*(0 if p == "opc" else True for p in params))  # compiles nothing
            missing = set(params) - set(kernel.py_func.__code__.co_freevars)
            assert not missing, f"{mod.__name__}.{name}: the kernel must name {sorted(missing)} in its body"
            seen += 1
    assert seen >= 15


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("shape,dims", [((3, 64, 64, 32), (1, 3)), ((2, 3, 4, 5), (1, 3))])
def test_generic_reduction_serial_and_parallel_builds(op, shape, dims):
    """The N-D reduction kernel on both sides of PAR_REDUCE (the first shape takes the parallel
    build, whose prange index feeds the shared offset helper)."""
    from tinygrad_like.backends import numba_backend as nb
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert (x.size >= nb.PAR_REDUCE) == (x.size > 1000)
    got = getattr(T(x), op)(dims) if op == "sum" else getattr(T(x), op)(dims[1]).__getattribute__(op)(dims[0])
    want = getattr(x.astype(np.float64), op)(axis=dims)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("env,seen", [({}, "default"), ({"GOMP_SPINCOUNT": "7"}, "7"),
                                      ({"OMP_WAIT_POLICY": "passive"}, None)])
def test_pool_starts_with_a_bounded_omp_spin_the_user_can_override(monkeypatch, env, seen):
    """GOMP_SPINCOUNT is set only while numba loads its pool, and only where the user set neither
    it nor OMP_WAIT_POLICY; the environment is left as it was, also when the start fails."""
    from tinygrad_like.backends import numba_pool as nb
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(nb, "_gomp_loaded", lambda: False)
    monkeypatch.setattr(nb, "_choose_tbb", lambda: False)  # the omp layer's start
    calls = []

    def fake_set_num_threads(n: int) -> None:
        calls.append((n, os.environ.get("GOMP_SPINCOUNT")))
        raise RuntimeError("pool failed")

    monkeypatch.setattr(nb.numba, "set_num_threads", fake_set_num_threads)
    with pytest.raises(RuntimeError, match="pool failed"):
        nb.start_pool(2)
    assert calls == [(2, nb.GOMP_SPIN if seen == "default" else seen)]
    assert {k: os.environ.get(k) for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} == \
        {"GOMP_SPINCOUNT": env.get("GOMP_SPINCOUNT"), "OMP_WAIT_POLICY": env.get("OMP_WAIT_POLICY")}


def test_pool_leaves_an_already_loaded_libgomp_alone(monkeypatch):
    from tinygrad_like.backends import numba_pool as nb
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(nb, "_gomp_loaded", lambda: True)
    monkeypatch.setattr(nb, "_choose_tbb", lambda: False)
    calls = []
    monkeypatch.setattr(nb.numba, "set_num_threads", lambda n: calls.append(os.environ.get("GOMP_SPINCOUNT")))
    nb.start_pool(1)
    assert calls == [None]


def test_omp_pool_in_a_fresh_process_sees_the_spin_and_the_environment_does_not():
    """With numba's omp layer, libgomp is loaded by the backend's pool start (so it read the bound
    spin) and the variable is gone afterwards; the parallel kernel's result is right."""
    code = textwrap.dedent("""
        import os, numba
        import tinygrad_like as tg
        from tinygrad_like.backends import numba_pool as nb
        assert not nb._gomp_loaded()
        x = tg.arange(200_000, dtype=tg.float32, backend="numba")
        y = (x + x).numpy()
        assert y[-1] == 399_998.0, y[-1]
        print(numba.threading_layer(), nb._gomp_loaded(), "GOMP_SPINCOUNT" in os.environ)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(NUMBA_THREADING_LAYER="omp", TG_NUM_THREADS="2")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["omp", "True", "False"]


def _fresh_process(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT")}
    full.update(TG_NUM_THREADS="2", **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full, timeout=300)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_pool_is_tbb_when_installed_also_after_torch_loaded_its_libgomp():
    """With the `tbb` package installed and no layer chosen, numba's pool is TBB's, also when
    PyTorch (whose libgomp numba's omp layer would share) was imported first; parallel kernels
    give the right result, also in a child forked after them."""
    from tinygrad_like.backends import numba_pool as nb
    if nb._tbb_library() is None:
        pytest.skip("the tbb package is not installed")
    if nb.usable_cpus() < 2:
        pytest.skip("one CPU: the pool is OpenMP's (numba_pool._one_cpu_layer)")
    p = _fresh_process("""
        import os, torch, numba
        import tinygrad_like as tg
        x = tg.arange(200_000, dtype=tg.float32, backend="numba")
        assert (x + x).numpy()[-1] == 399_998.0
        pid = os.fork()
        if pid == 0:
            os._exit(0 if (x * 2).numpy()[-1] == 399_998.0 else 3)
        _, status = os.waitpid(pid, 0)
        print(numba.threading_layer(), os.WEXITSTATUS(status))
    """)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["tbb", "0"]


def test_pool_keeps_the_users_threading_layer():
    p = _fresh_process("""
        import numba
        import tinygrad_like as tg
        x = tg.arange(200_000, dtype=tg.float32, backend="numba")
        assert (x + x).numpy()[-1] == 399_998.0
        print(numba.threading_layer())
    """, NUMBA_THREADING_LAYER="workqueue")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["workqueue"]


@pytest.mark.parametrize("case", ["plain", "parallel", "folded", "batched", "small_products", "transposed"])
def test_replay_kernel_matmul_equals_the_method_bit_for_bit(case):
    """replay_kernel('matmul', args), which tg.jit replays call, runs the method's GEMM plan for
    every kind of view: same bits as matmul itself, on fresh buffers of the captured layout."""
    from tinygrad_like.backends import numba_backend as nb
    from tinygrad_like.dtypes import float32
    from tinygrad_like.view import View
    be = nb.NumbaBackend()
    shapes = {"plain": ((5, 7), (7, 6)), "parallel": ((128, 128), (128, 128)), "folded": ((3, 5, 7), (7, 6)),
              "batched": ((3, 5, 7), (3, 7, 6)), "small_products": ((4, 8, 16), (4, 16, 8)),
              "transposed": ((9, 4), (6, 9))}
    sa, sb = shapes[case]
    va, vb = View.contiguous(sa), View.contiguous(sb)
    if case == "transposed":  # both operands column-major, at an offset
        va, vb = View((4, 9), (1, 4), 0), View((9, 6), (1, 9), 0)
    if case == "folded":
        vb = View((3,) + sb, (0,) + vb.strides, 0)
    rng = np.random.default_rng(3)
    run = be.replay_kernel("matmul", (None, va, None, vb, float32))
    for _ in range(2):
        a = rng.standard_normal(math.prod(sa)).astype(np.float32)
        b = rng.standard_normal(math.prod(sb)).astype(np.float32)
        assert np.array_equal(run(a, va, b, vb, float32), be.matmul(a, va, b, vb, float32))
    assert be.replay_kernel("reduce", ("sum", None, va, 1, float32)) is None


_REPLAY_VIEWS = [View((), (), 3), View((7,), (1,), 2), View((7,), (-2,), 13), View((7,), (0,), 4),
                 View((3, 5), (5, 1), 0), View((3, 5), (1, 3), 1), View((3, 5), (0, 1), 2),
                 View((2, 3, 4), (12, 1, 3), 0), View((300, 300), (300, 1), 0), View((1 << 17,), (1,), 0)]


@pytest.mark.parametrize("view", _REPLAY_VIEWS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_replay_kernel_binary_and_unary_equal_the_methods_bit_for_bit(view, dtype):
    """replay_kernel('binary' / 'unary', args): the kernel and its geometry picked once for the
    captured views (scalar, strided, reversed, broadcast, N-D, tiled, parallel); same bits as the
    methods on fresh buffers; an `out` given at replay goes to the method."""
    from tinygrad_like.backends import numba_backend as nb
    from tinygrad_like import dtypes
    be = nb.NumbaBackend()
    dt = getattr(dtypes, dtype)
    size = view.span()[1] + 1 if view.shape else view.offset + 1
    rng = np.random.default_rng(5)
    for _ in range(2):
        a = (rng.standard_normal(size + 2) * 4).astype(nb.NP_TYPES[dt])
        b = (rng.standard_normal(size + 2) * 4).astype(nb.NP_TYPES[dt])
        for op in ("add", "mul", "lt", "maximum"):
            run = be.replay_kernel("binary", (op, None, view, None, view, dt))
            assert np.array_equal(run(op, a, view, b, view, dt), be.binary(op, a, view, b, view, dt)), op
        for op in (("exp", "tanh") if dt.is_float else ("neg", "abs")):
            run = be.replay_kernel("unary", (op, None, view, dt))
            assert np.array_equal(run(op, a, view, dt), be.unary(op, a, view, dt), equal_nan=True), op
    flat = View((4,), (1,), 0)
    out = np.zeros(4, nb.NP_TYPES[dt])
    run = be.replay_kernel("binary", ("add", None, flat, None, flat, dt))
    assert run("add", a, flat, b, flat, dt, out=out) is out
    assert np.array_equal(out, a[:4] + b[:4])


@pytest.mark.parametrize("dtype,value", [("float32", 0.1), ("float32", float("-inf")), ("float64", float("nan")),
                                         ("int64", 7), ("int64", -2.9), ("bool", 1.0), ("uint8", 255),
                                         ("int16", -32768), ("float32", 3e38 * 10)])
@pytest.mark.parametrize("n", [0, 5, 1 << 22], ids=["empty", "small", "pooled"])
def test_replay_kernel_full_equals_the_method_bit_for_bit(dtype, value, n):
    """replay_kernel('full', args), its value converted once at capture, gives full's bits: float
    rounding and overflow to inf, int truncation, bool, specials; on the pool's buffers too."""
    from tinygrad_like.backends import numba_backend as nb
    from tinygrad_like.dtypes import ALL_DTYPES
    be = nb.NumbaBackend()
    dt = {d.name: d for d in ALL_DTYPES}[dtype]
    run = be.replay_kernel("full", (n, value, dt))
    want = be.full(n, value, dt)
    for _ in range(2):
        got = run(n, value, dt)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("n", [100, 1 << 17], ids=["serial", "parallel"])
def test_replay_kernel_adam_step_equals_the_method_bit_for_bit(n):
    """replay_kernel('adam_step', args) updates p, m, v and the step count as adam_step does."""
    from tinygrad_like.backends import numba_backend as nb
    from tinygrad_like.dtypes import float32
    from tinygrad_like.view import View
    be = nb.NumbaBackend()
    rng = np.random.default_rng(4)
    bufs = [rng.standard_normal(n + 3).astype(np.float32) for _ in range(4)]
    bufs[3] = np.abs(bufs[3])
    views = [View((n,), (1,), k) for k in range(4)]
    step, sv = np.zeros(2, np.float32), View((1,), (1,), 1)
    consts = (float32, 1e-3, (0.9, 0.999), 1e-8, 0.01, True, False)
    twin = [b.copy() for b in bufs], step.copy()
    args = (bufs[0], views[0], bufs[1], views[1], bufs[2], views[2], bufs[3], views[3], step, sv) + consts
    run = be.replay_kernel("adam_step", args)
    for _ in range(3):
        run(*args)
        (p, g, m, v), s = twin
        be.adam_step(p, views[0], g, views[1], m, views[2], v, views[3], s, sv, *consts)
    for got, want in zip(bufs + [step], twin[0] + [twin[1]]):
        assert np.array_equal(got, want)
    assert step[1] == 3
