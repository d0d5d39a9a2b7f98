"""Explicit SIMD for numba kernels: a 256-bit vector type and a few intrinsics.

LLVM's auto-vectorizer cannot keep a matmul micro-tile in registers: it either vectorizes
the k loop (a dot-product form that ends in horizontal sums) or gives up. These intrinsics let
a kernel say what it means: `vload` reads LANES consecutive elements of a 1-D array, `vsplat`
broadcasts a scalar, `vfma` is acc + a*b (llvm.fmuladd: one vfmadd where the CPU has FMA),
`vaccum` does arr[i:i+LANES] += v, `vload_even` reads every other element; `vmax`/`vmin`
(and `vhmax`/`vhmin` across the lanes) propagate NaN. Each vector is an LLVM <8 x float> or
<4 x double> (one AVX2 register) or, where the CPU has AVX-512, <16 x float> or <8 x double>
(one zmm register), so a tile of vectors held in local variables stays in registers across the k loop.

No NaN/inf shortcuts: plain IEEE vector arithmetic. The intrinsics compile into the caller, so
the kernels that use them keep `cache=True`.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model



def _has_avx512() -> bool:
    """Whether numba compiles for a CPU with AVX-512F (NUMBA_CPU_FEATURES/NAME respected)."""
    import os
    from numba.core import config
    from numba.core.codegen import get_host_cpu_features
    if os.environ.get("TG_NUMBA_NO_AVX512"):
        return False
    if config.CPU_FEATURES is not None:
        return "+avx512f" in config.CPU_FEATURES.split(",")
    if config.CPU_NAME is not None:  # a named (portable) target: assume no AVX-512
        return False
    return "+avx512f" in get_host_cpu_features().split(",")


# 512-bit vectors where the CPU has AVX-512 (LLVM's own vectorizer prefers 256 bits there,
# but explicit <16 x float> operations compile to zmm registers), 256-bit (AVX2) elsewhere.
AVX512 = _has_avx512()
LANES = {types.float32: 16, types.float64: 8} if AVX512 else {types.float32: 8, types.float64: 4}


class Vec(types.Type):
    """A SIMD vector of `lanes` elements of a float dtype (a value, held in registers)."""

    def __init__(self, dtype: types.Float, lanes: int):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vec({dtype}x{lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        be_type = ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes)
        super().__init__(dmm, fe_type, be_type)


def _vec_of(dtype) -> Vec:
    return Vec(dtype, LANES[dtype])


def _vec_for_1d(arr):
    """The vector type for a 1-D array of a float dtype, else None (the intrinsic does not apply)."""
    if isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype in LANES:
        return _vec_of(arr.dtype)
    return None


def _splat(context, builder, vt: Vec, x):
    """A vector of type vt with every lane equal to the scalar value x."""
    vty = context.get_value_type(vt)
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vt.lanes), [0] * vt.lanes)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), mask)


def _elem_ptr(context, builder, arrty, arr, idx):
    ary = context.make_array(arrty)(context, builder, arr)
    return builder.gep(ary.data, [idx])


def lanes(arr):  # pragma: no cover - replaced by the overload inside numba
    """Number of lanes of the vector type for arr's dtype (a compile-time constant)."""


@overload(lanes, inline="always")
def _ov_lanes(arr):
    n = LANES[arr.dtype]
    return lambda arr: n


def _read_at(arr, idx, emit):
    """(signature, codegen) of an intrinsic (arr, idx) -> vector that reads at &arr[idx]:
    `emit(context, builder, vt, ptr)` builds the vector; None when arr is no 1-D float array."""
    vt = _vec_for_1d(arr)
    if vt is None:
        return None

    def codegen(context, builder, sig, args):
        return emit(context, builder, vt, _elem_ptr(context, builder, sig.args[0], args[0], args[1]))

    return vt(arr, idx), codegen


def _emit_load(context, builder, vt, ptr):
    vptr = builder.bitcast(ptr, context.get_value_type(vt).as_pointer())
    return builder.load(vptr, align=context.get_abi_sizeof(context.get_value_type(vt.dtype)))


