#!/usr/bin/env bash
# deps.sh: installs every Debian package the build, the tests, the local stack, lint and the
# benchmarks need. Idempotent: when everything is present it changes nothing and does not
# touch the network; otherwise it runs `apt-get update` once, then one `apt-get install`.
#
#   tools/deps.sh               install the build, test, stack, lint and bench groups
#   tools/deps.sh --list GROUP  print one group's packages, one a line, and install nothing
#
# The Dockerfile installs `--list build` in its build stage and `--list runtime` in its slim
# runtime stage, so the image and a developer machine never disagree about package names.
set -euo pipefail

BUILD=(
    gcc make pkg-config libc6-dev
    libulfius-dev liborcania-dev libyder-dev libjansson-dev libmicrohttpd-dev
    libpq-dev librdkafka-dev uuid-dev libjwt-dev libgnutls28-dev
)
TEST=(check python3 python3-jsonschema postgresql-15-cron)
STACK=(postgresql-15 postgresql-client-15 curl kcat procps)
# lint, config and deployment checks (tools/check-deploy.sh, tools/check-docs.sh)
# (prometheus for promtool, which validates deploy/prometheus; its daemon is not started)
LINT=(cppcheck shellcheck yamllint yq jq docker-compose openssl prometheus)
BENCH=(wrk)
# Shared libraries of the shipped binaries (the image's runtime stage), plus CA certificates
# for TLS to Kafka and Postgres and curl for container health checks. Not installed by
# default: tools/check-deploy.sh verifies that every library `ldd` finds in build/bin comes
# from one of these packages or their dependencies.
RUNTIME=(
    libulfius2.7 liborcania2.3 libyder2.0 libjansson4 libpq5 librdkafka1 libmicrohttpd12
    libuuid1 libjwt0 libgnutls30 ca-certificates curl
)

if [ "${1:-}" = --list ]; then
    case "${2:-}" in
    build) printf '%s\n' "${BUILD[@]}" ;;
    test) printf '%s\n' "${TEST[@]}" ;;
    stack) printf '%s\n' "${STACK[@]}" ;;
    lint) printf '%s\n' "${LINT[@]}" ;;
    bench) printf '%s\n' "${BENCH[@]}" ;;
    runtime) printf '%s\n' "${RUNTIME[@]}" ;;
    *)
        echo "usage: $0 --list build|test|stack|lint|bench|runtime" >&2
        exit 2
        ;;
    esac
    exit 0
fi

PACKAGES=("${BUILD[@]}" "${TEST[@]}" "${STACK[@]}" "${LINT[@]}" "${BENCH[@]}")

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
