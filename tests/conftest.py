"""One switch selects the backends the suite runs on.

Select with `--backends=python,numba` or the TG_TEST_BACKENDS environment variable; the default
is every backend that loads here. Every test gets the autouse `backend` fixture, which makes its
backend the process default while it runs. Tests come in three kinds:

- op tests (the default): parametrized over the selected backends, so each runs once per backend;
- backend-independent tests (pure code such as the View algebra, dtype promotion, printing): run
  once, on the fastest selected backend. A module or test says so with the `backend_independent`
  marker (`pytestmark = pytest.mark.backend_independent`), or is listed in BACKEND_INDEPENDENT;
- a backend's own tests (tests/backends/test_<name>.py, with a module-level `BACKEND = "<name>"`):
  run once, on that backend, when it is selected; skipped (with the reason) when it is not.
"""
from __future__ import annotations

import os
from typing import Optional

import sys

import pytest

import tinygrad_like as tg

try:
    from xdist.scheduler import LoadGroupScheduling
except ImportError:  # pytest-xdist is a test extra; without it the suite runs in one process
    LoadGroupScheduling = None

if os.environ.get("TG_TEST_NO_TORCH"):
    # .ci/asan.sh: PyTorch's own kernels abort under the preloaded ASan runtime (no ASan report), so
    # its oracle tests skip there (pytest.importorskip sees an ImportError); they run in the normal suite
    sys.modules["torch"] = None
from tinygrad_like.errors import BackendError

# module file name -> the tests in it that run once (None: all of them)
BACKEND_INDEPENDENT: dict[str, Optional[frozenset]] = {
    "test_view.py": None,
    "test_bench.py": None,  # its subprocess runs cover every backend themselves
    "test_file_fuzz.py": None,  # file parsing: the same code whatever the backend
    "test_dtypes.py": frozenset({
        "test_tensor_tensor_promotion", "test_zero_dim_tensor_does_not_widen",
        "test_two_zero_dim_tensors_promote_normally", "test_python_scalar_never_upcasts_within_category",
        "test_dtype_objects", "test_only_float_tensors_require_grad"}),
    "test_creation.py": frozenset({
        "test_repr_matches_pytorch", "test_repr_autograd_suffixes", "test_repr_of_view_shows_view_values"}),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default=os.environ.get("TG_TEST_BACKENDS", ""),
                     help="comma-separated backends to test (default: all that load)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backend_independent: run once, not once per selected backend")
    # pytest-xdist's own marker (README's `-n 2 --dist loadgroup`): the tests of one group run in one
    # worker, in turn; registered here too so a run without xdist does not warn about it
    config.addinivalue_line("markers", "xdist_group(name): run in one pytest-xdist worker with its group")
    _check_backends_load(config)


def _unloadable() -> dict[str, str]:
    """Backend name -> why it does not load here, for the backends that do not."""
    out = {}
    for name in tg.backends.NAMES:
        try:
            tg.backends.load(name)
        except BackendError as e:
            out[name] = str(e)
    return out


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The backends under test, and why any other does not load (a backend that fails to build or
    load would otherwise only shrink the suite; see _check_backends_load for CI)."""
    return [f"tinygrad_like backends under test: {', '.join(selected_backends(config))}"] + [
        f"tinygrad_like backend {n} does not load here, its tests are skipped: {why}" for n, why in _unloadable().items()]


def _check_backends_load(config: pytest.Config) -> None:
    """Under CI (the CI environment variable), with no backends chosen by name, a backend that does
    not load fails the run: a clean clone must build and load every one."""
    missing = _unloadable() if os.environ.get("CI") and not config.getoption("--backends") else {}
    if missing:
        raise pytest.UsageError("tinygrad_like backends that do not load under CI: " +
                                "; ".join(f"{n}: {why}" for n, why in missing.items()))


def selected_backends(config: pytest.Config) -> list[str]:
    opt = config.getoption("--backends")
    if not opt or opt == "all":
        return tg.backends.available()
    names = [n.strip() for n in opt.split(",") if n.strip()]
    for n in names:
        tg.backends.load(n)  # an unloadable backend asked for by name fails loudly
    return names


def _fastest(names: list[str]) -> str:
    """The first of `names` in the registry's preference order (c, numba, python)."""
    return min(names, key=tg.backends.NAMES.index)


