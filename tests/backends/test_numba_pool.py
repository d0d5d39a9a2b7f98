"""The numba backend's thread pool on a process confined to one CPU."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

BACKEND = "numba"

# the backend loads first on a thread (its pool starts there), then the interpreter exits
_SCRIPT = textwrap.dedent("""
    import os, threading
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy as np
    import tinygrad_like as tg
    def work():
        x = tg.from_numpy(np.ones(1 << 20, np.float32)).to("numba")
        assert float((x + x).sum().item()) == 2.0 * (1 << 20)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    import numba
    print(numba.threading_layer())
""")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity")
def test_one_cpu_process_started_on_a_thread_exits():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_THREADING", "TG_NUM_THREADS"))}
    try:
        r = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("a one-CPU process whose numba pool started on a thread hung at exit")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != "tbb"  # TBB would start no worker there (numba_pool.usable_cpus)
