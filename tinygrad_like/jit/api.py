"""tg.jit: capture the kernels one call of a function runs, then replay them on later calls.

    step = tg.jit(step)      # or @tg.jit
    for x, y in batches:
        loss = step(x, y)    # calls 1-3 run eagerly (3: checked), later calls replay

Per signature of the arguments (tensor shapes, dtypes, backends, requires_grad; other arguments
by value; grad mode): call 1 runs eagerly (optimizer state and other lazily built things appear);
call 2 runs eagerly and records its backend calls; call 3 records again and must match call 2 in
every kernel, argument and buffer (else JitError: the function's kernels depend on something
that changes from call to call); from call 4 on the recorded kernels run again with no Python
core in between. See docs/jit.md for what a replay keeps and what it refuses.
"""
from __future__ import annotations

import gc
import os
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Optional

from .. import dispatch
from ..autograd import is_grad_enabled
from ..errors import JitError
from ..tensor import Tensor
from ..view import View, coalesce
from .program import MethodProgram
from .recorder import Recorder

_WARMUP, _CAPTURE, _VERIFY, _READY = 0, 1, 2, 3


def _flatten(x: Any, leaves: list) -> Any:
    """The structure of a (nested) tuple/list/dict of tensors and constants; tensors go to `leaves`."""
    if isinstance(x, Tensor):
        leaves.append(x)
        return ("T", len(leaves) - 1)
    if isinstance(x, (tuple, list)):
        return (type(x), tuple(_flatten(a, leaves) for a in x))
    if isinstance(x, dict):
        return (dict, tuple((k, _flatten(v, leaves)) for k, v in x.items()))
    return ("C", x)


def _unflatten(spec: Any, leaves: list) -> Any:
    kind, body = spec
    if kind == "T":
        return leaves[body]
    if kind == "C":
        return body
    if kind is dict:
        return {k: _unflatten(v, leaves) for k, v in body}
    return kind(_unflatten(a, leaves) for a in body)


def _signature(x: Any) -> Any:
    if isinstance(x, Tensor):
        return ("T", x._view.shape, x.dtype, x._be, x.requires_grad)
    if type(x) is tuple and all(type(a) is Tensor for a in x):  # the common case: positional tensors
        return tuple((a._view.shape, a.dtype, a._be, a.requires_grad) for a in x)
    if isinstance(x, (tuple, list)):
        return (type(x).__name__, tuple(_signature(a) for a in x))
    if isinstance(x, dict):
        return ("dict", tuple((k, _signature(v)) for k, v in x.items()))
    try:
        hash(x)
    except TypeError:
        raise JitError(f"tg.jit: an argument of type {type(x).__name__} is neither a tensor nor hashable; pass "
                       f"tensors (and tuples/lists/dicts of them) or hashable constants") from None
    return ("C", type(x).__name__, x)


