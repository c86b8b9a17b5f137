/* routes.c: the gateway's route table, registered in one loop. The authentication callback
 * sits on /api/... at priority 0 and decides per path which credential is needed (see
 * auth.c); handlers run after it at priority 1. */
#include "gateway.h"

#include <stdio.h>

static const struct mc_http_route routes[] = {
    {"*", "/api/*", 0, gw_authenticate},

    {"GET", "/api/config", 1, gw_get_config},
    {"POST", "/api/auth/send-code", 1, gw_post_send_code},
    {"POST", "/api/auth/verify-code", 1, gw_post_verify_code},
    {"GET", "/api/me", 1, gw_get_me},

    {"POST", "/api/workspaces", 1, gw_post_workspace},
    {"GET", "/api/workspaces", 1, gw_get_workspaces},
    {"GET", "/api/workspaces/:workspace_id", 1, gw_get_workspace},
    {"GET", "/api/workspaces/:workspace_id/members", 1, gw_get_members},
    {"POST", "/api/workspaces/:workspace_id/members", 1, gw_post_member},
    {"DELETE", "/api/workspaces/:workspace_id/members/:user_id", 1, gw_delete_member},
    {"POST", "/api/workspaces/:workspace_id/runtime-tokens", 1, gw_post_runtime_token},
    {"GET", "/api/workspaces/:workspace_id/runtimes", 1, gw_get_runtimes},
    {"POST", "/api/workspaces/:workspace_id/agents", 1, gw_post_agent},
    {"GET", "/api/workspaces/:workspace_id/agents", 1, gw_get_agents},
    {"PATCH", "/api/agents/:agent_id", 1, gw_patch_agent},
    {"POST", "/api/workspaces/:workspace_id/issues", 1, gw_post_issue},
    {"GET", "/api/workspaces/:workspace_id/issues", 1, gw_get_issues},
    {"GET", "/api/issues/:issue_id", 1, gw_get_issue},
    {"PATCH", "/api/issues/:issue_id", 1, gw_patch_issue},
    {"POST", "/api/issues/:issue_id/assign", 1, gw_post_assign},
    {"DELETE", "/api/issues/:issue_id", 1, gw_delete_issue},
    {"POST", "/api/issues/:issue_id/comments", 1, gw_post_comment},
    {"GET", "/api/issues/:issue_id/comments", 1, gw_get_comments},
    {"GET", "/api/issues/:issue_id/tasks", 1, gw_get_issue_tasks},
    {"GET", "/api/tasks/:task_id", 1, gw_get_task},

    {"GET", "/api/runtimes/:runtime_id/usage", 1, gw_get_runtime_usage},
    {"GET", "/api/runtimes/:runtime_id/usage/by-agent", 1, gw_get_runtime_usage_by_agent},
    {"GET", "/api/runtimes/:runtime_id/usage/by-hour", 1, gw_get_runtime_usage_by_hour},
    {"GET", "/api/workspaces/:workspace_id/usage", 1, gw_get_workspace_usage},

    {"POST", "/api/daemon/register", 1, gw_post_register},
    {"POST", "/api/daemon/heartbeat", 1, gw_post_heartbeat},
    {"POST", "/api/daemon/tasks/:task_id/start", 1, gw_post_task_start},
    {"POST", "/api/daemon/tasks/:task_id/progress", 1, gw_post_task_progress},
    {"POST", "/api/daemon/tasks/:task_id/complete", 1, gw_post_task_complete},
    {"POST", "/api/daemon/tasks/:task_id/fail", 1, gw_post_task_fail},
    {"POST", "/api/daemon/tasks/:task_id/usage", 1, gw_post_task_usage},
    {"POST", "/api/daemon/usage", 1, gw_post_usage_batch},

    {"GET", "/api/ws", 1, gw_ws_connect},
};

int gw_register_routes(struct gw_ctx *ctx)
{
    return mc_http_add_routes(ctx->svc->http, routes, MC_ARRAY_LEN(routes), ctx);
}

void gw_print_routes(void)
{
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        if (routes[i].priority > 0)
            printf("%s %s\n", routes[i].method, routes[i].path);
}
