"""Capture and replay of the C backend's kernel calls (the backend side of `tg.jit`).

While a capture runs, `c_runtime.lib` is a `LibRecorder`: every kernel call still runs, and is
also appended to the capture's list with its arguments and return code, and every buffer the
backend allocates is kept alive by the capture, so the pointers in that list stay valid. A
replay calls the same C functions with the same arguments, writing into the same memory (as a
CUDA graph does): no Python work per kernel beyond the call itself.

Around the kernel calls the core adds Python steps of its own (`append_step`: a host-side check
of a value), random draws take the generator's counter at replay time (`make_random`), and
buffers filled from Python (a constant tensor) get their contents back at the start of each
replay (`note_constant`).
"""
from __future__ import annotations

import hashlib
import math
import threading
from typing import Any, Callable

from . import c_fusion
from ._c_ext import ffi

# Functions that are not kernels: allocation, thread and build bookkeeping.
NOT_KERNELS = frozenset({"tg_big_alloc", "tg_big_free", "tg_mid_alloc", "tg_mid_free", "tg_source_hash",
                         "tg_set_threads", "tg_get_threads", "tg_set_spin_us", "tg_set_par_min", "tg_after_fork", "tg_pool_entry",
                         "scipy_openblas_set_num_threads"})
_MASK64 = (1 << 64) - 1


class LibRecorder:
    """Stands in for the extension's `lib` during a capture: calls go through and are recorded
    (those of the capturing thread; other threads' calls just run)."""

    def __init__(self, real: Any, calls: list, thread: int):
        self._real = real
        self._calls = calls
        self._thread = thread

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._real, name)
        if name in NOT_KERNELS or not callable(fn):
            return fn
        calls, thread = self._calls, self._thread

        def call(*args: Any) -> Any:
            rc = fn(*args)
            if threading.get_ident() == thread:
                calls.append([name, fn, args, rc])
            return rc
        return call


def _address(p: Any) -> int:
    return int(ffi.cast("uintptr_t", p))


def _typed_args(fn: Any, args: tuple) -> list:
    """The call's arguments with Python lists made C arrays once (cffi would convert a list on every call)."""
    out = list(args)
    params = ffi.typeof(fn).args
    for i, a in enumerate(out):
        if isinstance(a, list):
            out[i] = ffi.new(ffi.getctype(params[i].item, "[]"), a)
    return out


