/* gateway.h: state and handlers of the api-gateway. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <ulfius.h>

#include "mc_common.h"
#include "mc_db.h"
#include "mc_http.h"
#include "mc_kafka.h"
#include "mc_outbox.h"
#include "mc_service.h"

/* Prepared statements of the gateway (statements.c, with the usage, issue and task
 * statements in usage_sql.inc, issue_sql.inc and task_sql.inc). */
enum {
    GW_PAT_AUTH,
    GW_TASK_TOKEN_AUTH,
    GW_PAT_CREATE,
    GW_PAT_LIST,
    GW_PAT_REVOKE,
    GW_PAT_RENEW,
    GW_USER_BY_ID,
    GW_USER_BY_EMAIL,
    GW_USER_CREATE,
    GW_CODE_REQUEST,
    GW_CODE_VERIFY,
    GW_MEMBER_ROLE,
    GW_WORKSPACE_CREATE,
    GW_WORKSPACE_LIST,
    GW_WORKSPACE_GET,
    GW_MEMBER_LIST,
    GW_MEMBER_ADD,
    GW_MEMBER_REMOVE,
    GW_RUNTIME_UPSERT,
    GW_RUNTIME_SEEN,
    GW_RUNTIME_OFFLINE,
    GW_RUNTIME_LIST,
    GW_RUNTIME_WORKSPACE,
    GW_AGENT_CREATE,
    GW_AGENT_LIST,
    GW_AGENT_GET,
    GW_AGENT_GET_SHARED,
    GW_AGENT_UPDATE,
    GW_ISSUE_CREATE,
    GW_ISSUES_CREATE,
    GW_ISSUE_LIST,
    GW_ISSUE_GET,
    GW_ISSUE_BY_KEY,
    GW_ISSUE_UPDATE,
    GW_ISSUE_ASSIGN,
    GW_ISSUE_DELETE,
    GW_ISSUE_AGENT_ACTIVE,
    GW_ISSUE_ALL_TASKS,
    GW_COMMENT_CREATE,
    GW_COMMENT_LIST,
    GW_TASK_REQUEST,
    GW_TASK_LIST_BY_ISSUE,
    GW_TASK_GET,
    GW_TASK_STATE,
    GW_TASK_REPORTED,
    GW_TASK_SESSION,
    GW_TASK_CLAIM,
    GW_TASK_EXTEND_CLAIM,
    GW_TASK_RELEASE_CLAIMS,
    GW_TASK_RUNNING_ON,
    GW_TASK_MESSAGES_ENDED,
    GW_TASK_MESSAGES_LIST,
    GW_CLAIMABLE_RUNTIMES,
    GW_TASK_PROJECT,
    GW_OUTBOX_INSERT,
    GW_OUTBOX_TAKE,
    GW_OUTBOX_DELETE,
    GW_LOG_SINCE,
    GW_LOG_MAX,
    GW_USAGE_DAILY,
    GW_USAGE_DAILY_RAW,
    GW_USAGE_DAILY_FRESH,
    GW_USAGE_DAILY_FILL,
    GW_USAGE_WARM,
    GW_USAGE_BY_AGENT,
    GW_USAGE_BY_AGENT_RAW,
    GW_USAGE_BY_HOUR,
    GW_USAGE_BY_HOUR_RAW,
    GW_USAGE_WORKSPACE,
    GW_USAGE_WORKSPACE_RAW,
    GW_DASHBOARD_DAILY,
    GW_DASHBOARD_DAILY_RAW,
    GW_DASHBOARD_BY_AGENT,
    GW_DASHBOARD_BY_AGENT_RAW,
    GW_USAGE_ISSUE,
    GW_KNOWN_TZ,
    GW_USER_SET_TZ,
    GW_PROJECT_CREATE,
    GW_PROJECT_LIST,
    GW_PROJECT_GET,
    GW_PROJECT_UPDATE,
    GW_PROJECT_DELETE,
    GW_PROJECT_RELEASE_ISSUES,
    GW_PROJECT_IN_WORKSPACE,
    GW_LEAD_IN_WORKSPACE,
    GW_ISSUE_SET_PROJECT,
    GW_PRICES_LIST,
    GW_PRICES_PUT,
    GW_TASK_USAGE_HOLDER,
    GW_DAEMON_REPORT,
    GW_DAEMON_REPORTS,
    GW_DAEMON_MESSAGES,
    GW_DAEMON_MESSAGES_GROUPED,
    GW_LOG_PRUNE,
    GW_OUTBOX_LOCK,
    GW_SOCKET_STANDING,
    GW_NSTMTS
};
extern const struct mc_db_stmt gw_stmts[];

