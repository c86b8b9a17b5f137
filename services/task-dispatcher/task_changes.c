/* task_changes.c: turns the rows of a state-machine call into task events and log lines.
 *
 * The SQL functions decide and apply every change; this file only describes what they did:
 * an applied change becomes a CloudEvents message built by the shared encoder (which checks
 * it against task_event.schema.json), queued for dispatch.outbox in the same transaction; a
 * refusal becomes an info line; a duplicate a debug line. */
#include "dispatcher.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const td_statuses[] = {"queued", "dispatched", "running", "completed",
                                   "failed", "cancelled",  "deleted"};
MC_STATIC_ASSERT_LEN(td_statuses, TD_NSTATUS);

/* Short event names of dispatch.task_change.event and their CloudEvents types. */
static const struct {
    const char *event;
    const char *type;
} event_types[] = {
    {"queued", MC_EV_TASK_QUEUED},         {"waiting", MC_EV_TASK_WAITING},
    {"dispatched", MC_EV_TASK_DISPATCHED}, {"started", MC_EV_TASK_STARTED},
    {"progress", MC_EV_TASK_PROGRESS},     {"completed", MC_EV_TASK_COMPLETED},
    {"failed", MC_EV_TASK_FAILED},         {"cancelled", MC_EV_TASK_CANCELLED},
    {"requeued", MC_EV_TASK_REQUEUED},     {"reassigned", MC_EV_TASK_REASSIGNED},
    {"deleted", MC_EV_TASK_DELETED},
};

const char *const td_refusals[] = {
    [TD_REFUSED_ILLEGAL] = "illegal_transition",
    [TD_REFUSED_RUNTIME] = "runtime_mismatch",
    [TD_REFUSED_UNKNOWN] = "unknown_task",
    [TD_REFUSED_DELETED] = "deleted",
};
MC_STATIC_ASSERT_LEN(td_refusals, TD_NREFUSALS);

void td_tx_init(struct td_tx *tx)
{
    memset(tx, 0, sizeof *tx);
}

static void tx_reset(struct td_tx *tx)
{
    mc_pgarr_reset(&tx->keys);
    mc_pgarr_reset(&tx->payloads);
    tx->nevents = 0;
    memset(tx->transitions, 0, sizeof tx->transitions);
    memset(tx->refused, 0, sizeof tx->refused);
    tx->dispatches = tx->requeues = 0;
    memset(tx->commands, 0, sizeof tx->commands);
    tx->invalid = 0;
    tx->nwaits = 0;
    json_array_clear(tx->notes);
}

void td_tx_free(struct td_tx *tx)
{
    mc_pgarr_free(&tx->keys);
    mc_pgarr_free(&tx->payloads);
    free(tx->waits);
    json_decref(tx->notes);
    memset(tx, 0, sizeof *tx);
}

void td_tx_note(struct td_tx *tx, const char *msg, json_t *fields)
{
    if (tx->notes == NULL)
        tx->notes = json_array();
    json_array_append_new(
        tx->notes, json_pack("{ss so}", "msg", msg, "fields", fields ? fields : json_object()));
}

/* Column numbers of dispatch.task_change in one result, looked up by name. */
struct cols {
    int outcome, event, task_id, workspace_id, agent_id, runtime_id, issue_id, version, status,
        from_status, attempt, lease_until, seq, text, result, reason, old_runtime_id, at, waited_ms;
};

static int find_cols(const PGresult *r, struct cols *c)
{
    struct {
        const char *name;
        int *dst;
    } map[] = {
        {"outcome", &c->outcome},
        {"event", &c->event},
        {"task_id", &c->task_id},
        {"workspace_id", &c->workspace_id},
        {"agent_id", &c->agent_id},
        {"runtime_id", &c->runtime_id},
        {"issue_id", &c->issue_id},
        {"version", &c->version},
        {"status", &c->status},
        {"from_status", &c->from_status},
        {"attempt", &c->attempt},
        {"lease_until", &c->lease_until},
        {"seq", &c->seq},
        {"text", &c->text},
        {"result", &c->result},
        {"reason", &c->reason},
        {"old_runtime_id", &c->old_runtime_id},
        {"at", &c->at},
        {"waited_ms", &c->waited_ms},
    };
    int rc = 0;
    for (size_t i = 0; i < MC_ARRAY_LEN(map) && rc == 0; i++) {
        *map[i].dst = PQfnumber(r, map[i].name);
        if (*map[i].dst < 0) {
            MC_LOG_ERROR_AT(json_pack("{ss}", "column", map[i].name),
                            "state-machine result lacks a column");
            rc = MC_EINVAL;
        }
    }
    return rc;
}

/* The value of a column, or NULL for SQL NULL. */
static const char *val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static const char *event_type(const char *event)
{
    for (size_t i = 0; event && i < MC_ARRAY_LEN(event_types); i++)
        if (strcmp(event_types[i].event, event) == 0)
            return event_types[i].type;
    return NULL;
}

