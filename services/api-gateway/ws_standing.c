/* ws_standing.c: ends what open WebSockets may no longer see: a socket whose token was revoked
 * or expired is told why and closed; a subscription (a daemon's runtime) whose workspace the
 * caller left ends.
 *
 * Authentication happens once, at the handshake, and a socket lives for hours; revocation and
 * membership live in the database. A sweep re-checks them instead of a NOTIFY from every
 * writer: tokens also end by the clock, when nothing writes, and a membership may end by any
 * path (a handler, another replica, an operator's SQL) without each having to remember to
 * announce it. The hub's listener calls gw_sockets_recheck every GW_STANDING_MS (ws.c): one
 * query for every open socket of this replica, which sends the distinct tokens and memberships
 * as two JSON sets, costs one primary-key probe per entry, and returns only what ended (so
 * usually no rows). The handlers that end a membership or revoke a token run the same recheck
 * before they answer, so on the replica that served them nothing produced after the answer
 * reaches the person; other replicas follow within GW_STANDING_MS, and so does a subscription
 * that was being made while the membership ended. A session JWT is judged by its exp, without
 * a query. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *reason, *message;
} reasons[] = {
    {"token_revoked", "the token this connection was opened with was revoked"},
    {"token_expired", "the token this connection was opened with expired"},
};

void gw_standing_hold_token(struct gw_standing *st, const char *pat_id)
{
    if (pat_id[0] != '\0')
        json_object_set_new(st->pats, pat_id, json_true());
}

void gw_standing_hold_member(struct gw_standing *st, const char *workspace, const char *user)
{
    char key[2 * MC_UUID_STRLEN];
    snprintf(key, sizeof key, "%s %s", workspace, user);
    json_object_set_new(st->members, key, json_true());
}

const char *gw_standing_credential(const struct gw_standing *st, const char *pat_id,
                                   int64_t expires_at)
{
    if (expires_at != 0 && expires_at <= st->now_s)
        return "token_expired";
    const char *reason = pat_id[0] ? json_string_value(json_object_get(st->ended, pat_id)) : NULL;
    /* A static string: the connection keeps it after st is gone. */
    for (size_t i = 0; reason != NULL && i < MC_ARRAY_LEN(reasons); i++)
        if (strcmp(reasons[i].reason, reason) == 0)
            return reasons[i].reason;
    return reason == NULL ? NULL : "token_revoked";
}

bool gw_standing_member_ended(const struct gw_standing *st, const char *workspace, const char *user)
{
    char key[2 * MC_UUID_STRLEN];
    snprintf(key, sizeof key, "%s %s", workspace, user);
    return json_object_get(st->ended, key) != NULL;
}

void gw_standing_close(struct _websocket_manager *wsm, const char *user, const char *reason)
{
    const char *message = reason;
    for (size_t i = 0; i < MC_ARRAY_LEN(reasons); i++)
        if (strcmp(reasons[i].reason, reason) == 0)
            message = reasons[i].message;
    json_t *frame =
        json_pack("{ss ss ss}", "type", "closing", "reason", reason, "message", message);
    char *text = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    /* Best effort: a client that does not read learns it from the close. */
    if (text != NULL)
        ulfius_websocket_send_message(wsm, U_WEBSOCKET_OPCODE_TEXT, strlen(text), text);
    free(text);
    mc_log_info(json_pack("{ss ss}", "principal", user, "reason", reason),
                "websocket credential ended; closing the connection");
    ulfius_websocket_send_close_signal(wsm);
}

void gw_sockets_recheck(struct gw_ctx *ctx, mc_db *db)
{
    struct gw_standing st = {.pats = json_object(),
                             .members = json_object(),
                             .ended = json_object(),
                             .now_s = (int64_t)time(NULL)};
    gw_ws_collect(ctx, &st);
    gw_daemon_ws_collect(ctx, &st);
    if (json_object_size(st.pats) > 0 || json_object_size(st.members) > 0) {
        char *pats = json_dumps(st.pats, JSON_COMPACT);
        char *members = json_dumps(st.members, JSON_COMPACT);
        const char *p[] = {pats, members};
        PGresult *r = NULL;
        if (pats != NULL && members != NULL && mc_db_exec(db, GW_SOCKET_STANDING, 2, p, &r) == 0) {
            for (int i = 0; i < PQntuples(r); i++) {
                /* Logged once: the hubs drop what ended, so the next sweep does not see it. */
                mc_log_info(json_pack("{ss ss}", "ended", PQgetvalue(r, i, 0), "reason",
                                      PQgetvalue(r, i, 1)),
                            "open WebSockets lose what no longer stands");
                json_object_set_new(st.ended, PQgetvalue(r, i, 0),
                                    json_string(PQgetvalue(r, i, 1)));
            }
        } else {
            mc_log_warn(NULL, "re-checking open WebSockets failed; only expired sessions end");
        }
        PQclear(r);
        free(pats);
        free(members);
    }
    gw_ws_apply(ctx, &st);
    gw_daemon_ws_apply(ctx, &st);
    json_decref(st.pats);
    json_decref(st.members);
    json_decref(st.ended);
}
