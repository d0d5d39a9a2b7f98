"""C-backend specifics: load errors, the staleness guard, bounds checks before C, threads."""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import subprocess
import sys
import textwrap

import pytest

import tinygrad_like as tg
from tinygrad_like.dtypes import bool_, float32, float64, int64
from tinygrad_like.errors import BackendError, DTypeError, TensorIndexError
from tinygrad_like.view import View

BACKEND = "c"  # tests/conftest.py: these run once, on the c backend, when it is selected
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def cbe():
    """The C backend object."""
    return tg.backends.load("c")


def _run(code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=timeout)


# ---------------------------------------------------------------- loading

def test_missing_extension_gives_clear_backend_error(cbe):
    r = _run("""
        import sys
        sys.modules["tinygrad_like.backends._c_ext"] = None  # as if it was never built
        import tinygrad_like as tg
        try:
            tg.backends.load("c")
        except tg.BackendError as e:
            print("ERR", e)
    """)
    assert "ERR" in r.stdout, r.stderr
    assert "not built" in r.stdout and "pip install -e ." in r.stdout


def test_missing_extension_default_falls_back_with_warning(cbe):
    r = _run("""
        import sys, warnings
        sys.modules["tinygrad_like.backends._c_ext"] = None
        import tinygrad_like as tg
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            name = tg.get_backend()
        print(name, len(w), w[0].message if w else "")
    """, env={"TG_BACKEND": ""})
    name = r.stdout.split()[0]
    assert name in ("numba", "python"), r.stdout + r.stderr
    assert "c: the C backend's extension is not built" in r.stdout and "pip install -e ." in r.stdout


def test_stale_extension_refused(cbe, monkeypatch):
    from tinygrad_like.backends import c_runtime
    monkeypatch.setattr(c_runtime, "source_hash", lambda *a: "0" * 64)
    with pytest.raises(BackendError, match=r"stale.*pip install -e \."):
        c_runtime.check_fresh()


def test_source_hash_follows_csrc_edits(cbe, tmp_path):
    from tinygrad_like.backends import c_build
    src = os.path.join(ROOT, "csrc")
    for name in os.listdir(src):
        if name.endswith((".c", ".h")):
            with open(os.path.join(src, name), "rb") as f:
                (tmp_path / name).write_bytes(f.read())
    assert c_build.source_hash(str(tmp_path)) == c_build.source_hash()
    with open(tmp_path / "core.c", "ab") as f:
        f.write(b"\n/* edit */\n")
    assert c_build.source_hash(str(tmp_path)) != c_build.source_hash()


def test_built_hash_matches_sources(cbe):
    from tinygrad_like.backends import c_build, c_runtime
    built = c_runtime.ffi.string(c_runtime.lib.tg_source_hash()).decode()
    assert built == c_build.source_hash()


# ---------------------------------------------------------------- the op table and the C enums

def _csrc_texts() -> dict:
    src = os.path.join(ROOT, "csrc")
    out = {}
    for name in sorted(os.listdir(src)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(src, name)) as f:
                out[name] = f.read()
    return out


def test_c_enums_are_generated_from_the_protocol_tables():
    from tinygrad_like.backends import c_build, protocol
    tables = c_build.op_tables()
    for name in ("UNARY_OPS", "ARITH_OPS", "COMPARE_OPS", "BINARY_OPS", "REDUCE_OPS", "ARG_REDUCE_OPS",
                 "DTYPE_NAMES"):
        assert tables[name] == getattr(protocol, name), name
    header = c_build.ops_header()
    for codes, prefix in ((protocol.UNARY_CODES, "U"), (protocol.BINARY_CODES, "B"), (protocol.REDUCE_CODES, "R"),
                          (protocol.ARG_REDUCE_CODES, "A"), (protocol.DTYPE_CODES, "DT")):
        for op, code in codes.items():
            assert f"{prefix}_{c_build._c_name(op)} = {code}," in header, (prefix, op)
    assert f"B_FIRST_COMPARE = {len(protocol.ARITH_OPS)} " in header
    assert "DT_F32 = 2," in header and "U_LOGICAL_NOT = 15," in header  # names the C code spells


