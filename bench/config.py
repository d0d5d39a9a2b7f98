"""Run settings shared by the suites: impls, sizes, time budget."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from bench.timer import Budget


@dataclass
class Config:
    """What to run and how long to spend on each measurement."""

    backends: list                      # our backends to time, fastest first
    references: list                    # "numpy" (always) and "torch" when installed
    quick: bool = False
    sizes: Optional[list] = None        # --sizes override for the sweeping suites
    budget: Budget = field(default_factory=Budget)
    peak_gflops: Optional[float] = None  # float32 peak of the machine (for matmul shares)
    memory: bool = True                 # measure peak memory of training steps (subprocesses)

    @property
    def impls(self) -> list:
        """References first (their outputs check ours), then our backends."""
        return list(self.references) + list(self.backends)

    def pick(self, default: list, quick: list) -> list:
        """The size sweep for this run: --sizes, else the quick or default list."""
        if self.sizes:
            return list(self.sizes)
        return list(quick if self.quick else default)
