"""Module, Parameter, Sequential, ModuleList: parameter registration, state_dict, train/eval."""
from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator, Optional

from .. import dispatch
from ..autograd import RemovableHandle, is_grad_enabled, no_grad
from ..ops.movement import alias
from ..creation import empty, tensor
from ..errors import AutogradError, InvalidValueError, ShapeError, TensorError, TensorIndexError
from ..tensor import Tensor

_TENSOR_FIELDS = ("_buf", "_view", "dtype", "_be", "_vc")


class StateDictError(TensorError, RuntimeError):
    """load_state_dict(strict=True) found missing or unexpected keys."""


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a learnable parameter (requires grad by default)."""

    __slots__ = ()

    def __init__(self, data: Optional[Any] = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            data = tensor(data)
        _set_data(self, data)
        self.grad = None
        self._node = None
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__


_HOOK_IDS = itertools.count()


def _backward_hook_inputs(module: "Module", args: tuple, hooks: list) -> tuple:
    """(args with each tensor that requires grad passed through an identity node, a function that
    does the same to the output): the identity nodes' gradient hooks collect grad_output, then
    grad_input, and call the module's backward hooks once every input gradient is known."""
    grad_output: list = []
    idx = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    got: dict = {}

    def input_hook(k: int) -> Callable:
        def on_grad(g: Tensor) -> Optional[Tensor]:
            got[k] = g
            if len(got) < len(idx):
                return None
            grad_input = original = tuple(got[i] for i in idx)
            for hook in hooks:
                r = hook(module, grad_input, tuple(grad_output))
                if r is not None:
                    r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
                    if len(idx) > 1 and any(a is not b for a, b in zip(r, grad_input)):
                        raise AutogradError("a full backward hook may replace grad_input only on a module with one "
                                            "tensor input that requires grad")
                    grad_input = r
            got.clear()
            return None if grad_input is original else grad_input[idx.index(k)]
        return on_grad

    args = list(args)
    for k in idx:
        args[k] = alias(args[k])
        args[k].register_hook(input_hook(k))

    def on_output(out: Any) -> Any:
        outs = out if isinstance(out, tuple) else (out,)
        wrapped = []
        for o in outs:
            if isinstance(o, Tensor) and o.requires_grad:
                o = alias(o)
                o.register_hook(lambda g: grad_output.append(g))
            wrapped.append(o)
        return tuple(wrapped) if isinstance(out, tuple) else wrapped[0]
    return tuple(args), on_output


def _set_data(t: Tensor, data: Tensor) -> None:
    """Point `t` at `data`'s storage (what `param.data = data` does in PyTorch)."""
    src = data.detach()
    for k in _TENSOR_FIELDS:
        object.__setattr__(t, k, getattr(src, k))


