"""Elementwise fusion in captured C programs (tg.jit).

A run of consecutive elementwise kernel calls over the same n elements of one float dtype (unary,
binary, axpy, relu backward; every operand contiguous or a broadcast scalar) becomes one
generated C loop: each element's chain of ops runs in registers, intermediates that nothing
else reads are never written, and one pass over memory replaces one per call. The loops of a
program are compiled together with cffi (gcc, at capture time) and cached on disk by the hash
of their source, so a later process reuses them without compiling.

Fusion keeps the order of the calls, so it is legal whenever each element's result depends only
on the same element of the operands: a run stops where a buffer would be read at another offset
than it is written, or read as a broadcast scalar while written. A fused run computes each op
with the same formula as the unfused kernel (csrc/fused_ops.h), so results are bit for bit equal.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

from .c_build import CSRC, GENERATED, compile_args, source_hash, write_ops_header
from .protocol import ARITH_OPS, BINARY_CODES, DTYPE_CODES, UNARY_CODES

_CTYPE = {DTYPE_CODES["float32"]: "float", DTYPE_CODES["float64"]: "double"}
_SUFFIX = {DTYPE_CODES["float32"]: "f32", DTYPE_CODES["float64"]: "f64"}
_FIRST_COMPARE = len(ARITH_OPS)
_LOGICAL_NOT = UNARY_CODES["logical_not"]
_COSTLY = {UNARY_CODES[k] for k in ("exp", "log", "sin", "cos", "tanh", "sigmoid", "erf")}
_COSTLY_BINARY = {BINARY_CODES[k] for k in ("pow", "fmod")}


@dataclass
class Operand:
    addr: int  # the buffer's address (one per allocation: buffers never overlap)
    ptr: Any  # the cdata pointer passed to the kernel
    offset: int
    strides: tuple  # element strides over the call's shape


@dataclass
class ElementwiseCall:
    dt: int
    shape: tuple
    kind: str  # unary | binary | axpy | relu_backward
    code: int
    reads: list
    write: Operand
    alpha: float = 0.0


def _contiguous(shape: tuple) -> tuple:
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc if n > 1 else 0)
        acc *= n
    return tuple(reversed(out))


MAX_DIMS = 4


def elementwise_call(name: str, args: list, address: Any) -> Optional[ElementwiseCall]:
    """The call as an ElementwiseCall when fusion can take it (float, at most MAX_DIMS dims)."""
    def op(p: Any, off: int, strides: tuple) -> Operand:
        return Operand(address(p), p, off, strides)

    if name in ("tg_unary1", "tg_binary1"):
        if name == "tg_unary1":
            code, dt, n, x, xoff, xs, out = args
            reads = [op(x, xoff, (xs,))]
            ok = code != _LOGICAL_NOT
        else:
            code, dt, n, a, aoff, as_, b, boff, bs, out = args
            reads = [op(a, aoff, (as_,)), op(b, boff, (bs,))]
            ok = code < _FIRST_COMPARE
        shape = (n,)
        kind = "unary" if name == "tg_unary1" else "binary"
    elif name in ("tg_unary", "tg_binary"):
        code, dt, nd = args[0], args[1], args[2]
        geo = list(args[3])
        shape = tuple(geo[:nd])
        if name == "tg_unary":
            x, xoff, out = args[4:7]
            reads = [op(x, xoff, tuple(geo[nd:2 * nd]))]
            ok = code != _LOGICAL_NOT
        else:
            a, aoff, b, boff, out = args[4:9]
            reads = [op(a, aoff, tuple(geo[nd:2 * nd])), op(b, boff, tuple(geo[2 * nd:3 * nd]))]
            ok = code < _FIRST_COMPARE
        kind = "unary" if name == "tg_unary" else "binary"
    elif name == "tg_axpy":
        dt, n, alpha, x, xoff, y, yoff = args
        if dt not in _CTYPE or n < 1:
            return None
        return ElementwiseCall(dt, (n,), "axpy", 0, [op(x, xoff, (1,)), op(y, yoff, (1,))], op(y, yoff, (1,)), float(alpha))
    elif name == "tg_relu_backward":
        dt, n, g, goff, y, yoff, out = args
        shape, kind, code, ok = (n,), "relu_backward", 0, True
        reads = [op(g, goff, (1,)), op(y, yoff, (1,))]
    else:
        return None
    if not ok or dt not in _CTYPE or len(shape) > MAX_DIMS or 0 in shape:
        return None
    if not shape:  # a 0-d call: one element
        shape = (1,)
        for o in reads:
            o.strides = (0,)
    return ElementwiseCall(dt, shape, kind, code, reads, op(out, 0, _contiguous(shape)))


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@dataclass
class Run:
    """Consecutive fusable calls over one shape: their step positions and what they access."""
    first: int
    shape: tuple = ()
    calls: list = field(default_factory=list)
    access: dict = field(default_factory=dict)  # addr -> (offset, strides, written?) of every access

    def _fit(self, c: ElementwiseCall, shape: tuple) -> Optional[list]:
        """c's operands with strides over `shape`, or None when they do not map onto it."""
        if c.shape == shape:
            return [c.reads, c.write]
        if len(c.shape) == 1 and _numel(shape) == c.shape[0]:  # a flat call: contiguous or scalar operands
            def lift(o: Operand) -> Optional[Operand]:
                if o.strides[0] == 1:
                    return Operand(o.addr, o.ptr, o.offset, _contiguous(shape))
                if o.strides[0] == 0:
                    return Operand(o.addr, o.ptr, o.offset, (0,) * len(shape))
                return None
            reads = [lift(o) for o in c.reads]
            return None if None in reads else [reads, lift(c.write)]
        return None

    def admits(self, c: ElementwiseCall) -> bool:
        if not self.calls:
            return True
        if c.dt != self.calls[0].dt or _numel(c.shape) != _numel(self.shape):
            return False
        shape = self.shape
        if len(shape) == 1 and len(c.shape) > 1:  # the run so far is flat: try it over c's shape
            shape = c.shape
            if any(self._fit(old, shape) is None for old in self.calls):
                return False
        fitted = self._fit(c, shape)
        if fitted is None:
            return False
        dense = _contiguous(shape)
        access = self._accesses(shape)
        for o in fitted[0] + [fitted[1]]:
            for off, strides, written in access.get(o.addr, ()):
                if (written or o is fitted[1]) and (off != o.offset or strides != o.strides or strides != dense):
                    return False
        return fitted[1].strides == dense

    def _accesses(self, shape: tuple) -> dict:
        out: dict = {}
        for c in self.calls:
            reads, write = self._fit(c, shape)
            for o in reads:
                out.setdefault(o.addr, []).append((o.offset, o.strides, False))
            out.setdefault(write.addr, []).append((write.offset, write.strides, True))
        return out

    def add(self, c: ElementwiseCall) -> None:
        if not self.calls or (len(self.shape) == 1 and len(c.shape) > 1):
            self.shape = c.shape
        self.calls.append(c)

    def written(self) -> set:
        return {c.write.addr for c in self.calls}


