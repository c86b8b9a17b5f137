#!/usr/bin/env bash
# check-deploy.sh: checks the deployment files against the code, with what runs on a machine
# without a Docker engine or a Kubernetes cluster (`make check-deploy`; also run by the
# `deploy` test suite).
#
#   tools/check-deploy.sh          BIN=build/bin by default (the binaries to inspect)
#
# What it verifies, section by section:
#   lint      yamllint on docker-compose.yml, the chart's Chart.yaml and values.yaml and the
#             ops configuration under deploy/; shellcheck on every shell script in the repo
#   compose   `docker-compose config` (v1, no engine needed) accepts the file with a .env made
#             by deploy/init-env.sh and refuses it without secrets; every variable the code
#             reads (tools/env-vars.sh) is set for the service that reads it and nothing else
#             is (topic-init gets what `multica-migrate topics` reads, migrate what `up`
#             reads); .env.example and the file agree; health checks, ports, roles,
#             depends_on; dynamic group membership; Kafka reachable from the host
#   topics    Compose's topic-init and the chart's topics Job both run `migrate topics` from
#             the multica image; no deploy file holds a topic list of its own (the one
#             definition is mc_topic_defs, libs/kafka/topics.c); `multica-migrate topics
#             --list` (run from BIN) prints exactly mc_topics, multica.usage.hourly compacted
#   probes    every probe, health check and scrape path is a route of libs/http/http.c;
#             the chart probes startup/readiness on /healthz and liveness on /health
#   chart     tools/check-chart.sh renders the chart with the real helm for each flag
#             combination and validates every object against Kubernetes' strict schemas and
#             the CRDs, Pod Security "restricted", replicas, PDBs, KEDA/HPA exclusivity and
#             caps, the ServiceMonitor's job and the alert rules (its header says more); the
#             templates and values.yaml are also checked at grep/yq level: every variable the
#             code reads is in a service's ConfigMap or Secret, each Job sets what its program
#             reads, every consumer gets its static group membership id from its pod name
#   image     hadolint passes the Dockerfile; the Dockerfile ships exactly the services and
#             tools the entrypoint dispatches to, the entrypoint reaches each binary (run
#             against BIN), every shared library `ldd` finds in BIN comes from the runtime
#             package list or its dependencies; every binary answers --version
#   secret    every Secret key the chart reads is in the `kubectl create secret` of
#             docs/SELF_HOSTING.md
#   grafana   the dashboard's data sources are provisioned and its Prometheus queries name
#             metrics the code registers (its SQL runs in tests/integration/test_deploy.c);
#             promtool validates prometheus.yml and alerts.yml, whose metrics must exist too;
#             no metric has a label named job or instance (Prometheus' own, which would turn
#             it into exported_job)
# This script reports with `test && ok ... || fail ...`: ok always succeeds, so the || branch
# runs only when the test failed (SC2015); jq programs are single-quoted on purpose (SC2016).
# shellcheck disable=SC2015,SC2016,SC2013
# No pipefail: many checks end in `... | grep -q`, and grep -q exits at its first match, which
# can kill the writer with SIGPIPE; pipefail would turn that success into a failure.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
BIN=${BIN:-$ROOT/build/bin}
CHART=charts/multica
COMPOSE=docker-compose.yml

# shellcheck source=tools/check-lib.sh
. "$ROOT/tools/check-lib.sh"
# contains "a b c" x: word membership
contains() { [[ " $1 " == *" $2 "* ]]; }


for tool in yamllint shellcheck yq jq docker-compose openssl perl apt-cache dpkg ldd promtool; do
    if ! command -v "$tool" >/dev/null; then
        echo "check-deploy: $tool is missing; run 'make deps' (tools/deps.sh)" >&2
        exit 2
    fi
done

SERVICES="api-gateway task-dispatcher usage-ingester rollup-scheduler"
TOOLS_SHIPPED="migrate backfill-usage"

# ---- what the code says ----
tools/env-vars.sh --pending >"$TMP/vars" 2>"$TMP/vars.err" || {
    cat "$TMP/vars.err"
    exit 2
}
# vars_of SCOPE...: variable names read in those scopes
vars_of() {
    local s
    for s in "$@"; do awk -F'\t' -v s="$s" '$1 == s { print $2 }' "$TMP/vars"; done | sort -u
}
# service -> slice and port, from each main.c's mc_service_init call
declare -A SLICE PORT
while read -r name slice port; do
    SLICE[$name]=$slice
    PORT[$name]=$port
