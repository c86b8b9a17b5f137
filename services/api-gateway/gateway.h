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
#include "mc_service.h"

/* Prepared statements of the gateway (statements.c). */
enum {
    GW_RUNTIME_BY_TOKEN,
    GW_USER_BY_ID,
    GW_USER_BY_EMAIL,
    GW_USER_CREATE,
    GW_CODE_SEND,
    GW_CODE_CHECK,
    GW_CODE_FAIL,
    GW_CODE_CONSUME,
    GW_MEMBER_ROLE,
    GW_WORKSPACE_CREATE,
    GW_WORKSPACE_LIST,
    GW_WORKSPACE_GET,
    GW_MEMBER_LIST,
    GW_MEMBER_ADD,
    GW_MEMBER_REMOVE,
    GW_REGTOKEN_CREATE,
    GW_RUNTIME_REGISTER,
    GW_RUNTIME_HEARTBEAT,
    GW_RUNTIME_LIST,
    GW_RUNTIME_WORKSPACE,
    GW_AGENT_CREATE,
    GW_AGENT_LIST,
    GW_AGENT_GET,
    GW_AGENT_SET_RUNTIME,
    GW_ISSUE_CREATE,
    GW_ISSUE_LIST,
    GW_ISSUE_GET,
    GW_ISSUE_UPDATE,
    GW_ISSUE_ASSIGN,
    GW_ISSUE_DELETE,
    GW_ISSUE_ACTIVE_TASKS,
    GW_ISSUE_ALL_TASKS,
    GW_COMMENT_CREATE,
    GW_COMMENT_LIST,
    GW_TASK_REQUEST,
    GW_TASK_LIST_BY_ISSUE,
    GW_TASK_GET,
    GW_TASK_HELD,
    GW_TASK_PROJECT,
    GW_OUTBOX_INSERT,
    GW_OUTBOX_TAKE,
    GW_OUTBOX_DELETE,
    GW_LOG_SINCE,
    GW_LOG_MAX,
    GW_USAGE_DAILY,
    GW_USAGE_DAILY_RAW,
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
    GW_VIEWING_TZ,
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
    GW_LOG_PRUNE,
    GW_OUTBOX_LOCK,
    GW_NSTMTS
};
extern const struct mc_db_stmt gw_stmts[];

struct gw_ws_hub;

struct gw_ctx {
    struct mc_service *svc;
    mc_db_pool *pool;
    mc_producer *producer;
    struct gw_ws_hub *hub;
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
    int64_t ws_queue_limit;
    int64_t log_retention_ms;
    char *group_id;
    /* the outbox relay */
    pthread_t relay;
    pthread_mutex_t relay_mu;
    pthread_cond_t relay_cv;
    bool relay_wake;
    bool relay_running;
    /* the task-event projection consumer */
    pthread_t projector;
    bool projector_running;
    mc_consumer *consumer;
    struct {
        mc_metric *usage_accepted, *usage_rejected, *produce_failures, *logins, *login_failures,
            *outbox_published, *projected, *ws_clients, *ws_sent, *ws_dropped;
    } m;
};

/* Who is calling, set by the authentication callback for the handlers after it. */
enum gw_principal_kind { GW_ANONYMOUS, GW_RUNTIME, GW_USER };
struct gw_principal {
    enum gw_principal_kind kind;
    char runtime_id[MC_UUID_STRLEN];
    char workspace_id[MC_UUID_STRLEN]; /* the runtime's workspace */
    char user_id[MC_UUID_STRLEN];
};

/* The principal of a request (never NULL: anonymous when no credential was given). */
const struct gw_principal *gw_principal(const struct _u_response *resp);

/* What a route needs from its caller: the credential column of the route table (routes.c). */
enum gw_credential {
    GW_CRED_NONE = MC_HTTP_PUBLIC, /* nothing: login, config, the daemon's registration */
    GW_CRED_USER,                  /* a user session (a JWT from verify-code) */
    GW_CRED_RUNTIME,               /* a runtime token (mcr_...) */
    GW_CRED_ANY,                   /* either of the two: the WebSocket */
};
/* The credential's name, as --routes prints it ("none", "user", "runtime", "any"). */
const char *gw_credential_name(int credential);

/* auth.c: the guard of every route that needs a credential (an mc_http_guard), and tokens. */
int gw_authenticate(const struct _u_request *req, struct _u_response *resp, void *ud,
                    int credential);
/* Issues a JWT for a user; returns a heap string or NULL. */
char *gw_jwt_issue(const struct gw_ctx *ctx, const char *user_id, const char *email);

/* Membership: fills role ("owner", "admin", "member") and returns 0, MC_ENOTFOUND when the
 * user is not a member (handlers answer 404 so other workspaces stay invisible), or a
 * database error. */
int gw_member_role(mc_db *db, const char *workspace_id, const char *user_id, char role[16]);

/* For workspace-scoped routes: checks that the caller (a user) is a member of workspace_id,
 * answering 404/503 itself. admin_only also requires owner or admin (403). Returns 0 when the
 * handler may go on. */
int gw_require_member(struct _u_response *resp, mc_db *db, const char *workspace_id,
                      bool admin_only);