struct gw_ws_hub;
struct gw_daemon_hub;

struct gw_ctx {
    struct mc_service *svc;
    mc_db_pool *pool;
    mc_producer *producer;
    struct gw_ws_hub *hub;
    struct gw_daemon_hub *daemons;
    struct gw_usage_cache *usage_cache;
    /* settings */
    int64_t usage_max_entries;
    int64_t db_pool_size;
    int64_t produce_timeout_ms;
    char *app_env;
    bool production;
    char *jwt_secret;
    int64_t jwt_ttl_ms;
    char *dev_code;
    bool allow_signup;
    bool disable_workspace_creation;
    char *google_client_id;
    char *pricing_admins;
    char *resend_api_key;
    char *resend_api_url;
    char *mail_from;
    int64_t code_ttl_ms;
    int64_t code_max_attempts;
    int64_t code_sends_per_hour;
    int64_t code_sends_per_client;
    char *client_ip_header;
    int64_t ws_queue_limit;
    int64_t log_retention_ms;
    int64_t claim_lease_ms;
    int64_t daemon_runtime_capacity;
    char *group_id;
    /* the outbox relay (the shared one of libs/outbox) */
    struct mc_outbox_def relay_def;
    mc_outbox *relay;
    /* the daemon's reports and the creations of issues in group commits (group_writer.c) */
    struct gw_group *reports, *issues, *messages;
    /* the task-event projection consumer */
    struct mc_worker projector;
    mc_consumer *consumer;
    struct {
        mc_metric *usage_accepted, *usage_rejected, *produce_failures, *logins, *login_failures,
            *outbox_published, *projected, *ws_clients, *ws_sent, *ws_dropped, *daemon_clients,
            *claimed, *claims, *usage_kept_hits, *usage_kept_fills, *usage_kept_fallbacks,
            *usage_kept_changes;
    } m;
};

/* Who is calling, set by the authentication guard for the handlers after it. A person signs
 * in with a session JWT or a personal access token (mul_); an agent run calls with the task
 * token (mat_) its daemon got at claim: it acts as the daemon's user, confined to the task's
 * workspace, and what it writes is attributed to the agent. */
enum gw_principal_kind { GW_ANONYMOUS, GW_USER, GW_TASK };
struct gw_principal {
    enum gw_principal_kind kind;
    char user_id[MC_UUID_STRLEN];
    char pat_id[MC_UUID_STRLEN]; /* the personal access token used, "" for a JWT */
    int64_t expires_at;          /* a JWT's exp (Unix seconds); 0 for tokens kept in the DB */
    /* GW_TASK: the token's task and scope */
    char task_id[MC_UUID_STRLEN];
    char workspace_id[MC_UUID_STRLEN];
    char agent_id[MC_UUID_STRLEN];
    char issue_id[MC_UUID_STRLEN];
    /* GW_CRED_DAEMON with a personal access token: its hash, checked by the route's own SQL
     * call (user_id is "" until then); settled once that call or gw_daemon_settle did. */
    bool deferred, settled;
    char token_hash[65];
};

/* The principal of a request (never NULL: anonymous when no credential was given). */
const struct gw_principal *gw_principal(const struct _u_response *resp);

/* What a route needs from its caller: the credential column of the route table (routes.c). */
enum gw_credential {
    GW_CRED_NONE = MC_HTTP_PUBLIC, /* nothing: login, config */
    GW_CRED_USER,   /* a person: a session JWT or a personal access token (the daemon's) */
    GW_CRED_MEMBER, /* a person, or an agent run's task token confined to its workspace */
    GW_CRED_DAEMON, /* as USER, but a personal access token is checked by the handler's own
                     * SQL call (the per-task daemon routes: one round trip per report) */
};
/* The credential's name, as --routes prints it ("none", "user", "member"; DAEMON is "user"). */
const char *gw_credential_name(int credential);

