/* routes.c: the gateway's route table, registered in one loop. Authentication callbacks sit
 * on wildcard paths at priority 0; handlers run after them at priority 1. */
#include "gateway.h"

static const struct mc_http_route routes[] = {
    /* authentication */
    {"*", "/api/daemon/*", 0, gw_auth_runtime},
    /* daemon endpoints (runtime token) */
    {"POST", "/api/daemon/tasks/:task_id/usage", 1, gw_post_task_usage},
    {"POST", "/api/daemon/usage", 1, gw_post_usage_batch},
};

int gw_register_routes(struct gw_ctx *ctx)
{
    return mc_http_add_routes(ctx->svc->http, routes, MC_ARRAY_LEN(routes), ctx);
}