/* request.c: what handlers share to read a request and answer it. */

/* Takes a pooled connection or answers 503 itself and returns NULL. */
mc_db *gw_db(struct gw_ctx *ctx, struct _u_response *resp);
void gw_db_release(struct gw_ctx *ctx, mc_db *db);

/* Answers the error of a failed database call (503 when the database is gone, 500 else). */
int gw_db_error(struct _u_response *resp, mc_db *db, int rc);

/* Runs a statement returning one JSON text column and answers it with status (404 when no
 * row). Returns U_CALLBACK_COMPLETE. */
int gw_answer_json(struct _u_response *resp, mc_db *db, int stmt, int n, const char *const *p,
                   unsigned status);

/* The common read of a workspace-scoped collection: the {workspace_id} parameter, membership,
 * then stmt($1 = workspace_id) answered as JSON. */
int gw_workspace_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      int stmt);

/* The workspace a request names, as Multica's CLI names it: the {workspace_id} path
 * parameter, ?workspace_id=, or the X-Workspace-ID header. Answers 400 and returns NULL when
 * none is given or it is not a UUID. */
const char *gw_workspace_of(const struct _u_request *req, struct _u_response *resp);

/* A path parameter that must be a UUID (400 naming it otherwise). */
const char *gw_uuid_param(const struct _u_request *req, struct _u_response *resp, const char *name);
/* A string field of a JSON body with length bounds; NULL when absent and optional. Answers
 * 400 and sets *bad when invalid. */
const char *gw_str_field(const json_t *body, const char *name, size_t min, size_t max,
                         bool required, struct _u_response *resp, bool *bad);

/* outbox.c: events written with the change they announce, produced by a relay thread. */
int gw_outbox_add(mc_db *db, const char *type, const char *subject, const char *key, json_t *data);
void gw_outbox_kick(struct gw_ctx *ctx);
int gw_outbox_start(struct gw_ctx *ctx);
void gw_outbox_stop(struct gw_ctx *ctx);

/* http_projects.c: writes IssueProjectChanged (the issue's project from now on, NULL for none,
 * at the issue's project_version) to the outbox, in the caller's transaction. */
int gw_issue_project_event(mc_db *db, const char *issue, const char *ws, const char *project,
                           const char *version);

/* projection.c: multica.task.events into the read model and the WebSocket log. */
int gw_projection_start(struct gw_ctx *ctx);
void gw_projection_stop(struct gw_ctx *ctx);

/* ws.c: WebSocket hub. */
int gw_ws_start(struct gw_ctx *ctx);
/* Tells connections to finish (before the HTTP server stops); gw_ws_stop then frees the hub. */
void gw_ws_quiesce(struct gw_ctx *ctx);
void gw_ws_stop(struct gw_ctx *ctx);
int gw_ws_connect(const struct _u_request *req, struct _u_response *resp, void *ud);

/* mail.c: delivers a login code (Resend when configured, else the log). */
int gw_mail_code(struct gw_ctx *ctx, const char *email, const char *code);

/* Handlers, by file. */
int gw_get_config(const struct _u_request *, struct _u_response *, void *);
int gw_post_send_code(const struct _u_request *, struct _u_response *, void *);
int gw_post_verify_code(const struct _u_request *, struct _u_response *, void *);
int gw_get_me(const struct _u_request *, struct _u_response *, void *);

int gw_post_workspace(const struct _u_request *, struct _u_response *, void *);
int gw_get_workspaces(const struct _u_request *, struct _u_response *, void *);
int gw_get_workspace(const struct _u_request *, struct _u_response *, void *);
int gw_get_members(const struct _u_request *, struct _u_response *, void *);
int gw_post_member(const struct _u_request *, struct _u_response *, void *);
int gw_delete_member(const struct _u_request *, struct _u_response *, void *);

int gw_post_runtime_token(const struct _u_request *, struct _u_response *, void *);
int gw_get_runtimes(const struct _u_request *, struct _u_response *, void *);
int gw_post_register(const struct _u_request *, struct _u_response *, void *);
int gw_post_heartbeat(const struct _u_request *, struct _u_response *, void *);

int gw_post_agent(const struct _u_request *, struct _u_response *, void *);
int gw_get_agents(const struct _u_request *, struct _u_response *, void *);
int gw_patch_agent(const struct _u_request *, struct _u_response *, void *);

int gw_post_issue(const struct _u_request *, struct _u_response *, void *);
int gw_get_issues(const struct _u_request *, struct _u_response *, void *);
int gw_get_issue(const struct _u_request *, struct _u_response *, void *);
int gw_patch_issue(const struct _u_request *, struct _u_response *, void *);
int gw_post_assign(const struct _u_request *, struct _u_response *, void *);
int gw_delete_issue(const struct _u_request *, struct _u_response *, void *);
int gw_post_comment(const struct _u_request *, struct _u_response *, void *);
int gw_get_comments(const struct _u_request *, struct _u_response *, void *);

int gw_get_issue_tasks(const struct _u_request *, struct _u_response *, void *);
int gw_get_task(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_start(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_progress(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_complete(const struct _u_request *, struct _u_response *, void *);
int gw_post_task_fail(const struct _u_request *, struct _u_response *, void *);

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
