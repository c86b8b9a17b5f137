#!/usr/bin/env bash
# deps.sh: installs every Debian package the build, the tests, the local stack, lint and the
# benchmarks need. Idempotent: when everything is present it changes nothing and does not
# touch the network; otherwise it runs `apt-get update` once, then one `apt-get install`.
set -euo pipefail

PACKAGES=(
    # build
    gcc make pkg-config libc6-dev
    libulfius-dev liborcania-dev libyder-dev libjansson-dev libmicrohttpd-dev
    libpq-dev librdkafka-dev uuid-dev libjwt-dev libgnutls28-dev
    # tests
    check python3 python3-jsonschema postgresql-15-cron
    # local stack and operator tools
    postgresql-15 postgresql-client-15 curl kcat procps
    # lint and config checks
    cppcheck shellcheck yamllint
    # benchmarks
    wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
