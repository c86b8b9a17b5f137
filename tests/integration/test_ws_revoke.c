/* test_ws_revoke.c: open WebSockets lose what their caller lost: a member removed from a
 * workspace hears nothing more of it (at once on the replica that removed them, within the
 * sweep on the others), and a socket whose token is revoked or expires is told why and closed
 * (/api/ws and /api/daemon/ws). */
#include "gateway_client.h"
#include "mc_kafka.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "test-secret-0123456789abcdef0123456789abcdef"

/* Produces a progress event of task n (a task id of its own) in workspace ws. */
static void progress(mc_producer *p, const char *ws, unsigned n, char task[MC_UUID_STRLEN])
{
    char agent[MC_UUID_STRLEN], runtime[MC_UUID_STRLEN];
    tu_uuid(task, 0xe0000001, n);
    tu_uuid(agent, 0xe0000002, 1);
    tu_uuid(runtime, 0xe0000003, 1);
    json_t *data = json_pack("{ss ss ss ss sI ss sI ss}", "task_id", task, "workspace_id", ws,
                             "agent_id", agent, "runtime_id", runtime, "version", (json_int_t)1,
                             "status", "running", "seq", (json_int_t)0, "text", "hello");
    char *ev[] = {mc_event_encode(MC_EV_TASK_PROGRESS, "test", task, data, NULL)};
    ck_assert_ptr_nonnull(ev[0]);
    tu_send(p, MC_TOPIC_TASK_EVENTS, ev, NULL, 1);
    free(ev[0]);
}

static const char *event_task(const json_t *m)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(m, "event"), "data"), "task_id"));
}

/* Subscribes to scope (workspace_id, issue_id) id and waits for the answer of that type. */
static void subscribe(mc_wsclient *ws, const char *scope, const char *id, const char *answer)
{
    json_t *sub = json_pack("{ss ss}", "type", "subscribe", scope, id);
    ck_assert_int_eq(mc_wsclient_send(ws, sub), 0);
    json_decref(sub);
    json_t *m = tg_ws_next(ws, answer, 5000);
    ck_assert_msg(m != NULL, "no %s for %s %s", answer, scope, id);
    json_decref(m);
}

/* Waits for the closing frame of reason, then for the close itself. */
static void expect_closing(mc_wsclient *ws, const char *reason, int timeout_ms)
{
    json_t *m = tg_ws_next(ws, "closing", timeout_ms);
    ck_assert_msg(m != NULL, "no closing frame (%s)", reason);
    ck_assert_str_eq(tg_str(m, "reason"), reason);
    ck_assert(strlen(tg_str(m, "message")) > 0);
    json_decref(m);
    for (int i = 0; i < 50 && mc_wsclient_open_p(ws); i++)
        usleep(100 * 1000);
    ck_assert(!mc_wsclient_open_p(ws));
}

static mc_wsclient *open_ws(const char *base, const char *path, const char *token)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    mc_wsclient *ws = mc_wsclient_open(url, token);
    ck_assert_ptr_nonnull(ws);
    return ws;
}

