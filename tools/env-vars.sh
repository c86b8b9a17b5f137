#!/usr/bin/env bash
# env-vars.sh: every environment variable the C code reads, derived from the sources, for the
# deployment and documentation checks (tools/check-deploy.sh, tools/check-docs.sh).
#
#   tools/env-vars.sh [--pending]
#
# Prints one tab-separated line per (scope, variable):
#   scope     service  for libs/ (every service reads it: the common table in
#                      libs/service/service.c, KAFKA_CONFIG in libs/kafka/kafka.c)
#             api-gateway, task-dispatcher, ...   for services/<name>/
#             migrate, backfill-usage, ...         for tools/<name>/
#             topics   for tools/migrate/topics.c: `multica-migrate topics` is a program of its
#                      own as far as settings go (Compose's topic-init, the chart's topics
#                      Job), so its variables are not expected where `multica-migrate up` runs
#   name      the variable
#   default   the default text of its mc_config_var entry ("(empty)" for ""); <required> for NULL,
#             <computed> when the default is not a literal, <none> for a plain getenv()
#   origin    the file it was found in, or "pending"
#
# Sources: `{"NAME", MC_CFG_...` entries of struct mc_config_var tables, getenv("NAME")
# calls, and name patterns built with %s next to a getenv() call (multica-migrate's
# MULTICA_%s_DB_PASSWORD), expanded with every schema slice under migrations/. A tool that
# calls into libs/kafka (mc_kafka_*, mc_consumer_*, mc_producer_*) also reads what libs/kafka
# getenv()s (KAFKA_CONFIG); those lines carry "libs/kafka/kafka.c via <file>" as origin.
#
# --pending adds the variables of tools/pending-env-vars.txt that no code reads yet: settings
# announced for work in progress (documented and deployed ahead of the merge). A pending
# variable that the code now reads is reported on stderr so the list gets trimmed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

scope_of() {
    case "$1" in
    libs/*) echo service ;;
    tools/migrate/topics.c) echo topics ;;
    services/*/*) echo "$1" | cut -d/ -f2 ;;
    tools/*/*) echo "$1" | cut -d/ -f2 ;;
    *) echo other ;;
    esac
}

slices=()
for d in migrations/*/; do
    slices+=("$(basename "$d" | tr '[:lower:]' '[:upper:]')")
done

found=$(mktemp)
trap 'rm -f "$found"' EXIT

while IFS= read -r f; do
    scope=$(scope_of "$f")
    # mc_config_var entries: {"NAME", MC_CFG_TYPE, DEFAULT, ...}, possibly across lines.
    perl -0777 -ne '
        while (/\{\s*"([A-Z][A-Z0-9_]*)"\s*,\s*MC_CFG_[A-Z]+\s*,\s*("((?:[^"\\]|\\.)*)"|NULL|[A-Za-z_][A-Za-z0-9_]*)/g) {
            my ($n, $raw, $lit) = ($1, $2, $3);
            my $d = defined $lit ? ($lit eq "" ? "(empty)" : $lit)
                                 : ($raw eq "NULL" ? "<required>" : "<computed>");
            print "$n\t$d\n";
        }' "$f" | while IFS=$'\t' read -r name def; do
        printf '%s\t%s\t%s\t%s\n' "$scope" "$name" "$def" "$f"
    done
    # getenv("NAME")
    { grep -oE 'getenv\("[A-Z][A-Z0-9_]*"\)' "$f" || true; } | sed -E 's/getenv\("(.*)"\)/\1/' |
        while read -r name; do
            printf '%s\t%s\t<none>\t%s\n' "$scope" "$name" "$f"
        done
    # names built at run time: "PREFIX_%s_SUFFIX" in a file that calls getenv(name)
    if grep -qE 'getenv\([a-z_]+\)' "$f"; then
        { grep -oE '"[A-Z][A-Z0-9_]*%s[A-Z0-9_]*"' "$f" || true; } | tr -d '"' | while read -r pat; do
            for s in "${slices[@]}"; do
                printf '%s\t%s\t<none>\t%s\n' "$scope" "${pat/\%s/$s}" "$f"
            done
        done
    fi
    # a tool using libs/kafka reads libs/kafka's own variables
    if [[ $f == tools/* ]] && grep -qE '\bmc_(kafka|consumer|producer)_[a-z_]+\(' "$f"; then
        for lib in libs/kafka/*.c; do
            { grep -oE 'getenv\("[A-Z][A-Z0-9_]*"\)' "$lib" || true; } | sed -E 's/getenv\("(.*)"\)/\1/' |
                while read -r name; do
                    printf '%s\t%s\t<none>\t%s via %s\n' "$scope" "$name" "$lib" "$f"
                done
        done
    fi
done < <(find libs services tools -name '*.c' | sort) | sort -u -t$'\t' -k1,1 -k2,2 >"$found"

cat "$found"

if [ "${1:-}" = --pending ] && [ -f tools/pending-env-vars.txt ]; then
    { grep -vE '^\s*(#|$)' tools/pending-env-vars.txt || true; } | while read -r scope name def; do
        if awk -F'\t' -v s="$scope" -v n="$name" '$1 == s && $2 == n { f = 1 } END { exit !f }' "$found"; then
            echo "env-vars: $scope $name is read by the code now; remove it from tools/pending-env-vars.txt" >&2
        else
            printf '%s\t%s\t%s\tpending\n' "$scope" "$name" "$def"
        fi
    done
fi
