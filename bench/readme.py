"""`--readme`: the summary table in README.md, every table in docs/benchmarks.md, the figures in docs/."""
from __future__ import annotations

import os
from typing import Optional

from bench import plot, table
from bench.model import Row
from bench.suites import NAMES, TITLES

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
FULL = "docs/benchmarks.md"  # relative to the project root, like the figures below
FIGURES = ("docs/bench.png", "docs/scaling.png")

SUMMARY = [  # (suite, case, params, label): the README's rows, the ones a newcomer asks about
    ("overhead", "add", "16", "per-op overhead: add of 16 elements"),
    ("overhead", "relu(x@W+b) fwd+bwd", "8x16 @ 16x16", "tiny layer `relu(x @ W + b)`, forward + backward"),
    ("elementwise", "add", "f32 1e6", "add, 1e6 float32"),
    ("elementwise", "add", "f32 1e7", "add, 1e7 float32"),
    ("elementwise", "exp", "f32 1e6", "exp, 1e6 float32"),
    ("broadcast", "row", "1024x1024", "broadcast add, 1024x1024 + row"),
    ("broadcast", "transposed", "1024x1024", "`x.T + v`, 1024x1024"),
    ("reductions", "sum all", "1e7", "sum of 1e7"),
    ("reductions", "sum dim 0", "4096x4096", "sum over dim 0, 4096x4096"),
    ("reductions", "softmax(dim=1)", "1024x1024", "softmax over rows, 1024x1024"),
    ("matmul", "A @ B", "f32 256", "matmul 256, float32"),
    ("matmul", "A @ B", "f32 1024", "matmul 1024, float32"),
    ("training", "MLP 784-256-10 SGD", "batch 128", "MLP 784-256-10 training step, batch 128"),
    ("training", "sine MLP 1-64-1 SGD", "N=1000", "sine MLP 1-64-1 training step, 1,000 points"),
    ("jit", "tiny step 8x16 @ 16x16 relu SGD, tg.jit", "batch 8", "tiny step with `tg.jit` (PyTorch eager)"),
    ("jit", "MNIST MLP 784-128-10 SGD step, tg.jit", "batch 64", "MNIST MLP 784-128-10 step with `tg.jit`, batch 64"),
    ("jit", "LeNet-5 SGD step, tg.jit", "batch 64", "LeNet-5 step with `tg.jit`, batch 64"),
    ("jit", "makemore transformer AdamW step, tg.jit", "4x64, batch 32x14", "makemore transformer step with `tg.jit`"),
    ("jit", "char GRU LM Adam step, tg.jit", "24-64, batch 32x16", "character GRU language model step with `tg.jit`"),
]


def machine_lines(meta: dict) -> list[str]:
    """The machine, versions and thread settings as Markdown bullet points."""
    m = meta["machine"]
    v = m.get("versions", {})
    peak = m.get("peak") or {}
    vers = ", ".join(f"{k} {v[k]}" for k in ("python", "numpy", "torch", "numba", "cffi", "scipy-openblas32") if k in v)
    threads = dict(m.get("threads") or {})
    torch_n = threads.pop("torch.get_num_threads", None)
    ours_n = threads.pop("tinygrad_like threads", None)
    tdesc = ", ".join(f"`{k}={val}`" for k, val in threads.items()) or \
        "no thread variable set (`TG_NUM_THREADS`, `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, ...): every library used its default"
    if ours_n is not None:
        tdesc += f"; the c and numba backends used {ours_n} threads"
    if torch_n is not None:
        tdesc += f"; PyTorch used {torch_n} threads"
    lines = [f"- **Machine:** {m['cpu']}, {m.get('usable_cpus', m['logical_cpus'])} usable cores "
             f"({m['logical_cpus']} logical), {m.get('simd', '?')}, {m.get('os', '')} {m.get('arch', '')}.",
             f"- **Versions:** {vers}, tinygrad_like {v.get('tinygrad_like', '?')}.",
             f"- **Threads:** {tdesc}."]
    if peak.get("gflops"):
        lines.append(f"- **float32 peak:** {peak['gflops']:.0f} GFLOP/s ({peak['method']}); the matmul table's "
                     f"percentages are shares of it.")
    if m.get("load_before"):
        lines.append(f"- **Load average** (1 min) before / after the run: {m['load_before'][0]} / "
                     f"{(m.get('load_after') or ['?'])[0]}.")
    lines.append(f"- **Run:** `{' '.join(meta.get('argv') or ['python -m bench'])}` on {meta['created'][:16]} UTC, "
                 f"{meta['duration_s']:.0f} s, backends: {', '.join(meta['backends'])}; "
                 f"references: {', '.join(meta['references'])}.")
    return lines


REF_NAMES = {"numpy": "numpy", "torch": "PyTorch"}  # the references the summary divides by


def _summary_cell(r: Optional[Row], refs: list[str]) -> str:
    """'247 µs (0.54x / 0.93x)' for ours (ratios to `refs`), '458 µs' for a reference, 'too slow', or ''."""
    if r is None:
        return ""
    if not r.median_s:
        return "too slow" if r.reason == "too slow" else r.status
    cell = table.fmt_time(r.median_s)
    if r.kind == "ours" and refs:
        cell += " (" + " / ".join(table.fmt_ratio(r.ratios.get(ref)) for ref in refs) + ")"
    return cell