def test_csrc_declares_no_op_enum_and_uses_only_generated_codes():
    """The C code must not declare its own op/dtype codes (they would fall out of step with
    protocol.py), and every U_/B_/R_/A_/DT_ name it uses must be one the table generates."""
    import re
    from tinygrad_like.backends import c_build
    generated = set(re.findall(r"\b((?:U|B|R|A|DT)_[A-Z0-9_]+) =", c_build.ops_header()))
    for name, text in _csrc_texts().items():
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
        for enum in re.findall(r"enum\s*\{([^}]*)\}", code):
            declared = set(re.findall(r"\b((?:U|B|R|A|DT)_[A-Z0-9_]+)\b", enum))
            assert not declared, f"csrc/{name} declares {sorted(declared)}: op codes come from protocol.py"
        used = set(re.findall(r"\b((?:U|B|R|A|DT)_[A-Z0-9_]+)\b", code))
        assert used <= generated, f"csrc/{name} uses {sorted(used - generated)}, not in protocol.py's tables"


def test_op_table_change_makes_the_build_stale():
    """Reordering an op table changes the source hash, so c_backend refuses a build made from the
    old table (check_fresh) instead of running ops under the wrong codes."""
    from tinygrad_like.backends import c_build
    tables = dict(c_build.op_tables())
    ops = list(tables["UNARY_OPS"])
    ops[0], ops[1] = ops[1], ops[0]
    tables["UNARY_OPS"] = tuple(ops)
    assert c_build.source_hash(header=c_build.ops_header(tables)) != c_build.source_hash()


def test_every_protocol_op_runs_under_its_own_code(cbe):
    """Each unary and binary op of the table gives what the python backend gives (a code mapped to
    another op would differ on these inputs)."""
    from tinygrad_like.backends import protocol
    py = tg.backends.load("python")
    xs = [-2.5, -1.0, -0.25, 0.0, 0.5, 1.0, 3.0]
    ys = [1.5, -1.0, 2.0, 0.5, 0.5, -3.0, 3.0]
    v = View((len(xs),), (1,), 0)

    def both(f):
        got = f(cbe, cbe.from_list(xs, float64), cbe.from_list(ys, float64))
        want = f(py, py.from_list(xs, float64), py.from_list(ys, float64))
        return got, want

    for op in protocol.UNARY_OPS:
        dt = bool_ if op == "logical_not" else float64
        vals = [x != 0 for x in xs] if dt is bool_ else xs
        got = cbe.to_list(cbe.unary(op, cbe.from_list(vals, dt), v, dt), v, dt)
        want = py.to_list(py.unary(op, py.from_list(vals, dt), v, dt), v, dt)
        assert got == pytest.approx(want, rel=1e-12, nan_ok=True), op
    for op in protocol.BINARY_OPS:
        odt = bool_ if op in protocol.COMPARE_OPS else float64
        got, want = both(lambda be, a, b: be.to_list(be.binary(op, a, v, b, v, float64), v, odt))
        assert got == pytest.approx(want, rel=1e-12, nan_ok=True), op
    m = View((7,), (1,), 0)
    for op in protocol.REDUCE_OPS:
        got, want = both(lambda be, a, b: be.to_list(be.reduce(op, a, m, 1, float64), View((), (), 0), float64))
        assert got == pytest.approx(want), op
    for op in protocol.ARG_REDUCE_OPS:
        got, want = both(lambda be, a, b: be.to_list(be.arg_reduce(op, a, m, float64), View((), (), 0), int64))
        assert got == want, op


# ---------------------------------------------------------------- checks before C runs

def test_views_outside_the_buffer_are_rejected(cbe):
    a = cbe.full(10, 1.0, float32)
    ok = View((10,), (1,), 0)
    for bad in (View((11,), (1,), 0), View((5,), (2,), 2), View((3,), (-1,), 1), View((2, 3), (8, 1), 0),
                View((10,), (1,), -1)):
        with pytest.raises(TensorIndexError, match="outside its buffer"):
            cbe.binary("add", a, bad, a, bad, float32)
        with pytest.raises(TensorIndexError):
            cbe.unary("exp", a, bad, float32)
        with pytest.raises(TensorIndexError):
            cbe.copy(a, bad, float32, float64)
        with pytest.raises(TensorIndexError):
            cbe.reduce("sum", a, bad, 1, float32)
    assert cbe.to_list(cbe.binary("add", a, ok, a, ok, float32), ok, float32) == [2.0] * 10



