#!/usr/bin/env bash
# check-chart.sh: renders charts/multica with the real helm and validates what it renders, for
# the flag combinations an operator can choose (run by tools/check-deploy.sh, hence by
# `make check-deploy` and the deploy test suite). helm, the CRDs and Kubernetes' schemas come
# from tools/chart-tools.sh and tools/deps.sh (registries only; no cluster needed).
#
# What it verifies:
#   lint      `helm lint --strict`; values.schema.json refuses an unknown or ill-typed value
#   render    each combination renders at the oldest Kubernetes the chart allows (Chart.yaml
#             kubeVersion, 1.25) and the newest the schemas know; every object validates
#             against Kubernetes' strict schemas or its CRD (tools/validate-k8s.py), and every
#             pod (services, migrations and topics Jobs, in-chart PostgreSQL) meets Pod
#             Security "restricted" with a read-only root filesystem
#   defaults  two replicas and a PodDisruptionBudget per service; the usage-ingester's HPA on,
#             KEDA off; no ServiceMonitor or PrometheusRule unless asked for
#   autoscale KEDA on/HPA off: a ScaledObject on the ingester's consumer group (with
#             KAFKA_PREFIX), capped at kafka.partitions, and no HPA; both off: neither, fixed
#             replicas; both on, or either above kafka.partitions: the render fails
#   metrics   ServiceMonitor on: it selects every Service and names the job after a label all
#             of them carry, whose value is the job of up{job=...} in MulticaServiceDown; the
#             PrometheusRule's groups equal deploy/prometheus/alerts.yml's
#   validator a broken object (an unknown field, a root pod) is refused, so a pass means
#             something
# shellcheck disable=SC2015,SC2016
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
CACHE=${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}
CHART=charts/multica
HELM=$(tools/chart-tools.sh helm)
CRDS=$(tools/chart-tools.sh crds)
PY=$CACHE/venv-deploy/bin/python3
for f in "$HELM" "$PY"; do
    if [ ! -x "$f" ]; then
        echo "check-chart: $f is missing; run 'make deps' (tools/deps.sh)" >&2
        exit 2
    fi
done
# Kubernetes minors to validate against: the chart's floor and the newest schema set.
KUBE_MIN=$(yq -r .kubeVersion "$CHART/Chart.yaml" | grep -oE '[0-9]+\.[0-9]+' | head -n1)
KUBE_MAX=$("$PY" -c 'import kubernetes_validate.utils as u; print(u.major_minor(u.latest_version()))')

# shellcheck source=tools/check-lib.sh
. "$ROOT/tools/check-lib.sh"

BASE=(--set kafka.brokers=kafka-0.kafka:9092 --set database.host=db.example)
# render NAME KUBE ARGS...: helm template into TMP/NAME.yaml and TMP/NAME.json (an array of
# objects); returns helm's status, its error in TMP/NAME.err.
render() {
    local name=$1 kube=$2
    shift 2
    "$HELM" template multica "$CHART" --namespace multica --kube-version "$kube.0" "$@" \
        >"$TMP/$name.yaml" 2>"$TMP/$name.err" || return 1
    yq -s '[.[] | select(. != null)]' "$TMP/$name.yaml" >"$TMP/$name.json"
}
# q NAME JQ: a jq query over a render's objects
q() { jq -r "$2" "$TMP/$1.json"; }

printf '\n== chart rendered by helm %s, validated against Kubernetes %s and %s\n' \
    "$("$HELM" version --template '{{.Version}}')" "$KUBE_MIN" "$KUBE_MAX"

out=$("$HELM" lint --strict "$CHART" "${BASE[@]}" --kube-version "$KUBE_MAX.0" 2>&1) &&
    ok "helm lint --strict" || { fail "helm lint --strict"; printf '%s\n' "$out" | sed 's/^/     /'; }
render bad "$KUBE_MAX" "${BASE[@]}" --set services.usage-ingester.keda.lagTreshold=5 &&
    fail "values.schema.json accepted a misspelt key (keda.lagTreshold)" ||
    { grep -q "additional properties 'lagTreshold' not allowed" "$TMP/bad.err" &&
        ok "values.schema.json refuses a misspelt key (keda.lagTreshold)" || fail "unexpected error: $(cat "$TMP/bad.err")"; }
render bad "$KUBE_MAX" "${BASE[@]}" --set kafka.partitions=zero &&
    fail "values.schema.json accepted kafka.partitions=zero" ||
    ok "values.schema.json refuses kafka.partitions=zero"