done < <(grep -hoE 'mc_service_init\(&svc, "[a-z-]+", "[a-z]+", [0-9]+' services/*/main.c |
    sed -E 's/.*"([a-z-]+)", "([a-z]+)", ([0-9]+)/\1 \2 \3/')
# services with a Kafka consumer group (static membership applies to them)
CONSUMERS=$(for s in $SERVICES; do grep -lq 'mc_consumer_new(' services/"$s"/*.c 2>/dev/null && echo "$s"; done | tr '\n' ' ')
ROUTES=$(grep -oE '\{"GET", "/[^"]*"' libs/http/http.c |
    sed -E 's/.*"(\/[^"]*)"$/\1/' | sort -u | tr '\n' ' ')
# mc_topics: every topic the code names (the MC_TOPIC_ macros of mc_kafka.h)
TOPICS=$(sed -nE 's/^#define MC_TOPIC_[A-Z_]+ +"([^"]+)"/\1/p' libs/kafka/mc_kafka.h | tr '\n' ' ')

section "what the code reads"
printf '     %s variables (%s pending) in %s scopes; routes: %s\n' "$(wc -l <"$TMP/vars")" \
    "$(grep -c $'\tpending$' "$TMP/vars")" "$(cut -f1 "$TMP/vars" | sort -u | wc -l)" "$ROUTES"
printf '     topics: %s\n     consumers: %s\n' "$TOPICS" "$CONSUMERS"
[ -s "$TMP/vars.err" ] && sed 's/^/note /' "$TMP/vars.err"
for s in $SERVICES; do
    if [ -n "${SLICE[$s]:-}" ]; then ok "$s: slice ${SLICE[$s]}, port ${PORT[$s]} (from its main.c)"; else fail "$s: no mc_service_init call found"; fi
done
[ "$(echo "$TOPICS" | wc -w)" -ge 7 ] && ok "mc_topics resolved ($(echo "$TOPICS" | wc -w) topics)" || fail "mc_topics could not be resolved"

# ------------------------------------------------------------------ lint
section lint
yaml_files=("$COMPOSE" "$CHART/Chart.yaml" "$CHART/values.yaml")
while IFS= read -r f; do yaml_files+=("$f"); done < <(find deploy -name '*.yml' -o -name '*.yaml' | sort)
check "yamllint (.yamllint rules): ${yaml_files[*]}" yamllint -s "${yaml_files[@]}"
check "grafana dashboards are valid JSON" jq -e . deploy/grafana/dashboards/*.json

scripts=()
while IFS= read -r f; do
    case "$f" in
    *.sh) scripts+=("$f") ;;
    *) head -n1 "$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b' && scripts+=("$f") ;;
    esac
done < <(find . \( -path ./build -o -path ./.run -o -path ./.git -o -path ./bench/results \) -prune \
    -o -type f ! -name '*.c' ! -name '*.h' ! -name '*.md' ! -name '*.json' ! -name '*.sql' -print | sort)
check "shellcheck on ${#scripts[@]} scripts: ${scripts[*]}" shellcheck "${scripts[@]}"

# ------------------------------------------------------------------ compose
section "docker-compose.yml"
compose() { env -i PATH="$PATH" HOME="$TMP" docker-compose --project-directory "$ROOT" -f "$ROOT/$COMPOSE" "$@"; }
deploy/init-env.sh "$TMP/env" >/dev/null
: >"$TMP/empty.env"
if compose --env-file "$TMP/env" config >"$TMP/compose.yml" 2>"$TMP/compose.err"; then
    ok "docker-compose config accepts the file with a .env from deploy/init-env.sh"
else
    fail "docker-compose config refuses the file:"
    sed 's/^/     /' "$TMP/compose.err"
fi
if compose --env-file "$TMP/empty.env" config -q >/dev/null 2>"$TMP/noenv.err"; then
    fail "docker-compose config accepts the file without secrets (expected a refusal)"
elif grep -q 'init-env.sh' "$TMP/noenv.err"; then
    ok "without a .env, docker-compose refuses to start and points at deploy/init-env.sh"
else
    fail "without a .env, docker-compose fails for another reason:"
    sed 's/^/     /' "$TMP/noenv.err"
fi
[ -s "$TMP/compose.yml" ] || cp "$COMPOSE" "$TMP/compose.yml"
# Parsed once; every query below is jq on JSON (yq starts a Python interpreter per call).
yq . "$TMP/compose.yml" >"$TMP/compose.json"

cenv() { jq -r --arg s "$1" '.services[$s].environment // {} | keys[]' "$TMP/compose.json" | sort -u; }
cval() { jq -r --arg s "$1" --arg k "$2" '.services[$s].environment[$k] // ""' "$TMP/compose.json"; }

for s in $SERVICES migrate topic-init; do
    case $s in
    migrate) want=$(vars_of migrate) ;;
    topic-init) want=$(vars_of topics) ;; # multica-migrate topics (tools/migrate/topics.c)
    usage-ingester) want=$(vars_of service "$s" backfill-usage) ;; # backfill runs in its container
    *) want=$(vars_of service "$s") ;;
    esac
    have=$(cenv "$s")
    missing=$(comm -23 <(echo "$want") <(echo "$have") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$want") <(echo "$have") | tr '\n' ' ')
    [ -z "${missing// /}" ] && ok "compose $s sets all $(echo "$want" | wc -l) variables its code reads" ||
        fail "compose $s does not set: $missing"
    [ -z "${extra// /}" ] && ok "compose $s sets nothing its code does not read" ||
        fail "compose $s sets variables no code reads (add to tools/pending-env-vars.txt if announced): $extra"
done

for s in $SERVICES; do
    port=${PORT[$s]:-}
    [ "$(cval "$s" HTTP_PORT)" = "$port" ] && ok "compose $s listens on its default port $port" ||
        fail "compose $s HTTP_PORT is '$(cval "$s" HTTP_PORT)', expected $port"
    url=$(cval "$s" DATABASE_URL)
    [[ $url == postgres://multica_${SLICE[$s]}:* ]] && ok "compose $s logs in as its own role multica_${SLICE[$s]}" ||
        fail "compose $s DATABASE_URL does not use role multica_${SLICE[$s]}: $(sed -E 's|:[^:@/]+@|:***@|' <<<"$url")"
    cmd=$(jq -r --arg s "$s" '.services[$s].command | if type == "array" then .[0] else . end' "$TMP/compose.json")
    [ "$cmd" = "$s" ] && ok "compose $s runs entrypoint command '$s'" || fail "compose $s command is '$cmd'"
    hc=$(jq -r --arg s "$s" '.services[$s].healthcheck.test | if type == "array" then join(" ") else . end' "$TMP/compose.json")
    [[ $hc == *"127.0.0.1:$port/healthz"* ]] && ok "compose $s health check is GET /healthz on $port" ||
        fail "compose $s health check is '$hc'"
    for dep in migrate topic-init; do
        cond=$(jq -r --arg s "$s" --arg d "$dep" '.services[$s].depends_on[$d].condition // "none"' "$TMP/compose.json")
        [ "$cond" = service_completed_successfully ] && ok "compose $s waits for $dep to complete" ||
            fail "compose $s depends_on $dep: $cond (expected service_completed_successfully)"
    done
done
mig_url=$(cval migrate DATABASE_URL)
[[ $mig_url == postgres://postgres:* ]] && ok "compose migrate uses the administrator URL" ||
    fail "compose migrate DATABASE_URL: $(sed -E 's|:[^:@/]+@|:***@|' <<<"$mig_url")"
for pair in migrate:postgres topic-init:kafka; do
    cond=$(jq -r --arg s "${pair%%:*}" --arg d "${pair#*:}" '.services[$s].depends_on[$d].condition // "none"' "$TMP/compose.json")
    [ "$cond" = service_healthy ] && ok "compose ${pair%%:*} waits for ${pair#*:} to be healthy" ||
        fail "compose ${pair%%:*} depends_on ${pair#*:}: $cond"
done
img=$(jq -r '.services.postgres.image' "$TMP/compose.json")
[ "$img" = pgvector/pgvector:pg17 ] && ok "compose postgres image is $img" || fail "compose postgres image is $img"
[[ $(jq -r '.services.kafka.image' "$TMP/compose.json") == apache/kafka:* ]] &&
    [ "$(cval kafka KAFKA_PROCESS_ROLES)" = broker,controller ] && ok "compose kafka is apache/kafka in KRaft mode (broker,controller)" ||
    fail "compose kafka is not apache/kafka in KRaft mode"
[[ $(jq -r '.services.kafka.image' "$TMP/compose.json") == apache/kafka:4.* ]] &&
    ok "compose kafka image is Kafka 4.x ($(jq -r '.services.kafka.image' "$TMP/compose.json"))" ||
    fail "compose kafka image is $(jq -r '.services.kafka.image' "$TMP/compose.json"), expected apache/kafka:4.x"
[ -z "$(cval kafka KAFKA_MESSAGE_MAX_BYTES)" ] && ok "compose kafka leaves message.max.bytes alone (every topic declares max.message.bytes)" ||
    fail "compose kafka sets KAFKA_MESSAGE_MAX_BYTES: topics declare max.message.bytes themselves (libs/kafka/topics.c)"
# Services on kafka:9092, the host on 127.0.0.1:9094 advertised as localhost.
adv=$(cval kafka KAFKA_ADVERTISED_LISTENERS)
[[ ",$adv," == *",PLAINTEXT://kafka:9092,"* ]] && [[ ",$adv," == *",EXTERNAL://localhost:9094,"* ]] &&
    [[ ",$(cval kafka KAFKA_LISTENERS)," == *",EXTERNAL://:9094,"* ]] &&
    [[ ",$(cval kafka KAFKA_LISTENER_SECURITY_PROTOCOL_MAP)," == *",EXTERNAL:PLAINTEXT,"* ]] &&
    ok "compose kafka: PLAINTEXT://kafka:9092 for the containers, EXTERNAL://localhost:9094 for the host" ||
    fail "compose kafka listeners: advertised '$adv'"
jq -r '.services.kafka.ports[]? | if type == "string" then . else "\(.host_ip // ""):\(.published):\(.target)" end' "$TMP/compose.json" |
    grep -qxE '127\.0\.0\.1:9094:9094(/tcp)?' && grep -qE '127\.0\.0\.1:\$\{KAFKA_PUBLISH_PORT:-9094\}:9094' "$COMPOSE" &&
    grep -qE 'EXTERNAL://localhost:\$\{KAFKA_PUBLISH_PORT:-9094\}' "$COMPOSE" &&
    ok "compose publishes Kafka's EXTERNAL listener on 127.0.0.1:\${KAFKA_PUBLISH_PORT:-9094} and advertises that port" ||
    fail "compose kafka: no 127.0.0.1:\${KAFKA_PUBLISH_PORT:-9094}:9094 port advertised as localhost:\${KAFKA_PUBLISH_PORT:-9094}"
for s in $SERVICES topic-init; do
    [ "$(cval "$s" KAFKA_BROKERS)" = kafka:9092 ] || fail "compose $s KAFKA_BROKERS is '$(cval "$s" KAFKA_BROKERS)', expected kafka:9092"
done
ok "compose services and topic-init reach Kafka on kafka:9092"
# One static id per replica is impossible in Compose (a scaled service's replicas share their
# environment), so every service keeps dynamic membership.
for s in $SERVICES; do
    jq -e --arg s "$s" '.services[$s].environment | has("KAFKA_GROUP_INSTANCE_ID") and .KAFKA_GROUP_INSTANCE_ID == ""' "$TMP/compose.json" >/dev/null ||
        fail "compose $s KAFKA_GROUP_INSTANCE_ID is '$(cval "$s" KAFKA_GROUP_INSTANCE_ID)': replicas of a scaled service would share it; keep it empty"
done
ok "compose leaves KAFKA_GROUP_INSTANCE_ID empty (dynamic membership)"
[ "$(cval topic-init KAFKA_PREFIX)" = "$(cval api-gateway KAFKA_PREFIX)" ] && grep -qE '^\s+KAFKA_PREFIX: \$\{KAFKA_PREFIX:-\}' "$COMPOSE" &&
    ok "compose topic-init and the services use the same KAFKA_PREFIX" || fail "compose topic-init and the services differ in KAFKA_PREFIX"
ops=$(jq -r '[.services | to_entries[] | select((.value.profiles // []) | index("ops")) | .key] | sort | join(" ")' "$TMP/compose.json")
[ "$ops" = "grafana grafana-db-role kafka-ui prometheus" ] && ok "compose ops profile: $ops" || fail "compose ops profile holds: '$ops'"

# .env.example <-> ${VAR} references
refs=$(grep -oE '\$\{[A-Z][A-Z0-9_]*' "$COMPOSE" | cut -c3- | sort -u)
envex=$(grep -oE '^[A-Z][A-Z0-9_]*=' .env.example | tr -d = | sort -u)
m=$(comm -23 <(echo "$refs") <(echo "$envex") | tr '\n' ' ')
x=$(comm -13 <(echo "$refs") <(echo "$envex") | tr '\n' ' ')
[ -z "${m// /}" ] && ok ".env.example has every variable docker-compose.yml reads ($(echo "$refs" | wc -l))" || fail ".env.example lacks: $m"
[ -z "${x// /}" ] && ok ".env.example has no variable docker-compose.yml ignores" || fail ".env.example has unused: $x"
grep -q 'openssl rand -hex 32' .env.example && grep -q '^JWT_SECRET=change-me$' .env.example &&
    grep -q 'openssl rand -hex 32' deploy/init-env.sh && ok ".env.example documents the JWT_SECRET generation (openssl rand -hex 32)" ||
    fail ".env.example: no JWT_SECRET generation step"
grep -qE '^JWT_SECRET=[0-9a-f]{64}$' "$TMP/env" && ok "deploy/init-env.sh generated a 64-hex-digit JWT_SECRET" || fail "deploy/init-env.sh did not generate JWT_SECRET"
grep -qxE '/?\.env' .gitignore && grep -qxE '\.env' .dockerignore && ok ".env (secrets) is ignored by git and kept out of the image's build context" ||
    fail ".env must be listed in .gitignore and .dockerignore"

# ------------------------------------------------------------------ topics
section "topics (one definition: mc_topic_defs in libs/kafka/topics.c)"
# (a) Compose and the chart both create the topics with the multica image's `migrate topics`.
img_mig=$(jq -r '.services.migrate.image' "$TMP/compose.json")
img_ti=$(jq -r '.services["topic-init"].image' "$TMP/compose.json")
ti_cmd=$(jq -r '.services["topic-init"].command | if type == "array" then join(" ") else . end' "$TMP/compose.json")
[ "$img_ti" = "$img_mig" ] && [ "$img_ti" = "$(jq -r '.services["usage-ingester"].image' "$TMP/compose.json")" ] &&
    jq -e '.services["topic-init"] | (has("entrypoint") | not)' "$TMP/compose.json" >/dev/null &&
    ok "compose topic-init runs the multica image ($img_ti) through its entrypoint" ||
    fail "compose topic-init image '$img_ti' (entrypoint $(jq -c '.services["topic-init"].entrypoint' "$TMP/compose.json")), the services' is '$img_mig'"
part_env=$(sed -n 's/^KAFKA_PARTITIONS=//p' "$TMP/env")
[[ $ti_cmd == "migrate topics "* ]] && [[ " $ti_cmd " == *" --partitions ${part_env:-6} "* ]] &&
    [[ " $ti_cmd " == *" --replication-factor 1 "* ]] &&
    grep -qF '"--partitions", "${KAFKA_PARTITIONS:-6}"' "$COMPOSE" &&
    ok "compose topic-init command: $ti_cmd (--partitions \${KAFKA_PARTITIONS:-6})" ||
    fail "compose topic-init command is '$ti_cmd'; expected migrate topics --partitions \${KAFKA_PARTITIONS:-6} --replication-factor 1"
[ "$(jq -r '.services["topic-init"].volumes // [] | length' "$TMP/compose.json")" = 0 ] &&
    ok "compose topic-init mounts nothing (the definition is in the binary)" || fail "compose topic-init mounts volumes"
TJ=$CHART/templates/topics-job.yaml
grep -qE '^\s+image: \{\{ include "multica\.image" \. \}\}$' "$TJ" &&
    grep -qE '^\s+args: \["migrate", "topics", "--partitions", \{\{ \.Values\.kafka\.partitions \| quote \}\}, "--replication-factor", \{\{ \.Values\.kafka\.replicationFactor \| quote \}\}\]$' "$TJ" &&
    ! grep -qE '^\s+(command|volumeMounts):' "$TJ" &&
    ok "chart topics Job runs the multica image's migrate topics with kafka.partitions and kafka.replicationFactor" ||
    fail "chart topics Job does not run 'migrate topics --partitions kafka.partitions --replication-factor kafka.replicationFactor' from multica.image"
# (b) no other topic list in the deploy files: at most one topic named per file (prose), no
#     Kafka CLI topic creation, no script from the chart's files/.
topic_re=$(echo "$TOPICS" | xargs -n1 | sed 's/\./\\./g' | paste -sd'|')
lists=""
while IFS= read -r f; do
    n=$(grep -oE "($topic_re)\b" "$f" | sort -u | wc -l)
    [ "$n" -le 1 ] || lists="$lists $f($n topics)"
    grep -qE 'kafka-(topics|configs)\.sh|create-topics\.sh|--create-topics' "$f" && lists="$lists $f(Kafka CLI or create-topics.sh)"
done < <(find "$CHART" deploy -type f | sort; echo "$COMPOSE"; echo .env.example; echo Dockerfile)
[ -z "$lists" ] && ok "no deploy file holds a topic list or creates topics itself (Compose, .env.example, Dockerfile, chart, deploy/)" ||
    fail "topic lists outside libs/kafka/topics.c:$lists"
[ ! -e "$CHART/files/create-topics.sh" ] && ok "charts/multica/files/create-topics.sh is gone" || fail "$CHART/files/create-topics.sh still exists"
# (c) the definition, as the shipped binary prints it.
if [ -x "$BIN/multica-migrate" ]; then
    if env -i PATH="$PATH" ASAN_OPTIONS=detect_leaks=0 "$BIN/multica-migrate" topics --list >"$TMP/topics.tsv" 2>"$TMP/topics.err"; then
        listed=$(grep -v '^#' "$TMP/topics.tsv" | cut -f1)
        want=$(echo "$TOPICS" | xargs -n1 | sort)
        [ "$(echo "$listed" | sort)" = "$want" ] && [ "$(echo "$listed" | wc -l)" = "$(echo "$want" | wc -l)" ] &&
            ok "multica-migrate topics --list prints exactly mc_topics ($(echo "$listed" | wc -l) topics)" ||
            fail "multica-migrate topics --list prints '$(echo "$listed" | tr '\n' ' ')', mc_topics is '$TOPICS'"
        awk -F'\t' '$1 == "multica.usage.hourly" && ("," $3 ",") ~ /,cleanup\.policy=compact,/ { f = 1 } END { exit !f }' "$TMP/topics.tsv" &&
            ok "multica.usage.hourly is compacted (cleanup.policy=compact)" || fail "multica.usage.hourly is not defined with cleanup.policy=compact"
        bad=$(awk -F'\t' '!/^#/ && !($2 ~ /^[1-9][0-9]*$/ && $3 != "" && $4 != "") { print $1 }' "$TMP/topics.tsv" | tr '\n' ' ')
        [ -z "${bad// /}" ] && ok "every topic has partitions, configs and a purpose" || fail "incomplete definitions: $bad"
    else
        fail "multica-migrate topics --list failed:"
        sed 's/^/     /' "$TMP/topics.err"
    fi
    out=$(env -i PATH="$PATH" ASAN_OPTIONS=detect_leaks=0 "$BIN/multica-migrate" topics 2>&1)
    rc=$?
    [ "$rc" = 2 ] && [[ $out == *KAFKA_BROKERS* ]] && ok "multica-migrate topics without KAFKA_BROKERS exits 2 and names it" ||
        fail "multica-migrate topics without KAFKA_BROKERS: exit $rc: $out"
else
    fail "$BIN/multica-migrate is missing: run 'make build'"
fi

# ------------------------------------------------------------------ probes
section "probe and scrape paths"
used=()
for s in $SERVICES; do
    p=$(jq -r --arg s "$s" '.services[$s].healthcheck.test | if type == "array" then join(" ") else . end' "$TMP/compose.json" |
        grep -oE 'http://[^/ ]+/[^ "]*' | sed -E 's|http://[^/]+||')
    used+=("compose:$s:$p")
done
while read -r f p; do used+=("$f:$p"); done < <(grep -HoE '(path|metrics_path): */[a-z/]*' "$CHART"/templates/*.yaml deploy/prometheus/prometheus.yml |
    sed -E 's/^([^:]+):[a-z_]+: *(.*)$/\1 \2/')