def test_2d_binary_operands_are_checked_one_by_one(cbe):
    """The inline checks of 2-d operands (binary's fast path) reject either operand outside its
    buffer, negative strides and offsets, with the full checks' errors; a fitting 2-d pair runs."""
    a, small = cbe.full(12, 1.0, float32), cbe.full(4, 2.0, float32)
    ok, row = View((3, 4), (4, 1), 0), View((3, 4), (0, 1), 0)
    cbe.binary("add", a, ok, small, row, float32)  # warm: the op's codes are cached
    assert cbe.to_list(cbe.binary("add", a, ok, small, row, float32), ok, float32) == [3.0] * 12
    for x, vx, y, vy in ((a, ok, small, ok), (small, row, a, View((3, 4), (4, 1), 1)),
                         (a, View((3, 4), (4, -1), 2), a, ok), (a, ok, a, View((3, 4), (-4, 1), 7)),
                         (a, View((3, 4), (4, 1), -1), a, ok)):
        with pytest.raises(TensorIndexError, match="outside its buffer"):
            cbe.binary("add", x, vx, y, vy, float32)
    with pytest.raises(DTypeError):
        cbe.binary("add", a, ok, cbe.full(12, 1.0, float64), ok, float32)
    seq = cbe.from_list(list(range(12)), float32)  # negative strides inside the buffer: the full checks pass
    flipped = cbe.binary("add", seq, View((3, 4), (-4, -1), 11), seq, ok, float32)
    assert cbe.to_list(flipped, ok, float32) == [11.0] * 12

def test_out_buffer_too_small_or_wrong_dtype(cbe):
    a = cbe.full(8, 1.0, float32)
    v = View((8,), (1,), 0)
    with pytest.raises(BackendError):
        cbe.binary("add", a, v, a, v, float32, out=cbe.empty(4, float32))
    with pytest.raises(BackendError):
        cbe.binary("lt", a, v, a, v, float32, out=cbe.empty(8, float32))  # compare writes bool


def test_dtype_mismatch_is_rejected(cbe):
    a = cbe.full(4, 1.0, float32)
    v = View((4,), (1,), 0)
    with pytest.raises(DTypeError):
        cbe.unary("exp", a, v, float64)
    with pytest.raises(DTypeError):
        cbe.matmul(a, View((2, 2), (2, 1), 0), a, View((2, 2), (2, 1), 0), float64)


def test_gather_index_out_of_range_caught_in_c(cbe):
    x = cbe.from_list([1.0, 2.0, 3.0], float32)
    idx = cbe.from_list([0, 5], int64)
    with pytest.raises(TensorIndexError, match="index out of range"):
        cbe.gather(x, View((3,), (1,), 0), idx, View((2,), (1,), 0), 0, float32)
    with pytest.raises(TensorIndexError):
        cbe.scatter_add(x, View((3,), (1,), 0), cbe.from_list([-1], int64), View((1,), (1,), 0),
                        x, View((1,), (1,), 0), 0, float32)


def test_unsupported_op_dtype_pairs_raise(cbe):
    b = cbe.full(4, True, bool_)
    v = View((4,), (1,), 0)
    with pytest.raises(BackendError):
        cbe.unary("exp", b, v, bool_)
    with pytest.raises(BackendError):
        cbe.binary("div", cbe.full(4, 1, int64), v, cbe.full(4, 1, int64), v, int64)


# ---------------------------------------------------------------- memory

def test_empty_is_writable_and_memoryview_shares_memory(cbe):
    np = pytest.importorskip("numpy")
    t = tg.zeros(5)
    a = t.numpy()
    a[2] = 7.0
    assert t.tolist() == [0.0, 0.0, 7.0, 0.0, 0.0]
    mv = cbe.memoryview(t._buf, float32)
    del t, a
    import gc
    gc.collect()
    assert mv.tolist() == [0.0, 0.0, 7.0, 0.0, 0.0]  # the view keeps the C buffer alive
    assert np.frombuffer(mv, dtype=np.float32)[2] == 7.0


def test_from_buffer_copies(cbe):
    from array import array
    src = array("d", [1.0, 2.0, 3.0])
    buf = cbe.from_buffer(memoryview(src), float64)
    src[0] = 9.0
    assert cbe.to_list(buf, View((3,), (1,), 0), float64) == [1.0, 2.0, 3.0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and getrusage's fault count")
def test_mid_size_results_reuse_heap_pages():
    """Results of a few hundred KiB (448x256 float32) freed and made again come from pages the process
    already has: 150 of them take a few hundred page faults, not one per 4 KiB page (about 17,000)."""
    r = _run("""
        import resource
        import numpy as np
        import tinygrad_like as tg
        tg.set_backend("c")
        x = tg.tensor(np.ones((448, 256), np.float32))
        for _ in range(5):
            y = (x + 1) * 2
        del y
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(50):
            y = x + 1
            z = y * 2
            w = z - 1
            del y, z, w
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    """)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) < 2000, r.stdout


