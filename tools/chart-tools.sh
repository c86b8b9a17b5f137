#!/usr/bin/env bash
# chart-tools.sh: the tools `make check-deploy` renders and validates the Helm chart with, all
# into the cache (MULTICA_CACHE, default ~/.cache/multica-c) and all through package
# registries, since GitHub (helm's release binaries, kubeconform's schemas) is out of reach:
#
#   helm       `go install helm.sh/helm/v3/cmd/helm@HELM_VERSION` from the Go module proxy
#              into CACHE/bin (Go: the one on the PATH, or Debian's golang-go that deps.sh
#              installs; a Go older than the helm module needs is replaced by the toolchain
#              module golang.org/toolchain, also from the proxy)
#   CRDs       the CustomResourceDefinitions of the optional objects, whose openAPIV3Schema
#              validates them: ServiceMonitor and PrometheusRule from the Go module
#              github.com/prometheus-operator/prometheus-operator (example/prometheus-operator-
#              crd/), ScaledObject from github.com/kedacore/keda/v2 (config/crd/bases/), into
#              CACHE/crds
#   schemas    Kubernetes' own JSON schemas come with kubernetes-validate from PyPI, installed
#              by tools/deps.sh into CACHE/venv (tools/validate-k8s.py uses both)
#
#   tools/chart-tools.sh install   fetch what is missing (no network when all is present)
#   tools/chart-tools.sh helm      print the path of helm
#   tools/chart-tools.sh crds      print the CRD directory
set -euo pipefail
shopt -s inherit_errexit # a failing step inside $(...) stops the script too

CACHE=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}
HELM_VERSION=v3.22.0
# The Go that helm's go.mod asks for (go 1.26.0), when the machine's is older.
GO_TOOLCHAIN=go1.26.0
PROM_OPERATOR=github.com/prometheus-operator/prometheus-operator@v0.85.0
KEDA=github.com/kedacore/keda/v2@v2.17.2
HELM=$CACHE/bin/helm
CRDS=$CACHE/crds
CRD_FILES=(
    "$PROM_OPERATOR example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
    "$PROM_OPERATOR example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
    "$KEDA config/crd/bases/keda.sh_scaledobjects.yaml"
)

find_go() {
    command -v go 2>/dev/null && return
    [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go && return
    [ -x /usr/lib/go/bin/go ] && echo /usr/lib/go/bin/go && return
    echo "chart-tools: no Go found; tools/deps.sh installs Debian's golang-go" >&2
    exit 2
}

# go_for_helm: a go command able to build helm. Go 1.21 and later fetch the toolchain that
# go.mod asks for by themselves (GOTOOLCHAIN=auto); an older one (Debian 12 ships 1.19)
# downloads the toolchain module and runs it from a copy with its executables marked so
# (module zips keep no file modes).
go_for_helm() {
    local go minor dir arch
    go=$(find_go)
    minor=$("$go" env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
    if [ "${minor:-0}" -ge 21 ]; then
        echo "$go"
        return
    fi
    arch=$("$go" env GOARCH)
    if [ ! -x "$CACHE/$GO_TOOLCHAIN/bin/go" ]; then
        echo "chart-tools: Go $("$go" env GOVERSION) is too old for helm; fetching $GO_TOOLCHAIN" >&2
        dir=$("$go" mod download -json "golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$arch" |
            sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
        rm -rf "${CACHE:?}/$GO_TOOLCHAIN"
        mkdir -p "$CACHE"
        cp -r "$dir" "$CACHE/$GO_TOOLCHAIN"
        chmod -R u+w "$CACHE/$GO_TOOLCHAIN"
        chmod +x "$CACHE/$GO_TOOLCHAIN"/bin/* "$CACHE/$GO_TOOLCHAIN"/pkg/tool/*/*
    fi
    echo "$CACHE/$GO_TOOLCHAIN/bin/go"
}

install_helm() {
    if [ -x "$HELM" ] && [ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
        return
    fi
    local go
    go=$(go_for_helm)
    echo "chart-tools: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION into $CACHE/bin"
    mkdir -p "$CACHE/bin"
    GOTOOLCHAIN=auto GOFLAGS=-buildvcs=false GOBIN=$CACHE/bin \
        "$go" install -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

install_crds() {
    local entry mod path dir go
    mkdir -p "$CRDS"
    for entry in "${CRD_FILES[@]}"; do
        read -r mod path <<<"$entry"
        [ -s "$CRDS/$(basename "$path")" ] && continue
        go=${go:-$(find_go)}
        echo "chart-tools: $(basename "$path") from the Go module $mod"
        dir=$("$go" mod download -json "$mod" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
        cp "$dir/$path" "$CRDS/"
    done
}

case "${1:-}" in
install)
    install_helm
    install_crds
    ;;
helm) echo "$HELM" ;;
crds) echo "$CRDS" ;;
*)
    echo "usage: $0 install|helm|crds" >&2
    exit 2
    ;;
esac
