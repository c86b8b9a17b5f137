#!/bin/sh
# docker-entrypoint.sh: the image's entrypoint (installed as /usr/local/bin/multica-entrypoint).
# The first argument names what to run; the rest is passed to that binary unchanged.
set -eu

usage() {
    cat <<'USAGE'
usage: <image> COMMAND [ARGS...]

services (settings from environment variables, see docs/SELF_HOSTING_ADVANCED.md):
  api-gateway         multica-api-gateway       (HTTP 8080)
  task-dispatcher     multica-task-dispatcher   (HTTP 8081)
  usage-ingester      multica-usage-ingester    (HTTP 8082)
  rollup-scheduler    multica-rollup-scheduler  (HTTP 8083)
tools:
  migrate [up|down|status] ...                  multica-migrate (DATABASE_URL: an administrator)
  migrate topics [--partitions N] [--replication-factor N] | --list
                                                multica-migrate topics (KAFKA_BROKERS, KAFKA_PREFIX)
  backfill-usage [--from T] [--to T] [--sleep-between-slices D] [--dry-run]
                                                multica-backfill-usage (DATABASE_URL: multica_usage)
USAGE
}

# MULTICA_BIN_DIR exists for tools/check-deploy.sh, which runs this script against build/bin.
BIN_DIR=${MULTICA_BIN_DIR:-/usr/local/bin}
cmd=${1:-help}
case "$cmd" in
api-gateway | task-dispatcher | usage-ingester | rollup-scheduler | migrate | backfill-usage)
    shift
    exec "$BIN_DIR/multica-$cmd" "$@"
    ;;
help | -h | --help)
    usage
    ;;
*)
    echo "multica-entrypoint: unknown command '$cmd'" >&2
    usage >&2
    exit 2
    ;;
esac