# ---------------------------------------------------------------- threads

def test_tg_num_threads_caps_both_pools(cbe):
    r = _run("""
        import tinygrad_like as tg
        from tinygrad_like.backends import c_runtime
        be = tg.backends.load("c")
        print(be.get_num_threads(), c_runtime.lib.scipy_openblas_get_num_threads())
    """, env={"TG_NUM_THREADS": "1"})
    assert r.stdout.split() == ["1", "1"], r.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
@pytest.mark.parametrize("user_value", [None, "3"])
def test_our_openblas_starts_no_spinning_workers(cbe, user_value):
    # Loading the backend and multiplying leaves the main thread alone (OpenBLAS starts no worker
    # of its own; the backend's pool starts on its first parallel kernel), and the user's
    # OPENBLAS_NUM_THREADS is what numpy's OpenBLAS, loaded later, reads.
    r = _run("""
        import os
        import tinygrad_like as tg
        tg.set_backend("c")
        (tg.ones(64, 64) @ tg.ones(64, 64)).sum().item()
        print(len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS", "unset"))
    """, env={"TG_NUM_THREADS": "2", **({"OPENBLAS_NUM_THREADS": user_value} if user_value else {})})
    assert r.returncode == 0, r.stderr
    expected = user_value or os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    assert r.stdout.split() == ["1", expected], r.stdout

def test_set_num_threads_gives_same_results(cbe):
    x = tg.rand(300_000)
    prev = cbe.get_num_threads()
    try:
        cbe.set_num_threads(1)
        s1, e1 = x.sum().item(), x.exp().tolist()[:5]
        cbe.set_num_threads(2)
        s2, e2 = x.sum().item(), x.exp().tolist()[:5]
    finally:
        cbe.set_num_threads(prev)
    assert s1 == pytest.approx(s2, rel=1e-6) and e1 == e2


def _child_sum(q) -> None:
    import tinygrad_like as tg
    tg.set_backend("c")
    x = tg.ones(1_000_000)
    q.put((x.sum().item(), (tg.ones(64, 64) @ tg.ones(64, 64)).sum().item()))


@pytest.mark.xdist_group("processes")  # one xdist worker runs the multi-process tests in turn
@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_children_run_kernels(cbe, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} not available")
    tg.ones(1_000_000).exp().sum()  # the parent's OpenMP pool is up before the fork
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=_child_sum, args=(q,))
    p.start()
    try:
        # a hang detector, not a time limit: a spawned child imports the test module (numpy,
        # hypothesis, the backends) from scratch, which takes a while on a loaded machine
        got = q.get(timeout=300)
    except queue.Empty:
        pytest.fail(f"{method} child hung (no result in 300 s; alive: {p.is_alive()}, exit code {p.exitcode})")
    finally:
        p.join(30)
        if p.is_alive():
            p.kill()
    assert got == (1_000_000.0, 64.0 * 64 * 64)
    assert p.exitcode == 0, f"{method} child exit code {p.exitcode}"


# ---------------------------------------------------------------- kernels beyond the generic suite

def test_fused_softmax_matches_composition(cbe):
    x = tg.randn(7, 33, dtype=float64)
    ref = (x - x.max(1, keepdim=True)).exp()
    ref = ref / ref.sum(1, keepdim=True)
    got = x.softmax(1)
    assert max(abs(a - b) for a, b in zip(sum(got.tolist(), []), sum(ref.tolist(), []))) < 1e-12


def test_random_bit_identical_to_python(cbe):
    py = tg.backends.load("python")
    for dist in ("uniform", "normal"):
        for dt in (float32, float64):
            a = cbe.to_list(cbe.random(dist, 257, 12345, 7, dt), View((257,), (1,), 0), dt)
            b = py.to_list(py.random(dist, 257, 12345, 7, dt), View((257,), (1,), 0), dt)
            assert a == b, (dist, dt)


def test_matmul_transposed_and_copied_layouts(cbe):
    a = tg.randn(5, 3, dtype=float64)
    b = tg.randn(3, 4, dtype=float64)
    ref = [[sum(a.tolist()[i][k] * b.tolist()[k][j] for k in range(3)) for j in range(4)] for i in range(5)]
    for x, y in ((a, b), (a.T.contiguous().T, b), (a, b.T.contiguous().T), (a[:, ::1], b[:, ::1])):
        out = (x @ y).tolist()
        assert all(abs(out[i][j] - ref[i][j]) < 1e-12 for i in range(5) for j in range(4))
    s = tg.randn(6, 8, dtype=float64)[::2, ::2]  # neither stride is 1: copied first
    out = (s @ s.T).tolist()
    sl = s.tolist()
    assert abs(out[1][2] - sum(u * v for u, v in zip(sl[1], sl[2]))) < 1e-12


