/* http_messages.c: what a running agent streams, stored and passed on to its watchers.
 *
 *   POST /api/daemon/tasks/{task_id}/messages {"messages": [{seq, type, tool?, content?,
 *                                                          input?, output?}, ...]}
 *
 * The daemon sends a batch every 500 ms while the agent runs. The caller's token and the task
 * are checked in the same SQL call (gateway.daemon_messages), which the message writer
 * (message_writer.c) makes with the other batches that arrived meanwhile, in one commit. Each
 * message is kept once per (task, seq) in gateway.task_messages; the WebSocket listener of every
 * gateway replica reads the new ones by their transaction at its next round (no NOTIFY) and passes
 * them on to the people watching the task, its issue or its workspace ({"type":"task_message",
 * ...}). People read them back with GET /api/tasks/{task_id}/messages. */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 500
#define FIELD_MAX    65536 /* characters of content or output kept per message */

/* A stored copy of message i with only the fields the store knows, or NULL after answering
 * 400 naming the field. */
static json_t *clean(const json_t *m, size_t i, struct _u_response *resp)
{
    char field[48];
    int64_t seq = -1;
    snprintf(field, sizeof field, "messages[%zu]", i);
    if (!json_is_object(m)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, field, "must be an object");
        return NULL;
    }
    if (mc_json_int64(json_object_get(m, "seq"), &seq) != 0 || seq < 0 || seq > 2147483647) {
        snprintf(field, sizeof field, "messages[%zu].seq", i);
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, field, "must be an integer >= 0");
        return NULL;
    }
    const char *type = json_string_value(json_object_get(m, "type"));
    if (type == NULL || *type == '\0' || strlen(type) > 32) {
        snprintf(field, sizeof field, "messages[%zu].type", i);
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, field, "must be 1 to 32 characters");
        return NULL;
    }
    json_t *out = json_pack("{sI ss}", "seq", (json_int_t)seq, "type", type);
    static const char *const texts[] = {"tool", "content", "output"};
    for (size_t k = 0; k < MC_ARRAY_LEN(texts); k++) {
        const char *v = json_string_value(json_object_get(m, texts[k]));
        if (v != NULL)
            json_object_set_new(out, texts[k], gw_json_prefix(v, FIELD_MAX));
    }
    json_t *input = json_object_get(m, "input");
    if (json_is_object(input))
        json_object_set(out, "input", input);
    return out;
}

int gw_post_task_messages(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task = gw_uuid_param(req, resp, "task_id");
    json_t *body = task ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return gw_daemon_settle(ctx, resp);
    const json_t *list = json_object_get(body, "messages");
    json_t *kept = json_array();
    if (!json_is_array(list) || json_array_size(list) > MAX_MESSAGES) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "messages",
                      "must be a list of at most %d messages", MAX_MESSAGES);
        goto cleanup;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *m = clean(json_array_get(list, i), i, resp);
        if (m == NULL)
            goto cleanup;
        json_array_append_new(kept, m);
    }
    /* The caller's token, the task, and the messages in one call, in the message writer's
     * group commit. */
    char *text = json_dumps(kept, JSON_COMPACT);
    const char *hash, *user;
    gw_daemon_caller(resp, &hash, &user);
    const char *p[] = {hash, user, task, text};
    char outcome[16] = "";
    int stored = 0;
    int rc = gw_messages_apply(ctx, p, outcome, &stored);
    free(text);
    if (rc == MC_EDBCONN)
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
    else if (rc != 0)
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "internal error");
    else
        gw_daemon_checked(resp, strcmp(outcome, "unauthorized") != 0);
    if (rc == 0 && strcmp(outcome, "not_found") == 0)
        gw_task_not_found(resp);
    else if (rc == 0 && strcmp(outcome, "ok") == 0)
        mc_http_json(resp, 200, json_pack("{ss si}", "status", "ok", "stored", stored));
cleanup:
    json_decref(kept);
    json_decref(body);
    return gw_daemon_settle(ctx, resp);
}
