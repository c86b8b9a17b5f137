#!/usr/bin/env bash
# demo.sh: a guided tour of a running local stack (after `make run`): log in, create a
# workspace, register a runtime played by multica-daemon-sim, create an agent, assign issues,
# and watch the tasks complete and their token usage arrive.
#
#   make demo            (DEMO_TASKS=3 by default; MULTICA_RUN_DIR as for tools/devstack.sh)
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

step "create a workspace and a runtime registration token"
WS=$(curl -fsS -X POST "$G/api/workspaces" -H "$AUTH" -d '{"name":"Demo"}' | json '["id"]')
REG=$(curl -fsS -X POST "$G/api/workspaces/$WS/runtime-tokens" -H "$AUTH" | json '["registration_token"]')
echo "workspace $WS"

step "start a simulated daemon (logs in $RUN/logs/daemon-sim.log)"
"$ROOT/build/bin/multica-daemon-sim" --gateway "$G" --registration-token "$REG" --name demo-laptop \
    --max-concurrency 2 --tasks "$TASKS" --work-ms 1500 --chunks 3 --heartbeat-ms 5000 \
    >"$RUN/logs/daemon-sim.log" 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    grep -q registered "$RUN/logs/daemon-sim.log" && break
    sleep 0.1
done
RT=$(grep -o '"runtime_id":"[^"]*' "$RUN/logs/daemon-sim.log" | head -1 | cut -d'"' -f4)
echo "runtime $RT"

step "create an agent on that runtime and assign $TASKS issues to it"
AGENT=$(curl -fsS -X POST "$G/api/workspaces/$WS/agents" -H "$AUTH" \
    -d "{\"name\":\"Claude\",\"provider\":\"claude\",\"runtime_id\":\"$RT\",\"max_concurrent_tasks\":2}" | json '["id"]')
ISSUES=()
for i in $(seq 1 "$TASKS"); do
    ISSUE=$(curl -fsS -X POST "$G/api/workspaces/$WS/issues" -H "$AUTH" -d "{\"title\":\"Demo issue $i\"}" | json '["id"]')
    curl -fsS -X POST "$G/api/issues/$ISSUE/assign" -H "$AUTH" -d "{\"agent_id\":\"$AGENT\"}" >/dev/null
    ISSUES+=("$ISSUE")
done
echo "agent $AGENT, issues assigned"

step "watch the tasks"
for _ in $(seq 1 120); do
    STATES=$(for i in "${ISSUES[@]}"; do curl -fsS "$G/api/issues/$i/tasks" -H "$AUTH" | json '[0]["status"]'; done | sort | uniq -c | tr '\n' ' ')
    printf '\r  %s' "$STATES"
    echo "$STATES" | grep -qv completed || break
    [ "$(echo "$STATES" | grep -c completed)" = 1 ] && ! echo "$STATES" | grep -qE 'queued|dispatched|running|requested' && break
    sleep 0.5
done
echo

step "usage so far (?source=raw reads task_usage directly; the hourly rollup catches up every 5 minutes)"
curl -fsS "$G/api/runtimes/$RT/usage?days=1&source=raw" -H "$AUTH" | python3 -m json.tool
echo
echo "demo done. Try: curl -s '$G/api/runtimes/$RT/usage?days=1' -H 'Authorization: Bearer $TOKEN'"
echo "or open $G/ in a browser and sign in as $EMAIL (the code is in $RUN/logs/api-gateway.log)"
