"""--compare OLD.json: flag rows that got slower than a threshold (non-zero exit when any did)."""
from __future__ import annotations

from dataclasses import dataclass

from bench.model import Row
from bench.table import fmt_time


@dataclass
class Change:
    """One row present in both runs."""

    key: tuple
    old_s: float
    new_s: float

    @property
    def ratio(self) -> float:
        """new time / old time (> 1 is slower)."""
        return self.new_s / self.old_s


def compare(old: list[Row], new: list[Row], threshold: float) -> tuple[list[Change], list[Change]]:
    """(regressions, all changes): rows measured in both runs, regressed when new > old * (1 + threshold)."""
    before = {r.key: r for r in old if r.status == "ok" and r.median_s}
    changes = [Change(r.key, before[r.key].median_s, r.median_s)
               for r in new if r.status == "ok" and r.median_s and r.key in before]
    return [c for c in changes if c.ratio > 1 + threshold], changes


def report(regressions: list[Change], changes: list[Change], threshold: float, show_all: bool = False) -> str:
    """A readable summary: every regression, the best improvements, and the count of rows compared."""
    lines = [f"compare: {len(changes)} rows in both runs, threshold +{threshold:.0%}: "
             f"{len(regressions)} regressed" + (" (REGRESSION)" if regressions else "")]
    shown = sorted(changes if show_all else regressions, key=lambda c: -c.ratio)
    if shown:
        w = max(len(" / ".join(c.key)) for c in shown)
        for c in shown:
            flag = "REGRESSED" if c in regressions else ""
            lines.append(f"  {' / '.join(c.key):<{w}}  {fmt_time(c.old_s):>10} -> {fmt_time(c.new_s):>10}  "
                         f"{c.ratio:6.2f}x  {flag}".rstrip())
    return "\n".join(lines)