# ---- the combinations: name and values
declare -A COMBO=(
    [defaults]=""
    [keda]="--set services.usage-ingester.autoscaling.enabled=false --set services.usage-ingester.keda.enabled=true --set config.KAFKA_PREFIX=prod. --set services.usage-ingester.keda.authenticationRef=kafka-sasl"
    [fixed]="--set services.usage-ingester.autoscaling.enabled=false"
    [monitoring]="--set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true"
    [inchartpg]="--set postgresql.enabled=true --set database.host= --set kafka.configSecretKey=KAFKA_CONFIG --set ingress.tls[0].secretName=tls --set ingress.tls[0].hosts[0]=multica.example.com"
)
for name in defaults keda fixed monitoring inchartpg; do
    for kube in "$KUBE_MIN" "$KUBE_MAX"; do
        # shellcheck disable=SC2086 # the combination's words are separate arguments
        if ! render "$name-$kube" "$kube" "${BASE[@]}" ${COMBO[$name]}; then
            fail "$name renders for Kubernetes $kube: $(cat "$TMP/$name-$kube.err")"
            continue
        fi
        if out=$("$PY" tools/validate-k8s.py --crds "$CRDS" --kube "$kube" "$TMP/$name-$kube.yaml"); then
            ok "$name ($kube): $(tail -n1 <<<"$out" | sed 's/validate-k8s: //'): schemas and Pod Security restricted"
        else
            fail "$name ($kube): validation"
            grep -v '^ok' <<<"$out" | sed 's/^/     /'
        fi
    done
    cp "$TMP/$name-$KUBE_MAX.json" "$TMP/$name.json" 2>/dev/null
done
q inchartpg '.[] | select(.kind == "StatefulSet") | .metadata.name' | grep -q postgresql &&
    ok "inchartpg renders the PostgreSQL StatefulSet (checked above with the other pods)" ||
    fail "inchartpg has no PostgreSQL StatefulSet"

