"""cffi (API mode) builder of the C backend's extension `tinygrad_like.backends._c_ext`.

Used by setup.py (`cffi_modules=["backends/c_build.py:make_builder"]`) at `pip install -e .`, and by .ci/asan.sh (`python
backends/c_build.py --inplace` with TG_ASAN=1). Flags, and why:
- `-O3 -march=native -mprefer-vector-width=512`: the extension is built from source on the machine
  that runs it (editable/source installs), so native is safe; gcc tunes this AVX-512 CPU for 256-bit
  vectors unless told to prefer 512 (an FMA loop: 53 ms AVX2 vs 35 ms AVX-512 here). Set
  TG_MARCH=x86-64-v3 (or any -march value) for a build that must run elsewhere, TG_MARCH=none for
  the compiler's default.
- `-ffp-contract=off`: no silent FMA contraction, so results (random normals, elementwise math)
  round exactly like the python backend's.
- `-fno-math-errno -fno-trapping-math`: lets gcc inline sqrt/floor/ceil as vector instructions;
  results are unchanged (nothing reads errno or FP traps).
- `-fopenmp-simd`: `#pragma omp simd` vectorization hints only; the parallel kernels run on the
  backend's own pthread pool (csrc/core.c; see c_backend.py for the thread policy), not libgomp.
- The SHA-256 of csrc/ is baked in as TG_SOURCE_HASH; c_backend.py refuses a stale build.
"""
from __future__ import annotations

import glob
import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # realpath: asan.sh symlinks backends/
CSRC = os.path.join(ROOT, "csrc")
MODULE = "tinygrad_like.backends._c_ext"


def source_files(csrc: str = CSRC) -> list[str]:
    """The C sources and headers whose contents define the build (sorted, absolute)."""
    return sorted(glob.glob(os.path.join(csrc, "*.c")) + glob.glob(os.path.join(csrc, "*.h")))


def source_hash(csrc: str = CSRC) -> str:
    """SHA-256 over the names and contents of csrc/'s sources (what the extension was built from)."""
    h = hashlib.sha256()
    for path in source_files(csrc):
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def compile_args() -> tuple[list[str], list[str]]:
    """(compile flags, link flags) from the environment (TG_MARCH, TG_ASAN)."""
    cflags = ["-std=gnu11", "-fopenmp-simd", "-pthread", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]
    march = os.environ.get("TG_MARCH", "native").strip()
    if march and march != "none":
        cflags.append(f"-march={march}")
        if march in ("native", "x86-64-v4"):
            cflags.append("-mprefer-vector-width=512")
    ldflags = ["-pthread"]
    if os.environ.get("TG_ASAN", "") == "1":
        cflags += ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"]
        ldflags += ["-fsanitize=address"]
    else:
        cflags.append("-O3")
    return cflags, ldflags


def make_builder(relative: bool = True):
    """The cffi FFI object describing and building the extension."""
    from cffi import FFI
    import scipy_openblas32

    ffi = FFI()
    with open(os.path.join(CSRC, "api.h")) as f:
        ffi.cdef(f.read())
    cflags, ldflags = compile_args()
    # setuptools (cffi_modules) wants sources relative to the project root when it builds from there
    rel = os.path.relpath(CSRC) if relative and os.path.abspath(os.getcwd()) == ROOT else CSRC
    ffi.set_source(
        MODULE,
        '#include "tg.h"\n',
        sources=[os.path.join(rel, os.path.basename(p)) for p in source_files() if p.endswith(".c")],
        include_dirs=[CSRC, scipy_openblas32.get_include_dir()],
        library_dirs=[scipy_openblas32.get_lib_dir()],
        libraries=[scipy_openblas32.get_library()],
        define_macros=[("TG_SOURCE_HASH", f'"{source_hash()}"')],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )
    return ffi


if __name__ == "__main__":
    # `python backends/c_build.py --inplace`: build next to backends/ without pip (used by .ci/asan.sh)
    target_dir = os.path.join(ROOT, "backends") if "--inplace" in sys.argv else "."
    tmp = os.path.join(ROOT, "build", "c_ext_tmp")
    os.makedirs(tmp, exist_ok=True)
    so = make_builder(relative=False).compile(tmpdir=tmp, verbose=False)
    import shutil
    for old in glob.glob(os.path.join(target_dir, "_c_ext.*so")):  # one build only, no shadowing
        os.remove(old)
    # the name pip's build gives it, so a later `pip install -e .` replaces this file
    dst = os.path.join(target_dir, "_c_ext.abi3.so")
    shutil.copy(so, dst)
    print(dst)
