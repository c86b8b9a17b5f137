/* statements.c: every SQL statement the gateway prepares, by id. */
#include "gateway.h"

const struct mc_db_stmt gw_stmts[] = {
    [GW_RUNTIME_BY_TOKEN] = {"gw_runtime_by_token",
                             "SELECT id, workspace_id FROM gateway.runtimes WHERE token_hash = $1"},
};