class CProgram:
    """The recorded kernel calls of one capture, replayable: a list of steps, each a kernel call
    (fn, args, expected return code, name) or a Python step (fn, None, None, label)."""

    def __init__(self, host: Any, steps: list, buffers: list, constants: list, step_buffers: dict):
        self._host = host
        self._steps = steps
        self._step_buffers = step_buffers  # Python step index -> addresses it reads or writes
        self._keepalive: list = []  # arguments of calls fusion replaced (their pointers stay valid)
        self.reused: list = []  # calls whose memory the capture later reused (see NativeCapture)
        self.fused = 0  # calls folded into fused kernels
        self._buffers = buffers  # every CBuffer allocated during the capture: keeps the pointers valid
        self._constants = constants  # (cdata, bytes) restored at the start of each replay
        self._internal = {_address(b.ptr): i for i, b in enumerate(buffers)}
        self._external: Any = None

    def __len__(self) -> int:
        return len(self._steps)

    def kernel_names(self) -> list:
        return [s[3] for s in self._steps]

    def owns(self, buf: Any) -> bool:
        """True when `buf` was allocated during the capture (so each replay rewrites it)."""
        return type(buf) is self._host.CBuffer and _address(buf.ptr) in self._internal

    def references(self, buf: Any) -> bool:
        """True when a recorded call gets a pointer to `buf`, a buffer that existed before the capture."""
        if type(buf) is not self._host.CBuffer:
            return False
        if self._external is None:
            self._external = {k[1] for step in self.canonical() for k in step if isinstance(k, tuple) and k[:1] == ("pointer",)}
        return _address(buf.ptr) in self._external

    def canonical(self) -> list:
        """The steps with each pointer named by the capture's buffer it points to (or by its
        address when it points outside them): equal for two captures of one function that
        replay the same way."""
        out = []
        for fn, args, rc, name in self._steps:
            if args is None:
                out.append((name,))
                continue
            key: list = [name, rc]
            for a in args:
                if isinstance(a, ffi.CData):
                    t = ffi.typeof(a)
                    if t.kind == "array" and t.item.kind == "primitive" and t.item.cname != "char":
                        key.append(("array", tuple(a)))
                        continue
                    addr = _address(a)
                    k = self._internal.get(addr)
                    key.append(("buffer", k) if k is not None else ("pointer", addr))
                elif isinstance(a, float):
                    key.append(("float", "nan" if math.isnan(a) else a))
                else:
                    key.append(a)
            out.append(tuple(key))
        out.append(("constants", tuple(bytes(s) for _, s in self._constants)))
        return out

    def input_loader(self, dst: Any) -> Callable[[Any, int], None]:
        """A function copying n contiguous elements of a buffer, from an element offset, into `dst`
        (the capture's copy of an argument): one memmove, with the sizes checked."""
        size, item, dtype, host = dst.size, dst.dtype.itemsize, dst.dtype, self._host
        nbytes, dptr = size * item, dst.ptr

        def load(src: Any, offset: int) -> None:
            if type(src) is not host.CBuffer or src.dtype is not dtype or offset < 0 or offset + size > src.size:
                raise host.BackendError(f"c backend: tg.jit input copy: a {type(src).__name__} does not hold "
                                        f"{size} {dtype.name} elements from offset {offset}")
            ffi.memmove(dptr, ffi.cast("char *", src.ptr) + offset * item, nbytes)
        return load

    def fuse(self, keep: list) -> None:
        """Fold runs of elementwise calls into generated kernels (backends/c_fusion.py). `keep`:
        buffers that tensors alive after the capture hold (their values must be written)."""
        runs = c_fusion.find_runs(self._steps, _address)
        if not runs:
            return
        uses: dict = {}
        for i, (fn, args, rc, name) in enumerate(self._steps):
            addrs = self._step_buffers.get(i, ()) if args is None else \
                [_address(a) for a in args if isinstance(a, ffi.CData) and ffi.typeof(a).kind in ("pointer", "array")]
            for addr in addrs:
                uses.setdefault(addr, set()).add(i)
        kept = {_address(b.ptr) for b in keep if type(b) is self._host.CBuffer}
        sources: dict = {}  # kernel name -> source: runs that compute alike (a model's layers) share one
        plans = []
        for run in runs:
            inside = set(range(run.first, run.first + len(run.calls)))
            stores = {addr for addr in run.written()
                      if addr not in self._internal or addr in kept or uses.get(addr, set()) - inside}
            src, operands = c_fusion.kernel_source("KERNEL", run, stores)
            name = "tgf_" + hashlib.sha256(src.encode()).hexdigest()[:16]
            sources[name] = src.replace("KERNEL", name)
            plans.append((run, operands, name))
        module = c_fusion.build(sorted(sources.values()))
        gffi, glib = module.ffi, module.lib
        pfor, tfor = self._old_lib_entry(0), self._old_lib_entry(1)
        replaced: dict = {}
        for run, operands, name in plans:
            ptrs = gffi.new("void *[]", [gffi.cast("void *", o.addr) for o in operands])
            offs = gffi.new("int64_t[]", [o.offset for o in operands])
            replaced[run.first] = (getattr(glib, name), [run.shape[0], ptrs, offs, pfor, tfor], 0,
                                   f"fused {'+'.join(self._steps[i][3][3:] for i in range(run.first, run.first + len(run.calls)))}")
            for i in range(run.first, run.first + len(run.calls)):
                self._keepalive.append(self._steps[i][1:3])
                if i != run.first:
                    replaced[i] = None
            self.fused += len(run.calls)
        self._steps = [replaced.get(i, s) if i in replaced else s for i, s in enumerate(self._steps)]
        self._steps = [s for s in self._steps if s is not None]

    def _old_lib_entry(self, which: int) -> int:
        return int(self._host.lib.tg_pool_entry(which))

    def replay(self) -> None:
        for p, data in self._constants:
            ffi.memmove(p, data, len(data))
        for fn, args, rc, name in self._steps:
            if args is None:
                fn()
            else:
                got = fn(*args)
                if got != rc:
                    self._host._fail(f"{name} (tg.jit replay)", got)


