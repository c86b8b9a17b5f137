/* routes.c: the gateway's route table: method, path, the credential each route needs, and
 * its handler, one row per route, registered in one loop. The credential column is read by
 * one guard (gw_authenticate in auth.c) for the row ulfius matched; requests no row matches
 * get the library's JSON 404 or 405 (libs/http). When two rows match one request, the row
 * higher in the table wins. */
#include "gateway.h"

#include <stdio.h>

#define NONE   GW_CRED_NONE
#define USER   GW_CRED_USER
#define MEMBER GW_CRED_MEMBER
#define DAEMON GW_CRED_DAEMON

/* Multica's routes, as its CLI and daemon (v0.4.32) call them, plus the usage reads and the
 * task view of this gateway. MEMBER rows are those an agent run may call with its task token
 * (issues, comments, who am I); the daemon's rows take the daemon's personal access token. */
static const struct mc_http_route routes[] = {
    {"GET", "/api/config", NONE, gw_get_config},
    {"POST", "/api/auth/send-code", NONE, gw_post_send_code},
    {"POST", "/api/auth/verify-code", NONE, gw_post_verify_code},
    {"GET", "/api/me", MEMBER, gw_get_me},
    {"PATCH", "/api/me", USER, gw_patch_me},

    {"POST", "/api/tokens", USER, gw_post_token},
    {"GET", "/api/tokens", USER, gw_get_tokens},
    {"POST", "/api/tokens/current/renew", USER, gw_post_token_renew},
    {"DELETE", "/api/tokens/:token_id", USER, gw_delete_token},

    {"POST", "/api/workspaces", USER, gw_post_workspace},
    {"GET", "/api/workspaces", MEMBER, gw_get_workspaces},
    {"GET", "/api/workspaces/:workspace_id", MEMBER, gw_get_workspace},
    {"GET", "/api/workspaces/:workspace_id/members", MEMBER, gw_get_members},
    {"POST", "/api/workspaces/:workspace_id/members", USER, gw_post_member},
    {"DELETE", "/api/workspaces/:workspace_id/members/:user_id", USER, gw_delete_member},
    {"GET", "/api/runtimes", MEMBER, gw_get_runtimes},
    {"POST", "/api/agents", USER, gw_post_agent},
    {"GET", "/api/agents", MEMBER, gw_get_agents},
    {"GET", "/api/agents/:agent_id", MEMBER, gw_get_agent},
    {"PUT", "/api/agents/:agent_id", USER, gw_put_agent},
    {"POST", "/api/issues", MEMBER, gw_post_issue},
    {"GET", "/api/issues", MEMBER, gw_get_issues},
    {"GET", "/api/issues/:issue_id", MEMBER, gw_get_issue},
    {"PUT", "/api/issues/:issue_id", MEMBER, gw_put_issue},
    {"DELETE", "/api/issues/:issue_id", USER, gw_delete_issue},
    {"POST", "/api/issues/:issue_id/comments", MEMBER, gw_post_comment},
    {"GET", "/api/issues/:issue_id/comments", MEMBER, gw_get_comments},
    {"GET", "/api/issues/:issue_id/task-runs", MEMBER, gw_get_issue_tasks},
    {"POST", "/api/issues/:issue_id/tasks/:task_id/cancel", USER, gw_post_issue_task_cancel},
    {"GET", "/api/tasks/:task_id", MEMBER, gw_get_task},
    {"GET", "/api/tasks/:task_id/messages", MEMBER, gw_get_task_messages},
    {"POST", "/api/tasks/:task_id/cancel", USER, gw_post_task_cancel},

    {"GET", "/api/runtimes/:runtime_id/usage", USER, gw_get_runtime_usage},
    {"GET", "/api/runtimes/:runtime_id/usage/by-agent", USER, gw_get_runtime_usage_by_agent},
    {"GET", "/api/runtimes/:runtime_id/usage/by-hour", USER, gw_get_runtime_usage_by_hour},
    {"GET", "/api/dashboard/usage/daily", USER, gw_get_dashboard_usage_daily},
    {"GET", "/api/dashboard/usage/by-agent", USER, gw_get_dashboard_usage_by_agent},
    {"GET", "/api/issues/:issue_id/usage", USER, gw_get_issue_usage},
    {"GET", "/api/workspaces/:workspace_id/usage", USER, gw_get_workspace_usage},
    {"GET", "/api/pricing", USER, gw_get_pricing},
    {"PUT", "/api/pricing", USER, gw_put_pricing},

    {"GET", "/api/projects", USER, gw_get_projects},
    {"POST", "/api/projects", USER, gw_post_project},
    {"GET", "/api/projects/:project_id", USER, gw_get_project},
    {"PUT", "/api/projects/:project_id", USER, gw_put_project},
    {"DELETE", "/api/projects/:project_id", USER, gw_delete_project},

    {"GET", "/api/daemon/workspaces", USER, gw_get_workspaces},
    {"GET", "/api/daemon/workspaces/:workspace_id/runtime-profiles", USER, gw_get_runtime_profiles},
    {"POST", "/api/daemon/register", USER, gw_post_register},
    {"POST", "/api/daemon/deregister", USER, gw_post_deregister},
    {"POST", "/api/daemon/heartbeat", USER, gw_post_heartbeat},
    {"POST", "/api/daemon/runtimes/:runtime_id/recover-orphans", USER, gw_post_recover_orphans},
    {"POST", "/api/daemon/tasks/claim", DAEMON, gw_post_claim},
    {"POST", "/api/daemon/claim", DAEMON, gw_post_claim},
    {"POST", "/api/daemon/runtimes/:runtime_id/tasks/claim", USER, gw_post_runtime_claim},
    {"POST", "/api/daemon/runtimes/:runtime_id/tasks/:task_id/prepare-lease", USER,
     gw_post_prepare_lease},
    {"GET", "/api/daemon/tasks/:task_id/status", DAEMON, gw_get_task_status},
    {"POST", "/api/daemon/tasks/:task_id/start", DAEMON, gw_post_task_start},
    {"POST", "/api/daemon/tasks/:task_id/progress", DAEMON, gw_post_task_progress},
    {"POST", "/api/daemon/tasks/:task_id/messages", DAEMON, gw_post_task_messages},
    {"POST", "/api/daemon/tasks/:task_id/session", USER, gw_post_task_session},
    {"POST", "/api/daemon/tasks/:task_id/usage", DAEMON, gw_post_task_usage},
    {"POST", "/api/daemon/tasks/:task_id/complete", DAEMON, gw_post_task_complete},
    {"POST", "/api/daemon/tasks/:task_id/fail", DAEMON, gw_post_task_fail},
    {"POST", "/api/daemon/tasks/:task_id/cancel-ack", DAEMON, gw_post_task_cancel_ack},
    {"POST", "/api/daemon/usage", USER, gw_post_usage_batch},
    {"GET", "/api/daemon/ws", USER, gw_daemon_ws_connect},

    {"GET", "/api/ws", USER, gw_ws_connect},

    /* The web page: its files, and the browser sign-in that `multica login` opens. */
    {"GET", "/", NONE, gw_get_web},
    {"GET", "/login", NONE, gw_get_web},
    {"GET", "/assets/:file", NONE, gw_get_web},
};

const char *gw_credential_name(int credential)
{
    static const char *const names[] = {
        [GW_CRED_NONE] = "none",
        [GW_CRED_USER] = "user",
        [GW_CRED_MEMBER] = "member",
        [GW_CRED_DAEMON] = "user", /* a user's token, checked by the handler's SQL call */
    };
    bool known = credential >= 0 && (size_t)credential < MC_ARRAY_LEN(names);
    return known ? names[credential] : "?";
}

int gw_register_routes(struct gw_ctx *ctx)
{
    return mc_http_add_routes(ctx->svc->http, routes, MC_ARRAY_LEN(routes), gw_authenticate, ctx);
}

void gw_print_routes(void)
{
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        printf("%s %s %s\n", routes[i].method, routes[i].path,
               gw_credential_name(routes[i].credential));
}