# ---- defaults: two replicas and a PDB per service, HPA on, KEDA and monitoring off
services=$(yq -r '.services | keys[]' "$CHART/values.yaml")
for s in $services; do
    dep=multica-$s
    reps=$(q defaults ".[] | select(.kind == \"Deployment\" and .metadata.name == \"$dep\") | .spec.replicas // \"auto\"")
    [ "$s" = usage-ingester ] && reps=$(q defaults '.[] | select(.kind == "HorizontalPodAutoscaler") | .spec.minReplicas')
    [ "$reps" = 2 ] && ok "defaults: $s runs 2 replicas$([ "$s" = usage-ingester ] && echo ' (HPA minReplicas)')" ||
        fail "defaults: $s runs '$reps' replicas, expected 2"
    sel=$(q defaults ".[] | select(.kind == \"Deployment\" and .metadata.name == \"$dep\") | .spec.selector.matchLabels")
    [ -n "$(q defaults ".[] | select(.kind == \"PodDisruptionBudget\" and .spec.selector.matchLabels == $sel) | .metadata.name")" ] &&
        ok "defaults: $s has a PodDisruptionBudget selecting its pods" || fail "defaults: no PodDisruptionBudget for $s"
done
[ "$(q defaults '[.[] | select(.kind == "HorizontalPodAutoscaler")] | length')" = 1 ] &&
    [ "$(q defaults '[.[] | select(.kind == "ScaledObject" or .kind == "ServiceMonitor" or .kind == "PrometheusRule")] | length')" = 0 ] &&
    ok "defaults: the ingester's HPA, no ScaledObject, ServiceMonitor or PrometheusRule" ||
    fail "defaults: unexpected autoscaler or monitoring objects"

# ---- autoscaling: KEDA on / HPA off, both off, both on, caps
part=$(yq -r .kafka.partitions "$CHART/values.yaml")
group=$(q keda '.[] | select(.kind == "ConfigMap" and .metadata.name == "multica-usage-ingester") | .data.KAFKA_PREFIX + .data.KAFKA_GROUP_ID')
so='.[] | select(.kind == "ScaledObject")'
[ "$(q keda "[$so] | length")" = 1 ] && [ "$(q keda '[.[] | select(.kind == "HorizontalPodAutoscaler")] | length')" = 0 ] &&
    ok "KEDA on, HPA off: one ScaledObject and no HPA" || fail "KEDA on, HPA off: ScaledObject/HPA count wrong"
[ "$(q keda "$so | .spec.triggers[0].type")" = kafka ] && [ "$(q keda "$so | .spec.triggers[0].metadata.consumerGroup")" = "$group" ] &&
    ok "the ScaledObject's Kafka trigger reads the ingester's group ($group, with KAFKA_PREFIX)" ||
    fail "ScaledObject trigger: $(q keda "$so | .spec.triggers[0] | tostring"), ingester group '$group'"
[ "$(q keda "$so | .spec.scaleTargetRef.name")" = multica-usage-ingester ] &&
    [ "$(q keda "$so | .spec.maxReplicaCount")" -le "$part" ] &&
    [ "$(q keda "$so | .spec.triggers[0].authenticationRef.name")" = kafka-sasl ] &&
    [ "$(q keda '.[] | select(.kind == "Deployment" and .metadata.name == "multica-usage-ingester") | .spec | has("replicas")')" = false ] &&
    ok "the ScaledObject scales the ingester's Deployment (which sets no replicas) up to $(q keda "$so | .spec.maxReplicaCount") <= $part partitions" ||
    fail "ScaledObject target, cap or authenticationRef wrong, or the Deployment still sets replicas"
[ "$(q fixed '[.[] | select(.kind == "ScaledObject" or .kind == "HorizontalPodAutoscaler")] | length')" = 0 ] &&
    [ "$(q fixed '.[] | select(.kind == "Deployment" and .metadata.name == "multica-usage-ingester") | .spec.replicas')" = 2 ] &&
    ok "both autoscalers off: neither object, 2 fixed replicas" || fail "both off: autoscaler objects or replicas wrong"
render both "$KUBE_MAX" "${BASE[@]}" --set services.usage-ingester.keda.enabled=true &&
    fail "KEDA and the HPA both on: the chart rendered" ||
    { grep -q 'are both true' "$TMP/both.err" && ok "KEDA and the HPA both on: the render fails naming both" ||
        fail "both on: unexpected error $(cat "$TMP/both.err")"; }
for a in "keda.enabled=true --set services.usage-ingester.autoscaling.enabled=false --set services.usage-ingester.keda.maxReplicaCount=$((part + 1))" \
    "autoscaling.maxReplicas=$((part + 1))"; do
    # shellcheck disable=SC2086
    render cap "$KUBE_MAX" "${BASE[@]}" --set services.usage-ingester.$a &&
        fail "$a: rendered above kafka.partitions" ||
        { grep -q 'must not exceed kafka.partitions' "$TMP/cap.err" && ok "${a%% *} with ${a##*=} > $part partitions: the render fails" ||
            fail "$a: unexpected error $(cat "$TMP/cap.err")"; }
done

# ---- monitoring: the job label and the alert rules
sm='.[] | select(.kind == "ServiceMonitor")'
joblabel=$(q monitoring "$sm | .spec.jobLabel")
job=$(yq -r .metrics.job "$CHART/values.yaml")
bad=$(q monitoring ".[] | select(.kind == \"Service\") | select(.metadata.labels[\"$joblabel\"] != \"$job\") | .metadata.name" | tr '\n' ' ')
[ -n "$joblabel" ] && [ -z "${bad// /}" ] && ok "every Service carries $joblabel=$job, the ServiceMonitor's jobLabel" ||
    fail "ServiceMonitor jobLabel '$joblabel': Services without $job: $bad"
unsel=$(jq -r "[$sm][0].spec.selector.matchLabels as \$m | .[] | select(.kind == \"Service\") |
    select(.metadata.labels | contains(\$m) | not) | .metadata.name" "$TMP/monitoring.json" | tr '\n' ' ')
[ -z "${unsel// /}" ] && [ "$(q monitoring "$sm | .spec.endpoints[0].port")" = http ] &&
    [ "$(q monitoring "$sm | .spec.endpoints[0].path")" = /metrics ] &&
    ok "the ServiceMonitor selects all $(q monitoring '[.[] | select(.kind == "Service")] | length') Services, port http, /metrics" ||
    fail "ServiceMonitor misses Services ($unsel) or scrapes another port/path"
pr='.[] | select(.kind == "PrometheusRule")'
up=$(q monitoring "$pr | .spec.groups[].rules[] | select(.alert == \"MulticaServiceDown\") | .expr")
[ "$up" = "up{job=\"$job\"} == 0" ] && ok "MulticaServiceDown ($up) matches the job the ServiceMonitor scrapes under" ||
    fail "MulticaServiceDown is '$up', the ServiceMonitor's job is $job"
q monitoring "$pr | .spec.groups" | jq -S . >"$TMP/rule-groups.json"
yq -S .groups deploy/prometheus/alerts.yml >"$TMP/alerts-groups.json"
if diff -u "$TMP/alerts-groups.json" "$TMP/rule-groups.json" >"$TMP/rules.diff"; then
    ok "the PrometheusRule holds exactly deploy/prometheus/alerts.yml's $(jq '[.[].rules[]] | length' "$TMP/alerts-groups.json") rules"
else
    fail "the PrometheusRule and deploy/prometheus/alerts.yml differ:"
    sed 's/^/     /' "$TMP/rules.diff"
fi

# ---- the validator refuses what it should
jq '[.[] | select(.kind == "Deployment")][0] | .spec.template.spec.containers[0].imagePullPolicyy = "Always"' \
    "$TMP/defaults.json" | yq -y . >"$TMP/broken-field.yaml"
jq '[.[] | select(.kind == "Deployment")][0] | .spec.template.spec.securityContext.runAsNonRoot = false' \
    "$TMP/defaults.json" | yq -y . >"$TMP/broken-root.yaml"
for f in broken-field broken-root; do
    "$PY" tools/validate-k8s.py --crds "$CRDS" --kube "$KUBE_MAX" "$TMP/$f.yaml" >"$TMP/$f.out" &&
        fail "validate-k8s.py accepted $f" || ok "validate-k8s.py refuses $f: $(grep -m1 '^     ' "$TMP/$f.out" | sed 's/^ *//')"
done

summary check-chart
