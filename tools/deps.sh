#!/usr/bin/env bash
# deps.sh: installs every Debian package the build, the tests, the local stack, lint and the
# benchmarks need, then the tools that come from language registries into a cache
# (MULTICA_CACHE, default ~/.cache/multica-c; never system-wide): Apache Kafka's broker from
# Maven Central (tools/kafka fetch) and a pinned clang-format from PyPI. Idempotent: when
# everything is present it changes nothing and does not touch the network; otherwise it runs
# `apt-get update` once, then one `apt-get install`.
#
#   tools/deps.sh               install the build, test, stack, lint and bench groups, then the
#                               cached tools
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
# chromium: the web page's browser test (tools/web-test.sh drives it with playwright-core).
TEST=(check python3 python3-jsonschema postgresql-15-cron chromium)
STACK=(postgresql-15 postgresql-client-15 curl kcat procps)
# Apache Kafka (tools/kafka) runs on a JVM and is fetched with Maven; installed only where
# `java` or `mvn` is missing (CI images often bring their own JDK).
JAVA=(default-jre-headless maven)
# Node.js and npm for the web page's browser test (playwright-core from the npm registry);
# installed only where `node` or `npm` is missing (NodeSource's nodejs bundles its own npm,
# which Debian's npm package conflicts with).
NODE=(nodejs npm)
# Python's venv for the cached PyPI tools.
PYTHON=(python3-venv)
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

PACKAGES=("${BUILD[@]}" "${TEST[@]}" "${STACK[@]}" "${LINT[@]}" "${BENCH[@]}" "${PYTHON[@]}")
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    PACKAGES+=("${JAVA[@]}")
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=("${NODE[@]}")
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}
# Pinned so that every machine formats alike (Debian 12, Debian 13 and Ubuntu 24.04 ship three
# different clang-format versions, which disagree on a few lines).
PY_TOOLS=(clang-format==19.1.7)

# The cached tools: a venv with the PyPI tools, and Kafka's jars.
registry_tools() {
    local venv=$CACHE/venv want have
    want=$(printf '%s\n' "${PY_TOOLS[@]}")
    have=$(cat "$venv/.installed" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        echo "deps: installing ${PY_TOOLS[*]} from PyPI into $venv"
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}"
        printf '%s' "$want" >"$venv/.installed"
    fi
    MULTICA_CACHE=$CACHE "$ROOT/tools/kafka" fetch
}

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    registry_tools
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
registry_tools
echo "deps: done"
