#!/usr/bin/env bash
# Builds and runs the whole test suite: gcc (warnings as errors), release
# builds with gcc and clang, ASan+UBSan, and TSan for the threaded parts. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

build() { # dir, cc, extra cmake args...
  local dir=$1 cc=$2; shift 2
  cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

echo "== gcc build and full suite"
build build/gcc gcc
(cd build/gcc && ctest --output-on-failure -j "$JOBS")

echo "== release builds, gcc and clang (-O3 finds other warnings)"
build build/release-gcc gcc -DCMAKE_BUILD_TYPE=Release -DCCP_BUILD_TESTS=OFF
build build/release-clang clang -DCMAKE_BUILD_TYPE=Release -DCCP_BUILD_TESTS=OFF

echo "== ASan+UBSan suite"
build build/asan clang -DCCP_SANITIZE=address,undefined -DCCP_BUILD_BENCH=OFF
(cd build/asan && CCP_TEST_TIMEOUT_MULTIPLIER=3 ASAN_OPTIONS=detect_leaks=1 \
  LSAN_OPTIONS="suppressions=$PWD/../../tests/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$JOBS" -LE slow)

echo "== TSan suite (threaded parts)"
build build/tsan clang -DCCP_SANITIZE=thread -DCCP_BUILD_BENCH=OFF
(cd build/tsan && CCP_TEST_TIMEOUT_MULTIPLIER=4 TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/../../tests/tsan.supp" \
  ctest --output-on-failure -j "$JOBS" -L threaded)
echo "== all suites passed"