class NativeCapture:
    """One capture on the C backend: `start()`, run the step, `stop()` -> CProgram. `host` is the
    c_runtime module (its `lib` is swapped for a recorder while the capture runs)."""

    def __init__(self, host: Any) -> None:
        self._host = host
        self._calls: list = []
        self._buffers: list = []
        self._born: list = []  # per buffer: how many calls were recorded before it was allocated
        self._constants: list = []
        self._step_buffers: dict = {}
        self._thread = threading.get_ident()
        self._old_lib: Any = None

    def start(self) -> None:
        host = self._host
        self._old_lib = host.lib
        host.lib = LibRecorder(self._old_lib, self._calls, self._thread)
        thread, keep, born = self._thread, self._buffers.append, self._born.append
        calls = self._calls

        def on_new(buf: Any) -> None:
            if threading.get_ident() == thread:
                keep(buf)
                born(len(calls))
        host.on_new = on_new

    def stop(self) -> CProgram:
        self._host.lib = self._old_lib
        self._host.on_new = None
        steps = []
        for name, fn, args, rc in self._calls:
            steps.append((fn, None, None, name) if args is None else (fn, _typed_args(fn, args), rc, name))
        prog = CProgram(self._host, steps, self._buffers, self._constants, self._step_buffers)
        prog.reused = self._reused_memory()
        return prog

    def _reused_memory(self) -> list:
        """Calls that used memory before the capture allocated a new buffer there: a buffer that
        existed before the call was freed during it and its memory reused. A replay would read
        the new buffer where the capture read the old one, so such a capture is refused."""
        born = {_address(b.ptr): i for b, i in zip(self._buffers, self._born)}
        bad = []
        for i, (name, fn, args, rc) in enumerate(self._calls):
            for a in args or ():
                if isinstance(a, ffi.CData) and ffi.typeof(a).kind == "pointer":
                    k = born.get(_address(a))
                    if k is not None and k > i:
                        bad.append(f"{name} (call {i})")
        return bad

    def mark(self) -> int:
        """How many steps are recorded so far."""
        return len(self._calls)

    def append_step(self, fn: Callable[[], None], label: str, buffers: tuple = ()) -> None:
        """Run `fn()` at this point of every replay; `buffers`: the CBuffers it reads or writes."""
        self._step_buffers[len(self._calls)] = [_address(b.ptr) for b in buffers]
        self._calls.append([label, fn, None, None])

    def note_constant(self, buf: Any) -> None:
        """`buf` was filled from Python (not by a kernel): each replay restores its contents first."""
        if type(buf) is self._host.CBuffer:
            nbytes = buf.size * buf.dtype.itemsize
            self._constants.append((buf.ptr, bytes(ffi.buffer(buf.ptr, nbytes))))

    def make_random(self, mark: int, generator: Any, dist: str, n: int) -> None:
        """The draw recorded at `mark` takes the generator's seed and counter at replay time
        (`generator.reserve(dist, n)` returns them and advances the counter, as an eager draw)."""
        call = self._calls[mark]
        fn, args, fail = call[1], list(call[2]), self._host._fail
        if call[0] != "tg_random":
            raise RuntimeError(f"tg.jit: expected the random draw's kernel at step {mark}, found {call[0]}")

        def draw() -> None:
            seed, counter = generator.reserve(dist, n)
            args[3], args[4] = seed & _MASK64, counter & _MASK64
            rc = fn(*args)
            if rc:
                fail("random (tg.jit replay)", rc)
        call[:] = ["random draw", draw, None, None]
        self._step_buffers[mark] = [_address(args[-1])]
