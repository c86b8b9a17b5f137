#!/usr/bin/env bash
# demo.sh: a guided tour of a running local stack (after `make run`): log in, create a
# workspace and a personal access token, start a daemon played by multica-daemon-sim (it
# speaks Multica's daemon protocol, as `multica daemon start` would), create an agent on its
# runtime, assign issues, and watch the tasks complete and their token usage arrive.
#
#   make demo            (DEMO_TASKS=3 by default; MULTICA_RUN_DIR as for tools/devstack.sh)
#
# With Multica's own CLI, the same token connects it: see docs/MULTICA_CLI.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${MULTICA_RUN_DIR:-$ROOT/.run}
if [ ! -f "$RUN/env" ]; then
    echo "demo: the stack is not running; start it with 'make run'" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$RUN/env"
G=$GATEWAY_URL
TASKS=${DEMO_TASKS:-3}
EMAIL=${DEMO_EMAIL:-demo@example.com}
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
step() { printf '\n== %s\n' "$*"; }

step "log in as $EMAIL (the code is read from the gateway log: no mail provider in dev)"
curl -fsS -X POST "$G/api/auth/send-code" -d "{\"email\":\"$EMAIL\"}" >/dev/null
sleep 0.2
CODE=$(grep -o "Verification code for $EMAIL: [0-9]*" "$RUN/logs/api-gateway.log" | tail -1 | awk '{print $NF}')
TOKEN=$(curl -fsS -X POST "$G/api/auth/verify-code" -d "{\"email\":\"$EMAIL\",\"code\":\"$CODE\"}" | json '["token"]')
AUTH="Authorization: Bearer $TOKEN"
echo "logged in with code $CODE"

step "create a workspace and a personal access token (what 'multica login --token' takes)"
WS=$(curl -fsS -X POST "$G/api/workspaces" -H "$AUTH" -d '{"name":"Demo"}' | json '["id"]')
PAT=$(curl -fsS -X POST "$G/api/tokens" -H "$AUTH" -d '{"name":"demo daemon"}' | json '["token"]')
echo "workspace $WS, token ${PAT:0:12}..."

step "start a simulated daemon (logs in $RUN/logs/daemon-sim.log)"
"$ROOT/build/bin/multica-daemon-sim" --gateway "$G" --token "$PAT" --workspace "$WS" \
    --name demo-laptop --max-concurrency 2 --tasks "$TASKS" --work-ms 1500 --chunks 3 \
    --heartbeat-ms 5000 >"$RUN/logs/daemon-sim.log" 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    grep -q registered "$RUN/logs/daemon-sim.log" && break
    sleep 0.1
done
RT=$(grep -o '"runtime_id":"[^"]*' "$RUN/logs/daemon-sim.log" | head -1 | cut -d'"' -f4)
echo "runtime $RT"

step "create an agent on that runtime and assign $TASKS issues to it"
AGENT=$(curl -fsS -X POST "$G/api/agents?workspace_id=$WS" -H "$AUTH" \
    -d "{\"name\":\"Claude\",\"runtime_id\":\"$RT\",\"max_concurrent_tasks\":2}" | json '["id"]')
ISSUES=()
for i in $(seq 1 "$TASKS"); do
    ISSUE=$(curl -fsS -X POST "$G/api/issues?workspace_id=$WS" -H "$AUTH" \
        -d "{\"title\":\"Demo issue $i\",\"assignee_type\":\"agent\",\"assignee_id\":\"$AGENT\"}" | json '["identifier"]')
    ISSUES+=("$ISSUE")
done
echo "agent $AGENT, issues ${ISSUES[*]} assigned"

step "watch the tasks"
for _ in $(seq 1 120); do
    STATES=$(for i in "${ISSUES[@]}"; do curl -fsS "$G/api/issues/$i/task-runs" -H "$AUTH" -H "X-Workspace-ID: $WS" | json '[0]["status"]'; done | sort | uniq -c | tr '\n' ' ')
    printf '\r  %s' "$STATES"
    echo "$STATES" | grep -qE 'requested|queued|dispatched|running' || break
    sleep 0.5
done
echo

step "usage so far (?source=raw reads task_usage directly; the hourly rollup catches up every 5 minutes)"
curl -fsS "$G/api/runtimes/$RT/usage?days=1&source=raw" -H "$AUTH" | python3 -m json.tool
echo
echo "demo done. Try: curl -s '$G/api/runtimes/$RT/usage?days=1' -H 'Authorization: Bearer $TOKEN'"
echo "or open $G/ in a browser and sign in as $EMAIL (the code is in $RUN/logs/api-gateway.log)"
