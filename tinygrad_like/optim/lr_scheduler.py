"""Learning-rate schedulers with PyTorch's sequences: StepLR, CosineAnnealingLR, LambdaLR, MultiplicativeLR,
ExponentialLR, LinearLR, OneCycleLR, SequentialLR (call scheduler.step() once per epoch or batch) and
ReduceLROnPlateau (step(metric))."""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Callable, Optional, Sequence, Union

from ..errors import check_positive_int, InvalidValueError
from .optimizer import Optimizer


class _SchedulerState:
    """What every scheduler shares: the last learning rates and a state_dict of its own fields."""

    _last_lr: list

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class LRScheduler(_SchedulerState):
    """Sets each group's 'lr' from its 'initial_lr' and the epoch counter last_epoch."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise InvalidValueError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The closed form: the lr of a group starting at base_lr, at `epoch`."""
        raise NotImplementedError

    def get_lr(self) -> list:
        """Each group's lr at self.last_epoch (a recursive scheduler reads the groups' current lr)."""
        return self._closed_form()

    def _closed_form(self) -> list:
        """The lrs at self.last_epoch from lr_at; get_lr() for a scheduler without a closed form."""
        if type(self).lr_at is LRScheduler.lr_at:
            return self.get_lr()
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def step(self, epoch: Optional[int] = None) -> None:
        """Advance one epoch (or jump to `epoch`: the closed form) and set every group's lr."""
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self._closed_form()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = check_positive_int(step_size, "StepLR: step_size")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = check_positive_int(T_max, "CosineAnnealingLR: T_max")
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def _per_group(value: Any, optimizer: Optimizer, what: str) -> list:
    """A value per parameter group (one given value is used for every group)."""
    groups = optimizer.param_groups
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise InvalidValueError(f"expected {len(groups)} values for {what}, got {len(value)}")
        return list(value)
    return [value] * len(groups)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch) (one function, or one per group)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Union[Callable, Sequence[Callable]], last_epoch: int = -1):
        self.lr_lambdas = _per_group(lr_lambda, optimizer, "lr_lambda")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}


class MultiplicativeLR(LambdaLR):
    """lr *= lr_lambda(epoch) at every step after the first."""

    def get_lr(self) -> list:
        groups = self.optimizer.param_groups
        if self.last_epoch > 0:
            return [g["lr"] * f(self.last_epoch) for g, f in zip(groups, self.lr_lambdas)]
        return [g["lr"] for g in groups]


class ExponentialLR(LRScheduler):
    """lr *= gamma every step (closed form initial_lr * gamma ** epoch)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        groups = self.optimizer.param_groups
        return [g["lr"] * (self.gamma if self.last_epoch > 0 else 1.0) for g in groups]

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** epoch


class LinearLR(LRScheduler):
    """The lr factor goes linearly from start_factor to end_factor over total_iters steps, then stays."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise InvalidValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got "
                                    f"{start_factor} and {end_factor}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:  # PyTorch's recursive form, so the sequences agree to the last bit
        groups, e, s, t = self.optimizer.param_groups, self.end_factor, self.start_factor, self.total_iters
        if self.last_epoch == 0:
            return [g["lr"] * s for g in groups]
        if self.last_epoch > t:
            return [g["lr"] for g in groups]
        return [g["lr"] * (1.0 + (e - s) / (t * s + (self.last_epoch - 1) * (e - s))) for g in groups]

    def lr_at(self, base_lr: float, epoch: int) -> float:
        s, e, t = self.start_factor, self.end_factor, self.total_iters
        return base_lr * (s + (e - s) * min(t, epoch) / t)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith): lr from max_lr/div_factor up to max_lr over pct_start of total_steps,
    then down to initial_lr/final_div_factor; momentum (or Adam's beta1) cycles the other way."""

    def __init__(self, optimizer: Optimizer, max_lr: Any, total_steps: Optional[int] = None,
                 epochs: Optional[int] = None, steps_per_epoch: Optional[int] = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: Any = 0.85,
                 max_momentum: Any = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise InvalidValueError("OneCycleLR: pass total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise InvalidValueError(f"OneCycleLR: expected a positive integer total_steps, got {total_steps!r}")
        if not 0 <= pct_start <= 1:
            raise InvalidValueError(f"OneCycleLR: expected pct_start in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise InvalidValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps = total_steps
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = cycle_momentum
        p = float(pct_start * total_steps)
        if three_phase:
            self._phases = [(p - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (2 * p - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                            (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [(p - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        groups = optimizer.param_groups
        for g, top in zip(groups, _per_group(max_lr, optimizer, "max_lr")):
            g["initial_lr"] = top / div_factor
            g["lr"] = g["initial_lr"]
            g["max_lr"] = top
            g["min_lr"] = g["initial_lr"] / final_div_factor
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise InvalidValueError("OneCycleLR: optimizer must support momentum or betas with cycle_momentum enabled")
            self._beta1 = "betas" in optimizer.defaults
            for g, lo, hi in zip(groups, _per_group(base_momentum, optimizer, "base_momentum"),
                                 _per_group(max_momentum, optimizer, "max_momentum")):
                self._set_momentum(g, hi)
                g["base_momentum"], g["max_momentum"] = lo, hi
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, m: float) -> None:
        if self._beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        step = self.last_epoch
        if step > self.total_steps:
            raise InvalidValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        lrs = []
        for g in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(g[lr0], g[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(g, self._anneal(g[m0], g[m1], pct))
                    break
                start = end
        return lrs


class SequentialLR(LRScheduler):
    """schedulers[i] runs from milestones[i-1] on (restarted at step 0 there): e.g. warm-up then cosine."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1):
        if len(schedulers) < 1 or len(milestones) != len(schedulers) - 1:
            raise InvalidValueError(f"SequentialLR: expected {max(len(schedulers) - 1, 0)} milestones for "
                                    f"{len(schedulers)} schedulers, got {len(milestones)}")
        for i, sch in enumerate(schedulers):
            if sch.optimizer is not optimizer:
                raise InvalidValueError(f"SequentialLR: scheduler {i} belongs to a different optimizer")
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        for g in optimizer.param_groups:  # undo the first step each scheduler took when it was built
            g["lr"] = g["initial_lr"]
        for sch in self._schedulers:
            sch.last_epoch -= 1
        self._schedulers[0].step()
        self._last_lr = self._schedulers[0].get_last_lr()

    def step(self, epoch: Optional[int] = None) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sch = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sch.step(0)
        else:
            sch.step()
        self._last_lr = sch.get_last_lr()

    def state_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        for sch, sd in zip(self._schedulers, state.pop("_schedulers")):
            sch.load_state_dict(sd)
        self.__dict__.update(state)


class ReduceLROnPlateau(_SchedulerState):
    """Multiply the lr by factor when the metric passed to step() has not improved for patience epochs."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: Any = 0,
                 eps: float = 1e-8):
        if factor >= 1.0:
            raise InvalidValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise InvalidValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown; use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise InvalidValueError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown; use 'rel' or 'abs'")
        if not isinstance(optimizer, Optimizer):
            raise InvalidValueError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        self.min_lrs = _per_group(min_lr, optimizer, "min_lr")
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.eps = threshold, threshold_mode, cooldown, eps
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, a: float, best: float) -> bool:
        t = self.threshold
        if self.mode == "min":
            return a < (best * (1.0 - t) if self.threshold_mode == "rel" else best - t)
        return a > (best * (t + 1.0) if self.threshold_mode == "rel" else best + t)

    def step(self, metrics: Any) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, low in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(g["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