/* A GW_CRED_DAEMON handler's caller as its SQL call takes it: the token's hash (NULL for a
 * session JWT, already verified) and the user (NULL while the token is unverified). */
void gw_daemon_caller(const struct _u_response *resp, const char **hash, const char **user);
/* The handler's SQL call checked the caller: valid, or refused (answers 401 as the guard). */
void gw_daemon_checked(struct _u_response *resp, bool valid);
/* Ends every GW_CRED_DAEMON handler: when its SQL call never checked the token (a 400, a
 * request answered without the database), checks it now and answers 401 (or 503) in place
 * of what the handler answered, so a refused token is refused first, as on other routes. */
int gw_daemon_settle(struct gw_ctx *ctx, struct _u_response *resp);

/* auth.c: the guard of every route that needs a credential (an mc_http_guard), and tokens. */
int gw_authenticate(const struct _u_request *req, struct _u_response *resp, void *ud,
                    int credential);
/* Issues a JWT for a user; returns a heap string or NULL. */
char *gw_jwt_issue(const struct gw_ctx *ctx, const char *user_id, const char *email);

/* Membership: fills role ("owner", "admin", "member") and returns 0, MC_ENOTFOUND when the
 * user is not a member (handlers answer 404 so other workspaces stay invisible), or a
 * database error. */
int gw_member_role(mc_db *db, const char *workspace_id, const char *user_id, char role[16]);

/* For workspace-scoped routes: checks that the caller is a member of workspace_id (a task
 * token: that it is its own workspace), answering 404/503 itself. admin_only also requires
 * owner or admin (403; never a task token). Returns 0 when the handler may go on. */
int gw_require_member(struct _u_response *resp, mc_db *db, const char *workspace_id,
                      bool admin_only);

/* request.c: what handlers share to read a request and answer it. */

/* Takes a pooled connection or answers 503 itself and returns NULL. */
mc_db *gw_db(struct gw_ctx *ctx, struct _u_response *resp);
/* Returns a connection to the pool; NULL ok. */
void gw_db_release(struct gw_ctx *ctx, mc_db *db);

/* Answers the error of a failed database call (503 when the database is gone, 500 else).
 * Returns U_CALLBACK_COMPLETE. */
int gw_db_error(struct _u_response *resp, mc_db *db, int rc);

/* A runtime's daily usage read as JSON (malloc'd; NULL when out of memory) from the rows of
 * GW_USAGE_DAILY: grouped by date, provider and model, summed, in the text
 * gateway.runtime_usage_daily writes (usage_daily_rows.c). */
char *gw_usage_daily_json(const PGresult *r);

/* The parts of it the read kept in memory shares (usage_daily_cache.c): a group's sums as SQL's
 * sum() gives them (NULL until a value is added; 128-bit, exact), usage.usage_row's twelve
 * measures in its order and the row's reported plus estimated cost; and the JSON writer. */
enum { GW_USAGE_MEASURES = 12 };
struct gw_usage_sum {
    __int128 v;
    bool set;
};
struct gw_usage_sums {
    struct gw_usage_sum m[GW_USAGE_MEASURES], total;
};
/* Adds row's twelve measures, from column col on. */
void gw_usage_sums_row(struct gw_usage_sums *s, const PGresult *r, int row, int col);
void gw_usage_sums_add(struct gw_usage_sums *s, const struct gw_usage_sums *x);
struct gw_usage_json {
    char *p;
    size_t len, cap;
    bool failed;
};
bool gw_usage_json_open(struct gw_usage_json *o, size_t groups);
/* Appends a group (day: days since 2000-01-01) unless it has no task (SQL's HAVING). */
void gw_usage_json_group(struct gw_usage_json *o, long day, const char *provider, const char *model,
                         const char *runtime, const struct gw_usage_sums *s);
/* The text (malloc'd), or NULL when out of memory. */
char *gw_usage_json_close(struct gw_usage_json *o);

/* The runtime's daily read from the rollup, kept in memory (usage_daily_cache.c): the rollup's
 * rows of a (runtime, zone, window) for one usage.rollup_revision, to which each read adds its
 * fresh rows. */
