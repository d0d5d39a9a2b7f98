"""The data the runner works with: a Case to time and the Row it produces."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional


class Skip(Exception):
    """Raised by a case's make() when an implementation cannot or should not run it."""


@dataclass
class Case:
    """One thing to time, e.g. 'add' on 1e6 float32 elements, for every implementation."""

    suite: str
    name: str
    params: str
    make: Callable[[str], Callable[[], Any]]   # impl -> zero-argument function to time
    impls: Optional[list] = None                # None: every implementation of the run
    elements: int = 0                           # largest tensor, for the slow-backend limit
    macs: int = 0                               # multiply-adds, for the slow-backend limit
    bytes: int = 0                              # bytes read + written, for GB/s
    flops: int = 0                              # for GFLOP/s
    check: bool = True                          # compare values with numpy's on the first call
    extra: dict = field(default_factory=dict)


@dataclass
class Row:
    """One measured (or skipped) implementation of one case; the unit of tables and JSON."""

    suite: str
    case: str
    params: str
    impl: str
    kind: str                                   # "ours" (a backend) or "reference"
    status: str = "ok"                          # ok | skipped | error
    reason: str = ""
    median_s: Optional[float] = None
    min_s: Optional[float] = None
    max_s: Optional[float] = None
    samples: int = 0
    calls_per_sample: int = 0
    first_call_s: Optional[float] = None
    rate: Optional[float] = None
    rate_unit: str = ""
    ratios: dict = field(default_factory=dict)  # reference impl -> our median / its median
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        """Identity of the row across runs (for --compare)."""
        return (self.suite, self.case, self.params, self.impl)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Row":
        """Inverse of to_dict (unknown keys are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})
