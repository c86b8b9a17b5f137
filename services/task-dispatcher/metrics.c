/* metrics.c: the dispatcher's Prometheus series, registered once at start. */
#include "dispatcher.h"

#include <stdio.h>

/* Enqueue to dispatch: sub-second when capacity is free, up to hours when it is not. */
static const double latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,    10,
                                         30,   60,  120,  300, 900, 1800, 3600, 7200};

void td_metrics_register(struct td_dispatcher *td)
{
    struct td_metrics *m = &td->m;
    char labels[96];
    td_commands_register_metrics(td);
    for (int i = 0; i < TD_NSTATUS; i++) {
        snprintf(labels, sizeof labels, "to=\"%s\"", td_statuses[i]);
        m->transitions[i] = mc_counter("multica_dispatcher_transitions_total",
                                       "Task changes applied, by the status they led to.", labels);
    }
    m->illegal =
        mc_counter("multica_dispatcher_illegal_transitions_total",
                   "Commands refused because the state machine does not allow them.", NULL);
    for (int i = 0; i < TD_NREFUSALS; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", td_refusals[i]);
        m->refused[i] = mc_counter("multica_dispatcher_refused_commands_total",
                                   "Commands refused, by reason.", labels);
    }
    m->dispatches = mc_counter("multica_dispatcher_dispatches_total", "Tasks dispatched.", NULL);
    m->requeues = mc_counter("multica_dispatcher_requeues_total",
                             "Tasks sent back to the queue (lease expiry, running timeout, "
                             "runtime offline or silent).",
                             NULL);
    m->dispatch_latency = mc_histogram("multica_dispatcher_dispatch_latency_seconds",
                                       "Time a task waited in the queue before it was dispatched.",
                                       NULL, latency_buckets, MC_ARRAY_LEN(latency_buckets));
    m->backlog = mc_gauge("multica_dispatcher_outbox_backlog",
                          "Task events in dispatch.outbox not yet produced to Kafka.", NULL);
    m->published = mc_counter("multica_dispatcher_events_published_total",
                              "Task events produced and acknowledged by the broker.", NULL);
    m->relay_errors = mc_counter("multica_dispatcher_relay_errors_total",
                                 "Outbox rounds the broker did not acknowledge.", NULL);
    m->batch_seconds =
        mc_histogram("multica_dispatcher_batch_seconds", "Time to apply one batch of commands.",
                     NULL, mc_latency_buckets, mc_nlatency_buckets);
    m->db_errors = mc_counter("multica_dispatcher_db_errors_total",
                              "Transactions that failed and were retried or skipped.", NULL);
}
