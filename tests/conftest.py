"""One switch runs the whole suite on every backend.

Every test gets the autouse `backend` fixture, parametrized over the selected backends, and
runs with that backend as the process default. Select with `--backends=python,numba` or the
TG_TEST_BACKENDS environment variable; the default is every backend that loads here.
"""
from __future__ import annotations

import os

import pytest

import tinygrad_like as tg


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default=os.environ.get("TG_TEST_BACKENDS", ""),
                     help="comma-separated backends to test (default: all that load)")


def selected_backends(config: pytest.Config) -> list[str]:
    opt = config.getoption("--backends")
    if not opt or opt == "all":
        return tg.backends.available()
    names = [n.strip() for n in opt.split(",") if n.strip()]
    for n in names:
        tg.backends.load(n)  # an unloadable backend asked for by name fails loudly
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", selected_backends(metafunc.config), indirect=True)


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest):
    name = request.param
    prev = tg.get_backend()
    tg.set_backend(name)
    yield name
    tg.set_backend(prev)
