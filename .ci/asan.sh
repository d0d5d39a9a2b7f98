#!/usr/bin/env bash
# AddressSanitizer run of the C backend: build the extension with -fsanitize=address in a scratch
# copy of the tracked tree (the working tree's own build is left alone), then run the test suite
# on the c backend with libasan preloaded. Non-interactive; exits non-zero on a build failure,
# an ASan report (ASan aborts the process) or a failing test.
#
#   bash .ci/asan.sh                 # the default subset below (about 5-8 minutes on 2 cores)
#   bash .ci/asan.sh tests/          # any pytest arguments instead of the default subset
#
# Needs: gcc with libasan (Debian: part of gcc), and the project's Python deps installed
# (`pip install -e '.[test]'`): it reuses that environment's cffi, scipy-openblas32, numpy, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python}

LIBASAN=$(gcc -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
    echo "asan.sh: gcc has no libasan ($LIBASAN); install gcc's sanitizer runtime" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tg-asan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# the tracked files only: no stale .so, no build/ directory
git ls-files -z | (cd "$ROOT" && xargs -0 tar cf - --) | (cd "$WORK" && tar xf -)
# make `tinygrad_like.backends` resolve inside the copy (the install maps it to <root>/backends)
ln -s ../backends "$WORK/tinygrad_like/backends"

cd "$WORK"
echo "asan.sh: building the extension with AddressSanitizer in $WORK"
TG_ASAN=1 "$PY" backends/c_build.py --inplace

# detect_leaks=0: CPython's own allocations would be reported as leaks at exit.
# Python's allocator is left on (PYTHONMALLOC unset): ASan checks the C buffers we malloc.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export TG_BACKEND=c
# PyTorch's own kernels abort under the preloaded ASan runtime ("Fatal Python error: Aborted", no ASan
# report): its oracle tests skip here (tests/conftest.py) and run in the normal suite
export TG_TEST_NO_TORCH=1
# every process (pytest's workers, the tests' subprocesses) imports the package from the copy
export PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}"
if [ "$#" -gt 0 ]; then
    ARGS=("$@")
else
    # everything but the benchmark-suite tests (they time the bench harness, not the kernels), on
    # pytest-xdist workers as in the README's test command
    ARGS=(tests --ignore=tests/test_bench.py -n auto --dist loadgroup)
fi
start=$(date +%s)
LD_PRELOAD="$LIBASAN" "$PY" -c "import tinygrad_like.backends.c_runtime as c, sys; \
    assert c.__file__.startswith('$WORK'), c.__file__; print('asan.sh: extension', c.lib.tg_source_hash and 'loaded from', c.__file__)"
LD_PRELOAD="$LIBASAN" "$PY" -m pytest --backends=c -p no:cacheprovider "${ARGS[@]}"
echo "asan.sh: clean (no ASan report), $(( $(date +%s) - start )) s"