def test_float32_sum_of_1e7_is_accurate(cbe):
    x = tg.full((10_000_000,), 0.1)
    assert x.sum().item() == pytest.approx(1e6 * 1.0000000149011612, rel=1e-6)
    assert x.reshape(1000, 10_000).sum(0).tolist()[0] == pytest.approx(1000 * 0.10000000149011612, rel=1e-6)


def test_big_buffers_recycle_and_outlive_their_tensor(cbe):
    np = pytest.importorskip("numpy")
    n = 1 << 20  # 4 MiB of float32: the huge-page cache path
    t = tg.full((n,), 2.0)
    mv = cbe.memoryview(t._buf, float32)
    del t
    import gc
    gc.collect()
    for _ in range(3):  # freed blocks are handed out again; the live view keeps its own
        u = tg.full((n,), 3.0)
        assert u.sum().item() == 3.0 * n
        del u
    assert np.frombuffer(mv, dtype=np.float32)[[0, -1]].tolist() == [2.0, 2.0]


def _f32_ulps(a, b) -> int:
    """Distance in float32 units in the last place (values given as Python floats)."""
    import struct

    def key(v):
        i = struct.unpack("<i", struct.pack("<f", v))[0]
        return i if i >= 0 else -(i & 0x7FFFFFFF)
    return abs(key(a) - key(b))


def test_exp_float32_ulps_specials_and_paths_agree(cbe):
    """exp/sigmoid f32: the vector (AVX-512 or AVX2) contiguous path and the scalar strided path give
    the same bits, exp within 1 ulp of the correctly rounded value, IEEE specials (inf, nan, -0.0, overflow,
    subnormal results) right. (All 2^32 inputs were checked once offline: max 1 ulp.)"""
    import math
    import random
    import struct

    def f32(v):
        return struct.unpack("<f", struct.pack("<f", v))[0] if abs(v) < 3.4028235677973366e38 else math.copysign(math.inf, v)

    rng = random.Random(5)
    vals = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 1e-30, -1e-30, 88.72283172607422,
            88.72283935546875, 88.8, 89.5, 1e30, -87.33654, -87.5, -100.0, -103.97, -103.98, -104.5, -1e30]
    vals += [rng.uniform(-110, 95) for _ in range(3000)] + [rng.uniform(-1, 1) for _ in range(1000)]
    vals = [f32(v) for v in vals]  # exactly representable
    x = tg.tensor(vals, dtype=float32)
    xs = tg.tensor([v for v in vals for _ in (0, 1)], dtype=float32)[::2]  # strided: the scalar path
    for op, ref in (("exp", lambda v: math.exp(v) if v < 709 else math.inf),
                    ("sigmoid", lambda v: 1 / (1 + math.exp(-v)))):
        got, got_s = getattr(x, op)().tolist(), getattr(xs, op)().tolist()
        assert len(got) == len(vals)
        for v, g, gs in zip(vals, got, got_s):
            if math.isnan(v):
                assert math.isnan(g) and math.isnan(gs), (op, v, g, gs)
                continue
            assert struct.pack("<f", g) == struct.pack("<f", gs), (op, v, g, gs)
            if op == "exp":
                assert _f32_ulps(g, f32(ref(v))) <= 1, (op, v, g)
            elif v > -80:  # below, exp(-x) overflows float32 and 1 / (1 + inf) is 0
                assert _f32_ulps(g, f32(ref(v))) <= 2, (op, v, g)
    full = [struct.pack("<f", v) for v in x.exp().tolist()]
    for k in range(1, 40):  # every tail length of the 16-lane loop
        assert [struct.pack("<f", v) for v in tg.tensor(vals[:k], dtype=float32).exp().tolist()] == full[:k]


