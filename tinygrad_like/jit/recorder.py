"""The capture half of tg.jit: record the backend calls one run of a function makes.

While a `Recorder` runs, every loaded backend object has its protocol methods (and its fused
kernels in `be.optional`) shadowed by recording wrappers, so each call still runs and is also
noted with its arguments and result. A backend with a `native_capture()` (the c backend) records
its own kernel calls below that (a C-level program); the wrappers then only add what the
backend cannot see: random draws, whose counter must move on each replay, and buffers filled
from Python.

Reads of values into Python are where a replay could go wrong silently (the Python code that
used the value does not run again), so a plain read (`.item()`, `.tolist()`, `.numpy()`) makes
the capture refuse; the library's own checks and branches read through
`dispatch.checked_item`, which the recorder turns into replay steps that re-read and re-check.

Only the thread that started the capture is recorded; other threads' calls just run.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from typing import Any, Callable, Optional

from .. import dispatch
from ..backends import loaded
from ..errors import JitError
from ..view import View

KERNEL_METHODS = ("empty", "full", "from_list", "from_buffer", "copy", "assign", "add_into", "unary", "binary", "where",
                  "reduce", "arg_reduce", "matmul", "gather", "scatter_add", "scatter", "scan", "sort", "random")
READ_METHODS = ("to_list", "memoryview")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Call:
    """One recorded backend call."""
    be: Any
    name: str
    fn: Callable
    args: tuple
    kwargs: dict
    result: Any
    generator: Any = None  # for `random`: the Generator whose counter a replay advances


@dataclasses.dataclass
class Check:
    """A library check or branch on a value read into Python (dispatch.checked_item)."""
    be: Any
    buf: Any
    view: View
    dtype: Any
    check: Callable[[Any], Any]
    decision: Any
    what: str


def user_frame() -> str:
    """'file:line' of the innermost caller outside this package (where a read came from)."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "?"


def replay_check(item: Callable[[], Any], check: Callable[[Any], Any], decision: Any, what: str) -> Callable[[], None]:
    """A replay step: read the value, run the library's check on it (which raises its own error on a
    bad value), and refuse when the branch it decides differs from the captured one."""
    def step() -> None:
        got = check(item())
        if got != decision:
            raise JitError(f"tg.jit: the captured kernels no longer apply: a value the library branches on "
                           f"({what}) was {decision!r} when the function was captured and is {got!r} now; "
                           f"call the function without tg.jit for inputs like these")
    return step


