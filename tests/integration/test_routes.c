/* test_routes.c: what the gateway answers outside its route table: a JSON 404 for an unknown
 * path, a JSON 405 with Allow for a wrong method (both before authentication, the same with
 * or without a credential), and a JSON 431 for over-large headers; and that the credential
 * column of the table decides who passes. */
#include "gateway_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

/* One exchange on a fresh connection, read until the server closes it. */
struct answer {
    int status;
    char allow[128];
    char content_type[64];
    json_t *body; /* NULL when the body is not JSON */
    char *raw;    /* the whole answer, for messages */
};

static void answer_clear(struct answer *a)
{
    json_decref(a->body);
    free(a->raw);
    memset(a, 0, sizeof *a);
}

/* The value of header name in the head of an answer, into out. */
static void header_value(const char *raw, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *l = strstr(raw, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
        if (strncmp(l + 2, "\r\n", 2) == 0)
            return; /* end of the head */
        if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
            const char *v = l + 3 + n + strspn(l + 3 + n, " ");
            snprintf(out, size, "%.*s", (int)strcspn(v, "\r"), v);
            return;
        }
    }
}

static int port_of(const char *base)
{
    return atoi(strrchr(base, ':') + 1);
}

/* Sends request (a whole HTTP/1.1 request with "Connection: close") as bytes. */
static void exchange(const char *base, const char *request, size_t len, struct answer *a)
{
    memset(a, 0, sizeof *a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(base))};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    /* A server may answer and close before it has read everything; what it sent still counts. */
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    size_t cap = 1 << 16, used = 0;
    a->raw = malloc(cap + 1);
    for (ssize_t n; (n = recv(fd, a->raw + used, cap - used, 0)) > 0;) {
        used += (size_t)n;
        if (used == cap)
            a->raw = realloc(a->raw, (cap *= 2) + 1);
    }
    a->raw[used] = '\0';
    close(fd);
    ck_assert_msg(sscanf(a->raw, "HTTP/1.%*d %d", &a->status) == 1, "no status line in: %.200s",
                  a->raw);
    header_value(a->raw, "Allow", a->allow, sizeof a->allow);
    header_value(a->raw, "Content-Type", a->content_type, sizeof a->content_type);
    const char *body = strstr(a->raw, "\r\n\r\n");
    a->body = body ? json_loads(body + 4, 0, NULL) : NULL;
}

static void call(const char *base, const char *method, const char *path, const char *token,
                 struct answer *a)
{
    char *req = mc_sprintf("%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s%s%s"
                           "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                           method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                           token ? "\r\n" : "");
    exchange(base, req, strlen(req), a);
    free(req);
}

/* The error body every refusal has: {"error":{"code":code,"message":...}}. */
static void assert_error(const struct answer *a, const char *code)
{
    ck_assert_msg(strncmp(a->content_type, "application/json", 16) == 0,
                  "Content-Type %s in: %.300s", a->content_type, a->raw);
    const json_t *err = json_object_get(a->body, "error");
    ck_assert_msg(json_is_object(err), "no JSON error in: %.300s", a->raw);
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(err, "message")));
}

/* Multica's daemon reads these phrases in a 404 body as news about its task or runtime. */
static void assert_no_daemon_phrase(const struct answer *a)
{
    const char *body = strstr(a->raw, "\r\n\r\n");
    ck_assert_ptr_null(strcasestr(body, "task not found"));
    ck_assert_ptr_null(strcasestr(body, "runtime not found"));
}

static void expect(const char *base, const char *method, const char *path, const char *token,
                   int status, const char *allow)
{
    struct answer a;
    call(base, method, path, token, &a);
    ck_assert_msg(a.status == status, "%s %s (%s) answered %d, not %d: %.300s", method, path,
                  token ? "with a credential" : "anonymous", a.status, status, a.raw);
    assert_error(&a, status == 405 ? "method_not_allowed" : "not_found");
    assert_no_daemon_phrase(&a);
    if (allow != NULL)
        ck_assert_str_eq(a.allow, allow);
    else
        ck_assert_str_eq(a.allow, "");
    answer_clear(&a);
}

