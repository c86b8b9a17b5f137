/* test_websocket.c: the WebSocket hub under a client that stops reading: its queue overflows,
 * it is disconnected, and a healthy client on the same stream receives everything, although
 * the gateway projects the burst in one transaction and it reaches the hub at once (more than
 * the queue limit: the limit judges progress, not an instant). And task messages, read by the
 * transactions that wrote them (no NOTIFY): one that commits after a later one still reaches
 * the watcher, each once. Revocation on open sockets is in test_ws_revoke.c. */
#include "gateway_client.h"
#include "mc_kafka.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A WebSocket client by hand: handshake, one masked text frame, then it never reads again. */
static int stubborn_client(int port, const char *token, const char *subscribe)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                     token);
    ck_assert_int_eq(send(fd, req, (size_t)n, 0), n);
    char resp[1024];
    ssize_t got = recv(fd, resp, sizeof resp - 1, 0);
    ck_assert_int_gt(got, 0);
    resp[got] = '\0';
    ck_assert_msg(strstr(resp, " 101 ") != NULL, "%s", resp);
    size_t len = strlen(subscribe);
    unsigned char frame[512];
    unsigned char mask[4] = {1, 2, 3, 4};
    frame[0] = 0x81;
    frame[1] = (unsigned char)(0x80 | len);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = (unsigned char)subscribe[i] ^ mask[i % 4];
    ck_assert_int_eq(send(fd, frame, 6 + len, 0), (ssize_t)(6 + len));
    return fd;
}

START_TEST(a_slow_client_is_dropped_and_blocks_nobody)
{
    th_db_new();
    const char *brokers = th_broker_start(8);
    const char *extra[] = {"WS_QUEUE_LIMIT=200", NULL};
    const char *base = tg_start(brokers, extra, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37];
    char *pat;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &pat, agent);
    char sub[200];
    snprintf(sub, sizeof sub, "{\"type\":\"subscribe\",\"workspace_id\":\"%s\"}", ws);
    int port = atoi(strrchr(base, ':') + 1);
    int slow = stubborn_client(port, alice, sub);
    char url[128];
    snprintf(url, sizeof url, "%s/api/ws", base);
    mc_wsclient *fast = mc_wsclient_open(url, alice);
    json_t *subj = json_loads(sub, 0, NULL);
    ck_assert_int_eq(mc_wsclient_send(fast, subj), 0);
    json_decref(subj);
    usleep(500 * 1000);
    /* 600 progress events of 16 KB over 8 tasks: 9.6 MB, more than loopback's socket buffers
     * (4 MB) hold for the slow client, so its queue grows past the limit and stays there.
     * The healthy client's burst stays under the hard bound (4 x 200). */
    enum { N = 600, TASKS = 8, TEXT = 16000 };
    char *text = malloc(TEXT + 1);
    memset(text, 'x', TEXT);
    text[TEXT] = '\0';
    char *events[N];
    for (int i = 0; i < N; i++) {
        char task[MC_UUID_STRLEN];
        tu_uuid(task, 0xd0000001, (uint32_t)(i % TASKS + 1));
        json_t *data =
            json_pack("{ss ss ss ss sI ss sI ss}", "task_id", task, "workspace_id", ws, "agent_id",
                      agent, "runtime_id", runtime, "version", (json_int_t)(i / TASKS + 1),
                      "status", "running", "seq", (json_int_t)(i / TASKS), "text", text);
        events[i] = mc_event_encode(MC_EV_TASK_PROGRESS, "test", task, data, NULL);
        ck_assert_ptr_nonnull(events[i]);
    }
    mc_producer *p = tu_producer(brokers);
    tu_send(p, MC_TOPIC_TASK_EVENTS, events, NULL, N);
    mc_producer_free(p, 1000);
    int received = 0;
    int64_t deadline = mc_now_mono_ms() + 60000;
    while (received < N && mc_now_mono_ms() < deadline) {
        json_t *m = mc_wsclient_next(fast, 500);
        if (m != NULL && strcmp(json_string_value(json_object_get(m, "type")), "event") == 0)
            received++;
        json_decref(m);
    }
    ck_assert_int_eq(received, N);
    /* The slow one was cut off: the overflow is counted and its socket ends (after whatever the
     * kernel buffered). */
    /* It is judged stalled once its sender has taken nothing for 2 s. */
    char murl[128], *metrics = NULL;
    snprintf(murl, sizeof murl, "%s/metrics", base);
    for (int i = 0; i < 100; i++) {
        free(metrics);
        metrics = NULL;
        ck_assert_int_eq(th_http("GET", murl, NULL, NULL, &metrics), 200);
        if (strstr(metrics, "multica_gateway_websocket_overflows_total 1\n"))
            break;
        usleep(100 * 1000);
    }
    ck_assert_msg(strstr(metrics, "multica_gateway_websocket_overflows_total 1\n"), "%s", metrics);
    free(metrics);
    char buf[65536];
    ssize_t r;
    size_t total = 0;
    while ((r = recv(slow, buf, sizeof buf, 0)) > 0)
        total += (size_t)r;
    ck_assert_int_eq(r, 0);
    ck_assert_uint_lt(total, (size_t)N * TEXT);
    close(slow);
    mc_wsclient_close(fast);
    for (int i = 0; i < N; i++)
        free(events[i]);
    free(text);
    free(alice);
    free(pat);
}
END_TEST