def _emit_bcast(context, builder, vt, ptr):
    return _splat(context, builder, vt, builder.load(ptr))


@intrinsic
def vload(typingctx, arr, idx):
    """arr[idx:idx+LANES] as a vector (1-D array, unaligned load)."""
    return _read_at(arr, idx, _emit_load)


def _emit_load_even(context, builder, vt, ptr):
    wide = ir.VectorType(context.get_value_type(vt.dtype), 2 * vt.lanes)
    w = builder.load(builder.bitcast(ptr, wide.as_pointer()), align=context.get_abi_sizeof(wide.element))
    even = ir.Constant(ir.VectorType(ir.IntType(32), vt.lanes), list(range(0, 2 * vt.lanes, 2)))
    return builder.shuffle_vector(w, w, even)


@intrinsic
def vload_even(typingctx, arr, idx):
    """arr[idx], arr[idx+2], .., arr[idx+2*LANES-2] as a vector: one load of 2*LANES consecutive
    elements (it reads arr[idx+2*LANES-1] too: the caller keeps that inside the buffer) and one
    shuffle, where LLVM's vectorizer would gather a stride-2 read element by element."""
    return _read_at(arr, idx, _emit_load_even)


@intrinsic
def vsplat(typingctx, x):
    """A vector with every lane equal to the scalar x."""
    if x not in LANES:
        return None
    vt = _vec_of(x)

    def codegen(context, builder, sig, args):
        return _splat(context, builder, vt, args[0])

    return vt(x), codegen


@intrinsic
def vzeros(typingctx, arr):
    """A vector of zeros of arr's dtype."""
    if not (isinstance(arr, types.Array) and arr.dtype in LANES):
        return None
    vt = _vec_of(arr.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vt), None)

    return vt(arr), codegen


@intrinsic
def vbcast(typingctx, arr, idx):
    """A vector with every lane equal to arr[idx] (no negative-index wraparound: idx >= 0)."""
    return _read_at(arr, idx, _emit_bcast)


@intrinsic
def vfma(typingctx, acc, a, b):
    """acc + a * b lane by lane (llvm.fmuladd: fused where the CPU has FMA)."""
    if not (isinstance(acc, Vec) and acc == a == b):
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(acc)
        name = f"llvm.fmuladd.v{acc.lanes}f{acc.dtype.bitwidth}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty, vty, vty]), name)
        return builder.call(fn, [args[1], args[2], args[0]])

    return acc(acc, a, b), codegen


@intrinsic
def vadd(typingctx, a, b):
    """a + b lane by lane."""
    if not (isinstance(a, Vec) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])

    return a(a, b), codegen


def _emit_pick(builder, want_max: bool, acc, x):
    """Lane by lane: x where x beats acc (greater for max, less for min) or x is NaN, else acc.
    A NaN already in acc stays (both tests fail), a NaN in x enters: max/min propagate NaN as
    PyTorch does. Two compares and one select, no branch: LLVM keeps it in vector registers."""
    beats = builder.fcmp_ordered(">" if want_max else "<", x, acc)
    return builder.select(builder.or_(beats, builder.fcmp_unordered("uno", x, x)), x, acc)


def _pick_intrinsic(want_max: bool):
    def typer(typingctx, acc, x):
        if not (isinstance(acc, Vec) and acc == x):
            return None

        def codegen(context, builder, sig, args):
            return _emit_pick(builder, want_max, args[0], args[1])

        return acc(acc, x), codegen
    return typer


vmax = intrinsic(_pick_intrinsic(True))
vmax.__doc__ = "max(acc, x) lane by lane, NaN-propagating (a NaN in either gives NaN)."
vmin = intrinsic(_pick_intrinsic(False))
vmin.__doc__ = "min(acc, x) lane by lane, NaN-propagating (a NaN in either gives NaN)."