class _Capture:
    """What one capture of one signature replays, and what must still hold for it to apply."""

    def __init__(self, fn_name: str, rec: Recorder, programs: dict, out: Any, inputs: list):
        self.backend = rec.backend() if not rec.problems else None
        self.problems = list(rec.problems)
        be = self.backend
        self.native = be is not None and be in programs
        self.program: Any = programs.get(be) if self.native else MethodProgram(rec.calls)
        reused = getattr(self.program, "reused", None)
        if reused:
            self.problems.append(f"a tensor it used was freed during the call and its memory reused ({reused[0]}): "
                                 f"this happens when state is rebound (h = f(h)) instead of updated in place")
        self.modules = [(weakref.ref(m), training) for m, training in rec.modules.values()]
        leaves: list = []
        self.out_spec = _flatten(out, leaves)
        self.canon = (self.program.canonical(), self.out_spec_key(leaves),
                      tuple(sorted((type(m).__name__, t) for m, t in rec.modules.values())))
        self._bind(leaves, inputs)

    def out_spec_key(self, leaves: list) -> tuple:
        key = []
        for t in leaves:
            owned = self.program.owns(t._buf)
            key.append((t.shape, t._view.strides, t._view.offset, t.dtype.name, owned))
        return (repr(self.out_spec), tuple(key))

    def _bind(self, leaves: list, inputs: list) -> None:
        """Find what the replay must update or check: outputs, tensors alive after the call whose
        buffers the replay rewrites, parameters' .grad, and tensors whose storage it uses."""
        prog = self.program
        skip = {id(t) for t in leaves} | {id(t) for t in inputs}
        self.outputs: list = []  # per leaf: ("own", static tensor or slot, view, dtype) or ("same", tensor)
        keep = set()
        input_at = {id(t): i for i, t in enumerate(inputs)}
        input_bufs = {id(t._buf) for t in inputs}
        for t in leaves:
            if id(t) in input_at:  # an argument returned as it is: the caller's tensor
                self.outputs.append(("input", input_at[id(t)], None, None))
            elif id(t._buf) in input_bufs:  # a view of an argument: copied, our copy is rewritten per call
                self.outputs.append(("copy", t, None, None))
            elif prog.owns(t._buf):
                if self.native:  # copied out after each replay: (buffer, kernel view, result view)
                    v = t._view
                    cs, (st,) = coalesce(v.shape, v.strides)
                    self.outputs.append(("own", t._buf, (View(cs, st, v.offset), dispatch.contig(v.shape)), t.dtype))
                else:
                    k = prog.slot_of[id(t._buf)]
                    keep.add(k)
                    self.outputs.append(("slot", k, t._view, t.dtype))
            else:
                self.outputs.append(("same", t, None, None))
        self.keep_bufs = [t._buf for t in leaves]  # buffers whose values outlive the replay
        self.repoint: list = []  # (weakref to a tensor, slot): rebind t._buf after a method replay
        self.grads: list = []  # (weakref to a tensor, its .grad after the capture)
        self.storage: list = []  # (weakref to a tensor, its buffer): a replay needs both unchanged
        for o in gc.get_objects():
            # type(), not isinstance(): isinstance asks a dead weakref.proxy for __class__, which raises
            if not issubclass(type(o), Tensor) or id(o) in skip:
                continue
            buf = o._buf
            if prog.owns(buf):
                self.keep_bufs.append(buf)
                if not self.native:
                    k = prog.slot_of[id(buf)]
                    keep.add(k)
                    self.repoint.append((weakref.ref(o), k))
            elif prog.references(buf):
                self.storage.append((weakref.ref(o), buf, o._vc))
            g = o.grad
            if g is not None and prog.owns(g._buf):
                self.grads.append((weakref.ref(o), g))
                self.keep_bufs.append(g._buf)
        self.keep_slots = keep

    def fuse(self) -> None:
        """Let the native program fuse its elementwise runs (the buffers in keep_bufs stay written)."""
        if self.native:
            fuse = getattr(self.program, "fuse", None)
            if fuse is not None:
                fuse(self.keep_bufs)
        else:
            self.program.finish(self.keep_slots, self.backend)
        self.keep_bufs = []

    def finish(self) -> None:
        """Make a method program replayable without fusing (see fuse)."""
        if not self.native:
            self.program.finish(self.keep_slots)

    def first_difference(self, other: "_Capture") -> str:
        a, b = self.canon[0], other.canon[0]
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                if len(x) == len(y) and x[0] == y[0]:
                    for j, (u, v) in enumerate(zip(x, y)):
                        if u != v:
                            return f"step {i}, {x[0]}: argument {j - 1} was {_describe(u)}, then {_describe(v)}"
                return f"step {i}: {_describe(x)}, then {_describe(y)}"
        if len(a) != len(b):
            return f"{len(a)} kernels then {len(b)}"
        if self.canon[1] != other.canon[1]:
            return "the outputs differ in structure, shape, layout or constants"
        return "the modules called or their train()/eval() modes differ"

    def still_valid(self) -> Optional[str]:
        """None when the replay applies; otherwise why not (then the function is captured again)."""
        for ref, training in self.modules:
            m = ref()
            if m is None or m.training != training:
                return "a module changed between train() and eval(), or was deleted"
        for ref, buf, _ in self.storage:
            t = ref()
            if t is None or t._buf is not buf:
                return "a tensor the function uses got new storage, or was deleted"
        return None

    def replay(self, arg_leaves: list) -> Any:
        for _, _, vc in self.storage:  # the replay may write them: saved-tensor checks must see it
            vc[0] += 1
        leaves = []
        if self.native:
            self.program.replay()
            be = self.backend
            for kind, x, views, dtype in self.outputs:
                if kind == "own":
                    buf = be.copy(x, views[0], dtype, dtype) if views[1].numel() else be.empty(0, dtype)
                    leaves.append(dispatch.wrap(buf, views[1], dtype, be))
                else:
                    leaves.append(self._other_output(kind, x, arg_leaves))
        else:
            S = self.program.replay()
            for ref, k in self.repoint:
                t = ref()
                if t is not None:
                    t._buf = S[k]
            be = self.backend
            for kind, x, view, dtype in self.outputs:
                leaves.append(dispatch.wrap(S[x], view, dtype, be) if kind == "slot" else self._other_output(kind, x, arg_leaves))
        for ref, g in self.grads:
            t = ref()
            if t is not None and t.grad is not g:
                t.grad = g
        if self.out_spec[0] == "T":
            return leaves[0]
        return _unflatten(self.out_spec, leaves)


    @staticmethod
    def _other_output(kind: str, x: Any, arg_leaves: list) -> Any:
        if kind == "input":
            return arg_leaves[x]
        if kind == "copy":
            return dispatch.copy(x, x.dtype)
        return x


