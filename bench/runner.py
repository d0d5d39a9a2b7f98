"""Run cases on every implementation: skip rules, timing, value checks, ratios and rates."""
from __future__ import annotations

import gc
import time
import traceback
from typing import Any, Optional

from bench import impls as I
from bench.config import Config
from bench.model import Case, Row, Skip
from bench.timer import Stats, measure

SETTLE_S = 0.2  # pause when switching implementation so idle thread pools stop spinning
# (OpenBLAS workers spin for about 2**28 cycles after a call, ~0.1 s, unless told otherwise)
CHECK_MAX_ELEMENTS = 2_000_000
JIT_IMPLS = ("numba", "c")  # their first call may compile: never time it alone


def run_cases(cases: list[Case], cfg: Config) -> list[Row]:
    """Time each case on each implementation (grouped by implementation) and fill in ratios."""
    rows: dict[tuple, Row] = {}
    expected: dict[tuple, Any] = {}
    for impl in all_impls(cases, cfg):
        time.sleep(SETTLE_S / 4 if cfg.quick else SETTLE_S)
        for case in cases:
            if impl not in (case.impls if case.impls is not None else cfg.impls):
                continue
            row = _run_one(case, impl, cfg, expected)
            rows[(case.name, case.params, impl)] = row
    out = [rows[k] for k in _case_order(cases, cfg, rows)]
    add_ratios(out)
    return out


def all_impls(cases: list[Case], cfg: Config) -> list[str]:
    """The run's implementations, plus case-specific yardsticks (e.g. 'lists') just before ours."""
    extra = []
    for c in cases:
        for i in c.impls or []:
            if i not in cfg.impls and i not in extra:
                extra.append(i)
    return list(cfg.references) + extra + list(cfg.backends)


def _case_order(cases: list[Case], cfg: Config, rows: dict) -> list[tuple]:
    keys = []
    for case in cases:
        for impl in all_impls(cases, cfg):
            k = (case.name, case.params, impl)
            if k in rows:
                keys.append(k)
    return keys


def _run_one(case: Case, impl: str, cfg: Config, expected: dict) -> Row:
    row = Row(case.suite, case.name, case.params, impl, "ours" if I.is_ours(impl) else "reference",
              extra=dict(case.extra))
    if I.too_slow(impl, case.elements, case.macs, cfg.quick):
        row.status, row.reason = "skipped", "too slow"
        return row
    try:
        fn = case.make(impl)
        gc_was_on = gc.isenabled()
        gc.disable()  # as in every timed call (timeit's rule)
        try:
            t0 = time.perf_counter()
            out = fn()  # the first call: includes JIT compilation where there is any
            first = time.perf_counter() - t0
        finally:
            if gc_was_on:
                gc.enable()
        if case.check and case.elements <= CHECK_MAX_ELEMENTS:
            _check(case, impl, out, expected, row)
        del out
        if impl not in JIT_IMPLS and first > cfg.budget.max_total / 2:
            st = Stats(first, first, first, 1, 1, first)  # very slow, no JIT: the first call is the sample
        else:
            st = measure(fn, cfg.budget)
    except Skip as e:
        row.status, row.reason = "skipped", str(e)
        return row
    except Exception as e:  # an engine bug must not stop the run; the table shows it
        row.status, row.reason = "error", f"{type(e).__name__}: {e}"[:200]
        row.extra["traceback"] = traceback.format_exc(limit=6)
        return row
    row.median_s, row.min_s, row.max_s = st.median, st.min, st.max
    row.samples, row.calls_per_sample, row.first_call_s = st.samples, st.calls_per_sample, first
    fill_rate(row, case, cfg)
    return row


def fill_rate(row: Row, case: Case, cfg: Config) -> None:
    """GB/s for memory-bound cases, GFLOP/s (and share of peak) for compute-bound ones."""
    if not row.median_s:
        return
    if case.flops:
        row.rate, row.rate_unit = case.flops / row.median_s / 1e9, "GFLOP/s"
        if cfg.peak_gflops:
            row.extra["peak_share"] = row.rate / cfg.peak_gflops
    elif case.bytes:
        row.rate, row.rate_unit = case.bytes / row.median_s / 1e9, "GB/s"


def _check(case: Case, impl: str, out: Any, expected: dict, row: Row) -> None:
    """Compare a result with numpy's for the same case; a mismatch is noted, not fatal."""
    import numpy as np
    key = (case.name, case.params)
    got = I.to_numpy(out)
    if impl == "numpy":
        expected[key] = got.copy()
        return
    ref = expected.get(key)
    if ref is None:
        return
    tol = 1e-3 if got.dtype == np.float32 or ref.dtype == np.float32 else 1e-8
    if got.shape != ref.shape or not np.allclose(got, ref, rtol=tol, atol=tol * 10, equal_nan=True):
        err = float(np.max(np.abs(got.astype(np.float64) - ref))) if got.shape == ref.shape else None
        row.extra["mismatch"] = f"shape {got.shape} vs {ref.shape}" if err is None else f"max abs err {err:.3g}"


def add_ratios(rows: list[Row], refs: Optional[tuple] = None) -> None:
    """ratios[ref] = this row's median / the reference's median, for rows of the same case."""
    by_case: dict[tuple, dict[str, Row]] = {}
    for r in rows:
        by_case.setdefault((r.suite, r.case, r.params), {})[r.impl] = r
    for group in by_case.values():
        for r in group.values():
            if not r.median_s:
                continue
            for ref_name, ref in group.items():
                if ref.kind == "reference" and ref is not r and ref.median_s and (refs is None or ref_name in refs):
                    r.ratios[ref_name] = r.median_s / ref.median_s