struct gw_usage_cache;
struct gw_usage_cache *gw_usage_cache_new(void);
void gw_usage_cache_free(struct gw_usage_cache *c);
/* The answer of a read whose GW_USAGE_DAILY_FRESH result is *r (its scope checked; p its
 * six parameters): from the kept rows, the unfolded changes kept priced and *r's fresh rows,
 * filling or refreshing the kept rows (GW_USAGE_DAILY_FILL) when their revision is not *r's,
 * running GW_USAGE_DAILY_FRESH again
 * (*r replaced) when the rollup moved in between, and today's statement (GW_USAGE_DAILY) when
 * that does not settle. Returns the JSON (malloc'd), or NULL with *rc a database error (0: out
 * of memory). */
char *gw_usage_daily_cached(struct gw_ctx *ctx, mc_db *db, PGresult **r, const char *const *p,
                            int *rc);
/* GW_USAGE_DAILY_FRESH's $6 for a read whose $1..$5 are p: the transaction id from which it
 * asks for the runtime's unfolded changes, the boundary of those kept for the same
 * parameters ("0": every change), written in buf. */
const char *gw_usage_daily_after(struct gw_ctx *ctx, const char *const *p, char *buf, size_t len);

/* The pool's on-connect hook (mc_db_pool_on_connect): runs GW_USAGE_WARM on a new connection,
 * so that the runtime's daily read finds its plans made. Returns mc_db_exec's result. */
int gw_usage_warm(mc_db *db, void *arg);

/* Answers a JSON text (a column the database built) with status. */
void gw_answer_text(struct _u_response *resp, unsigned status, const char *json_text);

/* Runs a statement returning one JSON text column and answers it with status (404 when no
 * row). Returns U_CALLBACK_COMPLETE. */
int gw_answer_json(struct _u_response *resp, mc_db *db, int stmt, int n, const char *const *p,
                   unsigned status);

/* A pooled connection for a request about workspace ws, once the caller is a member of it
 * (gw_require_member); answers 503/404/403 itself and returns NULL otherwise. */
mc_db *gw_member_db(struct gw_ctx *ctx, struct _u_response *resp, const char *ws, bool admin_only);

/* A read of the caller's own: stmt($1 = the caller's user id) answered as JSON. */
int gw_user_read(struct _u_response *resp, struct gw_ctx *ctx, int stmt);

/* The common read of a workspace-scoped collection: the workspace (gw_workspace_of),
 * membership, then stmt($1 = workspace_id) answered as JSON. */
int gw_workspace_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      int stmt);

/* The workspace a request names, as Multica's CLI names it: the {workspace_id} path
 * parameter, ?workspace_id=, or the X-Workspace-ID header; a task token's own workspace when
 * none is named. Answers 400 and returns NULL when none is given or it is not a UUID. */
const char *gw_workspace_of(const struct _u_request *req, struct _u_response *resp);

