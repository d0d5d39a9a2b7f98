"""Optimizer base: parameter groups, per-parameter state, zero_grad, step under no_grad."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from ..autograd import enable_grad, no_grad
from ..errors import InvalidValueError
from ..tensor import Tensor


class Optimizer:
    """Holds param_groups (dicts with 'params' and hyper-parameters) and state[param] (dicts)."""

    def __init__(self, params: Iterable[Any], defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list = []
        groups = list(params)
        if not groups:
            raise InvalidValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters, with options that override the defaults."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise InvalidValueError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise InvalidValueError("can't optimize a non-leaf Tensor")
            if id(p) in seen:
                raise InvalidValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        g = dict(self.defaults)
        g.update(group)
        g["params"] = params
        g.setdefault("initial_lr", g.get("lr"))
        self.param_groups.append(g)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's .grad (or fill it with zeros when set_to_none=False)."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    with no_grad():
                        p.grad.zero_()

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One update of every parameter that has a .grad; closure re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for g in self.param_groups:
                for p in g["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, g, self.state.setdefault(p, {}))
        return loss

    def _update(self, p: Tensor, grad: Tensor, group: dict, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyper-parameters and per-parameter state, with parameters named by position."""
        index: dict = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(len(a["params"]) != len(b["params"])
                                                        for a, b in zip(groups, self.param_groups)):
            raise InvalidValueError("loaded optimizer state does not match this optimizer's parameter groups")
        params = [p for g in self.param_groups for p in g["params"]]
        for mine, theirs in zip(self.param_groups, groups):
            mine.update({k: v for k, v in theirs.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: (v.to(p.backend).clone() if isinstance(v, Tensor) else v) for k, v in s.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "initial_lr"):
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def check_nonneg(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise InvalidValueError(f"Invalid {name} value: {value!r} (must be >= 0)")
