# report.jq: turns the raw results of bench/run.sh into the table of latest.json.
# Inputs (jq -n): $footprint, $ingest, $rollup, $http, $flow, $produce (slurped JSON lines) and run
# metadata. A part that did not run (BENCH_STAGES) shows as one "not run" row.
def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r(n): . * pow(10; n) | round / pow(10; n);
def rate: if . == null then "-" elif . >= 1000 then "\(. / 1000 | r(1))k rows/s"
    else "\(. | r(0)) rows/s" end;
def secs: if . == null then "-" elif . < 1 then "\(. * 1000 | r(0)) ms"
    else "\(. | r(2)) s" end;
def ms: if . == null then "-" elif . >= 1000 then "\(. / 1000 | r(2)) s"
    else "\(. | r(1)) ms" end;
def x: if . == null then "-" else "\(. | r(3))×" end;
def rows_label: if . >= 1000000 then "\(. / 1000000 | r(1))M" else "\(. / 1000 | r(0))k" end;
def runs($mode; $k): [$ingest[] | select(.mode == $mode and .consumers == $k)];
def med($runs; $f): [$runs[] | .[$f]] | median;
def placeholder($figure; $target; $part):
    {figure: $figure, ours: "not measured yet", baseline: "-", ratio: "-", target: $target,
     met: "not measured yet: depends on \($part)"};
def not_run($figure): {figure: $figure, ours: "not run", baseline: "-", ratio: "-",
    target: "-", met: "not run (BENCH_STAGES)"};