/* Answers 400 invalid_field naming field, and returns MC_EINVAL. */
int gw_invalid(struct _u_response *resp, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether tz is a time zone Postgres knows (http_me.c): 0 when it is, MC_EINVAL after answering
 * 400 naming field, or the database error, answered (503 in an outage, never "unknown"). */
int gw_known_zone(struct _u_response *resp, mc_db *db, const char *tz, const char *field);

/* A path parameter that must be a UUID (400 naming it otherwise). */
const char *gw_uuid_param(const struct _u_request *req, struct _u_response *resp, const char *name);
/* A JSON string of the first max characters of s (whole UTF-8 sequences). */
json_t *gw_json_prefix(const char *s, size_t max);
/* The body of a POST whose body is optional (the daemon sends {} or nothing): an empty body
 * reads as {}. Answers 400 itself and returns NULL when it is not a JSON object. */
json_t *gw_optional_body(const struct _u_request *req, struct _u_response *resp);

/* Whether req is a WebSocket handshake ulfius will accept (GET over HTTP/1.1, Upgrade:
 * websocket, Connection: Upgrade, a Sec-WebSocket-Key, version 13). Answers 400 with the JSON
 * error shape and returns false when it is not: ulfius' own refusal is plain text. */
bool gw_ws_handshake(const struct _u_request *req, struct _u_response *resp);

/* The read model's state of a task for a caller acting on it: a row of (status, runtime_id,
 * workspace_id, reported, member, issue_id) for the caller to clear, or NULL after answering
 * 404 "task not found" (unknown, in a workspace the caller does not belong to, or deleted
 * unless deleted_ok) or the database error. */
PGresult *gw_task_state(mc_db *db, const char *task, struct _u_response *resp, bool deleted_ok);

/* Multica's daemon reads "task not found" and "runtime not found" in a 404 as news about its
 * task or runtime: these answer exactly that, and only handlers that know it is so call them. */
int gw_task_not_found(struct _u_response *resp);
int gw_runtime_not_found(struct _u_response *resp);

/* A string field of a JSON body with length bounds in characters: *out is the string, or NULL
 * when absent (or null) and optional. Returns 0, or MC_EINVAL after answering 400 naming it. */
int gw_str_field(struct _u_response *resp, const json_t *body, const char *name, size_t min,
                 size_t max, bool required, const char **out);

/* An optional integer field between min and max: *out keeps its value when the field is
 * absent. Returns 0, or MC_EINVAL after answering 400 naming it. */
int gw_int_field(struct _u_response *resp, const json_t *body, const char *name, int64_t min,
                 int64_t max, int64_t *out);

/* The client's address for per-client limits: the first entry of CLIENT_IP_HEADER when the
 * operator names one (a trusted proxy sets it), otherwise the peer's address. */
void gw_client_address(const struct gw_ctx *ctx, const struct _u_request *req, char *out,
                       size_t outlen);

/* outbox.c: events written in the transaction of the change they announce (gw_outbox_add),
 * then produced by the shared relay, which gw_outbox_kick wakes once that transaction has
 * committed. gw_outbox_new creates ctx->relay (kicks are safe from then on); main starts it
 * (mc_outbox_start) once the schema is migrated, and mc_outbox_free drains and frees it. */
int gw_outbox_add(mc_db *db, const char *type, const char *subject, const char *key, json_t *data);
void gw_outbox_kick(struct gw_ctx *ctx);

/* A daemon's report (gateway.daemon_report's eight parameters) and what it came to. */
struct gw_report {
    const char *const *p;
    char outcome[16], status[16];
};
/* The report writer (report_writer.c): the reports that arrive while it is busy, all tasks,
 * are applied in one call and one commit, the callers waiting for it, so that an answer still
 * means the report is durably applied. gw_report_apply returns 0 with rep's outcome and
 * status, or the error (MC_EDBCONN: the database is unreachable), already logged. */
int gw_reports_start(struct gw_ctx *ctx);
void gw_reports_stop(struct gw_ctx *ctx);
int gw_report_apply(struct gw_ctx *ctx, struct gw_report *rep);
/* The same report alone, on db (a read: the status poll). */
int gw_report_one(mc_db *db, struct gw_report *rep);

/* The message writer (message_writer.c): the daemons' message batches that arrive while it is
 * busy, all tasks, stored in one call and one commit, the callers waiting for it.
 * gw_messages_apply takes gateway.daemon_messages's four parameters and returns 0 with the
 * outcome ('unauthorized', 'not_found' or 'ok') and how many were new, or the error
 * (MC_EDBCONN: the database is unreachable), already logged. */
int gw_messages_start(struct gw_ctx *ctx);
void gw_messages_stop(struct gw_ctx *ctx);
int gw_messages_apply(struct gw_ctx *ctx, const char *const *p, char outcome[16], int *stored);

/* A group writer (group_writer.c): one thread on its own connection (application name app)
 * that takes every job queued while it was busy, up to max, and applies them with one call of
 * apply (args: the jobs' arguments in arrival order; scratch: nscratch arrays it keeps for
 * reuse). gw_group_run queues arg and returns 0 once apply has run over it (the outcome is
 * for apply to write into arg), or MC_EDBCONN when the writer is stopping. gw_group_stop
 * applies what is queued, then ends the thread; call it once no handler can queue. */
typedef void (*gw_group_apply)(mc_db *db, void *const *args, int n, struct mc_pgarr *scratch);
struct gw_group *gw_group_start(const char *database_url, const char *app, int max, int nscratch,
                                gw_group_apply apply);
int gw_group_run(struct gw_group *g, void *arg);
void gw_group_stop(struct gw_group *g);
/* For an apply that passes its n jobs to one SQL call as arrays: fills scratch[0..nparams) with
 * the jobs' parameters (array k holds parameter k of every job, in the jobs' order; params(arg)
 * gives a job's nparams values) and sets p[k] to array k's text. */
void gw_group_arrays(void *const *args, int n, const char *const *(*params)(void *arg),
                     struct mc_pgarr *scratch, int nparams, const char **p);

/* The issue writer (issue_writer.c): creations of issues that ask for no assignee and no
 * project, the ones that arrive while it is busy created in one call and one commit. */
int gw_issues_start(struct gw_ctx *ctx);
void gw_issues_stop(struct gw_ctx *ctx);
/* Creates one (p: gateway.create_issues's nine parameters, for one issue) with the others
 * queued and returns the issue's JSON (malloc'd), or NULL when it was not created: the caller
 * then creates it alone. */
char *gw_issue_create_grouped(struct gw_ctx *ctx, const char *const *p);
void gw_outbox_new(struct gw_ctx *ctx);

/* What a transaction body returns once it has answered the request itself (a client fault). */
#define GW_ANSWERED MC_ESTATE

/* Runs a handler's transaction (mc_db_run_tx: a deadlock or serialization failure runs the
 * body again). A body meeting a client fault answers it and returns GW_ANSWERED; any other
 * error is answered here (gw_db_error). Once committed, wakes the relay for the events the
 * body wrote with gw_outbox_add. Returns 0 when committed (the handler then answers), or the
 * error, already answered. */
int gw_outbox_tx(struct gw_ctx *ctx, struct _u_response *resp, mc_db *db, const char *name,
                 mc_db_tx_body body, void *arg);

/* A heartbeat of runtime from user: liveness in the read model and a RuntimeHeartbeat event,
 * in one transaction. 0, MC_ENOTFOUND (no such runtime, or not the user's to touch), or a
 * database error (http_runtimes.c; the WebSocket heartbeat uses it too). */
int gw_runtime_heartbeat(struct gw_ctx *ctx, mc_db *db, const char *runtime, const char *user);

/* http_projects.c: writes IssueProjectChanged (the issue's project from now on, NULL for none,
 * at the issue's project_version) to the outbox, in the caller's transaction. */
int gw_issue_project_event(mc_db *db, const char *issue, const char *ws, const char *project,
                           const char *version);

/* projection.c: multica.task.events into the read model and the WebSocket log. */
int gw_projection_start(struct gw_ctx *ctx);
void gw_projection_stop(struct gw_ctx *ctx);

/* ws.c: the WebSocket hub of people watching tasks (/api/ws). */
int gw_ws_start(struct gw_ctx *ctx);
/* Tells connections to finish (before the HTTP server stops); gw_ws_stop then frees the hub. */
void gw_ws_quiesce(struct gw_ctx *ctx);
void gw_ws_stop(struct gw_ctx *ctx);
/* The projection committed events to the log: the listener delivers them now. */
void gw_ws_logged(struct gw_ctx *ctx);
int gw_ws_connect(const struct _u_request *req, struct _u_response *resp, void *ud);

/* daemon_ws.c: daemons' wake-up connections (/api/daemon/ws): daemon:task_available when a
 * runtime of theirs has a task to claim, daemon:heartbeat_ack to each heartbeat. */
int gw_daemon_ws_start(struct gw_ctx *ctx);
void gw_daemon_ws_quiesce(struct gw_ctx *ctx);
void gw_daemon_ws_stop(struct gw_ctx *ctx);
int gw_daemon_ws_connect(const struct _u_request *req, struct _u_response *resp, void *ud);
/* Wakes the daemons connected for runtime (task may be NULL): called by the hub's listener for
 * each logged dispatch. */
void gw_daemon_ws_task_available(struct gw_ctx *ctx, const char *runtime, const char *task);
/* Wakes the daemons of every runtime that has a dispatched task no claim holds (a claim whose
 * lease ran out, a daemon that missed a wake-up); the listener calls it every few seconds. */
void gw_daemon_ws_sweep(struct gw_ctx *ctx, mc_db *db);

/* ws_standing.c: whether what open sockets rest on still stands: the personal access token or
 * session JWT they were opened with, and the memberships behind their subscriptions (a
 * daemon's runtimes). A sweep collects from both hubs what they hold, asks the database once
 * for all of it, and lets each hub end what no longer stands. */
struct gw_standing {
    json_t *pats;    /* token id -> true: the personal access tokens sockets hold */
    json_t *members; /* "workspace user" -> true: the memberships they rely on */
    json_t *ended;   /* token id or "workspace user" -> reason, of what the database refused */
    int64_t now_s;   /* wall clock (Unix seconds), for JWT exp */
};
/* Records that a socket holds token pat_id ("" for a JWT: nothing to ask). */
void gw_standing_hold_token(struct gw_standing *st, const char *pat_id);
/* Records that a socket relies on user's membership of workspace. */
void gw_standing_hold_member(struct gw_standing *st, const char *workspace, const char *user);
/* Why a socket's credential ended ("token_revoked", "token_expired": static strings), or NULL
 * while it stands: pat_id per the database, a JWT by its exp. */
const char *gw_standing_credential(const struct gw_standing *st, const char *pat_id,
                                   int64_t expires_at);
/* True when user's membership of workspace ended. */
bool gw_standing_member_ended(const struct gw_standing *st, const char *workspace,
                              const char *user);
/* Sends a socket {"type":"closing","reason","message"} and closes it (user: for the log). */
void gw_standing_close(struct _websocket_manager *wsm, const char *user, const char *reason);
/* How often the hub's listener re-checks open sockets: one query for all of them, so a
 * removed member stops hearing a workspace within 2 s on every replica. */
#define GW_STANDING_MS 2000
/* Re-checks every open socket of both hubs with one query on db. The hub's listener calls it
 * every few seconds; the handlers that end a membership or revoke a token call it once they
 * committed, so the replica that served the request acts before it answers. A failed query
 * ends only expired JWTs (a database outage does not close every socket). */
void gw_sockets_recheck(struct gw_ctx *ctx, mc_db *db);
/* The hubs' halves of a recheck: add what their sockets hold; end what no longer stands. */
void gw_ws_collect(struct gw_ctx *ctx, struct gw_standing *st);
void gw_ws_apply(struct gw_ctx *ctx, const struct gw_standing *st);
void gw_daemon_ws_collect(struct gw_ctx *ctx, struct gw_standing *st);
void gw_daemon_ws_apply(struct gw_ctx *ctx, const struct gw_standing *st);

/* mail.c: delivers a login code (Resend when configured, else the log). */
int gw_mail_code(struct gw_ctx *ctx, const char *email, const char *code);

/* http_issues.c: the issue a path names ({issue_id}: a UUID or a key such as ABC-12) if the
 * caller may see it: a row of (workspace_id, assignee_type, assignee_id, issue JSON, id) for
 * the caller to clear, or NULL after answering 400, 404 or 503. */
PGresult *gw_issue_for(const struct _u_request *req, struct _u_response *resp, mc_db *db);

/* Handlers, by file. */
int gw_get_config(const struct _u_request *, struct _u_response *, void *);
int gw_post_send_code(const struct _u_request *, struct _u_response *, void *);
int gw_post_verify_code(const struct _u_request *, struct _u_response *, void *);
int gw_get_me(const struct _u_request *, struct _u_response *, void *);

int gw_post_token(const struct _u_request *, struct _u_response *, void *);
int gw_get_tokens(const struct _u_request *, struct _u_response *, void *);
int gw_delete_token(const struct _u_request *, struct _u_response *, void *);
int gw_post_token_renew(const struct _u_request *, struct _u_response *, void *);

int gw_post_workspace(const struct _u_request *, struct _u_response *, void *);
int gw_get_workspaces(const struct _u_request *, struct _u_response *, void *);
int gw_get_workspace(const struct _u_request *, struct _u_response *, void *);
int gw_get_members(const struct _u_request *, struct _u_response *, void *);
int gw_post_member(const struct _u_request *, struct _u_response *, void *);
int gw_delete_member(const struct _u_request *, struct _u_response *, void *);

int gw_get_runtimes(const struct _u_request *, struct _u_response *, void *);
int gw_post_register(const struct _u_request *, struct _u_response *, void *);
int gw_post_deregister(const struct _u_request *, struct _u_response *, void *);
int gw_post_heartbeat(const struct _u_request *, struct _u_response *, void *);
int gw_get_runtime_profiles(const struct _u_request *, struct _u_response *, void *);
int gw_post_recover_orphans(const struct _u_request *, struct _u_response *, void *);

int gw_post_claim(const struct _u_request *, struct _u_response *, void *);
int gw_post_runtime_claim(const struct _u_request *, struct _u_response *, void *);
int gw_post_prepare_lease(const struct _u_request *, struct _u_response *, void *);

int gw_post_task_start(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_progress(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_complete(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_fail(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_cancel_ack(const struct _u_request *, struct _u_response *, void *);
int gw_get_task_status(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_session(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_messages(const struct _u_request *, struct _u_response *, void *);

int gw_post_agent(const struct _u_request *, struct _u_response *, void *);
int gw_get_agents(const struct _u_request *, struct _u_response *, void *);
int gw_get_agent(const struct _u_request *, struct _u_response *, void *);
int gw_put_agent(const struct _u_request *, struct _u_response *, void *);

int gw_post_issue(const struct _u_request *, struct _u_response *, void *);
int gw_get_issues(const struct _u_request *, struct _u_response *, void *);
int gw_get_issue(const struct _u_request *, struct _u_response *, void *);
int gw_put_issue(const struct _u_request *, struct _u_response *, void *);
int gw_delete_issue(const struct _u_request *, struct _u_response *, void *);
int gw_post_comment(const struct _u_request *, struct _u_response *, void *);
int gw_get_comments(const struct _u_request *, struct _u_response *, void *);

int gw_get_issue_tasks(const struct _u_request *, struct _u_response *, void *);
int gw_get_task(const struct _u_request *, struct _u_response *, void *);
int gw_get_task_messages(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_cancel(const struct _u_request *, struct _u_response *, void *);
int gw_post_issue_task_cancel(const struct _u_request *, struct _u_response *, void *);

int gw_post_task_usage(const struct _u_request *, struct _u_response *, void *);
int gw_post_usage_batch(const struct _u_request *, struct _u_response *, void *);

int gw_get_runtime_usage(const struct _u_request *, struct _u_response *, void *);
int gw_get_runtime_usage_by_agent(const struct _u_request *, struct _u_response *, void *);
int gw_get_runtime_usage_by_hour(const struct _u_request *, struct _u_response *, void *);
int gw_get_workspace_usage(const struct _u_request *, struct _u_response *, void *);
int gw_get_dashboard_usage_daily(const struct _u_request *, struct _u_response *, void *);
int gw_get_dashboard_usage_by_agent(const struct _u_request *, struct _u_response *, void *);
int gw_get_issue_usage(const struct _u_request *, struct _u_response *, void *);

int gw_get_projects(const struct _u_request *, struct _u_response *, void *);
int gw_post_project(const struct _u_request *, struct _u_response *, void *);
int gw_get_project(const struct _u_request *, struct _u_response *, void *);
int gw_put_project(const struct _u_request *, struct _u_response *, void *);
int gw_delete_project(const struct _u_request *, struct _u_response *, void *);

int gw_get_pricing(const struct _u_request *, struct _u_response *, void *);
int gw_put_pricing(const struct _u_request *, struct _u_response *, void *);
int gw_patch_me(const struct _u_request *, struct _u_response *, void *);

/* web.c: the web page and the browser sign-in of the multica CLI (static files compiled in). */
int gw_get_web(const struct _u_request *, struct _u_response *, void *);

/* routes.c */
int gw_register_routes(struct gw_ctx *ctx);
/* Prints "METHOD PATH CREDENTIAL" for every route (multica-api-gateway --routes), for tests
 * and docs. */
void gw_print_routes(void);

#endif