class Recorder:
    """Records the backend calls of the current thread between start() and stop()."""

    def __init__(self, native: bool = True):
        self.thread = threading.get_ident()
        self.calls: list = []  # Call and Check entries of the backends recorded here
        self.native: dict = {}  # backend -> NativeCapture, for backends that record themselves
        self.modules: dict = {}  # id(module) -> (module, its .training during the capture)
        self.problems: list[str] = []  # why this capture cannot be replayed
        self.used: dict = {}  # id(backend) -> backend, for every backend a kernel ran on
        self._use_native = native
        self._generator: Any = None
        self._reading = False
        self._depth = 0
        self._patched: list = []

    # ------------------------------------------------------------------ start / stop
    def start(self) -> None:
        if dispatch.capture is not None:
            raise JitError("tg.jit: a jitted function was called while another one is being captured "
                           "(nested tg.jit captures are not supported)")
        for be in loaded():
            self._patch(be)
        dispatch.capture = self

    def stop(self) -> dict:
        """Undo the patches; {backend: CProgram} for the backends that recorded themselves."""
        dispatch.capture = None
        for be, names, optional in self._patched:
            for name in names:
                be.__dict__.pop(name, None)
            be.optional = optional
        self._patched.clear()
        return {be: cap.stop() for be, cap in self.native.items()}

    def _patch(self, be: Any) -> None:
        native = getattr(be, "native_capture", None) if self._use_native else None
        cap = native() if native is not None else None
        if cap is not None:
            self.native[be] = cap
            cap.start()
        names = []
        for name in KERNEL_METHODS:
            be.__dict__[name] = self._wrap(be, name, getattr(type(be), name).__get__(be), cap)
            names.append(name)
        for name in READ_METHODS:
            be.__dict__[name] = self._read_wrapper(be, name, getattr(type(be), name).__get__(be))
            names.append(name)
        optional = be.optional
        fused = {f.name: self._wrap(be, f.name, getattr(optional, f.name), cap)
                 for f in dataclasses.fields(optional) if callable(getattr(optional, f.name))}
        be.optional = dataclasses.replace(optional, **fused)
        self._patched.append((be, names, optional))

    # ------------------------------------------------------------------ wrappers
    def _wrap(self, be: Any, name: str, real: Callable, cap: Any) -> Callable:
        thread, calls, used = self.thread, self.calls, self.used

        if cap is not None:  # the backend records its kernels itself
            def native(*args: Any, **kwargs: Any) -> Any:
                if threading.get_ident() != thread:
                    return real(*args, **kwargs)
                used[id(be)] = be
                mark = cap.mark()
                result = real(*args, **kwargs)
                if name == "random":
                    gen = self._take_generator(name)
                    if gen is not None:
                        cap.make_random(mark, gen, args[0], args[1])
                elif cap.mark() == mark and name in ("full", "from_list", "from_buffer"):
                    cap.note_constant(result)  # filled from Python, not by a kernel
                return result
            return native

        def record(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != thread or self._depth:
                return real(*args, **kwargs)  # another thread, or a call made inside a recorded one
            used[id(be)] = be
            self._depth += 1
            try:
                result = real(*args, **kwargs)
            finally:
                self._depth -= 1
            gen = self._take_generator(name) if name == "random" else None
            calls.append(Call(be, name, real, args, kwargs, result, gen))
            return result
        return record

    def _read_wrapper(self, be: Any, name: str, real: Callable) -> Callable:
        def read(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == self.thread and not self._reading:
                self.refuse(f"it reads a tensor's values into Python ({name} at {user_frame()}: .item(), .tolist(), "
                            f".numpy(), print or bool() of a tensor); a replay runs the kernels only, not the Python "
                            f"code that used the value. Return the tensor and read it after the call")
            return real(*args, **kwargs)
        return read

    def _take_generator(self, name: str) -> Any:
        gen, self._generator = self._generator, None
        if gen is None:
            self.refuse(f"a random draw (backend.{name}) did not come from a tg Generator")
        return gen

    # ------------------------------------------------------------------ hooks called by the core
    def refuse(self, why: str) -> None:
        if why not in self.problems:
            self.problems.append(why)

    def note_generator(self, gen: Any) -> None:
        if threading.get_ident() == self.thread:
            self._generator = gen

    def note_module(self, module: Any) -> None:
        if threading.get_ident() == self.thread:
            self.modules[id(module)] = (module, module.training)

    def checked_item(self, t: Any, check: Callable[[Any], Any], what: str) -> Any:
        """dispatch.checked_item under this capture: the read and the check become a replay step."""
        if threading.get_ident() != self.thread:
            return check(t.item())
        self._reading = True
        try:
            value = t.item()
        finally:
            self._reading = False
        decision = check(value)
        v = t._view
        view = View((), (), v.offset if not v.shape else v.span()[0])
        be, buf, dtype = t._be, t._buf, t.dtype
        cap = self.native.get(be)
        if cap is not None:
            to_list = type(be).to_list.__get__(be)
            cap.append_step(replay_check(lambda: to_list(buf, view, dtype)[0], check, decision, what), f"check {what}",
                            (buf,))
        else:
            self.calls.append(Check(be, buf, view, dtype, check, decision, what))
        return decision

    def backend(self) -> Optional[Any]:
        """The one backend the recorded function ran on (None when it ran no kernel)."""
        if len(self.used) > 1:
            names = sorted(be.name for be in self.used.values())
            self.refuse(f"it runs kernels on more than one backend ({', '.join(names)})")
        return next(iter(self.used.values()), None)