START_TEST(unknown_paths_404_and_wrong_methods_405_with_allow)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], rt[37], agent[37], *pat;
    tg_setup_workspace(base, alice, "a", ws, rt, &pat, agent);
    char ws_path[128], cancel[128], finish[128];
    snprintf(ws_path, sizeof ws_path, "/api/workspaces/%s", ws);
    const char *task = "0190a0a0-0000-7000-8000-000000000001";
    snprintf(cancel, sizeof cancel, "/api/tasks/%s/finish", task);
    snprintf(finish, sizeof finish, "/api/daemon/tasks/%s/finish", task);
    /* The audit's four requests, each with the credential its neighbours take, then without
     * any and with a bad one: routing answers before authentication, the same for all. */
    const char *who[][2] = {
        {"alice", NULL}, {"pat", NULL}, {"anonymous", NULL}, {"bad", "not-a-token"}};
    who[0][1] = alice;
    who[1][1] = pat;
    for (size_t i = 0; i < MC_ARRAY_LEN(who); i++) {
        const char *t = who[i][1];
        expect(base, "PUT", "/api/auth/send-code", t, 405, "POST");
        expect(base, "DELETE", ws_path, t, 405, "GET");
        expect(base, "POST", cancel, t, 404, NULL);
        expect(base, "POST", finish, t, 404, NULL);
    }
    /* Allow lists every method the path has, once. */
    snprintf(ws_path, sizeof ws_path, "/api/workspaces/%s/members", ws);
    expect(base, "PUT", ws_path, alice, 405, "GET, POST");
    expect(base, "PATCH", "/api/workspaces", alice, 405, "POST, GET");
    /* Outside /api: the web page's paths (/, /login, /assets/...) answer GET only, an asset it
     * does not have and other unknown paths are JSON 404s, the health routes take GET only. */
    expect(base, "POST", "/", NULL, 405, "GET");
    expect(base, "GET", "/assets/nope.js", NULL, 404, NULL);
    expect(base, "GET", "/nope", NULL, 404, NULL);
    expect(base, "GET", "/api", NULL, 404, NULL);
    expect(base, "GET", "/api/", alice, 404, NULL);
    expect(base, "POST", "/healthz", NULL, 405, "GET");
    expect(base, "DELETE", "/metrics", NULL, 405, "GET");
    /* The table's routes still answer, and their credential column still holds. */
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", alice, NULL, NULL), 200);
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", NULL, NULL, NULL), 401);
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", pat, NULL, NULL), 200);
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", "mul_0000", NULL, NULL), 401);
    ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/heartbeat", NULL, "{}", NULL), 401);
    char beat[96];
    snprintf(beat, sizeof beat, "{\"runtime_id\":\"%s\"}", rt);
    ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/heartbeat", pat, beat, NULL), 200);
    ck_assert_int_eq(tg_call(base, "GET", "/api/config", NULL, NULL, NULL), 200);
    ck_assert_int_eq(tg_call(base, "GET", "/healthz", NULL, NULL, NULL), 200);
    char url[128], *page = NULL;
    snprintf(url, sizeof url, "%s/", base);
    ck_assert_int_eq(th_http("GET", url, NULL, NULL, &page), 200);
    ck_assert_ptr_nonnull(strstr(page, "<html"));
    free(page);
    free(alice);
    free(pat);
}
END_TEST

/* A GET of /api/me with one header of n bytes (or a path of n bytes). */
static void big_request(const char *base, size_t n, bool in_path, struct answer *a)
{
    char *filler = malloc(n + 1);
    memset(filler, 'a', n);
    filler[n] = '\0';
    char *req = in_path ? mc_sprintf("GET /api/%s HTTP/1.1\r\nHost: test\r\n"
                                     "Connection: close\r\n\r\n",
                                     filler)
                        : mc_sprintf("GET /api/me HTTP/1.1\r\nHost: test\r\n"
                                     "Connection: close\r\nX-Filler: %s\r\n\r\n",
                                     filler);
    exchange(base, req, strlen(req), a);
    free(req);
    free(filler);
}

START_TEST(over_large_headers_answer_a_json_431)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    struct answer a;
    /* Within the budget (32 KiB), a request goes on to its route (401: no credential). */
    big_request(base, 30 * 1024, false, &a);
    ck_assert_int_eq(a.status, 401);
    answer_clear(&a);
    /* Beyond it, up to about 120 KiB, the answer is the JSON error (libmicrohttpd's own
     * HTML page before). */
    size_t sizes[] = {40 * 1024, 64 * 1024, 100 * 1024};
    for (size_t i = 0; i < MC_ARRAY_LEN(sizes); i++) {
        big_request(base, sizes[i], false, &a);
        ck_assert_msg(a.status == 431, "a %zu-byte header answered %d", sizes[i], a.status);
        assert_error(&a, "too_large");
        answer_clear(&a);
    }
    /* A URL over the budget is a 414 with the same shape. */
    big_request(base, 40 * 1024, true, &a);
    ck_assert_int_eq(a.status, 414);
    assert_error(&a, "too_large");
    answer_clear(&a);
    /* The gateway is still well. */
    ck_assert_int_eq(tg_call(base, "GET", "/healthz", NULL, NULL, NULL), 200);
}
END_TEST

Suite *suite_routes(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("gateway");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, unknown_paths_404_and_wrong_methods_405_with_allow);
    tcase_add_test(tc, over_large_headers_answer_a_json_431);
    suite_add_tcase(s, tc);
    return s;
}
