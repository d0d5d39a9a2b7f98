"""The python backend's own tables against protocol.py's op table."""
from __future__ import annotations

from tinygrad_like.backends import protocol, python_backend

BACKEND = "python"  # tests/conftest.py: these run once, on the python backend, when it is selected


def test_scalar_op_tables_cover_the_protocol_exactly():
    assert set(python_backend.UNARY) == set(protocol.UNARY_OPS)
    assert set(python_backend.BINARY) == set(protocol.BINARY_OPS)
