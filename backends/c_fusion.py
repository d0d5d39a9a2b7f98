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
from typing import Any, Optional

from .c_build import CSRC, GENERATED, compile_args, write_ops_header
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
    stride: int  # 1: element i at offset + i; 0: one scalar


@dataclass
class ElementwiseCall:
    dt: int
    n: int
    kind: str  # unary | binary | axpy | relu_backward
    code: int
    reads: list
    write: Operand
    alpha: float = 0.0


def elementwise_call(name: str, args: list, address: Any) -> Optional[ElementwiseCall]:
    """The call as an ElementwiseCall when fusion can take it (float, contiguous or scalar operands)."""
    def op(p: Any, off: int, stride: int) -> Optional[Operand]:
        return Operand(address(p), p, off, stride) if stride in (0, 1) else None

    if name == "tg_unary1":
        code, dt, n, x, xoff, xs, out = args
        if dt not in _CTYPE or code == _LOGICAL_NOT:
            return None
        reads = [op(x, xoff, xs)]
        kind = "unary"
    elif name == "tg_binary1":
        code, dt, n, a, aoff, as_, b, boff, bs, out = args
        if dt not in _CTYPE or code >= _FIRST_COMPARE:
            return None
        reads = [op(a, aoff, as_), op(b, boff, bs)]
        kind = "binary"
    elif name == "tg_axpy":
        dt, n, alpha, x, xoff, y, yoff = args
        if dt not in _CTYPE:
            return None
        reads = [op(x, xoff, 1), op(y, yoff, 1)]
        return None if None in reads else ElementwiseCall(dt, n, "axpy", 0, reads, op(y, yoff, 1), float(alpha))
    elif name == "tg_relu_backward":
        dt, n, g, goff, y, yoff, out = args
        if dt not in _CTYPE:
            return None
        reads = [op(g, goff, 1), op(y, yoff, 1)]
        kind, code = "relu_backward", 0
    else:
        return None
    if None in reads or n < 1:
        return None
    return ElementwiseCall(dt, n, kind, code, reads, Operand(address(out), out, 0, 1))


@dataclass
class Run:
    """Consecutive fusable calls: their step positions and what they access."""
    first: int
    calls: list = field(default_factory=list)
    access: dict = field(default_factory=dict)  # addr -> (offset, read as scalar?, written?)

    def admits(self, c: ElementwiseCall) -> bool:
        if self.calls and (c.dt != self.calls[0].dt or c.n != self.calls[0].n):
            return False
        for o in c.reads:
            seen = self.access.get(o.addr)
            if seen is not None and (seen[0] != o.offset or (o.stride == 0 and seen[2])):
                return False
        w = c.write
        seen = self.access.get(w.addr)
        return seen is None or (seen[0] == w.offset and not seen[1])

    def add(self, c: ElementwiseCall) -> None:
        self.calls.append(c)
        for o in c.reads:
            off, scalar, written = self.access.get(o.addr, (o.offset, False, False))
            self.access[o.addr] = (off, scalar or o.stride == 0, written)
        off, scalar, _ = self.access.get(c.write.addr, (c.write.offset, False, False))
        self.access[c.write.addr] = (off, scalar, True)


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
    """(C source of one fused loop, its operands in order). `stores`: the addresses whose final
    values must reach memory (read after the run, or kept by a tensor)."""
    dt = run.calls[0].dt
    T, sfx = _CTYPE[dt], _SUFFIX[dt]
    operands: list = []
    index: dict = {}

    def slot(o: Operand) -> int:
        if o.addr not in index:
            index[o.addr] = len(operands)
            operands.append(o)
        return index[o.addr]

    body, values, final = [], {}, {}
    hoisted = []
    costly = False
    for j, c in enumerate(run.calls):
        args = []
        for o in c.reads:
            k = slot(o)
            if o.addr in values:
                args.append(values[o.addr])
            elif o.stride == 0:
                v = f"s{k}"
                if v not in hoisted:
                    hoisted.append(v)
                args.append(v)
            else:
                v = f"v{k}_{j}"
                body.append(f"{T} {v} = p{k}[i];")
                values[o.addr] = v
                args.append(v)
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
        values[c.write.addr] = t
        final[c.write.addr] = t
        slot(c.write)
    for addr, t in final.items():
        if addr in stores:
            body.append(f"p{index[addr]}[i] = {t};")
    decl = [f"{T} *p{k} = ({T} *)a->p[{k}] + a->o[{k}];" for k in range(len(operands))]
    decl += [f"const {T} {v} = p{v[1:]}[0];" for v in hoisted]
    src = (f"static void {name}_range(void *ctx, int64_t lo, int64_t hi) {{\n"
           f"    const tgf_args *a = (const tgf_args *)ctx;\n    " + "\n    ".join(decl) + "\n"
           f"    #pragma omp simd\n    for (int64_t i = lo; i < hi; i++) {{\n        " + "\n        ".join(body) + "\n    }\n}\n"
           f"int {name}(int64_t n, void **p, const int64_t *o, uintptr_t pfor, uintptr_t tfor) {{\n"
           f"    tgf_args a = {{p, o}};\n"
           f"    int nt = ((tgf_threads_for_fn)tfor)(n, {int(costly)});\n"
           f"    ((tgf_parallel_for_fn)pfor)(n, nt, 64, {name}_range, &a);\n    return 0;\n}}\n")
    return src, operands


def cache_dir() -> str:
    base = os.environ.get("TG_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tinygrad_like")
    return os.path.join(base, "fused")


def build(sources: list) -> Any:
    """The compiled module (`.lib`) of fused kernel sources, from the disk cache when built before."""
    from cffi import FFI  # the build machinery, loaded only when a capture fuses something

    text = '#include "fused_ops.h"\n' + "\n".join(sources)
    cflags, ldflags = compile_args()
    key = hashlib.sha256((text + repr(cflags) + sys.version).encode()).hexdigest()[:20]
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
