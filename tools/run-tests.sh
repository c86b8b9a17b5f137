#!/usr/bin/env bash
# run-tests.sh BUILD [--unit]: runs the Check runner of a build tree (build or build/asan).
# The runner starts its own Postgres (BUILD/test-pg) and Apache Kafka (BUILD/test-kafka) for the
# run; with --unit it runs the unit suites alone and starts neither.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
export MC_TEST_ROOT=$ROOT
export MC_TEST_BUILD=$BUILD
export MC_TEST_BIN=$BUILD/bin
export MC_TEST_TMP=$BUILD/test-tmp
rm -rf "$MC_TEST_TMP"
mkdir -p "$MC_TEST_TMP"
chmod 755 "$MC_TEST_TMP"
case "$BUILD" in
*asan*)
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3}
    ;;
esac
exec "$BUILD/tests/multica-tests" "${@:2}"