START_TEST(a_removed_member_hears_nothing_more_of_the_workspace)
{
    th_db_new();
    /* One partition: the log holds the events in the order they were produced. */
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char *bob = tg_login(base, "bob@example.com");
    char acme[37], beta[37], bobs[37], issue[37], path[160];
    tg_workspace(base, alice, "acme", acme);
    tg_workspace(base, alice, "beta", beta);
    tg_workspace(base, bob, "bobs", bobs);
    tg_issue(base, alice, acme, "watched", issue);
    char bob_id[37];
    const char *spaces[] = {acme, beta};
    for (int i = 0; i < 2; i++) {
        json_t *out = NULL;
        snprintf(path, sizeof path, "/api/workspaces/%s/members", spaces[i]);
        ck_assert_int_eq(
            tg_call(base, "POST", path, alice, "{\"email\":\"bob@example.com\"}", &out), 201);
        snprintf(bob_id, sizeof bob_id, "%s", tg_str(out, "user_id"));
        json_decref(out);
    }
    mc_wsclient *ws = open_ws(base, "/api/ws", bob);
    subscribe(ws, "workspace_id", acme, "subscribed");
    subscribe(ws, "issue_id", issue, "subscribed");
    subscribe(ws, "workspace_id", beta, "subscribed");
    subscribe(ws, "workspace_id", bobs, "subscribed");
    mc_producer *p = tu_producer(brokers);
    /* Watching works: an event of acme reaches Bob. */
    char t1[MC_UUID_STRLEN], t2[MC_UUID_STRLEN], t3[MC_UUID_STRLEN];
    progress(p, acme, 1, t1);
    json_t *m = tg_ws_next(ws, "event", 20000);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(event_task(m), t1);
    json_decref(m);
    /* Alice removes Bob from acme; what acme does next never reaches him, what his own
     * workspace does still does, and both his acme subscriptions end saying why. */
    snprintf(path, sizeof path, "/api/workspaces/%s/members/%s", acme, bob_id);
    ck_assert_int_eq(tg_call(base, "DELETE", path, alice, NULL, NULL), 204);
    progress(p, acme, 2, t2);
    progress(p, bobs, 3, t3);
    int ended = 0;
    bool got_t3 = false;
    int64_t deadline = mc_now_mono_ms() + 20000;
    while (!got_t3 && mc_now_mono_ms() < deadline) {
        m = mc_wsclient_next(ws, 200);
        const char *type = json_string_value(json_object_get(m, "type"));
        if (type != NULL && strcmp(type, "event") == 0) {
            ck_assert_msg(strcmp(event_task(m), t2) != 0, "an event of acme after the removal");
            got_t3 = strcmp(event_task(m), t3) == 0;
        } else if (type != NULL && strcmp(type, "unsubscribed") == 0) {
            ck_assert_str_eq(tg_str(m, "reason"), "membership_ended");
            ck_assert_str_eq(tg_str(m, "workspace_id"), acme);
            const char *id = tg_str(m, "id");
            ck_assert(strcmp(id, acme) == 0 || strcmp(id, issue) == 0);
            ended++;
        }
        json_decref(m);
    }
    ck_assert(got_t3);
    ck_assert_int_eq(ended, 2);
    /* The socket stays open for what Bob may still see, and acme is not his to watch. */
    ck_assert(mc_wsclient_open_p(ws));
    subscribe(ws, "workspace_id", acme, "error");
    /* A membership ended behind this replica's back (another replica, or SQL) ends within the
     * sweep (2 s), and nothing of the workspace follows. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "DELETE FROM gateway.members WHERE workspace_id = '%s' AND user_id = '%s'", beta,
             bob_id);
    th_sql(sql);
    int64_t t0 = mc_now_mono_ms();
    m = tg_ws_next(ws, "unsubscribed", 6000);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_lt(mc_now_mono_ms() - t0, 4000);
    ck_assert_str_eq(tg_str(m, "id"), beta);
    ck_assert_str_eq(tg_str(m, "reason"), "membership_ended");
    json_decref(m);
    char t4[MC_UUID_STRLEN], t5[MC_UUID_STRLEN];
    progress(p, beta, 4, t4);
    progress(p, bobs, 5, t5);
    m = tg_ws_next(ws, "event", 20000);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(event_task(m), t5);
    json_decref(m);
    mc_producer_free(p, 1000);
    mc_wsclient_close(ws);
    free(alice);
    free(bob);
}
END_TEST

START_TEST(a_revoked_or_expired_token_closes_its_sockets)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char acme[37];
    tg_workspace(base, alice, "acme", acme);
    char ids[2][37], *pats[2];
    for (int i = 0; i < 2; i++) {
        json_t *out = NULL;
        ck_assert_int_eq(tg_call(base, "POST", "/api/tokens", alice, "{\"name\":\"socket\"}", &out),
                         201);
        snprintf(ids[i], sizeof ids[i], "%s", tg_str(out, "id"));
        pats[i] = mc_strdup(tg_str(out, "token"));
        json_decref(out);
    }
    /* The first token watches acme and holds a daemon's wake-up line; it is revoked. */
    mc_wsclient *people = open_ws(base, "/api/ws", pats[0]);
    subscribe(people, "workspace_id", acme, "subscribed");
    mc_wsclient *daemon = open_ws(base, "/api/daemon/ws", pats[0]);
    mc_wsclient *other = open_ws(base, "/api/ws", pats[1]);
    char path[128];
    snprintf(path, sizeof path, "/api/tokens/%s", ids[0]);
    ck_assert_int_eq(tg_call(base, "DELETE", path, alice, NULL, NULL), 204);
    expect_closing(people, "token_revoked", 5000);
    expect_closing(daemon, "token_revoked", 5000);
    char url[160];
    snprintf(url, sizeof url, "%s/api/ws", base);
    ck_assert_ptr_null(mc_wsclient_open(url, pats[0]));
    /* The other token's socket is untouched, until its token expires (the sweep sees it). */
    ck_assert(mc_wsclient_open_p(other));
    subscribe(other, "workspace_id", acme, "subscribed");
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE gateway.personal_access_tokens SET expires_at = now() WHERE id = '%s'",
             ids[1]);
    th_sql(sql);
    expect_closing(other, "token_expired", 5000);
    mc_wsclient_close(people);
    mc_wsclient_close(daemon);
    mc_wsclient_close(other);
    for (int i = 0; i < 2; i++)
        free(pats[i]);
    free(alice);
}
END_TEST

START_TEST(an_expiring_session_closes_its_socket)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *extra[] = {"JWT_SECRET=" SECRET, NULL};
    const char *base = tg_start(brokers, extra, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char acme[37];
    tg_workspace(base, alice, "acme", acme);
    json_t *me = NULL;
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", alice, NULL, &me), 200);
    /* A session that ends in 3 s, signed as the gateway signs them. */
    long exp = (long)time(NULL) + 3;
    char *session = tg_jwt(SECRET, tg_str(me, "id"), exp, JWT_ALG_HS256);
    mc_wsclient *ws = open_ws(base, "/api/ws", session);
    subscribe(ws, "workspace_id", acme, "subscribed");
    expect_closing(ws, "token_expired", 10000);
    ck_assert_int_ge((long)time(NULL), exp);
    mc_wsclient_close(ws);
    json_decref(me);
    free(session);
    free(alice);
}
END_TEST

TCase *ws_case_revoke(void)
{
    TCase *tc = tcase_create("revocation");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, a_removed_member_hears_nothing_more_of_the_workspace);
    tcase_add_test(tc, a_revoked_or_expired_token_closes_its_sockets);
    tcase_add_test(tc, an_expiring_session_closes_its_socket);
    return tc;
}