(runs("ours"; 1)) as $o1 | (runs("ours"; 3)) as $o3 |
(runs("copy"; 1)) as $cp | (runs("naive"; 1)) as $nv |
med($o1; "rows_per_s") as $r1 | med($o3; "rows_per_s") as $r3 |
med($cp; "rows_per_s") as $rc | med($nv; "rows_per_s") as $rn |
# Cores the 1-ingester run keeps busy (ingester + Postgres): 3 ingesters can gain at most
# nproc / that, and at most 3x. "Near-linear until the cores saturate" = 80% of that bound.
((med($o1; "consumer_cores") + med($o1; "postgres_cores"))) as $c1 |
(if $c1 == null then 3 else [3, $nproc / $c1] | min end) as $bound |
($rollup | sort_by(.rows)) as $ro |
{
  run: {started: $started, seconds: $seconds, scale: $scale, repeat: $repeat,
        naive_rows: $naive_rows, commit: $commit,
        machine: {nproc: $nproc, cpu: $cpu, mem_gib: ($mem | tonumber)},
        postgres: $pg, produce: $produce[0]},
  rows: ((if ($footprint | length) == 0 then [not_run("footprint")] else [
    $footprint | group_by(.service)[] | . as $f |
    med($f; "rss_kb") as $rss | med($f; "ready_ms") as $ready |
    {figure: "footprint, multica-\($f[0].service): idle RSS; start -> /healthz ready",
     ours: "\($rss / 1024 | r(1)) MiB; ready in \($ready | r(0)) ms",
     baseline: "peak RSS \(med($f; "hwm_kb") / 1024 | r(1)) MiB, \($f[0].threads) threads",
     ratio: "-", target: "<= 30 MB RSS; ready <= 1 s",
     met: (if $rss * 1024 <= 30000000 and $ready <= 1000 then "yes" else "NO" end)}
  ] end) + (if ($ingest | length) == 0 then [not_run("ingest")] else [
    {figure: "ingest, 1 ingester vs COPY (\($scale | rows_label) events)",
     ours: ($r1 | rate), baseline: "COPY \($rc | rate)", ratio: ($r1 / $rc | x),
     target: ">= 0.5×", met: (if $r1 / $rc >= 0.5 then "yes" else "NO" end)},
    {figure: "ingest, 1 ingester vs row-at-a-time (\($naive_rows | rows_label) msgs)",
     ours: ($r1 | rate), baseline: "naive \($rn | rate)", ratio: ($r1 / $rn | x),
     target: ">= 20×", met: (if $r1 / $rn >= 20 then "yes" else "NO" end)},
    {figure: "ingest, 3 ingesters vs 1",
     ours: ($r3 | rate), baseline: "1 ingester \($r1 | rate)", ratio: ($r3 / $r1 | x),
     target: ">= 0.8 × min(3, \($nproc) cores / \($c1 | r(2)) used) = \(0.8 * $bound | r(2))×",
     met: (if $r3 / $r1 >= 0.8 * $bound then "yes" else "NO" end)},
    {figure: "ingest CPU cores: consumers + postgres (whole machine busy)",
     ours: "1 ingester: \(med($o1; "consumer_cores") | r(2)) + \(med($o1; "postgres_cores") | r(2)) (\(med($o1; "machine_busy_cores") | r(2))); 3 ingesters: \(med($o3; "consumer_cores") | r(2)) + \(med($o3; "postgres_cores") | r(2)) (\(med($o3; "machine_busy_cores") | r(2)))",
     baseline: "COPY: \(med($cp; "consumer_cores") | r(2)) + \(med($cp; "postgres_cores") | r(2)) (\(med($cp; "machine_busy_cores") | r(2))); naive: \(med($nv; "consumer_cores") | r(2)) + \(med($nv; "postgres_cores") | r(2)) (\(med($nv; "machine_busy_cores") | r(2)))",
     ratio: "-", target: "report", met: "-"}
  ] end) + (if ($ro | length) == 0 then [not_run("rollup")] else [
    # Issue 16: the tick over recent changes <= 1 s and flat as history grows; the scattered
    # worst case <= 1/100 of a full recompute at the largest history (10M rows).
    $ro[] | (.rows == $ro[-1].rows) as $largest |
            {figure: "rollup tick over \(.changes) recent changes (steady: after a previous tick), \(.rows | rows_label) rows",
             ours: ((.tick_median_s | secs) + " (\(.tick_buckets[0]) buckets; the first after the full recompute \(.tick_first_median_s | secs))"),
             baseline: ((.full_median_s | secs) + " (full recompute, \(.full_buckets[0]) buckets)"),
             ratio: (.tick_median_s / .full_median_s | x),
             target: (if $largest then "<= 1 s" else "report (target at \($ro[-1].rows | rows_label))" end),
             met: (if $largest | not then "-" elif .tick_median_s <= 1 then "yes" else "NO" end)}
  ] + [
    {figure: "rollup tick growth, \($ro[0].rows | rows_label) -> \($ro[-1].rows | rows_label) rows",
     ours: ($ro[-1].tick_median_s | secs), baseline: ($ro[0].tick_median_s | secs),
     ratio: ($ro[-1].tick_median_s / $ro[0].tick_median_s | x),
     target: "<= 2× (flat; history grows \($ro[-1].rows / $ro[0].rows | r(0))×)",
     met: (if $ro[-1].tick_median_s / $ro[0].tick_median_s <= 2 then "yes" else "NO" end)}
  ] + [
    $ro[] | select(.scattered_median_s != null) |
    {figure: "rollup tick, changes scattered over history (worst case), \(.rows | rows_label) rows",
     ours: ((.scattered_median_s | secs) + " (\(.scattered_buckets[0]) buckets)"),
     baseline: (.full_median_s | secs), ratio: (.scattered_median_s / .full_median_s | x),
     target: (if .rows == $ro[-1].rows then "<= 0.01×" else "report" end),
     met: (if .rows != $ro[-1].rows then "-" elif .scattered_median_s / .full_median_s <= 0.01 then "yes" else "NO" end)}
  ] end) + (($http | map(select(.bench == "read")) | group_by(.rows)) as $reads |
    if ($reads | length) == 0 then [not_run("usage read, rollup vs ?source=raw")] else [
    $reads[] | . as $g |
    med($g | map(.rollup); "p50_ms") as $p50 | med($g | map(.rollup); "p99_ms") as $p99 |
    med($g | map(.raw); "p50_ms") as $q50 |
    {figure: "usage read, 30 days of one runtime, \($g[0].rows | rows_label) rows (\($g[0].window_rows) in its window): rollup vs ?source=raw",
     ours: "p50 \($p50 | ms), p99 \($p99 | ms), \(med($g | map(.rollup); "rps") | r(0)) req/s",
     baseline: "raw p50 \($q50 | ms), p99 \(med($g | map(.raw); "p99_ms") | ms), \(med($g | map(.raw); "rps") | r(1)) req/s",
     ratio: "\($q50 / $p50 | r(1))× faster (p50)", target: ">= 100× faster, p99 < 5 ms",
     met: (if $q50 / $p50 >= 100 and $p99 < 5 then "yes" else "NO" end)}
  ] end) + (($http | map(select(.bench == "read_busy")) | group_by(.rows)) as $busy |
    if ($busy | length) == 0 then [] else [
    $busy[] | . as $g |
    med($g | map(.rollup); "p99_ms") as $p99 |
    {figure: "usage read, same, busy: \($g[0].busy_rows) rows past the rollup's watermark (\($g[0].fresh_hours_before) hours), \($g[0].rows | rows_label) rows",
     ours: "p50 \(med($g | map(.rollup); "p50_ms") | ms), p99 \($p99 | ms), \(med($g | map(.rollup); "rps") | r(0)) req/s",
     baseline: "-", ratio: "-", target: "p99 < 5 ms",
     met: (if $p99 < 5 then "yes" else "NO" end)}
  ] end) + (($http | map(select(.bench == "fresh"))) as $f |
    if ($f | length) == 0 then [not_run("freshness, gateway 202 -> visible in a dashboard read")] else [
    {figure: "freshness, gateway 202 -> visible in the dashboard's daily read (\($f[0].samples) sequential reports, \($f[0].rows | rows_label) rows)",
     ours: "p50 \(med($f; "p50_ms") | ms), p99 \(med($f; "p99_ms") | ms) (max \(med($f; "max_ms") | ms))",
     baseline: "before: after the next rollup run past the 5-minute safety lag, 5-10 min (not re-measured)",
     ratio: "-", target: "<= 5 s", met: (if med($f; "p99_ms") <= 5000 then "yes" else "NO" end)}
  ] end) + (($http | map(select(.bench == "gateway"))) as $gw |
    if ($gw | length) == 0 then [not_run("gateway vs hello world")] else [
    med($gw | map(.ours); "rps") as $o | med($gw | map(.hello); "rps") as $h |
    {figure: "gateway req/s, \($gw[0].endpoint) (JWT, membership) vs a bare libmicrohttpd hello world",
     ours: "\($o | r(0)) req/s (p50 \(med($gw | map(.ours); "p50_ms") | ms), p99 \(med($gw | map(.ours); "p99_ms") | ms))",
     baseline: "hello \($h | r(0)) req/s (p50 \(med($gw | map(.hello); "p50_ms") | ms))",
     ratio: ($o / $h | x), target: "report", met: "-"}
  ] end) + (($flow | map(select(.bench == "e2e"))) as $e |
    if ($e | length) == 0 then [not_run("end-to-end lag (gateway 202 -> row visible)")] else [
    {figure: "end-to-end lag, gateway 202 -> row visible, \($e[0].offered_rps) reports/s offered",
     ours: "p50 \(med($e; "lag_p50_ms") | ms), p99 \(med($e; "lag_p99_ms") | ms) (\(med($e; "achieved_rps") | r(0))/s achieved, 202 p50 \(med($e; "accepted_p50_ms") | ms))",
     baseline: "the ingester's batch wait \($e[0].batch_wait_ms) ms",
     ratio: "p50 \(med($e; "lag_p50_ms") / $e[0].batch_wait_ms | x)",
     target: "report", met: "-"}
  ] end) + (($flow | map(select(.bench == "dispatch"))) as $d |
    if ($d | length) == 0 then [not_run("dispatch")] else ([
    {figure: "dispatch, \($d[0].tasks) tasks through the lifecycle (\($d[0].runtimes) simulated daemons x \($d[0].capacity))",
     ours: "\(med($d; "tasks_per_s") | r(1)) tasks/s; enqueue -> WebSocket p50 \(med($d; "ws_p50_ms") | ms), p99 \(med($d; "ws_p99_ms") | ms); enqueue -> daemon has it p50 \(med($d; "claimed_p50_ms") | ms), p99 \(med($d; "claimed_p99_ms") | ms) (burst of \(med($d; "enqueue_per_s") | r(0)) assigns/s)",
     baseline: "light load (\($d[0].light_tasks) tasks at 20/s): WebSocket p50 \(med($d; "light_ws_p50_ms") | ms), p99 \(med($d; "light_ws_p99_ms") | ms); daemon has it p50 \(med($d; "light_claimed_p50_ms") | ms), p99 \(med($d; "light_claimed_p99_ms") | ms)",
     ratio: "-", target: ">= 1000 tasks/s",
     met: (if all($d[]; .ok) | not then "NO: a check failed"
           elif med($d; "tasks_per_s") >= 1000 then "yes" else "NO" end)}] +
    (if ($d[0].paced_tasks // 0) == 0 then [] else [
    {figure: "dispatch, enqueue -> daemon has it at \($d[0].paced_tasks) tasks offered at \($d[0].paced_offered_rps // 500)/s (\($d[0].runtimes) simulated daemons x \($d[0].capacity))",
     ours: "p50 \(med($d; "paced_claimed_p50_ms") | ms), p99 \(med($d; "paced_claimed_p99_ms") | ms) (\(med($d; "paced_rps") | r(0)) assigns/s achieved; WebSocket p50 \(med($d; "paced_ws_p50_ms") | ms), p99 \(med($d; "paced_ws_p99_ms") | ms))",
     baseline: "light load: daemon has it p50 \(med($d; "light_claimed_p50_ms") | ms), p99 \(med($d; "light_claimed_p99_ms") | ms)",
     ratio: "p99 \(med($d; "paced_claimed_p99_ms") / med($d; "light_claimed_p99_ms") | x)",
     target: "p99 <= 50 ms",
     met: (if med($d; "paced_claimed_p99_ms") <= 50 then "yes" else "NO" end)}] end))
  end)),
  raw: {footprint: $footprint, ingest: $ingest, rollup: $rollup, http: $http, flow: $flow}
}