def find_runs(steps: list, address: Any) -> list:
    """The runs of two or more fusable calls among a program's steps (fn, args, rc, name)."""
    runs, cur = [], None
    for i, (fn, args, rc, name) in enumerate(steps):
        c = elementwise_call(name, args, address) if args is not None else None
        if c is not None and cur is not None and cur.first + len(cur.calls) == i and cur.admits(c):
            cur.add(c)
            continue
        if cur is not None and len(cur.calls) > 1:
            runs.append(cur)
        cur = None
        if c is not None:
            cur = Run(i)
            cur.add(c)
    if cur is not None and len(cur.calls) > 1:
        runs.append(cur)
    return runs


def kernel_source(name: str, run: Run, stores: set) -> tuple:
    """(C source of one fused loop nest, its operands in order). `stores`: the addresses whose
    final values must reach memory (read after the run, or kept by a tensor)."""
    dt = run.calls[0].dt
    T, sfx = _CTYPE[dt], _SUFFIX[dt]
    shape = run.shape
    nd = len(shape)
    operands: list = []
    index: dict = {}

    def slot(o: Operand) -> int:
        if o.addr not in index:
            index[o.addr] = len(operands)
            operands.append(o)
        return index[o.addr]

    def at(o: Operand) -> str:
        terms = [f"i{d} * {s}" for d, s in enumerate(o.strides) if s]
        return " + ".join(terms) if terms else "0"
    body, values, final, loads = [], {}, {}, {}
    costly = False
    for j, c in enumerate(run.calls):
        reads, write = run._fit(c, shape)
        args = []
        for o in reads:
            k = slot(o)
            if o.addr in values:  # written earlier in the run (so read densely, as written)
                args.append(values[o.addr])
                continue
            key = (k, o.strides)
            if key not in loads:
                loads[key] = f"v{k}_{len(loads)}"
                body.append(f"{T} {loads[key]} = p{k}[{at(o)}];")
            args.append(loads[key])
        t = f"t{j}"
        if c.kind == "unary":
            expr = f"tgf_unary_{sfx}({c.code}, {args[0]})"
            costly = costly or c.code in _COSTLY
        elif c.kind == "binary":
            expr = f"tgf_binary_{sfx}({c.code}, {args[0]}, {args[1]})"
            costly = costly or c.code in _COSTLY_BINARY
        elif c.kind == "axpy":
            expr = f"{args[1]} + (({T}){c.alpha!r} * {args[0]})"
        else:
            expr = f"{args[1]} > 0 ? {args[0]} : ({T})0"
        body.append(f"{T} {t} = {expr};")
        values[write.addr] = t
        final[write.addr] = (t, write)
        slot(write)
    for addr, (t, o) in final.items():
        if addr in stores:
            body.append(f"p{index[addr]}[{at(o)}] = {t};")
    decl = [f"{T} *p{k} = ({T} *)a->p[{k}] + a->o[{k}];" for k in range(len(operands))]
    loops, indent = [], "    "
    loops.append(f"{indent}for (int64_t i0 = lo; i0 < hi; i0++) {{")
    for d in range(1, nd):
        indent += "    "
        if d == nd - 1:
            loops.append(f"{indent}#pragma omp simd")
        loops.append(f"{indent}for (int64_t i{d} = 0; i{d} < {shape[d]}; i{d}++) {{")
    if nd == 1:
        loops.insert(0, "    #pragma omp simd")
    inner = indent + "    "
    close = "".join("    " * (nd - d) + "}\n" for d in range(nd))
    src = (f"static void {name}_range(void *ctx, int64_t lo, int64_t hi) {{\n"
           f"    const tgf_args *a = (const tgf_args *)ctx;\n    " + "\n    ".join(decl) + "\n"
           + "\n".join(loops) + "\n" + "\n".join(inner + line for line in body) + "\n" + close + "}\n"
           f"int {name}(int64_t n, void **p, const int64_t *o, uintptr_t pfor, uintptr_t tfor) {{\n"
           f"    tgf_args a = {{p, o}};\n"
           f"    int nt = ((tgf_threads_for_fn)tfor)({_numel(shape)}, {int(costly)});\n"
           f"    if (nt > n) nt = (int)n;\n"
           f"    ((tgf_parallel_for_fn)pfor)(n, nt, {64 if nd == 1 else 1}, {name}_range, &a);\n    return 0;\n}}\n")
    return src, operands


