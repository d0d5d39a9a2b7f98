"""Aligned text tables for the terminal, Markdown tables and the main table for docs/benchmarks.md."""
from __future__ import annotations

from typing import Optional

from bench.model import Row

HEADLINE = [  # (suite, case, params): the main table's rows, the cases with performance targets
    ("overhead", "add", "16"), ("overhead", "add requires_grad", "16"),
    ("overhead", "relu(x@W+b) fwd+bwd", "8x16 @ 16x16"),
    ("elementwise", "add", "f32 1e6"), ("elementwise", "add", "f32 1e7"),
    ("elementwise", "mul", "f32 1e6"), ("elementwise", "mul", "f32 1e7"),
    ("elementwise", "exp", "f32 1e6"), ("elementwise", "exp", "f32 1e7"),
    ("elementwise", "add_ (in place)", "f32 1e6"), ("elementwise", "add_ (in place)", "f32 1e7"),
    ("broadcast", "row", "1024x1024"), ("broadcast", "transposed", "1024x1024"),
    ("reductions", "sum all", "1e7"), ("reductions", "sum dim 1", "4096x4096"),
    ("reductions", "sum dim 0", "4096x4096"), ("reductions", "softmax(dim=1)", "1024x1024"),
    ("matmul", "A @ B", "f32 256"), ("matmul", "A @ B", "f32 1024"), ("matmul", "A.T @ B", "f32 1024"),
    ("matmul", "A @ B", "f64 1024"),
    ("training", "MLP 784-256-10 SGD", "batch 128"), ("training", "sine MLP 1-64-1 SGD", "N=1000"),
    ("scaling", "sine step", "N=10000"),
    ("elementwise", "add vs lists", "f64 1e5"), ("matmul", "A @ B vs ikj lists", "f64 128"),
]


def fmt_time(s: Optional[float]) -> str:
    """Seconds with a readable unit and 3 significant digits."""
    if s is None:
        return "-"
    s = float(f"{s:.3g}")  # round first, so 999.96 µs reads 1 ms, not 1e+03 µs
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_ratio(x: Optional[float]) -> str:
    """A time ratio like '2.41x'."""
    if x is None:
        return "-"
    return f"{x:.2f}x" if x < 100 else f"{x:.0f}x"


def fmt_rate(r: Row) -> str:
    """'12.3 GB/s', '110 GFLOP/s (64%)', '1.2e+03 steps/s' or ''."""
    if r.rate is None:
        return ""
    s = f"{r.rate:.3g} {r.rate_unit}"
    share = r.extra.get("peak_share")
    if share is None:
        return s
    return s + (" (<1%)" if share < 0.005 else f" ({share:.0%})")


def note(r: Row) -> str:
    """Everything else worth a glance: skips, errors, value mismatches, extra ratios, memory."""
    parts = []
    if r.status == "skipped":
        parts.append(f"skipped ({r.reason})")
    elif r.status == "error":
        parts.append(f"ERROR {r.reason}")
    if "mismatch" in r.extra:
        parts.append(f"VALUES DIFFER FROM NUMPY ({r.extra['mismatch']})")
    for ref, x in r.ratios.items():
        if ref not in ("numpy", "torch"):
            parts.append(f"{1 / x:.3g}x faster than {ref}" if x < 1 else f"{x:.3g}x slower than {ref}")
    if r.first_call_s and r.median_s and r.first_call_s > 0.05 and r.first_call_s > 10 * r.median_s:
        parts.append(f"first call {fmt_time(r.first_call_s)}")
    if r.extra.get("peak_mb") is not None:
        parts.append(f"peak {r.extra['peak_mb']:.1f} MB")
    if "process_s" in r.extra:
        parts.append(f"process {fmt_time(r.extra['process_s'])}")
    if "slowdown" in r.extra:
        parts.append(f"alone {fmt_time(r.extra['alone_s'])} + numpy {fmt_time(r.extra['numpy_matmul_alone_s'])}"
                     f" -> slowdown {r.extra['slowdown']:.2f}x")
    n = r.extra.get("note")
    if n and (":" not in n or n.split(":")[0] == r.impl):
        parts.append(n)
    return "; ".join(parts)


HEAD = ("case", "params", "impl", "median", "min .. max", "x numpy", "x torch", "rate", "note")


def cells(rows: list[Row]) -> list[tuple]:
    """One tuple of strings per row; case and params only on a group's first row."""
    out, last = [], None
    for r in rows:
        group = (r.case, r.params)
        first = group != last
        last = group
        spread = f"{fmt_time(r.min_s)} .. {fmt_time(r.max_s)}" if r.median_s else ""
        med = fmt_time(r.median_s) if r.median_s else r.status
        out.append((r.case if first else "", r.params if first else "", r.impl, med, spread,
                    fmt_ratio(r.ratios.get("numpy")), fmt_ratio(r.ratios.get("torch")), fmt_rate(r), note(r)))
    return out


def text_table(rows: list[Row]) -> str:
    """Aligned plain-text table (last column left ragged)."""
    body = cells(rows)
    widths = [max(len(h), *(len(c[i]) for c in body)) if body else len(h) for i, h in enumerate(HEAD)]
    right = {3, 5, 6, 7}

    def line(c: tuple) -> str:
        return "  ".join((s.rjust(w) if i in right else s.ljust(w)) for i, (s, w) in enumerate(zip(c, widths))).rstrip()
    return "\n".join([line(HEAD), line(tuple("-" * w for w in widths))] + [line(c) for c in body])


def markdown_table(rows: list[Row]) -> str:
    """The same table in Markdown."""
    body = cells(rows)
    out = ["| " + " | ".join(HEAD) + " |", "|" + "|".join("---:" if i in (3, 5, 6, 7) else "---" for i in range(len(HEAD))) + "|"]
    out += ["| " + " | ".join(s.replace("|", "\\|") for s in c) + " |" for c in body]
    return "\n".join(out)


def _headline_ratio(r: Row, ref: str) -> str:
    """' (2.41x)' against the usual reference, or ' (1.57x lists)' where only a yardstick ran."""
    if ref in r.ratios:
        return f" ({fmt_ratio(r.ratios[ref])})"
    for other, x in r.ratios.items():
        return f" ({fmt_ratio(x)} of {other})"
    return ""


def headline(rows: list[Row], impls: list[str], markdown: bool = False) -> str:
    """The main table: one line per target row, one column per implementation.

    Each of our cells reads 'time (ratio)', the ratio to PyTorch when it ran, else to numpy.
    """
    index = {(r.suite, r.case, r.params, r.impl): r for r in rows}
    has_torch = any(r.impl == "torch" and r.median_s for r in rows)
    ref = "torch" if has_torch else "numpy"
    head = ["row"] + impls
    body = []
    for suite, case, params in HEADLINE:
        got = [index.get((suite, case, params, i)) for i in impls]
        if not any(g is not None for g in got):
            continue
        line = [f"{case} {params}"]
        for i, r in zip(impls, got):
            if r is None:
                line.append("")
            elif not r.median_s:
                line.append("too slow" if r.reason == "too slow" else r.status)
            else:
                line.append(fmt_time(r.median_s) + (_headline_ratio(r, ref) if r.kind == "ours" else ""))
        body.append(line)
    if not body:
        return ""
    title = f"time per call (ours: ratio to {'PyTorch' if has_torch else 'numpy'}, lower is better)"
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(impls)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return title + "\n\n" + "\n".join(out)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = lambda c: "  ".join(s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(c, widths))).rstrip()  # noqa: E731
    return "\n".join([title, fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body])