def _describe(step: Any) -> str:
    text = repr(step)
    return text if len(text) < 300 else text[:300] + "..."


def _loader(mine: Tensor) -> Callable[[Tensor], None]:
    """A function copying a tensor of `mine`'s shape and dtype into `mine` (contiguous, ours)."""
    n = mine._view.numel()
    flat = View((n,), (1,), 0)
    buf, dtype, be = mine._buf, mine.dtype, mine._be

    def load(t: Tensor) -> None:
        v = t._view
        if not n:
            return
        if t._be is not be:
            raise JitError(f"tg.jit: an argument is on backend {t._be.name}, the capture's on {be.name}")
        if v.is_contiguous():
            be.assign(buf, flat, t._buf, View((n,), (1,), v.offset), dtype)
        else:
            dispatch.assign(buf, mine._view, t)
    return load


def _native_loader(copy_in: Callable[[Any, int], None], mine: Tensor) -> Callable[[Tensor], None]:
    """Like _loader, with the native program's copy for contiguous arguments."""
    slow = _loader(mine)
    be = mine._be

    def load(t: Tensor) -> None:
        v = t._view
        if t._be is be and v.is_contiguous():
            copy_in(t._buf, v.offset)
        else:
            slow(t)
    return load


class _Entry:
    """The calls of one signature so far."""

    def __init__(self) -> None:
        self.stage = _WARMUP
        self.inputs: Optional[list] = None  # our own copies of the tensor arguments, reused by every capture
        self.loaders: list = []
        self.flat_args = False
        self.capture: Optional[_Capture] = None
        self.error: Optional[JitError] = None