class Module:
    """Base class of layers and models: holds parameters, buffers and submodules by name."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise TensorError(f"cannot assign {name!r} before Module.__init__() is called; call super().__init__() first")
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        self.__dict__.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
            self._modules[name] = ModuleList(value)  # a plain list of layers is registered too
        elif isinstance(value, Tensor) and name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Register `param` (or None, for an optional parameter such as a missing bias) as `name`."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value: Optional[Tensor]) -> None:
        """A tensor saved in state_dict but not trained (e.g. running statistics)."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        if value is None:
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, value)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        self._modules[name] = module

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if dispatch.capture is not None:  # a tg.jit capture replays only while train()/eval() stays
            dispatch.capture.note_module(self)
        hooks = self.__dict__.get("_hooks")
        if not hooks:
            return self.forward(*args, **kwargs)
        for hook in list(hooks["forward_pre"].values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        backward_hooks = list(hooks["backward"].values())
        if backward_hooks and is_grad_enabled():
            args, on_output = _backward_hook_inputs(self, args, backward_hooks)
        out = self.forward(*args, **kwargs)
        for hook in list(hooks["forward"].values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        if backward_hooks and is_grad_enabled():
            out = on_output(out)
        return out

    # ------------------------------------------------------------------ hooks
    def _hook_dict(self, kind: str) -> OrderedDict:
        hooks = self.__dict__.get("_hooks")
        if hooks is None:
            hooks = {"forward_pre": OrderedDict(), "forward": OrderedDict(), "backward": OrderedDict()}
            object.__setattr__(self, "_hooks", hooks)
        return hooks[kind]

    def _add_hook(self, kind: str, hook: Callable) -> RemovableHandle:
        d = self._hook_dict(kind)
        key = next(_HOOK_IDS)
        d[key] = hook
        return RemovableHandle(d, key)

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, args) runs before forward; a returned value replaces args (a non-tuple is wrapped)."""
        return self._add_hook("forward_pre", hook)

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, args, output) runs after forward; a returned value replaces the output."""
        return self._add_hook("forward", hook)

    def register_full_backward_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, grad_input, grad_output) runs when the gradients with respect to the module's
        tensor inputs are computed; a returned tuple replaces grad_input."""
        return self._add_hook("backward", hook)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "", memo: Optional[set] = None) -> Iterator[tuple]:
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named(self, store: str, prefix: str, recurse: bool) -> Iterator[tuple]:
        seen: set = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, t in getattr(m, store).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mp}.{name}" if mp else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple]:
        """(dotted name, Parameter) pairs, each shared parameter once."""
        return self._named("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple]:
        return self._named("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call fn on every submodule (children first) and on self, as in PyTorch."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise InvalidValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.zero_()

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """Move/cast every parameter and buffer in place: to('numba'), to(tg.float64), ..."""
        with no_grad():
            for m in self.modules():
                for store in (m._parameters, m._buffers):
                    for name, t in store.items():
                        if t is None:
                            continue
                        new = t.to(*args, **kwargs) if t.dtype.is_float else _move_only(t, args, kwargs)
                        if isinstance(t, Parameter) and not new.dtype.is_float:
                            raise InvalidValueError(f"to(): parameter {name!r} would become {new.dtype.name}; only float dtypes can require grad")
                        if new is not t:
                            _set_data(t, new)
                            if t.grad is not None:
                                t.grad = t.grad.to(*args, **kwargs)
        return self

    def double(self) -> "Module":
        return self.to("float64")

    def float(self) -> "Module":
        return self.to("float32")

    # ------------------------------------------------------------------ state
    def state_dict(self, prefix: str = "") -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by dotted name, detached and sharing memory (as in PyTorch)."""
        out: OrderedDict = OrderedDict()
        for mp, m in self.named_modules(prefix.rstrip(".")):
            for store in (m._parameters, m._buffers):
                for name, t in store.items():
                    if t is not None:
                        out[f"{mp}.{name}" if mp else name] = t.detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's tensors; with strict, missing/unexpected keys raise."""
        own = OrderedDict()
        for mp, m in self.named_modules():
            for store in (m._parameters, m._buffers):
                for name, t in store.items():
                    if t is not None:
                        own[f"{mp}.{name}" if mp else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("Missing key(s) in state_dict: " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("Unexpected key(s) in state_dict: " + ", ".join(repr(k) for k in unexpected))
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}: " + ". ".join(parts) + ".")
        for k, t in own.items():  # check every shape before copying anything
            if k in state_dict:
                v = state_dict[k]
                if not isinstance(v, Tensor):
                    raise InvalidValueError(f"load_state_dict: value for {k!r} is a {type(v).__name__}, expected a Tensor")
                if tuple(v.shape) != tuple(t.shape):
                    raise ShapeError(f"load_state_dict: size mismatch for {k!r}: copying a param with shape {tuple(v.shape)}, "
                                     f"the shape in the current model is {tuple(t.shape)}")
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    t.copy_(state_dict[k])
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        extra = self.extra_repr()
        head = f"{type(self).__name__}({extra}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class _Container(Module):
    """What Sequential and ModuleList share: numbered submodules, len, iteration, indexing."""

    def append(self, module: Module) -> Any:
        self.add_module(str(len(self._modules)), _check_module(module))
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: Any) -> Any:
        items = list(self._modules.values())
        if isinstance(idx, slice):
            return self._from_list(items[idx])
        return items[_check_index(idx, len(items))]

    def _from_list(self, items: list) -> "Module":
        raise NotImplementedError


class Sequential(_Container):
    """Calls its modules in order: Sequential(Linear(2, 4), ReLU(), Linear(4, 1))."""

    def __init__(self, *modules: Any):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(str(name), _check_module(m))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _check_module(m))

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def _from_list(self, items: list) -> "Sequential":
        return Sequential(*items)


class ModuleList(_Container):
    """A list of modules whose parameters are registered as '0.weight', '1.weight', ..."""

    def __init__(self, modules: Optional[Any] = None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def extend(self, modules: Any) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def _from_list(self, items: list) -> "ModuleList":
        return ModuleList(items)


def _move_only(t: Tensor, args: tuple, kwargs: dict) -> Tensor:
    """t.to(...) without the dtype part: Module.to(dtype) casts only floating point tensors (an int64
    buffer such as num_batches_tracked keeps its dtype), as in PyTorch."""
    backends = [a._be.name if isinstance(a, Tensor) else a for a in args
                if isinstance(a, Tensor) or (isinstance(a, str) and a in ("python", "numba", "c"))]
    backend = kwargs.get("backend", backends[-1] if backends else None)
    return t.to(backend=backend) if backend is not None else t


def _check_module(m: Any) -> Module:
    if not isinstance(m, Module):
        raise InvalidValueError(f"expected a tg.nn.Module, got {type(m).__name__}")
    return m


def _check_index(idx: int, n: int) -> int:
    if not -n <= idx < n:
        raise TensorIndexError(f"index {idx} is out of range for a container of {n} modules")
    return idx % n