@pytest.mark.parametrize("threads", [1, 2])
def test_own_sgemm_layouts_and_edges(cbe, threads):
    """float32 products in the own GEMMs' ranges (csrc/gemm.c for AVX-512: x @ W.T with few columns in
    its dot-product kernel, few rows with B read in place; gemm_avx2.c for AVX2), on both sides of each
    path's bounds: every transpose pair, row/column/k counts off the 12x32 and 6x16 tiles and the
    16- and 8-wide transposes, several k blocks (k > 512, k > 384) and column blocks (n > 512), offset
    and padded views (lda > k), 1 and 2 threads; against float64 numpy."""
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(3)
    prev = cbe.get_num_threads()
    shapes = [(128, 256, 784), (256, 784, 128), (37, 45, 1261), (250, 33, 260), (16, 32, 4100),
              (100, 600, 1100), (13 * 12 + 5, 97, 140), (64, 4096, 16),  # each >= 2^20 multiply-adds
              (448, 64, 64), (73, 130, 120),  # 448x64x64 at 2^20.8; 7 row blocks: B packed
              (72, 130, 120), (64, 784, 128), (6, 7003, 25), (1, 2100, 500), (13, 3400, 150),  # B in place
              (25, 97, 512), (25, 97, 513), (3, 2100, 600),  # k up to 512: B in place; past it: packed
              (16, 33, 2100), (250, 33, 260), (100, 64, 170),  # <= 64 columns: A in place (k blocks too)
              (100, 65, 170),  # 65 columns: A packed
              (448, 27, 64), (300, 16, 127), (64, 31, 512),  # 16-31 columns, little k: 12x32 tile if tb
              (128, 10, 256), (1001, 5, 100), (77, 31, 333), (130, 7, 145), (448, 20, 128),  # dot kernel
              # the AVX2 GEMM (gemm_avx2.c): off its 6x16 tile and 8-wide transposes, 2 k blocks (k > 384),
              # both sides of its bounds (2^16, 2^21 with < 32 columns, 2^25 multiply-adds)
              (47, 45, 61), (6 * 9 + 1, 17, 401), (16, 16, 256), (16, 16, 255), (31, 31, 2200), (31, 32, 2200),
              (127, 1023, 259), (128, 1024, 256)]
    try:
        cbe.set_num_threads(threads)
        for m, n, k in shapes:
            for ta in (0, 1):
                for tb in (0, 1):
                    a = rng.standard_normal((k, m + 3) if ta else (m, k + 3)).astype(np.float32)
                    b = rng.standard_normal((n, k + 2) if tb else (k, n + 2)).astype(np.float32)
                    ta_ = tg.from_numpy(a)[:, 1:m + 1].T if ta else tg.from_numpy(a)[:, 2:k + 2]
                    tb_ = tg.from_numpy(b)[:, 1:k + 1].T if tb else tg.from_numpy(b)[:, :n]
                    an = a[:, 1:m + 1].T if ta else a[:, 2:k + 2]
                    bn = b[:, 1:k + 1].T if tb else b[:, :n]
                    ref = an.astype(np.float64) @ bn.astype(np.float64)
                    got = (ta_ @ tb_).numpy()
                    assert got.shape == (m, n)
                    err = np.abs(got - ref).max() / (np.abs(an).max() * np.abs(bn).max() * k)
                    assert err < 1e-6, (m, n, k, ta, tb, err)
        z = tg.zeros(40, 0) @ tg.zeros(0, 5000)  # k = 0: zeros, not garbage
        assert z.shape == (40, 5000) and not z.numpy().any()
        x = tg.from_numpy(rng.standard_normal((3, 64, 70)).astype(np.float32))  # batched
        w = tg.from_numpy(rng.standard_normal((3, 70, 90)).astype(np.float32))
        assert np.allclose((x @ w).numpy(), x.numpy() @ w.numpy(), rtol=1e-4, atol=1e-4)
        # batched and broadcast products in the in-place paths: B in place (6 rows), A in place (40 columns,
        # 5 entries: one GEMM per entry on the pool's threads), a transposed A in place against a broadcast B
        for xs, ws, tx in (((2, 6, 200), (2, 200, 1000), False), ((5, 448, 64), (5, 64, 40), False),
                           ((4, 200, 300), (1, 200, 48), True)):
            xa = rng.standard_normal(xs).astype(np.float32)
            wa = rng.standard_normal(ws).astype(np.float32)
            xt = tg.from_numpy(xa).transpose(1, 2) if tx else tg.from_numpy(xa)
            xn = xa.transpose(0, 2, 1) if tx else xa
            got = (xt @ tg.from_numpy(wa)).numpy()
            ref = xn.astype(np.float64) @ wa.astype(np.float64)
            assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max(), (xs, ws, tx)
    finally:
        cbe.set_num_threads(prev)
