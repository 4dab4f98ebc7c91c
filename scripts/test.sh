#!/usr/bin/env bash
# Quick start, command 2: set up, build, and run every test, twice: a normal
# build and an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
tm_setup_packages
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for variant in release sanitize; do
  if [ $variant = release ]; then
    dir=build; args=(-DCMAKE_BUILD_TYPE=Release)
  else
    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DTM_SANITIZE=ON)
  fi
  tm_build $dir "${args[@]}"
  echo "==> testing $dir"
  (cd "$TM_ROOT/$dir" && ctest --output-on-failure -j"$(nproc)" -LE fuzz) || status=1
done
[ $status -eq 0 ] && echo "==> all tests passed (release and sanitizer builds)" || echo "==> TESTS FAILED"
exit $status