def summary_table(rows: list[Row], refs: list[str], backends: list[str]) -> str:
    """The README's table: one line per SUMMARY row found, one column per reference and backend."""
    index = {(r.suite, r.case, r.params, r.impl): r for r in rows}
    impls = refs + backends
    out = ["| | " + " | ".join([REF_NAMES[i] for i in refs] + [f"`{b}`" for b in backends]) + " |",
           "|---|" + "---:|" * len(impls)]
    for suite, case, params, label in SUMMARY:
        got = [index.get((suite, case, params, i)) for i in impls]
        if any(g is not None for g in got):
            out.append(f"| {label} | " + " | ".join(_summary_cell(g, refs) for g in got) + " |")
    return "\n".join(out)


def _machine_short(meta: dict) -> str:
    """One sentence: CPU, cores, SIMD, the main versions, threads and the date."""
    m = meta["machine"]
    v = m.get("versions", {})
    vers = ", ".join(f"{k} {v[k]}" for k in ("python", "numpy", "torch", "numba") if k in v)
    threads = m.get("threads") or {}
    ours = threads.get("tinygrad_like threads")
    set_vars = [k for k in threads if k.isupper()]
    tdesc = (f"{ours} threads" if ours else "default threads") + (f" ({', '.join(set_vars)} set)" if set_vars else "")
    return (f"{m['cpu']}, {m.get('usable_cpus', m['logical_cpus'])} cores, {m.get('simd', '?')}, {m.get('os', '')}; "
            f"{vers}; {tdesc}; run of {meta['created'][:16].replace('T', ' ')} UTC")


def summary(rows: list[Row], meta: dict, images: list[str]) -> str:
    """The generated Markdown between the README's markers."""
    refs = [r for r in meta["references"] if r in REF_NAMES]
    out = [f"*Generated by `python -m bench --readme`; every suite and case, the spread of each time and the "
           f"full machine description are in [{FULL}]({FULL}).*",
           "",
           f"**Machine:** {_machine_short(meta)}.",
           "",
           "Median time per call after warm-up. Our cells read `time (" + " / ".join(f"x {REF_NAMES[r]}" for r in refs)
           + ")`: our time divided by the reference's, both measured in the same process in the same run "
           "(below 1 is faster).",
           "",
           summary_table(rows, refs, list(meta["backends"])),
           ""]
    if FIGURES[0] in images:
        out += [f"![bench]({FIGURES[0]})", ""]
    return "\n".join(out).rstrip() + "\n"


def full(rows: list[Row], meta: dict, images: list[str]) -> str:
    """docs/benchmarks.md: the machine, the main table, the figures and every suite's table."""
    impls = list(meta["references"]) + list(meta["backends"])
    out = ["# Benchmarks",
           "",
           "*Generated by `python -m bench --readme`; do not edit by hand, rerun it.* What each suite measures "
           "and the JSON schema: [bench/README.md](../bench/README.md). Times are the median per call after "
           "warm-up (min .. max over the samples); `x numpy` / `x torch` divide our time by the reference's, "
           "measured in the same process in the same run (lower is better).",
           ""]
    out += machine_lines(meta)
    out += ["", "Reproduce:", "", "```bash",
            "pip install -e '.[bench]'           # numpy + PyTorch references; matplotlib for the plots",
            "python -m bench                     # every suite, every backend, tables on the terminal",
            "python -m bench --quick             # under a minute",
            "python -m bench --suite matmul --backends c,numba --json out.json --plot out.png",
            "python -m bench --compare out.json  # rerun and flag rows slower than before (exit 1)",
            "python -m bench --readme            # rewrite this file, README's summary and the figures",
            "```", ""]
    head = table.headline(rows, impls, markdown=True)
    if head:
        out += ["## Main table", "", head, ""]
    for img in images:
        out += [f"![{os.path.splitext(os.path.basename(img))[0]}]({os.path.relpath(img, os.path.dirname(FULL))})", ""]
    for suite in NAMES:
        srows = [r for r in rows if r.suite == suite]
        if srows:
            out += [f"## {suite}: {TITLES[suite]}", "", table.markdown_table(srows), ""]
    return "\n".join(out).rstrip() + "\n"


def rewrite(path: str, text: str) -> None:
    """Replace what lies between the markers of README.md with `text` (nothing else changes)."""
    with open(path) as f:
        doc = f.read()
    i, j = doc.find(START), doc.find(END)
    if i < 0 or j < i:
        raise ValueError(f"{path}: markers {START} ... {END} not found; add them where the section goes")
    new = doc[: i + len(START)] + "\n" + text + doc[j:]
    with open(path, "w") as f:
        f.write(new)


def write_all(rows: list[Row], meta: dict, root: str, title: str = "", peak: Optional[float] = None) -> list[str]:
    """Write the figures, docs/benchmarks.md and README.md's summary under `root`; returns what was written."""
    os.makedirs(os.path.join(root, os.path.dirname(FULL)), exist_ok=True)
    images, notes = [], []
    for rel in FIGURES:
        target = os.path.join(root, rel)
        err = plot.overview(rows, target, title, peak) if rel.endswith("bench.png") else plot.scaling(rows, target, title)
        if err:
            notes.append(f"plot: {err}")
        else:
            images.append(rel)
    with open(os.path.join(root, FULL), "w") as f:
        f.write(full(rows, meta, images))
    rewrite(os.path.join(root, "README.md"), summary(rows, meta, images))
    for n in notes:
        print(n)
    return ["README.md", FULL] + images