for u in "${used[@]}"; do
    p=${u##*:}
    [ -z "$p" ] || [ "$p" = / ] && continue # the Ingress's / prefix is the gateway's API, not a probe
    contains "$ROUTES" "$p" && ok "$u is a route of libs/http/http.c" || fail "$u is not a route (routes: $ROUTES)"
done
# probe kind -> path, in the Deployment template
probe_path() { awk -v k="$1:" '$1 == k { f = 1 } f && $1 == "path:" { print $2; exit }' "$CHART/templates/deployment.yaml"; }
[ "$(probe_path startupProbe)" = /healthz ] && ok "chart startupProbe uses /healthz" || fail "chart startupProbe path: $(probe_path startupProbe)"
[ "$(probe_path readinessProbe)" = /healthz ] && ok "chart readinessProbe uses /healthz" || fail "chart readinessProbe path: $(probe_path readinessProbe)"
[ "$(probe_path livenessProbe)" = /health ] && ok "chart livenessProbe uses /health (a database outage does not restart pods)" ||
    fail "chart livenessProbe path: $(probe_path livenessProbe) (must be /health)"
for s in $SERVICES; do
    grep -q "targets: \[\"$s:${PORT[$s]}\"\]" deploy/prometheus/prometheus.yml && ok "prometheus scrapes $s:${PORT[$s]}" ||
        fail "prometheus does not scrape $s:${PORT[$s]}"
done

# ------------------------------------------------------------------ chart
section "chart (rendered by helm: tools/check-chart.sh)"
if out=$(tools/check-chart.sh 2>&1); then
    n=$(sed -nE 's/^check-chart: ([0-9]+) checks.*/\1/p' <<<"$out")
    checks=$((checks + ${n:-0} - 1))
    ok "tools/check-chart.sh: all ${n:-?} render checks passed"
    grep -E '^(ok|FAIL)' <<<"$out" | sed 's/^/     /'
else
    printf '%s\n' "$out" | grep -vE '^ok ' | sed 's/^/     /'
    fail "tools/check-chart.sh: $(tail -n1 <<<"$out")"
fi
section "chart (templates and values at grep/yq level)"
V=$TMP/values.json
yq . "$CHART/values.yaml" >"$V"
[ "$(yq -r .apiVersion "$CHART/Chart.yaml")" = v2 ] && [ "$(yq -r .name "$CHART/Chart.yaml")" = multica ] &&
    ok "Chart.yaml: apiVersion v2, name multica, version $(yq -r .version "$CHART/Chart.yaml")" || fail "Chart.yaml: apiVersion/name"
for f in "$CHART"/templates/*.yaml "$CHART"/templates/*.tpl; do
    o=$(grep -oE '\{\{-?\s*(if|range|with|define)\b' "$f" | wc -l)
    e=$(grep -oE '\{\{-?\s*end\s*-?\}\}' "$f" | wc -l)
    [ "$o" = "$e" ] || fail "$f: $o blocks opened, $e closed"
done
ok "every template closes the blocks it opens"
defined=$(grep -ohE 'define "[a-z.A-Z]+"' "$CHART"/templates/*.tpl | cut -d'"' -f2 | sort -u)
for inc in $(grep -ohE 'include "[a-z.A-Z]+"' "$CHART"/templates/* | cut -d'"' -f2 | sort -u); do
    grep -qx "$inc" <<<"$defined" || fail "include \"$inc\" has no define"
done
ok "every include has a define ($(echo "$defined" | wc -l) helpers)"
bad=""
for p in $(grep -ohE '\.Values(\.[A-Za-z_][A-Za-z0-9_]*)+' "$CHART"/templates/* | sort -u); do
    path=$(echo "${p#.Values.}" | jq -R 'split(".")')
    jq -e --argjson p "$path" 'getpath($p) != null' "$V" >/dev/null 2>&1 || bad="$bad $p"
done
[ -z "$bad" ] && ok "every .Values path the templates use exists in values.yaml" || fail "values.yaml lacks:$bad"
svc_keys=$(jq -r '.services | keys | sort | join(" ")' "$V")
[ "$svc_keys" = "$(echo "$SERVICES" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" ] &&
    ok "values.yaml services: $svc_keys" || fail "values.yaml services are '$svc_keys'"
for s in $SERVICES; do
    [ "$(jq -r --arg s "$s" '.services[$s].slice' "$V")" = "${SLICE[$s]}" ] &&
        [ "$(jq -r --arg s "$s" '.services[$s].port' "$V")" = "${PORT[$s]}" ] &&
        ok "values $s: slice ${SLICE[$s]}, port ${PORT[$s]}" || fail "values $s: slice/port differ from the code"
done
dup=$(comm -12 <(jq -r '.config | keys[]' "$V" | sort) <(jq -r '.services[].config | keys[]' "$V" | sort -u) | tr '\n' ' ')
[ -z "${dup// /}" ] && ok "no variable is in both config and a service's config (the ConfigMap would repeat a key)" ||
    fail "variables in both config and services.*.config: $dup"

# Variables each service gets from the chart: ConfigMap (config, services.<s>.config, the
# literal keys of configmap.yaml), Secret (secretEnv, optionalSecretEnv) and the literal env
# entries of deployment.yaml. Names only used inside $(...) are helpers, not settings.
cm_literal=$(sed -n '/^data:/,$p' "$CHART/templates/configmap.yaml" | grep -oE '^  [A-Z][A-Z0-9_]*:' | tr -d ' :' | sort -u)
dep_literal=$(grep -oE '^\s+- name: [A-Z][A-Z0-9_]*$' "$CHART/templates/deployment.yaml" | awk '{print $3}' | sort -u)
helpers=$(grep -oE '\$\([A-Z][A-Z0-9_]*\)' "$CHART/templates/deployment.yaml" | tr -d '$()' | sort -u)
for s in $SERVICES; do
    chart_env=$( {
        echo "$cm_literal"
        comm -23 <(echo "$dep_literal") <(echo "$helpers")
        jq -r '.config | keys[]' "$V"
        jq -r --arg s "$s" '.services[$s] | ((.config // {}) | keys[]), (.secretEnv // [])[], (.optionalSecretEnv // [])[]' "$V"
    } | grep . | sort -u)
    want=$(vars_of service "$s")
    [ "$s" = usage-ingester ] && want=$(vars_of service "$s" backfill-usage)
    missing=$(comm -23 <(echo "$want") <(echo "$chart_env") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$want") <(echo "$chart_env") | tr '\n' ' ')
    [ -z "${missing// /}" ] && ok "chart $s: every variable its code reads is in its ConfigMap or Secret" ||
        fail "chart $s lacks: $missing"
    [ -z "${extra// /}" ] && ok "chart $s: no variable its code does not read" || fail "chart $s sets variables no code reads: $extra"
done
# The Jobs: each sets what its program reads (names only used inside $(...) are helpers).
for pair in migrate-job:migrate topics-job:topics; do
    f=$CHART/templates/${pair%%:*}.yaml
    scope=${pair#*:}
    job_env=$(grep -oE '^\s+- name: [A-Z][A-Z0-9_]*$' "$f" | awk '{print $3}' | sort -u)
    job_helpers=$(grep -oE '\$\([A-Z][A-Z0-9_]*\)' "$f" | tr -d '$()' | sort -u)
    job_env=$(comm -23 <(echo "$job_env") <(echo "$job_helpers"))
    missing=$(comm -23 <(vars_of "$scope") <(echo "$job_env") | tr '\n' ' ')
    extra=$(comm -13 <(vars_of "$scope") <(echo "$job_env") | tr '\n' ' ')
    [ -z "${missing// /}" ] && ok "chart ${pair%%:*} sets every variable multica-migrate $scope reads" || fail "chart ${pair%%:*} lacks: $missing"
    [ -z "${extra// /}" ] && ok "chart ${pair%%:*} sets nothing multica-migrate $scope does not read" || fail "chart ${pair%%:*} sets: $extra"
done
grep -q '"helm.sh/hook": pre-install,pre-upgrade' "$CHART/templates/migrate-job.yaml" &&
    ok "migrations Job is a pre-install,pre-upgrade hook" || fail "migrations Job is not a pre-install,pre-upgrade hook"
wt=$(grep -A1 'kind: Job' -m1 "$CHART/templates/topics-job.yaml" >/dev/null && sed -n '/kind: Job/,$p' "$CHART/templates/topics-job.yaml" | grep -oE 'hook-weight": "-?[0-9]+"' | grep -oE -- '-?[0-9]+')
wm=$(grep -oE 'hook-weight": "-?[0-9]+"' "$CHART/templates/migrate-job.yaml" | grep -oE -- '-?[0-9]+')
[ -n "$wt" ] && [ -n "$wm" ] && [ "$wt" -lt "$wm" ] && ok "topics Job (weight $wt) runs before the migrations Job (weight $wm)" ||
    fail "hook weights: topics '$wt', migrations '$wm'"
grep -q '"helm.sh/hook": pre-install,pre-upgrade' "$CHART/templates/topics-job.yaml" &&
    ok "topics Job is a pre-install,pre-upgrade hook" || fail "topics Job is not a pre-install,pre-upgrade hook"
! grep -rqE 'Files\.(Get|Glob)' "$CHART/templates" && ok "no template reads chart files (the topics come from the image)" ||
    fail "a template reads files: $(grep -rlE 'Files\.(Get|Glob)' "$CHART/templates" | tr '\n' ' ')"
# Static group membership: consumers get KAFKA_GROUP_INSTANCE_ID from their pod name.
awk '/if \$svc\.staticMembership/ { f = 1 } f && /- name: KAFKA_GROUP_INSTANCE_ID/ { n = 1 }
     n && /fieldPath: metadata\.name/ { ok = 1; exit } END { exit !ok }' "$CHART/templates/deployment.yaml" &&
    ok "deployment.yaml sets KAFKA_GROUP_INSTANCE_ID from metadata.name when staticMembership" ||
    fail "deployment.yaml: no KAFKA_GROUP_INSTANCE_ID from fieldRef metadata.name under staticMembership"
for s in $SERVICES; do
    st=$(jq -r --arg s "$s" '.services[$s].staticMembership // false' "$V")
    if contains "$CONSUMERS" "$s"; then
        [ "$st" = true ] && ok "values $s: staticMembership true (a consumer: a restarted container gets its partitions back at once)" ||
            fail "values $s consumes Kafka but staticMembership is $st"
    else
        [ "$st" = false ] && ok "values $s: staticMembership false (no consumer group)" || fail "values $s has no consumer but staticMembership is $st"
    fi
done
grep -q 'secretKeyRef' "$CHART/templates/deployment.yaml" && ! grep -qE '^kind: Secret' "$CHART"/templates/*.yaml &&
    ok "the Secret is referenced by name (.Values.existingSecret = $(jq -r .existingSecret "$V")), never created" ||
    fail "the chart creates a Secret or does not reference one"
part=$(jq -r .kafka.partitions "$V")
hmax=$(jq -r '.services["usage-ingester"].autoscaling.maxReplicas' "$V")
hmin=$(jq -r '.services["usage-ingester"].autoscaling.minReplicas' "$V")
irep=$(jq -r '.services["usage-ingester"].replicas' "$V")
[ "$hmax" -le "$part" ] && [ "$hmin" -le "$hmax" ] && [ "$irep" -le "$part" ] &&
    ok "usage-ingester HPA: min $hmin <= max $hmax <= kafka.partitions $part (replicas $irep)" ||
    fail "usage-ingester HPA bounds: min $hmin max $hmax replicas $irep partitions $part"
grep -A1 -E 'if gt \(int \$ing\.autoscaling\.maxReplicas\) \(int \.Values\.kafka\.partitions\)' "$CHART/templates/hpa.yaml" | grep -q 'fail' &&
    grep -A1 -E 'if gt \(int \$ing\.autoscaling\.maxReplicas\) \$partitions' "$CHART/templates/_helpers.tpl" | grep -q 'fail' &&
    ok "the chart fails to render when the HPA's maxReplicas exceeds kafka.partitions" ||
    fail "no fail guard on maxReplicas > kafka.partitions in hpa.yaml/_helpers.tpl"
for k in Deployment Service PodDisruptionBudget HorizontalPodAutoscaler Ingress ConfigMap Job StatefulSet; do
    grep -qE "^kind: $k\$" "$CHART"/templates/*.yaml || fail "no template renders a $k"
done
ok "templates cover Deployment, Service, PodDisruptionBudget, HPA, Ingress, ConfigMap, Jobs, StatefulSet"

# ------------------------------------------------------------------ image
section "image"
HADOLINT=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}/venv-deploy/bin/hadolint
if [ -x "$HADOLINT" ]; then
    # DL3008: apt packages come unpinned from tools/deps.sh's lists, per release, on purpose.
    check "hadolint Dockerfile ($("$HADOLINT" --version | grep -oE '[0-9]+\.[0-9.]+' | head -n1))" \
        "$HADOLINT" --no-color --ignore DL3008 Dockerfile
else
    fail "hadolint is missing ($HADOLINT): run 'make deps'"
fi
grep -qE '^FROM debian:\$\{DEBIAN_RELEASE\} AS build' Dockerfile && grep -qE '^ARG DEBIAN_RELEASE=bookworm' Dockerfile &&
    grep -qE '^FROM debian:\$\{DEBIAN_RELEASE\}-slim AS runtime' Dockerfile &&
    ok "Dockerfile: debian:bookworm build stage, debian:bookworm-slim runtime stage" || fail "Dockerfile stages"
grep -q 'deps.sh --list build' Dockerfile && grep -q 'deps.sh --list runtime' Dockerfile &&
    ok "Dockerfile installs tools/deps.sh's build and runtime lists" || fail "Dockerfile does not use tools/deps.sh --list"
[ -x deploy/docker-entrypoint.sh ] && ok "the entrypoint is executable (COPY keeps the mode)" || fail "deploy/docker-entrypoint.sh is not executable"
grep -qE '^USER [1-9][0-9]*' Dockerfile && ok "Dockerfile runs as a non-root numeric user" || fail "Dockerfile: no numeric non-root USER"
shipped=$(sed -n '/^COPY --from=build/,/\/usr\/local\/bin\/$/p' Dockerfile | grep -oE 'multica-[a-z-]+' | sed 's/^multica-//' | sort -u | tr '\n' ' ')
expect=$(echo "$SERVICES $TOOLS_SHIPPED" | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$shipped" = "$expect" ] && ok "image ships: $shipped" || fail "image ships '$shipped', expected '$expect'"
dispatch=$(grep -E '^[a-z| -]+\)$' deploy/docker-entrypoint.sh | head -n1 | tr -d ')' | tr '|' ' ' | xargs -n1 | sort | tr '\n' ' ')
[ "$dispatch" = "$expect" ] && ok "entrypoint dispatches: $dispatch" || fail "entrypoint dispatches '$dispatch', expected '$expect'"
for c in $SERVICES $TOOLS_SHIPPED; do
    if [ ! -x "$BIN/multica-$c" ]; then
        fail "$BIN/multica-$c is missing: run 'make build'"
        continue
    fi
    out=$(env -i PATH="$PATH" ASAN_OPTIONS=detect_leaks=0 MULTICA_BIN_DIR="$BIN" sh deploy/docker-entrypoint.sh "$c" 2>&1)
    rc=$?
    [ "$rc" = 2 ] && [[ $out == *"multica-$c"*DATABASE_URL* ]] && ok "entrypoint '$c' runs multica-$c (exit 2 without DATABASE_URL)" ||
        fail "entrypoint '$c': exit $rc: $out"
    out=$(env -i PATH="$PATH" ASAN_OPTIONS=detect_leaks=0 MULTICA_BIN_DIR="$BIN" sh deploy/docker-entrypoint.sh "$c" --version 2>&1)
    [[ $out == "multica-$c "*" (commit "* ]] && ok "entrypoint '$c --version': $out" || fail "entrypoint '$c --version': $out"
done
runtime=$(tools/deps.sh --list runtime | tr '\n' ' ')
# shellcheck disable=SC2046,SC2086 # one word per package
if apt-cache show $runtime $(tools/deps.sh --list build) >/dev/null 2>&1; then
    ok "every build and runtime package exists in the Debian archive ($runtime)"
else
    for p in $runtime $(tools/deps.sh --list build); do
        apt-cache show "$p" >/dev/null 2>&1 || fail "package $p is unknown to apt"
    done
fi
# Every supported release has every group, and the runtime lists name the same libraries
# (only the package names differ); their names were checked against each archive once
# (tools/deps.sh's header; `tools/check-release.sh trixie` repeats it with the network).
bad=""
for r in bookworm trixie noble; do
    for g in build test stack lint bench runtime; do
        n=$(tools/deps.sh --list "$g" --release "$r" 2>/dev/null | grep -c .)
        [ "$n" -gt 0 ] || bad="$bad $r/$g"
    done
    [ "$(tools/deps.sh --list runtime --release "$r" | wc -l)" = "$(echo "$runtime" | wc -w)" ] || bad="$bad $r/runtime-length"
done
[ -z "$bad" ] && ok "tools/deps.sh lists every group for bookworm, trixie and noble (runtime: $(tools/deps.sh --list runtime --release trixie | tr '\n' ' '))" ||
    fail "tools/deps.sh --list failed or differs for:$bad"
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances $runtime 2>/dev/null | grep -oE '^[a-z0-9][a-z0-9.+-]+|(Pre)?Depends: [a-z0-9][a-z0-9.+-]+' |
    sed -E 's/.*: //' | sort -u >"$TMP/closure"
need=""
for c in $SERVICES $TOOLS_SHIPPED; do
    [ -x "$BIN/multica-$c" ] || continue
    ldd "$BIN/multica-$c" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
    real=$(readlink -f "$lib")
    pkg=$(dpkg -S "$real" 2>/dev/null | head -n1 | cut -d: -f1)
    [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1)
    echo "${pkg:-?}|$lib"
done >"$TMP/libs"
# A sanitizer build (make test-asan) links libasan/libubsan, which bring libraries of their own
# (libstdc++); neither is part of the image, so both are left out of the comparison.
: >"$TMP/sanlibs"
grep -E '^(libasan|libubsan|liblsan|libtsan)' "$TMP/libs" | cut -d'|' -f2 | while read -r lib; do
    ldd "$lib" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u >"$TMP/sanlibs"
while IFS='|' read -r pkg lib; do
    case "$pkg" in libasan* | libubsan* | liblsan* | libtsan*) continue ;; esac
    grep -qxF "$lib" "$TMP/sanlibs" && continue
    if [ "$pkg" = "?" ]; then
        need="$need $lib(no package)"
    elif ! grep -qx "$pkg" "$TMP/closure"; then
        need="$need $pkg($lib)"
    fi
done <"$TMP/libs"
[ -z "$need" ] && ok "all $(wc -l <"$TMP/libs") shared libraries of the shipped binaries come from the runtime packages or their dependencies" ||
    fail "libraries outside the runtime package closure:$need"

# ------------------------------------------------------------------ secret
section "the Secret (docs/SELF_HOSTING.md)"
keys=$( {
    grep -hoE '^\s+key: [A-Z][A-Z0-9_]*$' "$CHART"/templates/*.yaml | awk '{print $2}'
    jq -r '.services[] | (.secretEnv // [])[], (.optionalSecretEnv // [])[]' "$V"
    for s in $SERVICES; do echo "MULTICA_$(echo "${SLICE[$s]}" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"; done
} | sort -u)
documented=$(grep -oE -- '--from-literal=[A-Z][A-Z0-9_]*=' docs/SELF_HOSTING.md 2>/dev/null | sed -E 's/--from-literal=(.*)=/\1/' | sort -u)
m=$(comm -23 <(echo "$keys") <(echo "$documented") | tr '\n' ' ')
[ -z "${m// /}" ] && ok "docs/SELF_HOSTING.md creates every Secret key the chart reads: $(echo "$keys" | tr '\n' ' ')" ||
    fail "the kubectl create secret in docs/SELF_HOSTING.md lacks: $m"

# ------------------------------------------------------------------ grafana
section "grafana and prometheus"
D=deploy/grafana/dashboards/multica-usage.json
provisioned=$(yq -r '.datasources[].uid' deploy/grafana/provisioning/datasources/*.yml | sort -u)
for uid in $(jq -r '[.. | objects | select(has("datasource")) | .datasource | objects | .uid] | unique[]' "$D"); do
    grep -qx "$uid" <<<"$provisioned" || fail "dashboard data source $uid is not provisioned"
done
ok "every data source of the dashboard is provisioned ($(echo "$provisioned" | tr '\n' ' '))"
jq -r '.. | objects | select(has("rawSql")) | .rawSql' "$D" | grep -q 'usage.task_usage_hourly' &&
    ok "the dashboard reads usage.task_usage_hourly" || fail "the dashboard does not read usage.task_usage_hourly"
metrics=$(grep -rhoE 'mc_(counter|gauge|gauge_fn|gauge_family_fn|counter_fn|histogram)\("(multica|process)_[a-z_]+"' services libs | cut -d'"' -f2 | sort -u)
for mname in $(jq -r '.. | objects | select(has("expr")) | .expr' "$D" | grep -oE '(multica|process)_[a-z_]+' | sort -u); do
    base=$(echo "$mname" | sed -E 's/_(bucket|sum|count)$//')
    grep -qxE "$mname|$base" <<<"$metrics" || fail "dashboard query uses $mname, which no service registers"
done
ok "every metric the dashboard queries is registered by a service"
check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
# The config names the rules by their path in the container; check it with that path local.
mkdir -p "$TMP/prom"
cp deploy/prometheus/alerts.yml "$TMP/prom/"
sed 's|/etc/prometheus/alerts.yml|alerts.yml|' deploy/prometheus/prometheus.yml >"$TMP/prom/prometheus.yml"
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config "$TMP/prom/prometheus.yml"
grep -q 'deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml' "$COMPOSE" && grep -q '/etc/prometheus/alerts.yml' deploy/prometheus/prometheus.yml &&
    ok "compose mounts the alert rules where prometheus.yml loads them" || fail "alerts.yml is not mounted where prometheus.yml loads it"
for mname in $(grep -oE '(multica|process)_[a-z_]+' deploy/prometheus/alerts.yml | sort -u); do
    base=$(echo "$mname" | sed -E 's/_(bucket|sum|count)$//')
    grep -qxE "$mname|$base" <<<"$metrics" || fail "alerts.yml uses $mname, which no service registers"
done
ok "every metric the alert rules use is registered by a service"
# Label sets are C strings such as "job_name=\"...\",status=\"...\"": look for job= or
# instance= at the start of one or after a comma.
clash=$(grep -rhoE '[",](job|instance)=\\"' services libs | sort -u | tr '\n' ' ')
[ -z "${clash// /}" ] && ok "no metric has a label named job or instance (the scheduler's is job_name)" ||
    fail "metric labels clash with Prometheus' target labels (renamed exported_*): $clash"
yq -r '.providers[].options.path' deploy/grafana/provisioning/dashboards/*.yml | while read -r p; do
    grep -q "deploy/grafana/dashboards:$p" "$COMPOSE" || echo "missing $p"
done | grep -q missing && fail "the dashboards provider path is not where compose mounts deploy/grafana/dashboards" ||
    ok "compose mounts deploy/grafana/dashboards where the provider reads"

summary check-deploy
