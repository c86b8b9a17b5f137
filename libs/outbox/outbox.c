/* outbox.c: the one outbox relay: produces a service's outbox rows in order, at least once.
 *
 * Each round is one transaction: take the outbox's advisory lock (pg_try_advisory_xact_lock,
 * so only one replica relays at a time and rounds follow each other), read the oldest rows
 * (no row locks: the advisory lock already keeps every other round off them, and a row lock
 * is a WAL record per row), produce them and wait for the broker's acknowledgements, delete
 * them, commit. A crash between the acknowledgement and the commit produces those events
 * again; every consumer is idempotent, so that is harmless. For the same reason the round
 * commits without waiting for its WAL flush (synchronous_commit off, this transaction only): a
 * crash can at worst lose the delete, and the rows are produced again. That takes a disk flush
 * off each hop of a task's way (two relays between an assignment and its dispatch). Per-key order
 * holds because a key's changes enter the outbox in the order they commit (each holds its row's
 * lock until it commits) and rounds never overlap.
 *
 * Writers kick the relay after each commit. The kicks given before a round reads the outbox
 * are forgotten just before it reads (the read's snapshot is taken after them, so it sees every
 * row they announce); a kick given after that may announce a row the read did not see, and
 * runs the next round at once. Forgotten when the round began instead (at the wait), a kick
 * that came while the round was starting ran a second round for rows the first had taken:
 * two rounds in three of the gateway's found nothing, a transaction each. */
#include "mc_outbox.h"
#include "mc_common.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_WAIT_MS   200 /* another replica holds the relay lock */
#define ERROR_WAIT_MS  1000
#define GAUGE_EVERY_MS 1000
#define WARN_EVERY_MS  5000

struct mc_outbox {
    const struct mc_outbox_def *def;
    mc_producer *producer;
    mc_db *db;
    struct mc_worker worker;
    char limit[24];
};

mc_outbox *mc_outbox_new(const char *url, const struct mc_outbox_def *def, mc_producer *producer)
{
    mc_outbox *o = mc_calloc(1, sizeof *o);
    o->def = def;
    o->producer = producer;
    o->db = mc_db_new(url, def->stmts, def->nstmts, def->app);
    snprintf(o->limit, sizeof o->limit, "%lld", (long long)def->batch_max);
    mc_worker_init(&o->worker);
    return o;
}

/* The rows of a round and what producing them needs. */
struct round {
    mc_outbox *o;
    PGresult *rows;
    struct mc_kmsg *msgs;
    struct mc_pgarr seqs;
    int n;
};

/* The rows as messages, and their seq numbers as an array literal for the delete. */
static void to_messages(struct round *r)
{
    int seq = PQfnumber(r->rows, "seq"), topic = PQfnumber(r->rows, "topic");
    int key = PQfnumber(r->rows, "key"), payload = PQfnumber(r->rows, "payload");
    r->msgs = mc_calloc((size_t)r->n, sizeof *r->msgs);
    for (int i = 0; i < r->n; i++) {
        r->msgs[i] =
            (struct mc_kmsg){.topic = topic >= 0 ? PQgetvalue(r->rows, i, topic) : r->o->def->topic,
                             .key = PQgetvalue(r->rows, i, key),
                             .keylen = (size_t)PQgetlength(r->rows, i, key),
                             .value = PQgetvalue(r->rows, i, payload),
                             .len = (size_t)PQgetlength(r->rows, i, payload)};
        mc_pgarr_add_raw(&r->seqs, PQgetvalue(r->rows, i, seq));
    }
}

