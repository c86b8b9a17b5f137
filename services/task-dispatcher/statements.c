/* statements.c: every SQL statement the dispatcher prepares, by id. */
#include "dispatcher.h"

/* The advisory lock (class MC_LOCK_DISPATCH_RELAY, object 1) that makes one relay at a time
 * produce the outbox, so events leave in seq order and per-task order holds across replicas. */
#define RELAY_LOCK MC_STR(MC_LOCK_DISPATCH_RELAY) ", 1"

const struct mc_db_stmt td_stmts[] = {
    [TD_REQUEST_TASK] = {"td_request_task",
                         "SELECT * FROM dispatch.request_task($1::uuid, $2::uuid, $3::uuid, "
                         "$4::uuid, $5::uuid, $6::text, $7::integer, $8::integer, "
                         "$9::timestamptz)"},
    [TD_START_TASK] = {"td_start_task", "SELECT * FROM dispatch.start_task($1::uuid, $2::uuid)"},
    [TD_REPORT_PROGRESS] = {"td_report_progress",
                            "SELECT * FROM dispatch.report_progress($1::uuid, $2::uuid, "
                            "$3::bigint, $4::text)"},
    [TD_FINISH_TASK] = {"td_finish_task",
                        "SELECT * FROM dispatch.finish_task($1::uuid, $2::uuid, $3::text, "
                        "$4::text, $5::text)"},
    [TD_CANCEL_TASK] = {"td_cancel_task",
                        "SELECT * FROM dispatch.cancel_task($1::uuid, $2::text, $3::boolean)"},
    [TD_CHANGE_AGENT_RUNTIME] = {"td_change_agent_runtime",
                                 "SELECT * FROM dispatch.change_agent_runtime($1::uuid, $2::uuid, "
                                 "$3::uuid, $4::timestamptz)"},
    [TD_UPSERT_AGENT] = {"td_upsert_agent",
                         "SELECT agent_id FROM dispatch.upsert_agent($1::uuid, $2::uuid, $3::uuid, "
                         "$4::integer, $5::timestamptz)"},
    [TD_RUNTIME_SEEN] = {"td_runtime_seen",
                         "SELECT * FROM dispatch.runtime_seen($1::uuid, $2::uuid, $3::integer, "
                         "$4::timestamptz)"},
    [TD_RUNTIME_OFFLINE] = {"td_runtime_offline",
                            "SELECT * FROM dispatch.runtime_offline($1::uuid, $2::uuid, "
                            "$3::timestamptz)"},
    [TD_APPLY_COMMANDS] = {"td_apply_commands",
                           "SELECT b.cmd, (b.change).* FROM dispatch.apply_commands($1::jsonb) b"},
    [TD_DISPATCH_ROUND] = {"td_dispatch_round",
                           "SELECT * FROM dispatch.dispatch_round($1::interval, $2::interval, "
                           "$3::integer, $4::interval, $5::integer)"},
    [TD_NOTE_WAITS] = {"td_note_waits",
                       "SELECT * FROM dispatch.note_waits($1::interval, $2::interval, $3::integer, "
                       "$4::interval, $5::integer)"},
    [TD_EXPIRE_LEASES] = {"td_expire_leases", "SELECT * FROM dispatch.expire_leases($1::integer)"},
    [TD_TIME_OUT_RUNNING] = {"td_time_out_running",
                             "SELECT * FROM dispatch.time_out_running($1::interval, $2::integer, "
                             "$3::integer)"},
    [TD_EXPIRE_QUEUED] = {"td_expire_queued",
                          "SELECT * FROM dispatch.expire_queued($1::interval, $2::integer)"},
    [TD_SWEEP_SILENT_RUNTIMES] = {"td_sweep_silent_runtimes",
                                  "SELECT * FROM dispatch.sweep_silent_runtimes($1::interval, "
                                  "$2::integer)"},
    /* WITH ORDINALITY keeps the array order, so seq follows the order the changes were made. */
    [TD_OUTBOX_WRITE] = {"td_outbox_write",
                         "INSERT INTO dispatch.outbox (key, payload) "
                         "SELECT k, p FROM unnest($1::text[], $2::text[]) WITH ORDINALITY "
                         "AS u(k, p, n) ORDER BY n"},
    [TD_OUTBOX_LOCK] = {"td_outbox_lock", "SELECT pg_try_advisory_xact_lock(" RELAY_LOCK ")"},
    /* No FOR UPDATE: the relay's lock (TD_OUTBOX_LOCK) already keeps other rounds off these
     * rows, and a row lock is one more WAL record per event (libs/outbox). */
    [TD_OUTBOX_FETCH] = {"td_outbox_fetch",
                         "SELECT seq, key, payload FROM dispatch.outbox ORDER BY seq "
                         "LIMIT $1::integer"},
    [TD_OUTBOX_DELETE] = {"td_outbox_delete",
                          "DELETE FROM dispatch.outbox WHERE seq = ANY ($1::bigint[])"},
    [TD_OUTBOX_BACKLOG] = {"td_outbox_backlog", "SELECT count(*) FROM dispatch.outbox"},
};
const size_t td_nstmts = MC_ARRAY_LEN(td_stmts);
MC_STATIC_ASSERT_LEN(td_stmts, TD_NSTMTS);
