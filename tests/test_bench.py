"""The benchmark tool: the --quick smoke run, the JSON schema, --compare, and the pieces.

conftest.py parametrizes every test by backend; the subprocess runs here cover every backend
at once, so they run only under the first available backend and skip under the others.
Nothing here asserts on a time.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

import tinygrad_like as tg

# one xdist worker runs this file: `quick_run` is a session fixture, built once per worker process
pytestmark = pytest.mark.xdist_group("bench")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AVAILABLE = tg.backends.available()


def _once(backend: str) -> None:
    if backend != AVAILABLE[0]:
        pytest.skip("runs once, under the first available backend (it covers every backend itself)")


def _bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TG_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """One `python -m bench --quick --json FILE` run for the whole session: (process, document)."""
    path = tmp_path_factory.mktemp("bench") / "quick.json"
    # a hang detector, not a time limit: on a loaded machine, next to a worker filling an empty numba
    # cache, the quick run has taken over 600 s
    p = _bench("--quick", "--json", str(path), timeout=1800)
    doc = json.loads(path.read_text()) if path.exists() else None
    return p, doc


def test_quick_smoke_has_rows_for_every_backend(backend: str, quick_run: tuple) -> None:
    _once(backend)
    p, doc = quick_run
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    from bench.suites import NAMES
    for suite in NAMES:
        assert f"== {suite}:" in p.stdout
    for b in AVAILABLE:
        rows = [r for r in doc["rows"] if r["impl"] == b]
        assert {r["suite"] for r in rows} >= set(NAMES), f"backend {b} lacks rows"
        assert any(r["status"] == "ok" for r in rows)
        assert any(line.split() and b in line.split() for line in p.stdout.splitlines()), b
    assert any(r["impl"] == "numpy" and r["status"] == "ok" for r in doc["rows"])
    errors = [(r["suite"], r["case"], r["params"], r["impl"], r["reason"]) for r in doc["rows"] if r["status"] == "error"]
    print("engine errors seen by the bench:", errors)  # reported, not failed: the bench's job is to measure


def test_quick_json_validates(backend: str, quick_run: tuple) -> None:
    _once(backend)
    from bench import SCHEMA_VERSION, schema
    _, doc = quick_run
    assert doc is not None
    assert schema.validate(doc) == []
    assert doc["version"] == SCHEMA_VERSION
    assert set(doc["backends"]) == set(AVAILABLE)


def test_validate_catches_bad_documents(backend: str) -> None:
    _once(backend)
    from bench import schema
    from bench.model import Row
    good = schema.document([Row("s", "c", "p", "numpy", "reference", median_s=1.0, min_s=0.5, max_s=2.0,
                                samples=3, calls_per_sample=1)], _meta())
    assert schema.validate(good) == []
    for mutate in (lambda d: d.pop("machine"), lambda d: d.update(version=99),
                   lambda d: d["rows"][0].update(status="fast"), lambda d: d["rows"][0].update(median_s=None),
                   lambda d: d["rows"][0].update(min_s=5.0), lambda d: d["rows"][0].update(kind="mine")):
        bad = copy.deepcopy(good)
        mutate(bad)
        assert schema.validate(bad), mutate


def _meta() -> dict:
    return {"created": "2026-01-01T00:00:00+00:00", "argv": ["python", "-m", "bench"], "quick": True,
            "duration_s": 1.0, "suites": ["s"], "backends": [], "references": ["numpy"],
            "machine": {"cpu": "x", "logical_cpus": 1, "versions": {}, "threads": {}, "peak": {}}}


def test_compare_flags_a_synthetic_slowdown(backend: str, tmp_path) -> None:
    _once(backend)
    new = tmp_path / "new.json"
    p = _bench("--quick", "--suite", "overhead", "--json", str(new))
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(new.read_text())
    faster = copy.deepcopy(doc)  # the "old" run: everything 3x faster, so the new run is a regression
    for r in faster["rows"]:
        if r["status"] == "ok":
            for k in ("median_s", "min_s", "max_s"):
                r[k] /= 3
    old = tmp_path / "old.json"
    old.write_text(json.dumps(faster))
    p = _bench("--compare", str(old), "--against", str(new))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "REGRESSED" in p.stdout
    p = _bench("--compare", str(new), "--against", str(new))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 regressed" in p.stdout


def test_compare_function(backend: str) -> None:
    _once(backend)
    from bench.compare import compare
    from bench.model import Row

    def row(impl: str, t: float) -> Row:
        return Row("s", "c", "p", impl, "ours", median_s=t, min_s=t, max_s=t)
    regs, changes = compare([row("a", 1.0), row("b", 1.0)], [row("a", 1.2), row("b", 2.0), row("z", 9.0)], 0.25)
    assert [c.key[3] for c in regs] == ["b"] and len(changes) == 2


def test_timer_median_and_spread(backend: str) -> None:
    _once(backend)
    from bench.timer import Budget, measure
    calls = []
    st = measure(lambda: calls.append(1), Budget(target=0.01, max_total=0.1))
    assert st.min <= st.median <= st.max and st.samples >= 3 and len(calls) >= st.samples * st.calls_per_sample


def test_readme_rewrites_only_between_markers(backend: str, tmp_path) -> None:
    _once(backend)
    from bench import readme
    path = tmp_path / "README.md"
    path.write_text(f"before\n{readme.START}\nold\n{readme.END}\nafter\n")
    readme.rewrite(str(path), "new table\n")
    assert path.read_text() == f"before\n{readme.START}\nnew table\n{readme.END}\nafter\n"
    path.write_text("no markers\n")
    with pytest.raises(ValueError):
        readme.rewrite(str(path), "x")


def _synthetic_run() -> tuple[list, dict]:
    """Rows for every README summary row and every suite, on every impl, with long cells; and a meta."""
    from bench import readme
    from bench.model import Row
    from bench.suites import NAMES
    keys = [k[:3] for k in readme.SUMMARY] + [(suite, "case", "p") for suite in NAMES]
    rows = []
    for suite, case, params in keys:
        for impl in ("numpy", "torch", "c", "numba", "python"):
            ours = impl not in ("numpy", "torch")
            rows.append(Row(suite, case, params, impl, "ours" if ours else "reference", median_s=123.456e-6,
                            min_s=100e-6, max_s=999e-6, samples=10, calls_per_sample=1,
                            ratios={"numpy": 123.45, "torch": 1234.5} if ours else {}))
    meta = dict(_meta(), suites=list(NAMES), backends=["c", "numba", "python"], references=["numpy", "torch"])
    meta["machine"] = dict(meta["machine"], cpu="Intel(R) Xeon(R) Processor with a long name", usable_cpus=2,
                           simd="AVX-512", os="Linux 6.18", arch="x86_64",
                           versions={"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0+cpu"})
    return rows, meta


def test_readme_flag_writes_the_summary_and_docs_benchmarks(backend: str, tmp_path, monkeypatch) -> None:
    """`--from-json FILE --readme` into a copy of the project: README stays under 20 KB, every table
    goes to docs/benchmarks.md, and nothing outside the markers changes."""
    _once(backend)
    from bench import cli, readme, schema
    from bench.suites import NAMES
    rows, meta = _synthetic_run()
    run = tmp_path / "run.json"
    schema.write(str(run), schema.document(rows, meta))
    original = open(os.path.join(ROOT, "README.md")).read()
    (tmp_path / "README.md").write_text(original)
    monkeypatch.setattr(cli, "ROOT", str(tmp_path))
    assert cli.main(["--from-json", str(run), "--readme"]) == 0
    text = (tmp_path / "README.md").read_text()
    assert len(text.encode()) < 20_000
    outside = lambda doc: doc[:doc.index(readme.START)] + doc[doc.index(readme.END):]  # noqa: E731
    assert outside(text) == outside(original)
    section = text[text.index(readme.START):text.index(readme.END)]
    assert "docs/benchmarks.md" in section and "123x / 1234x" in section
    assert section.count("\n| ") == len(readme.SUMMARY) + 1  # the header and one line per summary row
    full = (tmp_path / "docs" / "benchmarks.md").read_text()
    for suite in NAMES:
        assert f"## {suite}:" in full
    assert "## Main table" in full and "Intel(R) Xeon(R) Processor with a long name" in full


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one(backend: str) -> None:
    _once(backend)
    text = open(os.path.join(ROOT, "README.md")).read()
    assert len(text.encode()) < 20_000
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert text.index("```bash") < text.index("\n## ")  # before the first section
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands == ["pip install -e '.[bench]' && python -m bench",
                        "pip install -e '.[test]' && python -m pytest -n auto --dist loadgroup"]
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert commands[1] in f.read().splitlines()


def test_slow_backend_rows_say_skipped(backend: str) -> None:
    _once(backend)
    from bench import impls
    from bench.config import Config
    from bench.model import Case
    from bench.runner import run_cases
    case = Case("s", "big", "1e7", lambda impl: (lambda: None), elements=10_000_000, check=False)
    rows = run_cases([case], Config(backends=["python"], references=[]))
    assert impls.too_slow("python", 10_000_000, 0)
    assert rows[0].status == "skipped" and rows[0].reason == "too slow"


def test_unknown_suite_is_a_usage_error(backend: str) -> None:
    _once(backend)
    p = _bench("--suite", "nope")
    assert p.returncode == 2 and "unknown suite" in p.stderr


def test_without_torch_the_torch_columns_are_skipped_cleanly(backend: str, tmp_path) -> None:
    _once(backend)
    out = tmp_path / "nt.json"
    p = _bench("--quick", "--suite", "overhead", "--no-torch", "--json", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["references"] == ["numpy"]
    assert not any(r["impl"] == "torch" for r in doc["rows"])
    assert all("torch" not in r["ratios"] for r in doc["rows"])


# ---------------------------------------------------------------------- the float32 peak probe


def test_peak_probe_widths_follow_the_flags():
    from bench import peakprobe
    assert peakprobe.widths({"avx2", "fma", "avx512f", "sse2"}) == [256, 512]
    assert peakprobe.widths({"avx2", "fma"}) == [256]
    assert peakprobe.widths({"avx512f"}) == []  # no AVX2+FMA: no width this probe can run
    assert peakprobe.widths({"sse2"}) == []


def test_peak_is_probed_once_per_machine_and_thread_count(tmp_path, monkeypatch):
    from bench import peakprobe
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def fake(threads: int, flags: set) -> dict:
        calls.append(threads)
        return {"gflops": 100.0 * threads, "threads": threads, "method": "fake"}

    flags = {"avx2", "fma"}
    first = peakprobe.cached_peak(2, "cpu A", flags, 2, run_probe=fake)
    again = peakprobe.cached_peak(2, "cpu A", flags, 2, run_probe=fake)
    assert first["gflops"] == again["gflops"] == 200.0 and calls == [2]
    assert peakprobe.cached_peak(1, "cpu A", flags, 2, run_probe=fake)["gflops"] == 100.0
    assert peakprobe.cached_peak(2, "cpu B", flags, 2, run_probe=fake)["gflops"] == 200.0
    assert calls == [2, 1, 2]
    peakprobe.cached_peak(2, "cpu A", flags, 2, run_probe=fake, refresh=True)
    assert calls == [2, 1, 2, 2]
    assert len(json.load(open(peakprobe.cache_path()))) == 3
    # a probe that cannot run caches nothing; a damaged cache file is probed over
    assert peakprobe.cached_peak(4, "cpu A", flags, 4, run_probe=lambda t, f: None) is None
    with open(peakprobe.cache_path(), "w") as f:
        f.write("{not json")
    assert peakprobe.cached_peak(2, "cpu A", flags, 2, run_probe=fake)["gflops"] == 200.0
    assert calls == [2, 1, 2, 2, 2]


def test_peak_probe_measures_every_width_within_physical_bounds():
    """The C probe runs on this machine (gcc is required to install): one figure per width,
    positive and below what any x86 core can do (2 FMA units x lanes x 2 flop x 6 GHz)."""
    from bench import machine, peakprobe
    flags = machine.cpu_flags()
    if not peakprobe.widths(flags):
        pytest.skip("the CPU has no AVX2+FMA")
    got = peakprobe.probe(1, flags, target_s=0.02)
    assert got is not None, "the probe could not be built (gcc and cffi are needed)"
    assert set(got["widths"]) == {str(w) for w in peakprobe.widths(flags)}
    for w, g in got["widths"].items():
        assert 0.5 < g < 2 * (int(w) // 32) * 2 * 6.0, (w, g)
    assert got["gflops"] == max(got["widths"].values()) and got["threads"] == 1
