"""The versioned JSON document of a run: build, write, read and validate it (no extra deps).

Version 1 (see bench/README.md for the field-by-field description):

    {"schema": "tinygrad_like.bench", "version": 1, "created": ISO-8601 UTC, "argv": [str],
     "quick": bool, "duration_s": float, "suites": [str], "backends": [str], "references": [str],
     "machine": {"cpu", "simd", "logical_cpus", "usable_cpus", "os", "arch",
                 "versions": {name: version}, "threads": {var: value},
                 "peak": {"gflops", "threads", "method"}},
     "rows": [{"suite", "case", "params", "impl", "kind": "ours"|"reference",
               "status": "ok"|"skipped"|"error", "reason", "median_s", "min_s", "max_s",
               "samples", "calls_per_sample", "first_call_s", "rate", "rate_unit",
               "ratios": {reference impl: our median / its median}, "extra": {...}}]}

Times are seconds per call; for status "ok" median_s, min_s and max_s are positive numbers,
otherwise null.
"""
from __future__ import annotations

import json
from typing import Any

from bench import SCHEMA_NAME, SCHEMA_VERSION
from bench.model import Row

TOP = {"schema": str, "version": int, "created": str, "argv": list, "quick": bool, "duration_s": (int, float),
       "suites": list, "backends": list, "references": list, "machine": dict, "rows": list}
MACHINE = {"cpu": str, "logical_cpus": int, "versions": dict, "threads": dict, "peak": dict}
NUM = (int, float)
ROW = {"suite": str, "case": str, "params": str, "impl": str, "kind": str, "status": str, "reason": str,
       "samples": int, "calls_per_sample": int, "rate_unit": str, "ratios": dict, "extra": dict}
OPTIONAL_NUM = ("median_s", "min_s", "max_s", "first_call_s", "rate")


def document(rows: list[Row], meta: dict) -> dict:
    """The JSON document of a run."""
    return {"schema": SCHEMA_NAME, "version": SCHEMA_VERSION, **meta, "rows": [r.to_dict() for r in rows]}


def write(path: str, doc: dict) -> None:
    """Write the document (pretty-printed, stable key order)."""
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False, default=str)
        f.write("\n")


def read(path: str) -> dict:
    """Read a document and check it; ValueError lists what is wrong."""
    with open(path) as f:
        doc = json.load(f)
    errors = validate(doc)
    if errors:
        raise ValueError(f"{path}: not a valid bench JSON (v{SCHEMA_VERSION}): " + "; ".join(errors[:5]))
    return doc


def rows_of(doc: dict) -> list[Row]:
    """The rows of a document as Row objects."""
    return [Row.from_dict(r) for r in doc["rows"]]


def _type_errors(obj: dict, spec: dict, where: str) -> list[str]:
    errs = []
    for k, t in spec.items():
        if k not in obj:
            errs.append(f"{where}: missing {k!r}")
        elif not isinstance(obj[k], t) or (t is int and isinstance(obj[k], bool)):
            errs.append(f"{where}.{k}: expected {getattr(t, '__name__', t)}, got {type(obj[k]).__name__}")
    return errs


def validate(doc: Any) -> list[str]:
    """Every way `doc` departs from schema version 1 (an empty list means valid)."""
    if not isinstance(doc, dict):
        return ["document is not an object"]
    errs = _type_errors(doc, TOP, "$")
    if doc.get("schema") != SCHEMA_NAME:
        errs.append(f"$.schema: expected {SCHEMA_NAME!r}")
    if doc.get("version") != SCHEMA_VERSION:
        errs.append(f"$.version: expected {SCHEMA_VERSION}, got {doc.get('version')!r}")
    if isinstance(doc.get("machine"), dict):
        errs += _type_errors(doc["machine"], MACHINE, "$.machine")
    for i, r in enumerate(doc.get("rows") or []):
        w = f"$.rows[{i}]"
        if not isinstance(r, dict):
            errs.append(f"{w}: not an object")
            continue
        errs += _type_errors(r, ROW, w)
        if r.get("kind") not in ("ours", "reference"):
            errs.append(f"{w}.kind: {r.get('kind')!r} is not 'ours' or 'reference'")
        if r.get("status") not in ("ok", "skipped", "error"):
            errs.append(f"{w}.status: {r.get('status')!r} is not ok/skipped/error")
        for k in OPTIONAL_NUM:
            v = r.get(k, "missing")
            if v is not None and (not isinstance(v, NUM) or isinstance(v, bool)):
                errs.append(f"{w}.{k}: expected a number or null, got {v!r}")
        if r.get("status") == "ok":
            for k in ("median_s", "min_s", "max_s"):
                if not isinstance(r.get(k), NUM) or r[k] <= 0:
                    errs.append(f"{w}.{k}: an ok row needs a positive time")
            if isinstance(r.get("min_s"), NUM) and isinstance(r.get("max_s"), NUM) and isinstance(r.get("median_s"), NUM):
                if not r["min_s"] <= r["median_s"] <= r["max_s"]:
                    errs.append(f"{w}: expected min_s <= median_s <= max_s")
        for ref, x in (r.get("ratios") or {}).items():
            if not isinstance(x, NUM):
                errs.append(f"{w}.ratios.{ref}: expected a number")
    return errs
