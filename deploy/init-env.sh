#!/usr/bin/env bash
# init-env.sh: writes the Compose .env from .env.example, replacing every `change-me` value
# with a fresh `openssl rand -hex 32`. Refuses to overwrite an existing file (secrets that
# are already in use, such as database passwords, must not change behind the database's back).
#
#   deploy/init-env.sh [OUTPUT]     OUTPUT defaults to .env next to docker-compose.yml
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/.env}

if [ -e "$OUT" ]; then
    echo "init-env: $OUT exists; leaving it alone (delete it first to start over)" >&2
    exit 1
fi
command -v openssl >/dev/null || {
    echo "init-env: openssl is needed to generate secrets" >&2
    exit 1
}

umask 077
tmp=$(mktemp "$OUT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
n=0
while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ ^([A-Z0-9_]+)=change-me$ ]]; then
        printf '%s=%s\n' "${BASH_REMATCH[1]}" "$(openssl rand -hex 32)"
        n=$((n + 1))
    else
        printf '%s\n' "$line"
    fi
done <"$ROOT/.env.example" >"$tmp"
mv "$tmp" "$OUT"
trap - EXIT
echo "init-env: wrote $OUT with $n generated secrets (mode 600)"
