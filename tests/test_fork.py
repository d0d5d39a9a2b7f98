"""A process forked after threaded ops (DataLoader-style workers, multiprocessing) runs ops too.

Each scenario runs in a fresh interpreter with a time limit, so a child that hangs or is killed
fails the test instead of hanging the suite: the parent runs ops big enough to start the
backend's thread pool, then (1) os.fork() and the child runs the same ops, (2) a fork-context
multiprocessing.Pool(2) maps a function doing ops. The children's results must match the
parent's (to rounding: a child may run the serial kernel builds).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

# one xdist worker runs the multi-process tests in turn (tests/conftest.py)
pytestmark = pytest.mark.xdist_group("processes")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# a hang detector, not a time limit: a child on a loaded machine may still be compiling numba's serial
# kernel builds (a fresh numba cache) when a tighter bound would fire
TIMEOUT = 300

SCRIPT = textwrap.dedent("""
    import multiprocessing as mp
    import os
    import pickle
    import sys

    import numpy as np
    import tinygrad_like as tg

    SMALL = sys.argv[1] == "python"


    def work(seed):
        rng = np.random.default_rng(seed)
        n, rows = (2000, 20) if SMALL else (300_007, 1000)
        x = tg.tensor(rng.standard_normal(n).astype(np.float32))
        m = tg.tensor(rng.standard_normal((rows, 300)).astype(np.float32))
        w = tg.tensor(rng.standard_normal((300, 20 if SMALL else 256)).astype(np.float32))
        with tg.no_grad():
            return [x.exp().numpy(), (x * x + 1).sqrt().numpy(), x.sum().numpy(), m.sum(0).numpy(),
                    m.amax(1).numpy(), m.argmax(1).numpy(), m.softmax(1).numpy(), (m @ w).numpy(),
                    (m.T * 2).contiguous().numpy(), tg.rand(n, generator=tg.Generator(seed)).numpy()]


    def same(got, want):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            if g.dtype.kind == "f":
                # a product's entries are sums of 300 terms: where they cancel, a different split of
                # the product over threads (the child runs serial) moves them by a few ulps of the
                # terms, not of the sum, so the absolute bound scales with the largest entry
                np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-5 * max(1.0, float(np.abs(w).max())))
            else:
                assert np.array_equal(g, w)


    def read_all(fd):
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)


    if __name__ == "__main__":
        tg.set_backend(sys.argv[1])
        want = [work(s) for s in range(4)]  # threaded kernels run (and the pool starts) in the parent

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                data = pickle.dumps([work(0), work(1)])
                with os.fdopen(w, "wb") as f:
                    f.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        data = read_all(r)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"forked child ended with status {status}"
        got = pickle.loads(data)
        same(got[0], want[0])
        same(got[1], want[1])
        print("fork ok", flush=True)

        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map_async(work, range(4)).get(timeout=%(timeout)d)
        for g, w_ in zip(got, want):
            same(g, w_)
        print("pool ok", flush=True)
""") % {"timeout": TIMEOUT - 15}


def _run_bounded(args: list[str]) -> subprocess.CompletedProcess:
    """Run a script in its own process group; on timeout kill the group (pool workers too)."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {TIMEOUT} s (a child hung). stdout: {out[-2000:]} stderr: {err[-2000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_fork_and_fork_pool_after_threaded_ops(backend):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    r = _run_bounded([sys.executable, "-c", SCRIPT, backend])
    assert r.returncode == 0 and "pool ok" in r.stdout, f"stdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}"
