"""A replayable list of backend calls, for backends that do not record themselves (numba, python).

Each buffer a recorded call returned is a numbered slot; a replay calls the same methods with
the same arguments, each slot bound to the buffer its call returns this time (buffers that
existed before the capture, such as parameters, are passed as they are). A slot is dropped
after its last use, so a replay holds no more memory than the eager run. A backend with a
`replay_kernel(name, args)` may hand back, for a call checked when captured, a function of the same
arguments that skips the work depending on views and constants alone.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from ..dtypes import DType
from ..view import View
from ..backends.protocol import ARITH_OPS, UNARY_OPS
from . import fusion
from .recorder import Call, Check, replay_check

_FUSABLE = {"unary": {name for name in UNARY_OPS if name != "logical_not"}, "binary": set(ARITH_OPS)}


def _canonical(x: Any, slot_of: dict) -> Any:
    """A comparable form of one argument: buffers by slot (or by identity when external)."""
    k = slot_of.get(id(x))
    if k is not None:
        return ("slot", k)
    if isinstance(x, View):
        return ("view", x.shape, x.strides, x.offset)
    if isinstance(x, DType):
        return x.name
    if isinstance(x, float):
        return ("float", "nan" if math.isnan(x) else x)
    if isinstance(x, (tuple, list)):
        return tuple(_canonical(a, slot_of) for a in x)
    if isinstance(x, (int, str, bool)) or x is None:
        return x
    return ("object", id(x))


class MethodProgram:
    """The recorded calls of one capture on a backend without a native capture."""

    def __init__(self, calls: list):
        self.slot_of: dict = {}  # id(buffer) -> slot, for every buffer a recorded call returned
        self._buffers: list = []  # the capture's own buffers (kept until finish(): their ids stay unique)
        self._external: dict = {}  # id -> buffer passed in that existed before the capture
        self._canon: list = []
        specs = [self._spec(c) for c in calls]
        self.nslots = len(self._buffers)
        self._specs = specs
        self._steps: list = []
        self._run: Any = None  # straight_line(self._steps), built by finish()
        self._keep: set = set()
        self.names: list = []

    def _slot(self, buf: Any) -> int:
        k = self.slot_of.get(id(buf))
        if k is None:
            k = self.slot_of[id(buf)] = len(self._buffers)
            self._buffers.append(buf)
        return k

    def _spec(self, c: Any) -> tuple:
        slot_of = self.slot_of
        if isinstance(c, Check):
            k = slot_of.get(id(c.buf))
            if k is None:
                self._external[id(c.buf)] = c.buf
            self._canon.append(("check", c.what, ("slot", k) if k is not None else ("buffer", id(c.buf)),
                                _canonical(c.view, slot_of), c.decision))
            return ("check", c, k)
        assert isinstance(c, Call)
        ins, args = [], list(c.args)
        for i, a in enumerate(args):
            k = slot_of.get(id(a))
            if k is not None:
                ins.append((i, k))
                args[i] = None
            elif isinstance(a, (list, tuple, View, DType, str, int, float, bool)) or a is None:
                pass
            else:
                self._external[id(a)] = a
        kw_ins = []
        for key, a in c.kwargs.items():
            k = slot_of.get(id(a))
            if k is not None:
                kw_ins.append((key, k))
            elif a is not None:
                self._external[id(a)] = a
        if c.name == "random":  # seed and counter come from the generator at replay time
            canon: tuple = ("random", c.be.name, c.args[0], c.args[1], c.args[4].name)
        else:
            canon = (c.name, c.be.name, tuple(_canonical(a, slot_of) for a in c.args),
                     tuple(sorted((key, _canonical(a, slot_of)) for key, a in c.kwargs.items())))
        r = c.result
        if r is None:
            outs: Any = None
        elif isinstance(r, tuple):
            outs = tuple(None if x is None or id(x) in slot_of or id(x) in self._external else self._slot(x) for x in r)
        elif id(r) in slot_of or id(r) in self._external:
            outs = None  # the call handed back a buffer it was given
        else:
            outs = self._slot(r)
        self._canon.append(canon + (outs,))
        kwargs = {key: a for key, a in c.kwargs.items() if key not in dict(kw_ins)}
        return ("call", c, args, kwargs, ins, kw_ins, outs)

    def canonical(self) -> list:
        return list(self._canon)

    def owns(self, buf: Any) -> bool:
        return id(buf) in self.slot_of

    def references(self, buf: Any) -> bool:
        """True when the calls read or write `buf`, a buffer that existed before the capture."""
        return id(buf) in self._external

    def _reads(self, spec: tuple) -> list:
        """The slots a spec reads."""
        if spec[0] == "check":
            return [spec[2]] if spec[2] is not None else []
        if spec[0] == "fused":
            return [k[1] for k in spec[2] if k[0] == "slot"]
        return [k for _, k in spec[4]] + [k for _, k in spec[5]]

    def fuse(self, be: Any) -> None:
        """Replace runs of elementwise calls with one call each of `be.fuse_elementwise`'s kernels."""
        build = getattr(be, "fuse_elementwise", None)
        if build is None:
            return
        specs = self._specs
        later: list = [set() for _ in range(len(specs) + 1)]  # slots read by specs from i on
        for i in range(len(specs) - 1, -1, -1):
            later[i] = later[i + 1] | set(self._reads(specs[i]))

        def key(buf: Any) -> tuple:
            k = self.slot_of.get(id(buf))
            return ("slot", k) if k is not None else ("ext", id(buf))
        out, i = [], 0
        while i < len(specs):
            d = fusion.describe(specs[i], _FUSABLE, key)
            if d is None:
                out.append(specs[i])
                i += 1
                continue
            chain = fusion.Chain(d[0], d[1])
            fusion.add(chain, d)
            j = i + 1
            while j < len(specs):
                d = fusion.describe(specs[j], _FUSABLE, key)
                if d is None or not fusion.admits(chain, d):
                    break
                fusion.add(chain, d)
                j += 1
            if j - i < 2:
                out.append(specs[i])
                i += 1
                continue
            final = {k: (tmp, slot) for tmp, k, slot in chain.writes}
            new_slots = []
            for k, (tmp, slot) in final.items():
                if slot is None:
                    chain.stores.append((tmp, ("operand", chain.key_of[k])))
                elif slot in later[j] or slot in self._keep:
                    chain.stores.append((tmp, ("new", len(new_slots))))
                    new_slots.append(slot)
            refs = [None] * len(chain.operands)
            for k, m in chain.key_of.items():
                refs[m] = k if k[0] == "slot" else ("ext", self._external[k[1]])
            out.append(("fused", build(chain), refs, new_slots, j - i))
            i = j
        self._specs = out

    def finish(self, keep: set, be: Any = None) -> None:
        """Build the replay steps; the slots in `keep` (outputs, tensors alive after the call) stay
        bound after a replay, the others are dropped after their last use. Fuses elementwise runs
        when `be` can. Drops the capture's buffers."""
        self._keep = set(keep)
        if be is not None:
            self.fuse(be)
        last: dict = {}
        for i, spec in enumerate(self._specs):
            if spec[0] == "check":
                if spec[2] is not None:
                    last[spec[2]] = i
            elif spec[0] == "fused":
                for k in self._reads(spec) + spec[3]:
                    last[k] = max(last.get(k, i), i)
            else:
                for _, k in spec[4]:
                    last[k] = i
                for _, k in spec[5]:
                    last[k] = i
                outs = spec[6]
                for k in (outs if isinstance(outs, tuple) else (outs,)):
                    if k is not None:
                        last.setdefault(k, i)
                        last[k] = max(last[k], i)
        frees: dict = {}
        for k, i in last.items():
            if k not in self._keep:
                frees.setdefault(i, []).append(k)
        self._steps = [self._compile(spec, tuple(frees.get(i, ()))) for i, spec in enumerate(self._specs)]
        self._run = straight_line(self._steps)
        self.names = [self._name(spec) for spec in self._specs]
        self._specs = []
        self._buffers = []

    @staticmethod
    def _name(spec: tuple) -> str:
        if spec[0] == "fused":
            return f"fused {spec[4]} calls"
        if spec[0] == "check":
            return f"check {spec[1].what}"
        return spec[1].name

    def kernel_names(self) -> list:
        return list(self.names)

    def _compile(self, spec: tuple, frees: tuple) -> Any:
        if spec[0] == "fused":
            _, fn, refs, new_slots, _ = spec
            ins = [(m, r[1]) for m, r in enumerate(refs) if r[0] == "slot"]
            bufs0 = [r[1] if r[0] == "ext" else None for r in refs]

            def fused_step(S: list) -> None:
                bufs = list(bufs0)
                for m, k in ins:
                    bufs[m] = S[k]
                res = fn(bufs)
                for m, k in enumerate(new_slots):
                    S[k] = res[m]
                for f in frees:
                    S[f] = None
            return fused_step
        if spec[0] == "check":
            c, k = spec[1], spec[2]
            to_list = type(c.be).to_list.__get__(c.be)
            buf, view, dtype = c.buf if k is None else None, c.view, c.dtype
            holder: list = [None]
            step = replay_check(lambda: to_list(holder[0], view, dtype)[0], c.check, c.decision, c.what)

            def check_step(S: list) -> None:
                holder[0] = buf if k is None else S[k]
                step()
                holder[0] = None
                for f in frees:
                    S[f] = None
            return check_step
        _, c, args, kwargs, ins, kw_ins, outs = spec
        if c.name == "random":
            gen, dist, n, dtype = c.generator, c.args[0], c.args[1], c.args[4]
            fn = c.fn

            def random_step(S: list) -> None:
                seed, counter = gen.reserve(dist, n)
                S[outs] = fn(dist, n, seed, counter, dtype)
                for f in frees:
                    S[f] = None
            return random_step
        fn = c.fn
        bind = getattr(c.be, "replay_kernel", None)  # the backend's call without its capture-time checks
        if bind is not None:
            fn = bind(c.name, c.args) or fn
        if not kwargs and not kw_ins and not isinstance(outs, tuple):
            # the common case, positional arguments and one result: a line of straight_line's code
            return PlainCall(fn, args, dict(ins), outs, frees)

        def call_step(S: list) -> None:
            a = list(args)
            for i, k in ins:
                a[i] = S[k]
            kw = dict(kwargs)
            for key, k in kw_ins:
                kw[key] = S[k]
            r = fn(*a, **kw)
            if outs is not None:
                if isinstance(outs, tuple):
                    for x, k in zip(r, outs):
                        if k is not None:
                            S[k] = x
                else:
                    S[outs] = r
            for f in frees:
                S[f] = None
        return call_step

    def replay(self) -> list:
        """Run the calls; the slots (those kept still bound)."""
        S: list = [None] * self.nslots
        self._run(S)
        return S