static void log_refusal(const struct round *r)
{
    const char *why = "unknown";
    for (int i = 0; i < r->n; i++)
        if (r->msgs[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            why = rd_kafka_err2name(r->msgs[i].err);
            break;
        }
    mc_log_warn(json_pack("{ss si ss}", "outbox", r->o->def->app, "events", r->n, "error", why),
                "events not acknowledged by the broker; they stay in the outbox");
}

/* Forgets what an attempt of the round gathered. */
static void round_reset(struct round *r)
{
    PQclear(r->rows);
    r->rows = NULL;
    free(r->msgs);
    r->msgs = NULL;
    mc_pgarr_reset(&r->seqs);
    r->n = 0;
}

/* The round's transaction: MC_ECONFLICT when another replica holds the lock, MC_EKAFKA when
 * the broker did not take the rows (nothing is deleted then). Run again after a deadlock, it
 * produces the rows again: at least once, as after a crash. */
static int round_body(mc_db *db, void *arg)
{
    struct round *r = arg;
    const struct mc_outbox_def *def = r->o->def;
    round_reset(r);
    PGresult *lock = NULL;
    int rc = mc_db_exec_sql(db, "SET LOCAL synchronous_commit = off", NULL);
    if (rc != 0)
        return rc;
    rc = mc_db_exec(db, def->lock_stmt, 0, NULL, &lock);
    bool mine = rc == 0 && mc_db_value(lock) != NULL && strcmp(mc_db_value(lock), "t") == 0;
    PQclear(lock);
    if (rc != 0)
        return rc;
    if (!mine)
        return MC_ECONFLICT;
    const char *params[] = {r->o->limit};
    mc_worker_clear_kicks(&r->o->worker);
    if ((rc = mc_db_exec(db, def->fetch_stmt, 1, params, &r->rows)) != 0)
        return rc;
    if ((r->n = PQntuples(r->rows)) == 0)
        return 0;
    to_messages(r);
    if (mc_producer_send(r->o->producer, r->msgs, (size_t)r->n) != 0) {
        mc_metric_add(def->errors, 1);
        log_refusal(r);
        return MC_EKAFKA;
    }
    const char *del[] = {mc_pgarr_str(&r->seqs)};
    return mc_db_exec(db, def->delete_stmt, 1, del, NULL);
}

/* One round. Returns 0 (with *sent rows produced, possibly none), MC_ECONFLICT when another
 * replica is relaying, or the database or Kafka error (nothing deleted). */
static int relay_round(mc_outbox *o, int *sent)
{
    struct round r = {.o = o};
    int rc = mc_db_run_tx(o->db, o->def->app, round_body, &r);
    *sent = rc == 0 ? r.n : 0;
    mc_metric_add(o->def->published, *sent);
    round_reset(&r);
    mc_pgarr_free(&r.seqs);
    return rc;
}

static void update_backlog(mc_outbox *o)
{
    PGresult *r = NULL;
    if (o->def->backlog_stmt >= 0 && mc_db_exec(o->db, o->def->backlog_stmt, 0, NULL, &r) == 0 &&
        mc_db_value(r) != NULL)
        mc_metric_set(o->def->backlog, atof(mc_db_value(r)));
    PQclear(r);
}

/* At stop: relay what this replica (and the others) left, within the drain time. */
static void drain(mc_outbox *o)
{
    int64_t deadline = mc_now_mono_ms() + o->def->drain_ms;
    int sent = 0;
    while (relay_round(o, &sent) == 0 && sent > 0 && mc_now_mono_ms() < deadline)
        ;
}

static void *relay_main(void *arg)
{
    mc_outbox *o = arg;
    int64_t gauge_at = 0, warned_at = 0;
    int rc = 0;
    while (!mc_worker_stopping(&o->worker)) {
        int sent = 0;
        rc = relay_round(o, &sent);
        int64_t now = mc_now_mono_ms();
        if (now - gauge_at >= GAUGE_EVERY_MS) {
            gauge_at = now;
            update_backlog(o);
        }
        /* A lost connection is logged by mc_db itself, once each way. */
        if (rc == MC_EDB && now - warned_at >= WARN_EVERY_MS) {
            warned_at = now;
            mc_log_warn(json_pack("{ss ss ss}", "outbox", o->def->app, "sqlstate",
                                  mc_db_sqlstate(o->db), "error", mc_db_errmsg(o->db)),
                        "outbox relay round failed");
        }
        if (rc == 0 && sent >= o->def->batch_max)
            continue;
        mc_worker_wait(&o->worker, rc == 0              ? o->def->idle_ms
                                   : rc == MC_ECONFLICT ? BUSY_WAIT_MS
                                                        : ERROR_WAIT_MS);
    }
    /* With the broker or the database away, draining would only wait for the same error. */
    if (rc == 0 || rc == MC_ECONFLICT)
        drain(o);
    update_backlog(o);
    return NULL;
}

int mc_outbox_start(mc_outbox *o)
{
    return mc_worker_start(&o->worker, relay_main, o);
}

void mc_outbox_kick(mc_outbox *o)
{
    mc_worker_kick(&o->worker);
}

void mc_outbox_free(mc_outbox *o)
{
    if (o == NULL)
        return;
    mc_worker_stop(&o->worker);
    mc_db_free(o->db);
    free(o);
}
