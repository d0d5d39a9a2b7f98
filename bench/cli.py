"""Command line of `python -m bench`: parse options, set thread variables, run, report.

Nothing heavy is imported at module level: --threads must set the thread variables before
numpy, PyTorch or a backend loads its thread pool.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from typing import Optional

from bench.suites import NAMES, TITLES

THREAD_ENV = ("TG_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parser() -> argparse.ArgumentParser:
    """The options."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time tinygrad_like's backends against numpy and PyTorch (when installed), in one process.",
        epilog="suites: " + "; ".join(f"{n}: {TITLES[n]}" for n in NAMES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", help="comma-separated backends (default: every backend that loads here)")
    p.add_argument("--suite", help=f"comma-separated suites (default: all): {','.join(NAMES)}")
    p.add_argument("--sizes", help="sizes for the sweeping suites: element counts (elementwise), n (matmul), "
                                   "side (broadcast, reductions), N (scaling); e.g. 1e3,1e6")
    p.add_argument("--quick", action="store_true", help="fewer sizes and samples: under a minute")
    p.add_argument("--json", metavar="FILE", help="write every figure, the machine and versions (schema: bench/README.md)")
    p.add_argument("--plot", metavar="FILE.png", help="write the overview figure (needs matplotlib)")
    p.add_argument("--compare", metavar="OLD.json", help="flag rows slower than in OLD.json; exit 1 if any")
    p.add_argument("--against", metavar="NEW.json", help="with --compare: compare two files, run nothing")
    p.add_argument("--threshold", type=float, default=0.25, help="--compare: slower by more than this fraction "
                                                                 "is a regression (default 0.25)")
    p.add_argument("--threads", type=int, metavar="N", help="threads for every library: sets TG_NUM_THREADS, "
                   "OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS and torch.set_num_threads before anything loads")
    p.add_argument("--readme", action="store_true", help="rewrite the summary table between README.md's bench "
                   "markers, docs/benchmarks.md (every table) and docs/bench.png, docs/scaling.png")
    p.add_argument("--from-json", metavar="FILE", help="render tables/plots/README from a saved run instead of running")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses of the training suite")
    return p


def set_threads(n: Optional[int]) -> None:
    """Export the thread variables (must happen before numpy/torch/numba load)."""
    if n is None:
        return
    if n < 1:
        raise SystemExit("--threads must be >= 1")
    for k in THREAD_ENV:
        os.environ[k] = str(n)


def _split(s: Optional[str]) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def main(argv: Optional[list] = None) -> int:
    """Run the benchmark; the exit status is 1 when --compare finds a regression, 2 on bad usage."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv
    if args.against and not args.compare:
        print("python -m bench: --against NEW.json needs --compare OLD.json", file=sys.stderr)
        return 2
    set_threads(args.threads)
    if args.no_torch:
        os.environ["TG_BENCH_NO_TORCH"] = "1"  # also reaches the start-up and memory subprocesses
    from bench import compare as cmp, schema
    if args.compare and args.against:
        old, new = schema.rows_of(schema.read(args.compare)), schema.rows_of(schema.read(args.against))
        regs, changes = cmp.compare(old, new, args.threshold)
        print(cmp.report(regs, changes, args.threshold))
        return 1 if regs else 0
    if args.from_json:
        doc = schema.read(args.from_json)
        rows, meta = schema.rows_of(doc), {k: v for k, v in doc.items() if k != "rows"}
        _print_tables(rows, meta)
    else:
        try:
            rows, meta = run(args)
        except _Usage as e:
            print(f"python -m bench: {e}", file=sys.stderr)
            return 2
    doc = schema.document(rows, {k: v for k, v in meta.items() if k not in ("schema", "version")})
    if args.json:
        schema.write(args.json, doc)
        print(f"\nwrote {args.json} (schema {doc['schema']} v{doc['version']})")
    if args.plot:
        _plot(rows, args.plot, meta)
    if args.readme:
        _readme(rows, meta)
    status = 0
    if args.compare:
        regs, changes = cmp.compare(schema.rows_of(schema.read(args.compare)), rows, args.threshold)
        print("\n" + cmp.report(regs, changes, args.threshold))
        status = 1 if regs else 0
    return status


class _Usage(Exception):
    """A bad option value (exit status 2)."""


def run(args: argparse.Namespace) -> tuple[list, dict]:
    """Run the selected suites; print each table as it completes."""
    from bench import impls, machine, suites, table
    from bench.config import Config
    from bench.timer import Budget
    suite_names = _split(args.suite) or list(NAMES)
    for s in suite_names:
        if s not in NAMES:
            raise _Usage(f"unknown suite {s!r}; valid suites: {', '.join(NAMES)}")
    # The references load first, as a user's script would import them, so their pools start
    # with their own settings (the backends set no environment variables others read).
    import numpy  # noqa: F401
    refs = impls.references()
    torch = impls.torch()
    import tinygrad_like as tg
    available = tg.backends.available()
    backends = _split(args.backends) or available
    for b in backends:
        if b not in ("python", "numba", "c"):
            raise _Usage(f"unknown backend {b!r}; valid backends: python, numba, c")
        if b not in available:
            try:
                tg.backends.load(b)
            except Exception as e:  # noqa: BLE001
                raise _Usage(f"backend {b!r} is not available here: {e}") from None
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(float(x)) for x in _split(args.sizes)] or None
    budget = Budget(target=0.03, max_total=0.6, max_samples=10, warm_time=0.01) if args.quick else Budget()
    threads = int(os.environ.get("TG_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))
    import gc
    gc.collect()
    gc.freeze()  # numpy/torch/numba objects live forever: keep them out of every later gc.collect()
    t_start = time.perf_counter()
    load_before = machine.load()
    if load_before and load_before[0] > 0.7:
        print(f"note: load average {load_before[0]:.2f} before the run: other work (or a run that just ended) skews timings",
              file=sys.stderr)
    peak = machine.peak_gflops(threads) if "matmul" in suite_names else {}
    cfg = Config(backends=backends, references=refs, quick=args.quick, sizes=sizes, budget=budget,
                 peak_gflops=peak.get("gflops"), memory=not (args.quick or args.no_memory))
    meta = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "argv": ["python", "-m", "bench"] + list(args.argv),
            "quick": bool(args.quick), "suites": suite_names, "backends": backends, "references": refs}
    print(f"tinygrad_like bench: backends {', '.join(backends)}; references {', '.join(refs)}"
          + ("" if torch is not None else " (PyTorch not installed: torch columns stay empty)"))
    if "python" in backends:
        lim = (impls.QUICK_LIMITS if args.quick else impls.SLOW_LIMITS)["python"]
        print(f"python backend: cases above {lim['elements']:.0e} elements or {lim['macs']:.0e} multiply-adds "
              f"are skipped (too slow)")
    rows: list = []
    for name in suite_names:
        t0 = time.perf_counter()
        print(f"[bench] running {name} ...", file=sys.stderr, flush=True)
        got = suites.load(name).run(cfg)
        rows += got
        print(f"\n== {name}: {TITLES[name]}  [{time.perf_counter() - t0:.1f} s]")
        if name == "matmul" and peak:
            print(f"   float32 peak {peak['gflops']:.0f} GFLOP/s ({peak['method']})")
        print(table.text_table(got), flush=True)
    meta["duration_s"] = time.perf_counter() - t_start
    meta["machine"] = machine.describe(peak)
    meta["machine"]["load_before"], meta["machine"]["load_after"] = load_before, machine.load()
    head = table.headline(rows, refs + backends)
    if head:
        print("\n== main table\n" + head)
    print(f"\ntotal {meta['duration_s']:.1f} s")
    return rows, meta


def _print_tables(rows: list, meta: dict) -> None:
    from bench import table
    for name in NAMES:
        got = [r for r in rows if r.suite == name]
        if got:
            print(f"\n== {name}: {TITLES[name]}\n" + table.text_table(got))
    head = table.headline(rows, list(meta["references"]) + list(meta["backends"]))
    if head:
        print("\n== main table\n" + head)


def _title(meta: dict) -> str:
    m = meta.get("machine", {})
    return f"tinygrad_like bench, {m.get('cpu', '?')} ({m.get('usable_cpus', '?')} cores), {meta.get('created', '')[:10]}"


def _peak(meta: dict) -> Optional[float]:
    return (meta.get("machine", {}).get("peak") or {}).get("gflops")


def _plot(rows: list, path: str, meta: dict) -> None:
    from bench import plot
    err = plot.overview(rows, path, _title(meta), _peak(meta))
    print(f"plot: {err}" if err else f"wrote {path}")


def _readme(rows: list, meta: dict) -> None:
    from bench import readme
    written = readme.write_all(rows, meta, ROOT, _title(meta), _peak(meta))
    print(f"wrote {', '.join(written)} under {ROOT}")
