/* test_metrics.c: the Prometheus text rendering of counters, gauges and histograms. */
#include "harness.h"
#include "mc_http.h"

#include <stdlib.h>
#include <string.h>

static double answer(void *ctx)
{
    return *(double *)ctx;
}

static void two_runtimes(void *ctx, mc_series_emit emit, void *sink)
{
    (void)ctx;
    emit(sink, "runtime_id=\"r1\"", 3);
    emit(sink, "runtime_id=\"r2\"", 0);
}

START_TEST(renders_prometheus_text)
{
    mc_metric *c1 = mc_counter("t_events_total", "Events seen.", "topic=\"a\"");
    mc_metric *c2 = mc_counter("t_events_total", "Events seen.", "topic=\"b\"");
    mc_metric *g = mc_gauge("t_lag", "Lag.", NULL);
    static double fortytwo = 42;
    mc_gauge_fn("t_computed", "Computed at scrape.", NULL, answer, &fortytwo);
    mc_gauge_family_fn("t_missing", "Series known at scrape.", two_runtimes, NULL);
    const double bounds[] = {0.1, 1};
    mc_metric *h = mc_histogram("t_latency_seconds", "Latency.", NULL, bounds, 2);
    mc_metric_add(c1, 3);
    mc_metric_add(c2, 1);
    mc_metric_add(c2, 1);
    mc_metric_set(g, 2.5);
    mc_metric_observe(h, 0.05);
    mc_metric_observe(h, 0.5);
    mc_metric_observe(h, 7);
    char *text = mc_metrics_render();
    ck_assert_ptr_nonnull(text);
    const char *want[] = {
        "# HELP t_events_total Events seen.\n# TYPE t_events_total counter\n"
        "t_events_total{topic=\"a\"} 3\nt_events_total{topic=\"b\"} 2\n",
        "# TYPE t_lag gauge\nt_lag 2.5\n",
        "t_computed 42\n",
        "# TYPE t_missing gauge\nt_missing{runtime_id=\"r1\"} 3\nt_missing{runtime_id=\"r2\"} 0\n",
        "# TYPE t_latency_seconds histogram\n"
        "t_latency_seconds_bucket{le=\"0.1\"} 1\n"
        "t_latency_seconds_bucket{le=\"1\"} 2\n"
        "t_latency_seconds_bucket{le=\"+Inf\"} 3\n"
        "t_latency_seconds_sum 7.55\n"
        "t_latency_seconds_count 3\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(text, want[i]) != NULL, "missing:\n%s\nin:\n%s", want[i], text);
    /* One HELP line per family even with two label sets. */
    ck_assert_ptr_null(strstr(strstr(text, "# HELP t_events_total") + 1, "# HELP t_events_total"));
    free(text);
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, renders_prometheus_text);
    suite_add_tcase(s, tc);
    return s;
}
