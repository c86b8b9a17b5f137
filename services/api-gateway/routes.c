/* routes.c: the gateway's route table: method, path, the credential each route needs, and
 * its handler, one row per route, registered in one loop. The credential column is read by
 * one guard (gw_authenticate in auth.c) for the row ulfius matched; requests no row matches
 * get the library's JSON 404 or 405 (libs/http). When two rows match one request, the row
 * higher in the table wins. */
#include "gateway.h"

#include <stdio.h>

#define NONE    GW_CRED_NONE
#define USER    GW_CRED_USER
#define RUNTIME GW_CRED_RUNTIME
#define ANY     GW_CRED_ANY

static const struct mc_http_route routes[] = {
    {"GET", "/api/config", NONE, gw_get_config},
    {"POST", "/api/auth/send-code", NONE, gw_post_send_code},
    {"POST", "/api/auth/verify-code", NONE, gw_post_verify_code},
    {"GET", "/api/me", USER, gw_get_me},
    {"PATCH", "/api/me", USER, gw_patch_me},

    {"POST", "/api/workspaces", USER, gw_post_workspace},
    {"GET", "/api/workspaces", USER, gw_get_workspaces},
    {"GET", "/api/workspaces/:workspace_id", USER, gw_get_workspace},
    {"GET", "/api/workspaces/:workspace_id/members", USER, gw_get_members},
    {"POST", "/api/workspaces/:workspace_id/members", USER, gw_post_member},
    {"DELETE", "/api/workspaces/:workspace_id/members/:user_id", USER, gw_delete_member},
    {"POST", "/api/workspaces/:workspace_id/runtime-tokens", USER, gw_post_runtime_token},
    {"GET", "/api/workspaces/:workspace_id/runtimes", USER, gw_get_runtimes},
    {"POST", "/api/workspaces/:workspace_id/agents", USER, gw_post_agent},
    {"GET", "/api/workspaces/:workspace_id/agents", USER, gw_get_agents},
    {"PATCH", "/api/agents/:agent_id", USER, gw_patch_agent},
    {"POST", "/api/workspaces/:workspace_id/issues", USER, gw_post_issue},
    {"GET", "/api/workspaces/:workspace_id/issues", USER, gw_get_issues},
    {"GET", "/api/issues/:issue_id", USER, gw_get_issue},
    {"PATCH", "/api/issues/:issue_id", USER, gw_patch_issue},
    {"POST", "/api/issues/:issue_id/assign", USER, gw_post_assign},
    {"DELETE", "/api/issues/:issue_id", USER, gw_delete_issue},
    {"POST", "/api/issues/:issue_id/comments", USER, gw_post_comment},
    {"GET", "/api/issues/:issue_id/comments", USER, gw_get_comments},
    {"GET", "/api/issues/:issue_id/tasks", USER, gw_get_issue_tasks},
    {"GET", "/api/tasks/:task_id", USER, gw_get_task},

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

    {"POST", "/api/daemon/register", NONE, gw_post_register},
    {"POST", "/api/daemon/heartbeat", RUNTIME, gw_post_heartbeat},
    {"POST", "/api/daemon/tasks/:task_id/start", RUNTIME, gw_post_task_start},
    {"POST", "/api/daemon/tasks/:task_id/progress", RUNTIME, gw_post_task_progress},
    {"POST", "/api/daemon/tasks/:task_id/complete", RUNTIME, gw_post_task_complete},
    {"POST", "/api/daemon/tasks/:task_id/fail", RUNTIME, gw_post_task_fail},
    {"POST", "/api/daemon/tasks/:task_id/usage", RUNTIME, gw_post_task_usage},
    {"POST", "/api/daemon/usage", RUNTIME, gw_post_usage_batch},

    {"GET", "/api/ws", ANY, gw_ws_connect},

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
        [GW_CRED_RUNTIME] = "runtime",
        [GW_CRED_ANY] = "any",
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