/* Counts the task messages the watcher receives within ms, by seq (1..3), and fails on any
 * other seq. */
static void count_messages(mc_wsclient *w, int ms, int seen[4])
{
    int64_t deadline = mc_now_mono_ms() + ms;
    while (mc_now_mono_ms() < deadline) {
        json_t *m = mc_wsclient_next(w, 100);
        if (m == NULL)
            continue;
        if (strcmp(json_string_value(json_object_get(m, "type")), "task_message") == 0) {
            json_int_t seq =
                json_integer_value(json_object_get(json_object_get(m, "message"), "seq"));
            ck_assert_msg(seq >= 1 && seq <= 3, "unexpected message seq %lld", (long long)seq);
            seen[seq]++;
        }
        json_decref(m);
    }
}

START_TEST(messages_committed_out_of_order_reach_the_watcher_once_each)
{
    const char *url_db = th_db_new();
    const char *brokers = th_broker_start(3);
    const char *base = tg_start(brokers, NULL, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37];
    char *pat;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &pat, agent);
    const char *task = "e0000000-0000-7000-8000-000000000001";
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO gateway.tasks (task_id, workspace_id, agent_id, runtime_id, status) "
             "VALUES ('%s', '%s', '%s', '%s', 'running')",
             task, ws, agent, runtime);
    th_sql(sql);
    mc_wsclient *w = tg_ws_watch(base, alice, "workspace_id", ws);
    usleep(500 * 1000); /* the listener has a client and its first snapshot */
    /* Transaction A writes message 1 and stays open: its transaction id is the lowest. */
    PGconn *a = PQconnectdb(url_db);
    ck_assert_int_eq(PQstatus(a), CONNECTION_OK);
    PQclear(PQexec(a, "BEGIN"));
    snprintf(sql, sizeof sql,
             "SELECT gateway.record_task_messages('%s', "
             "'[{\"seq\": 1, \"type\": \"text\", \"content\": \"first\"}]')",
             task);
    PGresult *r = PQexec(a, sql);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    /* Message 2 commits after it began, in a transaction of its own; message 3 the daemon's
     * way, over HTTP. */
    snprintf(sql, sizeof sql,
             "SELECT gateway.record_task_messages('%s', "
             "'[{\"seq\": 2, \"type\": \"text\", \"content\": \"second\"}]')",
             task);
    th_sql(sql);
    char path[128];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/messages", task);
    ck_assert_int_eq(tg_call(base, "POST", path, pat,
                             "{\"messages\": [{\"seq\": 3, \"type\": \"text\", "
                             "\"content\": \"third\"}]}",
                             NULL),
                     200);
    /* The committed ones arrive without waiting for A; A's is not visible yet. */
    int seen[4] = {0};
    count_messages(w, 1500, seen);
    ck_assert_int_eq(seen[1], 0);
    ck_assert_int_eq(seen[2], 1);
    ck_assert_int_eq(seen[3], 1);
    /* A commits: its message, below the others' transaction ids, still arrives, and nothing
     * arrives twice. */
    r = PQexec(a, "COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    count_messages(w, 1500, seen);
    ck_assert_int_eq(seen[1], 1);
    ck_assert_int_eq(seen[2], 1);
    ck_assert_int_eq(seen[3], 1);
    PQfinish(a);
    mc_wsclient_close(w);
    free(alice);
    free(pat);
}
END_TEST

TCase *ws_case_revoke(void);

Suite *suite_websocket(void)
{
    Suite *s = suite_create("websocket");
    TCase *tc = tcase_create("hub");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_slow_client_is_dropped_and_blocks_nobody);
    tcase_add_test(tc, messages_committed_out_of_order_reach_the_watcher_once_each);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, ws_case_revoke());
    return s;
}