class PlainCall(NamedTuple):
    """A replay step that is one call: S[outs] = fn(*args), with the args at `ins` (position ->
    slot) read from the slots, then the slots in `frees` dropped."""
    fn: Any
    args: list
    ins: dict
    outs: Any
    frees: tuple


def straight_line(steps: list) -> Callable[[list], None]:
    """One Python function that runs `steps` in order: a PlainCall becomes a line `S[3] = K[7](K[8], S[1], K[9])` with its frees after it, any other step a
    call `K[12](S)`. Each of ~700 calls of a GRU step then costs a line of bytecode instead of a
    closure that copies its argument list and loops over its slots (3.9 -> 3.2 ms a step). The
    constants sit in one tuple argument: as closure cells (one per constant) the same replay of a
    transformer step ran 10% slower."""
    consts: list = []

    def name(obj: Any) -> str:
        consts.append(obj)
        return f"K[{len(consts) - 1}]"
    lines = []
    for step in steps:
        if not isinstance(step, PlainCall):
            lines.append(f"{name(step)}(S)")
            continue
        fn, args, ins, outs, frees = step
        call = f"{name(fn)}({', '.join(f'S[{ins[i]}]' if i in ins else name(a) for i, a in enumerate(args))})"
        lines.append(call if outs is None else f"S[{outs}] = {call}")
        lines += [f"S[{f}] = None" for f in frees]
    body = "\n".join("    " + line for line in lines) or "    pass"
    scope: dict = {}
    exec(compile(f"def replay(S, K):\n{body}\n", "<tg.jit replay>", "exec"), scope)
    run, K = scope["replay"], tuple(consts)
    return lambda S: run(S, K)