static int status_index(const char *status)
{
    for (int i = 0; status && i < TD_NSTATUS; i++)
        if (strcmp(td_statuses[i], status) == 0)
            return i;
    return -1;
}

static void set_opt_str(json_t *d, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(d, key, json_string(v));
}

static void set_opt_int(json_t *d, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(d, key, json_integer(strtoll(v, NULL, 10)));
}

/* The data of the task event describing row `row`: the attribution every task event carries,
 * then whatever the change filled in for its type. */
static json_t *event_data(const PGresult *r, int row, const struct cols *c)
{
    const char *issue = val(r, row, c->issue_id);
    json_t *d = json_pack("{ss ss ss ss s:o sI ss}", "task_id", or_empty(val(r, row, c->task_id)),
                          "workspace_id", or_empty(val(r, row, c->workspace_id)), "agent_id",
                          or_empty(val(r, row, c->agent_id)), "runtime_id",
                          or_empty(val(r, row, c->runtime_id)), "issue_id",
                          issue ? json_string(issue) : json_null(), "version",
                          (json_int_t)strtoll(or_empty(val(r, row, c->version)), NULL, 10),
                          "status", or_empty(val(r, row, c->status)));
    if (d == NULL)
        return NULL;
    set_opt_int(d, "attempt", val(r, row, c->attempt));
    set_opt_str(d, "lease_until", val(r, row, c->lease_until));
    set_opt_int(d, "seq", val(r, row, c->seq));
    set_opt_str(d, "text", val(r, row, c->text));
    set_opt_str(d, "result", val(r, row, c->result));
    set_opt_str(d, "reason", val(r, row, c->reason));
    set_opt_str(d, "old_runtime_id", val(r, row, c->old_runtime_id));
    set_opt_str(d, "at", val(r, row, c->at));
    return d;
}

/* Counts an applied change for the metrics updated once the transaction commits. */
static void count_change(struct td_tx *tx, const PGresult *r, int row, const struct cols *c)
{
    const char *event = val(r, row, c->event);
    int s = status_index(val(r, row, c->status));
    if (s >= 0)
        tx->transitions[s]++;
    if (strcmp(event, "dispatched") == 0) {
        tx->dispatches++;
        if (tx->nwaits == tx->capwaits) {
            tx->capwaits = tx->capwaits ? tx->capwaits * 2 : 64;
            tx->waits = mc_realloc(tx->waits, tx->capwaits * sizeof *tx->waits);
        }
        const char *w = val(r, row, c->waited_ms);
        tx->waits[tx->nwaits++] = w ? strtod(w, NULL) / 1000.0 : 0;
    } else if (strcmp(event, "requeued") == 0) {
        tx->requeues++;
    }
}

/* Encodes an applied change as its task event and queues it for the outbox. */
static int add_event(struct td_tx *tx, const PGresult *r, int row, const struct cols *c)
{
    const char *event = val(r, row, c->event);
    const char *type = event_type(event);
    const char *task = or_empty(val(r, row, c->task_id));
    json_t *data = type ? event_data(r, row, c) : NULL;
    char *msg = data ? mc_event_encode(type, "task-dispatcher", task, data, NULL) : NULL;
    int rc = 0;
    if (msg == NULL) {
        MC_LOG_ERROR_AT(json_pack("{ss ss}", "task_id", task, "event", or_empty(event)),
                        "cannot encode a task event; the change is rolled back");
        rc = MC_EINVAL;
        goto cleanup;
    }
    mc_pgarr_add_text(&tx->keys, task);
    mc_pgarr_add_text(&tx->payloads, msg);
    tx->nevents++;
    count_change(tx, r, row, c);
cleanup:
    free(msg);
    return rc;
}

/* A refused command is the sender's business, not a fault of ours: info, with what was asked,
 * once the transaction it was refused in has committed. */
static void log_refusal(struct td_tx *tx, const PGresult *r, int row, const struct cols *c,
                        const char *reporter)
{
    const char *reason = or_empty(val(r, row, c->reason));
    const char *task = or_empty(val(r, row, c->task_id));
    const char *from = val(r, row, c->from_status);
    const char *to = val(r, row, c->status);
    int kind = -1;
    for (int i = 0; i < TD_NREFUSALS; i++)
        if (strcmp(td_refusals[i], reason) == 0)
            kind = i;
    if (kind >= 0)
        tx->refused[kind]++;
    json_t *f = json_pack("{ss s:s? s:s? ss ss}", "task_id", task, "from", from, "to", to, "event",
                          or_empty(val(r, row, c->event)), "reason", reason);
    switch (kind) {
    case TD_REFUSED_ILLEGAL:
        td_tx_note(tx, "illegal transition refused", f);
        break;
    case TD_REFUSED_RUNTIME:
        json_object_set_new(f, "held_by", json_string(or_empty(val(r, row, c->runtime_id))));
        json_object_set_new(f, "reported_by", json_string(or_empty(reporter)));
        td_tx_note(tx, "report refused: the task is held by another runtime", f);
        break;
    case TD_REFUSED_UNKNOWN:
        td_tx_note(tx, "command refused: unknown task", f);
        break;
    case TD_REFUSED_DELETED:
        td_tx_note(tx, "command refused: the task was deleted", f);
        break;
    default:
        MC_LOG_ERROR_AT(f, "unexpected refusal reason");
        break;
    }
}

