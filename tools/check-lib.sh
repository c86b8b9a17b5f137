#!/usr/bin/env bash
# check-lib.sh: what the check scripts share (sourced by tools/check-deploy.sh,
# tools/check-docs.sh and tools/check-chart.sh): the ok/FAIL lines they report with, their
# counters, sections, a scratch directory removed on exit, and the closing summary line.
# shellcheck disable=SC2034 # checks, failures and TMP are read by the sourcing script

failures=0
checks=0
ok() {
    checks=$((checks + 1))
    printf 'ok   %s\n' "$*"
}
fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    printf 'FAIL %s\n' "$*"
}
section() { printf '\n== %s\n' "$*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds, else FAIL with its output.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$what"
    else
        fail "$what"
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/     /'
    fi
}
# summary NAME: the closing line the deploy test suite reads; the status is 0 when all passed.
summary() {
    printf '\n%s: %d checks, %d failed\n' "$1" "$checks" "$failures"
    [ "$failures" = 0 ]
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
