#!/usr/bin/env bash
# check-release.sh: checks tools/deps.sh's package names for another Debian release, and that
# the sources compile against that release's library headers, without Docker: what a
# `docker build --build-arg DEBIAN_RELEASE=trixie .` would fail on first. Needs the network
# (Debian's archive, through apt-get with a private state directory; nothing is installed and
# the machine's own apt state is untouched), so `make test` does not run it.
#
#   tools/check-release.sh [RELEASE]     RELEASE: trixie (default) or bookworm
#
# 1. `apt-get update` of RELEASE's main archive into build/release-RELEASE/apt;
# 2. every name of every tools/deps.sh group for RELEASE resolves there (`apt-cache show`);
# 3. the -dev packages of the build group are downloaded and unpacked (dpkg -x) into
#    build/release-RELEASE/root, and every C file of the tree is compiled against their
#    headers (-fsyntax-only, the Makefile's -Werror warnings; the headers as system headers,
#    as /usr/include is in a real build) with this machine's clang.
# Ubuntu's archive is not one of the registries reachable here, so noble is not covered.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REL=${1:-trixie}
W=$ROOT/build/release-$REL
mkdir -p "$W/apt/lists/partial" "$W/apt/cache/archives/partial" "$W/debs" "$W/root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $REL main" >"$W/apt/sources.list"
: >"$W/apt/status"
APT=(-o "Dir::Etc::SourceList=$W/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$W/apt/lists" -o "Dir::Cache=$W/apt/cache"
    -o "Dir::State::status=$W/apt/status" -o "APT::Architecture=$(dpkg --print-architecture)")
apt-get "${APT[@]}" -qq update

missing=()
for g in build test stack lint bench runtime; do
    for p in $(tools/deps.sh --list "$g" --release "$REL"); do
        apt-cache "${APT[@]}" show "$p" >/dev/null 2>&1 || missing+=("$g:$p")
    done
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "check-release: not in $REL: ${missing[*]}" >&2
    exit 1
fi
echo "check-release: every tools/deps.sh name exists in $REL"

dev=()
for p in $(tools/deps.sh --list build --release "$REL"); do
    [[ $p == *-dev && $p != libc6-dev ]] && dev+=("$p")
done
(cd "$W/debs" && apt-get "${APT[@]}" -qq download "${dev[@]}" check 2>/dev/null)
for d in "$W"/debs/*.deb; do dpkg -x "$d" "$W/root"; done
inc=$W/root/usr/include
flags=(-fsyntax-only -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow
    -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral -pthread
    -isystem "$inc" -isystem "$inc/postgresql" -isystem "$inc/$(gcc -print-multiarch)"
    -Ibuild/gen -Itests/support)
for d in libs/*/; do flags+=(-I"$d"); done
make -s "build/gen/mc_version.h" >/dev/null
failed=0
n=0
while IFS= read -r f; do
    n=$((n + 1))
    clang "${flags[@]}" "$f" || failed=$((failed + 1))
done < <(git ls-files 'libs/*.c' 'services/*.c' 'tools/*.c' 'tests/*.c' 'bench/*.c')
echo "check-release: $n C files against $REL's headers ($(cd "$W/debs" && printf '%s ' *.deb | sed 's/_[^ ]*//g')): $failed failed"
[ "$failed" = 0 ]