/* Turns the rows of a state-machine call into tx. A row's reporter is reporters[cmd - 1] when
 * the result has a cmd column (dispatch.apply_commands: the command it came from), else
 * reporter. */
static int take_rows(const PGresult *r, const char *reporter, const char *const *reporters,
                     size_t nreporters, struct td_tx *tx)
{
    struct cols c;
    int rc = PQntuples(r) == 0 ? 0 : find_cols(r, &c);
    int cmd_col = PQfnumber(r, "cmd");
    for (int row = 0; row < PQntuples(r) && rc == 0; row++) {
        const char *outcome = or_empty(val(r, row, c.outcome));
        const char *by = reporter;
        if (cmd_col >= 0) {
            long k = strtol(or_empty(val(r, row, cmd_col)), NULL, 10);
            by = k >= 1 && (size_t)k <= nreporters ? reporters[k - 1] : NULL;
        }
        if (strcmp(outcome, "applied") == 0) {
            rc = add_event(tx, r, row, &c);
        } else if (strcmp(outcome, "refused") == 0) {
            log_refusal(tx, r, row, &c, by);
        } else if (strcmp(outcome, "noop") == 0) {
            mc_log_debug(json_pack("{ss ss}", "task_id", or_empty(val(r, row, c.task_id)), "event",
                                   or_empty(val(r, row, c.event))),
                         "duplicate command ignored");
        } else {
            MC_LOG_ERROR_AT(json_pack("{ss}", "outcome", outcome), "unexpected outcome");
            rc = MC_EINVAL;
        }
    }
    return rc;
}

int td_tx_apply(mc_db *db, int stmt, int nparams, const char *const *params, const char *reporter,
                struct td_tx *tx)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, stmt, nparams, params, &r);
    if (rc == 0)
        rc = take_rows(r, reporter, NULL, 0, tx);
    PQclear(r);
    return rc;
}

int td_tx_apply_batch(mc_db *db, const char *cmds, const char *const *reporters, size_t n,
                      struct td_tx *tx)
{
    PGresult *r = NULL;
    const char *params[] = {cmds};
    int rc = mc_db_exec(db, TD_APPLY_COMMANDS, 1, params, &r);
    if (rc == 0)
        rc = take_rows(r, NULL, reporters, n, tx);
    PQclear(r);
    return rc;
}

static void account(struct td_dispatcher *td, const struct td_tx *tx)
{
    for (int i = 0; i < TD_NCOMMANDS; i++)
        if (tx->commands[i])
            mc_metric_add(td->m.commands[i], tx->commands[i]);
    mc_metric_add(td->m.commands_invalid, tx->invalid);
    for (int i = 0; i < TD_NSTATUS; i++)
        if (tx->transitions[i])
            mc_metric_add(td->m.transitions[i], tx->transitions[i]);
    for (int i = 0; i < TD_NREFUSALS; i++)
        if (tx->refused[i])
            mc_metric_add(td->m.refused[i], tx->refused[i]);
    mc_metric_add(td->m.illegal, tx->refused[TD_REFUSED_ILLEGAL]);
    mc_metric_add(td->m.dispatches, tx->dispatches);
    mc_metric_add(td->m.requeues, tx->requeues);
    for (size_t i = 0; i < tx->nwaits; i++)
        mc_metric_observe(td->m.dispatch_latency, tx->waits[i]);
    size_t i;
    json_t *note;
    json_array_foreach(tx->notes, i, note)
    {
        mc_log_info(json_incref(json_object_get(note, "fields")), "%s",
                    json_string_value(json_object_get(note, "msg")));
    }
}

struct tx_run {
    td_tx_work work;
    void *ctx;
    struct td_tx *tx;
};

/* One attempt: the work, then its events into dispatch.outbox in the same transaction. */
static int tx_body(mc_db *db, void *arg)
{
    struct tx_run *t = arg;
    tx_reset(t->tx);
    int rc = t->work(db, t->tx, t->ctx);
    if (rc == 0 && t->tx->nevents > 0) {
        const char *params[] = {mc_pgarr_str(&t->tx->keys), mc_pgarr_str(&t->tx->payloads)};
        rc = mc_db_exec(db, TD_OUTBOX_WRITE, 2, params, NULL);
    }
    return rc;
}

int td_tx_run(struct td_dispatcher *td, mc_db *db, const char *name, td_tx_work work, void *ctx,
              struct td_tx *tx)
{
    struct tx_run t = {work, ctx, tx};
    int rc = mc_db_run_tx(db, name, tx_body, &t);
    if (rc != 0) {
        tx_reset(tx);
        return rc;
    }
    account(td, tx);
    if (tx->nevents > 0)
        mc_outbox_kick(td->relay);
    return 0;
}