def cache_dir() -> str:
    base = os.environ.get("TG_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tinygrad_like")
    return os.path.join(base, "fused")


@lru_cache(maxsize=1)
def _headers_hash() -> str:
    """The hash of csrc/ (fused_ops.h and the headers it includes): part of each cache key, so a
    kernel built against older headers is never loaded."""
    return source_hash()


def build(sources: list) -> Any:
    """The compiled module (`.lib`) of fused kernel sources, from the disk cache when built before."""
    from cffi import FFI  # the build machinery, loaded only when a capture fuses something

    text = '#include "fused_ops.h"\n' + "\n".join(sources)
    cflags, ldflags = compile_args()
    key = hashlib.sha256((text + repr(cflags) + sys.version + _headers_hash()).encode()).hexdigest()[:20]
    name = f"_tg_fused_{key}"
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    found = [f for f in os.listdir(folder) if f.startswith(name + ".") and f.endswith(".so")]
    if not found:
        ffi = FFI()
        decls = [line.split("{")[0].strip() + ";" for line in text.splitlines() if line.startswith("int tgf_")]
        ffi.cdef("\n".join(decls))
        ffi.set_source(name, text, include_dirs=[CSRC, write_ops_header(GENERATED)], extra_compile_args=cflags + ["-w"],
                       extra_link_args=ldflags)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            so = ffi.compile(tmpdir=tmp, verbose=False)
            final = os.path.join(folder, os.path.basename(so))
            os.replace(so, final)  # atomic: another process may be building the same kernels
        found = [os.path.basename(final)]
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, found[0]))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def available() -> bool:
    """True when the C sources are here to compile against (a source or editable install)."""
    return os.path.isfile(os.path.join(CSRC, "fused_ops.h"))