class JitFunction:
    """A function whose calls replay captured kernels (see tg.jit)."""

    def __init__(self, fn: Callable, max_captures: int = 8, native: bool = True, fuse: bool = True):
        self.fn = fn
        self.max_captures = max_captures
        self.native = native
        self.fuse = fuse and os.environ.get("TG_JIT_FUSE", "1") != "0"
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.RLock()
        self.__name__ = getattr(fn, "__name__", "function")
        self.__doc__ = getattr(fn, "__doc__", None)

    def reset(self) -> None:
        """Forget every capture: the next calls run eagerly and capture again."""
        with self._lock:
            self._entries.clear()

    def captured_kernels(self) -> list:
        """The replay steps of each signature captured so far, by name (kernels, fused runs,
        checks), for tests and benchmarks."""
        return [e.capture.program.kernel_names() for e in self._entries.values() if e.stage == _READY and e.capture]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if dispatch.capture is not None:  # called inside another jitted function's capture: that one records us
            return self.fn(*args, **kwargs)
        key = (_signature(args), _signature(kwargs) if kwargs else None, is_grad_enabled())
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > self.max_captures:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            if entry.error is not None:
                raise entry.error
            if entry.stage == _READY:
                why = entry.capture.still_valid()
                if why is None:
                    return entry.capture.replay(self._load_inputs(entry, args, kwargs))
                entry.stage, entry.capture = _CAPTURE, None  # capture again, from this call on
            if entry.stage == _WARMUP:
                entry.stage = _CAPTURE
                return self.fn(*args, **kwargs)
            if entry.stage == _VERIFY and entry.capture.still_valid() is not None:
                entry.stage, entry.capture = _CAPTURE, None  # changed since the first capture: start over
            return self._capture(entry, args, kwargs)

    # ------------------------------------------------------------------ capturing
    def _load_inputs(self, entry: _Entry, args: tuple, kwargs: dict) -> Any:
        """Copy the tensor arguments into our own input tensors (made on the first capture); the
        caller's tensor arguments, in order."""
        if entry.inputs is not None and entry.flat_args and not kwargs:  # positional tensors only
            for load, t in zip(entry.loaders, args):
                load(t)
            return args
        leaves: list = []
        spec = _flatten((args, kwargs), leaves)
        if entry.inputs is None:
            for i, t in enumerate(leaves):
                if t.requires_grad:
                    raise JitError(f"tg.jit: tensor argument {i} of {self.__name__}() requires grad; a replay gives "
                                   f"no gradient to arguments. Read parameters from the closure (they are used "
                                   f"by storage) and pass data tensors as arguments")
            mine = []
            for t in leaves:
                c = dispatch.copy(t, t.dtype)
                c.requires_grad = t.requires_grad
                mine.append(c)
            entry.inputs = mine
            entry.loaders = [_loader(c) for c in mine]
            entry.flat_args = len(leaves) == len(args) and all(type(a) is Tensor for a in args)
        else:
            for load, t in zip(entry.loaders, leaves):
                load(t)
        return leaves

    def _capture(self, entry: _Entry, args: tuple, kwargs: dict) -> Any:
        arg_leaves = self._load_inputs(entry, args, kwargs)
        call_args, call_kwargs = _unflatten(_flatten((args, kwargs), []), list(entry.inputs))
        for t in entry.inputs:
            t.grad = None
        rec = Recorder(native=self.native)
        rec.start()
        try:
            out = self.fn(*call_args, **call_kwargs)
        finally:
            programs = rec.stop()
        cap = _Capture(self.__name__, rec, programs, out, entry.inputs)
        if cap.problems:
            entry.error = JitError(f"tg.jit cannot capture {self.__name__}(): " + "; ".join(cap.problems))
            raise entry.error
        if entry.stage == _CAPTURE:
            entry.capture, entry.stage = cap, _VERIFY
        else:
            first = entry.capture
            if first is None or first.canon != cap.canon:
                why = first.first_difference(cap) if first is not None else "no first capture"
                entry.error = JitError(
                    f"tg.jit: {self.__name__}() ran different kernels on two calls with the same argument shapes "
                    f"({why}). A replay would repeat the captured ones, so it is refused. Usual causes: a Python "
                    f"number that changes per call (a step count, a learning rate from a scheduler: keep it in a "
                    f"tensor updated in place), state rebound instead of updated in place (h = f(h): use h.copy_()), "
                    f"gradients accumulated across calls (call optimizer.zero_grad() inside the function), data "
                    f"picked by a Python index that changes (pass the batch as an argument)")
                entry.capture = None
                raise entry.error
            entry.capture, entry.stage = cap, _READY
            if self.fuse:
                cap.fuse()
            else:
                cap.finish()
            if cap.native and hasattr(cap.program, "input_loader"):
                entry.loaders = [_native_loader(cap.program.input_loader(c._buf), c) for c in entry.inputs]
        leaves: list = []
        spec = _flatten(out, leaves)
        returned = []
        for t, (kind, x, _, _) in zip(leaves, cap.outputs):
            if kind in ("input", "copy"):
                returned.append(cap._other_output(kind, x, list(arg_leaves)))
            elif cap.native and kind == "own":  # a replay rewrites its buffer: the caller gets a copy
                returned.append(dispatch.copy(t, t.dtype))
            else:
                returned.append(t.detach())
        return _unflatten(spec, returned)


def jit(fn: Optional[Callable] = None, *, max_captures: int = 8, native: bool = True, fuse: bool = True) -> Any:
    """Capture and replay the kernels of `fn` (a decorator, with or without arguments).
    `max_captures`: signatures kept (least recently used dropped); `native=False` replays through
    the backend's Python methods even where the backend records a native program (for testing);
    `fuse=False` (or TG_JIT_FUSE=0) keeps every elementwise kernel of a native program separate."""
    if fn is None:
        return lambda f: JitFunction(f, max_captures, native, fuse)
    return JitFunction(fn, max_captures, native, fuse)
