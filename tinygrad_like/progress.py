"""A small progress bar for training loops (tqdm-like); silent when the output is not a terminal."""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, Optional, TextIO


class Progress:
    """Wraps an iterable: `for x in Progress(loader, desc="epoch 1"): ...`; set_postfix(loss=...) adds fields."""

    def __init__(self, iterable: Optional[Iterable[Any]] = None, total: Optional[int] = None, desc: str = "",
                 file: Optional[TextIO] = None, disable: Optional[bool] = None, width: int = 24,
                 min_interval: float = 0.1):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.file = file if file is not None else sys.stdout
        isatty = getattr(self.file, "isatty", None)
        self.disable = (not (isatty and isatty())) if disable is None else disable
        self.width = width
        self.min_interval = min_interval
        self.n = 0
        self.postfix = ""
        self.start = time.perf_counter()
        self._last = 0.0

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("Progress(None) is not iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, **fields: Any) -> None:
        self.postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if not self.disable and (now - self._last >= self.min_interval or self.n == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(frac * self.width)
            bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
            line = f"{self.desc} {self.n}/{self.total} [{bar[:self.width]}] {frac:4.0%} {rate:.1f}it/s"
        else:
            line = f"{self.desc} {self.n} {rate:.1f}it/s"
        if self.postfix:
            line += " " + self.postfix
        self.file.write("\r" + line + "\x1b[K")
        self.file.flush()

    def close(self) -> None:
        if not self.disable and self.n:
            self._draw(time.perf_counter())
            self.file.write("\n")
            self.file.flush()
            self.disable = True


def progress(iterable: Iterable[Any], desc: str = "", total: Optional[int] = None, **kwargs: Any) -> Progress:
    """tqdm-style shorthand: progress(loader, desc='epoch 1')."""
    return Progress(iterable, total=total, desc=desc, **kwargs)
