#!/usr/bin/env bash
# fuzz-openapi.sh: fuzzes a live gateway with docs/openapi.yaml (schemathesis, from the venv
# tools/deps.sh installs) and fails on any 5xx or any response that does not match the spec.
# The `shipping` test suite runs it against a gateway of its own with a signed-in user's
# token and a workspace holding a runtime, an agent, an issue and its task, and a project; by
# hand:
#
#   MC_FUZZ_URL=http://127.0.0.1:8080 MC_FUZZ_TOKEN=<session or mul_ token> \
#   MC_FUZZ_WORKSPACE=<uuid> MC_FUZZ_RUNTIME=<uuid> MC_FUZZ_AGENT=<uuid> \
#   MC_FUZZ_ISSUE=<uuid> MC_FUZZ_TASK=<uuid> MC_FUZZ_DOOMED_ISSUE=<uuid> \
#   MC_FUZZ_PROJECT=<uuid> MC_FUZZ_DOOMED_PROJECT=<uuid> tools/fuzz-openapi.sh
#
# (the doomed issue and project are the ones DELETE /api/issues/{issue_id} and DELETE
# /api/projects/{project_id} get). MC_FUZZ_EXAMPLES (20) bounds the cases per operation and
# phase, and MC_FUZZ_SEED (1) makes runs repeatable.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}
ST=$CACHE/venv-api/bin/schemathesis
if [ ! -x "$ST" ]; then
    echo "fuzz-openapi: $ST is missing: run tools/deps.sh" >&2
    exit 2
fi
for v in MC_FUZZ_URL MC_FUZZ_TOKEN MC_FUZZ_WORKSPACE MC_FUZZ_RUNTIME MC_FUZZ_AGENT \
    MC_FUZZ_ISSUE MC_FUZZ_TASK MC_FUZZ_DOOMED_ISSUE MC_FUZZ_PROJECT MC_FUZZ_DOOMED_PROJECT; do
    if [ -z "${!v:-}" ]; then
        echo "fuzz-openapi: $v is not set" >&2
        exit 2
    fi
done
# No colours, no telemetry, no report files in the work tree. One worker: with two threads
# Python 3.11's ast module, which hypothesis calls while describing strategies, now and then
# fails with "AST constructor recursion depth mismatch" (a runtime error, not a finding).
export NO_COLOR=1 SCHEMATHESIS_TELEMETRY=false
# Schemathesis keeps a cache of past crashes (.schemathesis/) in its working directory: a
# scratch one, so that every run starts alike and the work tree stays clean.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH"
"$ST" --config-file "$ROOT/tools/schemathesis.toml" run "$ROOT/docs/openapi.yaml" \
    --url "$MC_FUZZ_URL" -H "Authorization: Bearer $MC_FUZZ_TOKEN" \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance \
    --phases examples,coverage,fuzzing --max-examples "${MC_FUZZ_EXAMPLES:-20}" \
    --seed "${MC_FUZZ_SEED:-1}" --workers 1 --request-timeout 10 --suppress-health-check all \
    --continue-on-failure