def _runs_once(item_or_def: pytest.Item, module_file: str, name: str) -> bool:
    if item_or_def.get_closest_marker("backend_independent") is not None:
        return True
    if module_file not in BACKEND_INDEPENDENT:
        return False
    tests = BACKEND_INDEPENDENT[module_file]
    return tests is None or name in tests


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    selected = selected_backends(metafunc.config)
    own = getattr(metafunc.module, "BACKEND", None)
    if own is not None:
        return  # a backend's own test: the fixture reads the module's BACKEND
    if _runs_once(metafunc.definition, os.path.basename(metafunc.module.__file__), metafunc.function.__name__):
        metafunc.parametrize("backend", [_fastest(selected)], indirect=True, ids=["once"])
        return
    metafunc.parametrize("backend", selected, indirect=True)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which copies the xdist_group marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = set(selected_backends(config))
    for item in items:
        _group_numba_tests(item)
        own = getattr(item.module, "BACKEND", None) if isinstance(item, pytest.Function) else None
        if own is not None and own not in selected:
            try:
                tg.backends.load(own)
                why = f"the {own} backend is not selected (--backends / TG_TEST_BACKENDS)"
            except BackendError as e:
                why = f"the {own} backend cannot load here: {e}"
            item.add_marker(pytest.mark.skip(reason=why))


def _group_numba_tests(item: pytest.Item) -> None:
    """Under `pytest -n N --dist loadgroup` (the README's test command) one worker runs all of a test
    file's numba tests: they need the same kernels, and two workers that reach a kernel missing from
    the disk cache at the same moment would both compile it (seconds of LLVM time each on a fresh
    cache). Files still spread over the workers, and the python and c tests go one by one."""
    if not isinstance(item, pytest.Function) or item.get_closest_marker("xdist_group") is not None:
        return
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("backend") if callspec is not None else None
    if (name or getattr(item.module, "BACKEND", None)) == "numba":
        item.add_marker(pytest.mark.xdist_group(f"numba-{os.path.basename(item.module.__file__)}"))


# The numba test files that compile the most kernels on an empty numba cache, costliest first
# (measured: minutes of LLVM time between them); their groups start first, see ColdCacheScheduling.
HEAVY_NUMBA_FILES = ("test_parallel_builds.py", "test_elementwise.py", "test_numba.py", "test_small_int_dtypes.py",
                     "test_numba_conv.py", "test_attention_fused.py", "test_conv.py")
# groups whose subprocesses compile the numba kernels the test groups compile too (test_bench.py's
# `python -m bench --quick`, test_fork.py's children): they start once the numba groups have run
AFTER_NUMBA_GROUPS = ("bench", "processes")


def _unit_order(scope: str, tests: int, position: int) -> tuple:
    """Sort key of a work unit (an xdist_group, or one ungrouped test) for ColdCacheScheduling."""
    if scope.startswith("numba-"):
        name = scope[len("numba-"):]
        heavy = HEAVY_NUMBA_FILES.index(name) if name in HEAVY_NUMBA_FILES else len(HEAVY_NUMBA_FILES)
        return (0, heavy, -tests, position)
    if scope in AFTER_NUMBA_GROUPS:
        return (2, AFTER_NUMBA_GROUPS.index(scope), 0, position)
    return (1 if tests > 1 else 3, 0, -tests, position)


if LoadGroupScheduling is not None:
    class ColdCacheScheduling(LoadGroupScheduling):
        """`--dist loadgroup` with the work units in the order that suits an empty numba disk cache.

        Most of a cold run is numba compiling kernels, once per kernel when one worker has saved it
        before another asks. xdist orders units by their number of tests only, which starts
        test_bench.py's `bench --quick` subprocess (over two minutes of compiling kernels the test
        groups compile too) and test_fork.py's children at once. Here the numba groups go first
        (the costliest first, so the short ones finish together), then the subprocess groups on the
        kernels the numba groups left in the cache, then the other groups, then the ungrouped tests
        (python and c), which fill both workers up to the end."""

        _ordered = False

        def _assign_work_unit(self, node) -> None:
            if not self._ordered:  # the first call: schedule() has just built the queue
                self._ordered = True
                units = sorted(enumerate(self.workqueue.items()),
                               key=lambda iu: _unit_order(iu[1][0], len(iu[1][1]), iu[0]))
                self.workqueue.clear()
                self.workqueue.update(u for _, u in units)
            super()._assign_work_unit(node)


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown to pytest without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if LoadGroupScheduling is None or config.getvalue("dist") != "loadgroup" or not all(
            hasattr(LoadGroupScheduling, a) for a in ("_assign_work_unit", "schedule")):
        return None  # another xdist than the one this was written against: its own order
    return ColdCacheScheduling(config, log)


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest):
    name = getattr(request, "param", None) or getattr(request.module, "BACKEND", None)
    prev = tg.get_backend()
    tg.set_backend(name)
    yield name
    tg.set_backend(prev)
