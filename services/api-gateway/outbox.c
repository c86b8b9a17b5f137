/* outbox.c: gateway.outbox, the events handlers write with the change they announce.
 *
 * Handlers insert the encoded event into gateway.outbox inside their transaction, so a
 * committed change always has its event; the shared relay of libs/outbox produces the rows in
 * order (one replica at a time, MC_LOCK_GATEWAY_RELAY), waits for the broker's
 * acknowledgement, then deletes them. A crash between the two produces an event twice;
 * consumers are idempotent. */
#include "gateway.h"
#include "mc_proto.h"

#include <stdlib.h>

#define RELAY_BATCH_MAX 500
/* Handlers kick the relay after each commit, so this only bounds the delay for rows another
 * replica wrote while this one held the lock. */
#define RELAY_IDLE_MS 1000

/* Rows this thread's handler added since its transaction began (gw_outbox_tx), so that a
 * transaction that wrote no event wakes nobody: an issue's creation kicked the relay for
 * nothing, a round and a commit that found no row, about one per task in the bench. */
static _Thread_local unsigned t_added;

int gw_outbox_add(mc_db *db, const char *type, const char *subject, const char *key, json_t *data)
{
    const struct mc_event_type *t = mc_event_type_find(type);
    char *payload = mc_event_encode(type, "api-gateway", subject, data, NULL);
    if (t == NULL || payload == NULL) {
        free(payload);
        return MC_EINVAL;
    }
    const char *p[] = {t->topic, key, payload};
    int rc = mc_db_exec(db, GW_OUTBOX_INSERT, 3, p, NULL);
    free(payload);
    if (rc == 0)
        t_added++;
    return rc;
}

void gw_outbox_kick(struct gw_ctx *ctx)
{
    mc_outbox_kick(ctx->relay);
}

int gw_outbox_tx(struct gw_ctx *ctx, struct _u_response *resp, mc_db *db, const char *name,
                 mc_db_tx_body body, void *arg)
{
    t_added = 0;
    int rc = mc_db_run_tx(db, name, body, arg);
    if (rc == 0) {
        if (t_added > 0)
            gw_outbox_kick(ctx);
    } else if (rc != GW_ANSWERED)
        gw_db_error(resp, db, rc);
    return rc;
}

void gw_outbox_new(struct gw_ctx *ctx)
{
    ctx->relay_def = (struct mc_outbox_def){
        .app = "api-gateway-outbox",
        .stmts = gw_stmts,
        .nstmts = GW_NSTMTS,
        .lock_stmt = GW_OUTBOX_LOCK,
        .fetch_stmt = GW_OUTBOX_TAKE,
        .delete_stmt = GW_OUTBOX_DELETE,
        .backlog_stmt = -1,
        .batch_max = RELAY_BATCH_MAX,
        .idle_ms = RELAY_IDLE_MS,
        .drain_ms = ctx->svc->cfg.shutdown_grace / 2,
        .published = ctx->m.outbox_published,
    };
    ctx->relay = mc_outbox_new(ctx->svc->cfg.database_url, &ctx->relay_def, ctx->producer);
}
