"""`python -m bench`: time tinygrad_like's backends against numpy and PyTorch in one process.

See bench/README.md for the suites, the options and the JSON schema (SCHEMA_VERSION below).
"""
from __future__ import annotations

SCHEMA_NAME = "tinygrad_like.bench"
SCHEMA_VERSION = 1