def _hpick_intrinsic(want_max: bool):
    def typer(typingctx, v):
        if not isinstance(v, Vec):
            return None

        def codegen(context, builder, sig, args):
            # halve the vector log2(lanes) times: the upper half picked against the lower half
            x = args[0]
            n = v.lanes
            i32 = ir.IntType(32)
            while n > 1:
                h = n // 2
                lo = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(i32, h), list(range(h))))
                hi = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(i32, h), list(range(h, n))))
                x = _emit_pick(builder, want_max, lo, hi)
                n = h
            return builder.extract_element(x, ir.Constant(i32, 0))

        return v.dtype(v), codegen
    return typer


vhmax = intrinsic(_hpick_intrinsic(True))
vhmax.__doc__ = "The largest lane of v; NaN if any lane is NaN."
vhmin = intrinsic(_hpick_intrinsic(False))
vhmin.__doc__ = "The smallest lane of v; NaN if any lane is NaN."


@intrinsic
def vmul(typingctx, a, b):
    """a * b lane by lane."""
    if not (isinstance(a, Vec) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def vwiden(typingctx, v):
    """v's lanes as float64 (exact; a float64 vector as it is): as many lanes, twice the bits."""
    if not isinstance(v, Vec):
        return None
    wt = Vec(types.float64, v.lanes)

    def codegen(context, builder, sig, args):
        if v.dtype.bitwidth == 64:
            return args[0]
        return builder.fpext(args[0], context.get_value_type(wt))

    return wt(v), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    """arr[idx:idx+LANES] = v."""
    if not (isinstance(arr, types.Array) and isinstance(v, Vec) and arr.dtype == v.dtype):
        return None

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        vptr = builder.bitcast(ptr, args[2].type.as_pointer())
        builder.store(args[2], vptr, align=context.get_abi_sizeof(context.get_value_type(arr.dtype)))
        return context.get_dummy_value()

    return types.none(arr, idx, v), codegen


@intrinsic
def vaccum(typingctx, arr, idx, v):
    """arr[idx:idx+LANES] += v."""
    if not (isinstance(arr, types.Array) and isinstance(v, Vec) and arr.dtype == v.dtype):
        return None

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        vptr = builder.bitcast(ptr, args[2].type.as_pointer())
        align = context.get_abi_sizeof(context.get_value_type(arr.dtype))
        old = builder.load(vptr, align=align)
        builder.store(builder.fadd(old, args[2]), vptr, align=align)
        return context.get_dummy_value()

    return types.none(arr, idx, v), codegen


@intrinsic
def vhsum(typingctx, v):
    """The sum of v's lanes as a float64 (each lane widened first; a pairwise tree)."""
    if not isinstance(v, Vec):
        return None

    def codegen(context, builder, sig, args):
        dbl = ir.DoubleType()
        lanes_ = [builder.extract_element(args[0], ir.Constant(ir.IntType(32), i)) for i in range(v.lanes)]
        if v.dtype.bitwidth != 64:
            lanes_ = [builder.fpext(x, dbl) for x in lanes_]
        while len(lanes_) > 1:
            lanes_ = [builder.fadd(lanes_[i], lanes_[i + 1]) for i in range(0, len(lanes_), 2)]
        return lanes_[0]

    return types.float64(v), codegen


@intrinsic
def vaccum_f64(typingctx, acc, idx, v):
    """acc[idx:idx+LANES] += v with acc a float64 array (v widened first when float32)."""
    if not (isinstance(acc, types.Array) and acc.dtype == types.float64 and isinstance(v, Vec)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        wide = ir.VectorType(ir.DoubleType(), v.lanes)
        x = args[2] if v.dtype.bitwidth == 64 else builder.fpext(args[2], wide)
        vptr = builder.bitcast(ptr, wide.as_pointer())
        old = builder.load(vptr, align=8)
        builder.store(builder.fadd(old, x), vptr, align=8)
        return context.get_dummy_value()

    return types.none(acc, idx, v), codegen


@intrinsic
def prefer_wide(typingctx):
    """Let LLVM's loop vectorizer use 512-bit vectors in the function this is lowered into
    (where the CPU has AVX-512: LLVM's default there is 256 bits; compute-bound loops such as
    exp run about 1.6x faster with zmm). A no-op elsewhere. Call it inside a prange body: the
    parallel backend outlines that body into a function of its own."""
    def codegen(context, builder, sig, args):
        if AVX512:
            # llvmlite only admits its known attribute names; a string attribute is valid IR
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


def tblock(arr):  # pragma: no cover - replaced by the overload inside numba
    """Side of the square block `transpose_block` moves for arr's dtype (32 bytes per row)."""


@overload(tblock, inline="always")
def _ov_tblock(arr):
    b = 256 // arr.dtype.bitwidth
    return lambda arr: b


def _transpose_masks(b: int) -> list:
    """Shuffle stages of a b x b transpose (b = 8 or 4): lists of (i, j, mask, out) steps."""
    if b == 8:
        lo, hi = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
        lo2, hi2 = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
        lo4, hi4 = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
        st1 = [(0, 1, lo, 0), (0, 1, hi, 1), (2, 3, lo, 2), (2, 3, hi, 3),
               (4, 5, lo, 4), (4, 5, hi, 5), (6, 7, lo, 6), (6, 7, hi, 7)]
        st2 = [(0, 2, lo2, 0), (0, 2, hi2, 1), (1, 3, lo2, 2), (1, 3, hi2, 3),
               (4, 6, lo2, 4), (4, 6, hi2, 5), (5, 7, lo2, 6), (5, 7, hi2, 7)]
        st3 = [(0, 4, lo4, 0), (0, 4, hi4, 4), (1, 5, lo4, 1), (1, 5, hi4, 5),
               (2, 6, lo4, 2), (2, 6, hi4, 6), (3, 7, lo4, 3), (3, 7, hi4, 7)]
        return [st1, st2, st3]
    lo, hi = [0, 4, 2, 6], [1, 5, 3, 7]
    st1 = [(0, 1, lo, 0), (0, 1, hi, 1), (2, 3, lo, 2), (2, 3, hi, 3)]
    st2 = [(0, 2, [0, 1, 4, 5], 0), (0, 2, [2, 3, 6, 7], 2), (1, 3, [0, 1, 4, 5], 1), (1, 3, [2, 3, 6, 7], 3)]
    return [st1, st2]


@intrinsic
def transpose_block(typingctx, src, soff, sstride, dst, doff, dstride):
    """dst[doff + l*dstride + k] = src[soff + k*sstride + l] for k, l < B (B = tblock(src)):
    B vector loads, a shuffle network, B vector stores (4- and 8-byte dtypes)."""
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and src.dtype.bitwidth in (32, 64)):
        return None
    b = 256 // src.dtype.bitwidth

    def codegen(context, builder, sig, args):
        ety = context.get_value_type(src.dtype)
        vty = ir.VectorType(ety, b)
        align = src.dtype.bitwidth // 8
        sp = context.make_array(sig.args[0])(context, builder, args[0]).data
        dp = context.make_array(sig.args[3])(context, builder, args[3]).data
        rows = []
        for k in range(b):
            idx = builder.add(args[1], builder.mul(args[2], ir.Constant(args[2].type, k)))
            ptr = builder.bitcast(builder.gep(sp, [idx]), vty.as_pointer())
            rows.append(builder.load(ptr, align=align))
        for stage in _transpose_masks(b):
            nxt = [None] * b
            for i, j, mask, o in stage:
                nxt[o] = builder.shuffle_vector(rows[i], rows[j], ir.Constant(ir.VectorType(ir.IntType(32), b), mask))
            rows = nxt
        for k in range(b):
            idx = builder.add(args[4], builder.mul(args[5], ir.Constant(args[5].type, k)))
            ptr = builder.bitcast(builder.gep(dp, [idx]), vty.as_pointer())
            builder.store(rows[k], ptr, align=align)
        return context.get_dummy_value()

    return types.none(src, soff, sstride, dst, doff, dstride), codegen


__all__ = ["prefer_wide", "tblock", "transpose_block", "vhsum", "vaccum_f64", "AVX512", "LANES", "Vec", "lanes", "vzeros", "vload",
           "vsplat", "vbcast", "vfma", "vadd", "vmul", "vwiden", "vstore", "vaccum", "vload_even", "vmax", "vmin", "vhmax",
           "vhmin"]
