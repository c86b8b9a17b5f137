/* gateway.h: state and handlers of the api-gateway. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

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
    GW_NSTMTS
};
extern const struct mc_db_stmt gw_stmts[];

struct gw_ctx {
    struct mc_service *svc;
    mc_db_pool *pool;
    mc_producer *producer;
    int64_t usage_max_entries;
    int64_t db_pool_size;
    int64_t produce_timeout_ms;
    struct {
        mc_metric *usage_accepted, *usage_rejected, *produce_failures;
    } m;
};

/* Who is calling, set by the authentication callbacks for the handlers after them. */
enum gw_principal_kind { GW_ANONYMOUS, GW_RUNTIME, GW_USER };
struct gw_principal {
    enum gw_principal_kind kind;
    char runtime_id[MC_UUID_STRLEN];
    char workspace_id[MC_UUID_STRLEN];
    char user_id[MC_UUID_STRLEN];
};

/* The principal of a request (never NULL: anonymous when no callback set one). */
const struct gw_principal *gw_principal(const struct _u_response *resp);

/* auth_runtime.c: "Authorization: Bearer mcr_..." on /api/daemon/... */
int gw_auth_runtime(const struct _u_request *req, struct _u_response *resp, void *ud);

/* http_usage.c */
int gw_post_task_usage(const struct _u_request *req, struct _u_response *resp, void *ud);
int gw_post_usage_batch(const struct _u_request *req, struct _u_response *resp, void *ud);

/* routes.c */
int gw_register_routes(struct gw_ctx *ctx);

/* Takes a pooled connection or answers 503 itself and returns NULL. */
mc_db *gw_db(struct gw_ctx *ctx, struct _u_response *resp);

#endif
