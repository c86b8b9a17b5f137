#!/usr/bin/env bash
# lint.sh: what `make lint` checks, each failing on any finding: the C sources formatted by the
# pinned clang-format (tools/deps.sh installs it into MULTICA_CACHE), cppcheck, and shellcheck
# on every shell script in the tree (found by name or #! line, so a new script cannot be
# missed). The deploy suite runs it too, so `make test` fails on a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}
CLANG_FORMAT=${CLANG_FORMAT:-$CACHE/venv/bin/clang-format}
failed=0

# The files of the tree: git's list, or everything but build output outside a checkout.
files() {
    git ls-files 2>/dev/null || find . -path ./build -prune -o -path ./.git -prune -o -type f -print |
        sed 's|^\./||'
}

need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "lint: $1 is missing (tools/deps.sh installs it)" >&2
    exit 1
}
need "$CLANG_FORMAT"
need cppcheck
need shellcheck

mapfile -t c_sources < <(files | grep -E '\.[ch]$')
mapfile -t scripts < <(files | while IFS= read -r f; do
    case $f in
    *.sh) echo "$f" ;;
    *) [ -f "$f" ] && head -c 64 "$f" | head -n 1 | grep -Eq '^#!.*[/ ](ba|da)?sh( |$)' && echo "$f" ;;
    esac
done)

if ! "$CLANG_FORMAT" --dry-run -Werror "${c_sources[@]}"; then
    echo "lint: run 'make format' ($("$CLANG_FORMAT" --version | sed 's/.*version //'))" >&2
    failed=1
fi

includes=()
for d in libs/*/; do
    includes+=("-I${d%/}")
done
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem "${includes[@]}" \
    libs services tools tests bench || failed=1

shellcheck "${scripts[@]}" || failed=1

if [ "$failed" -ne 0 ]; then
    echo "lint: FAILED" >&2
    exit 1
fi
echo "lint: ${#c_sources[@]} C files formatted, cppcheck clean, ${#scripts[@]} shell scripts clean"
