/* test_auth.c: login codes (expiry, attempt cap, send rate), tokens (tampered, expired,
 * "none"), production safety of the dev code and JWT_SECRET, signup and workspace-creation
 * switches, and workspace isolation across every registered route. */
#include "gateway_client.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define SECRET "test-secret-0123456789abcdef0123456789abcdef"

/* The last code the gateway logged for email (no mail provider configured). */
static void logged_code(const char *email, char code[7])
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "grep -o 'Verification code for %s: [0-9]*' %s/gateway.log | tail -1 | "
             "awk '{print $NF}'",
             email, th_tmpdir());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(code, 7, p));
    pclose(p);
    ck_assert_int_eq(strlen(code), 6);
}

static int verify(const char *base, const char *email, const char *code)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"code\":\"%s\"}", email, code);
    return tg_call(base, "POST", "/api/auth/verify-code", NULL, body, NULL);
}

static int send_code(const char *base, const char *email)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
    return tg_call(base, "POST", "/api/auth/send-code", NULL, body, NULL);
}

START_TEST(codes_expire_cap_attempts_and_rate_limit_sends)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *extra[] = {"MULTICA_DEV_VERIFICATION_CODE=", "JWT_SECRET=" SECRET,
                           "VERIFICATION_CODE_TTL=2s", NULL};
    const char *base = tg_start(brokers, extra, NULL);
    char code[7];
    /* A right code logs in, once. */
    ck_assert_int_eq(send_code(base, "a@example.com"), 200);
    logged_code("a@example.com", code);
    ck_assert_int_eq(verify(base, "a@example.com", code), 200);
    ck_assert_int_ne(verify(base, "a@example.com", code), 200);
    /* Wrong codes are capped: after five, even the right code is refused. */
    ck_assert_int_eq(send_code(base, "b@example.com"), 200);
    logged_code("b@example.com", code);
    char wrong[12];
    snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(verify(base, "b@example.com", wrong), 400);
    ck_assert_int_eq(verify(base, "b@example.com", wrong), 429);
    ck_assert_int_eq(verify(base, "b@example.com", code), 429);
    /* Codes expire. */
    ck_assert_int_eq(send_code(base, "c@example.com"), 200);
    logged_code("c@example.com", code);
    usleep(2500 * 1000);
    ck_assert_int_eq(verify(base, "c@example.com", code), 400);
    /* Sends are rate limited per address (5 per hour by default). */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(send_code(base, "d@example.com"), 200);
    ck_assert_int_eq(send_code(base, "d@example.com"), 429);
    ck_assert_int_eq(send_code(base, "e@example.com"), 200);
    /* Bad input names the field. */
    json_t *out = NULL;
    ck_assert_int_eq(
        tg_call(base, "POST", "/api/auth/send-code", NULL, "{\"email\":\"nope\"}", &out), 400);
    ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "email");
    json_decref(out);
    ck_assert_int_eq(verify(base, "a@example.com", "12ab56"), 400);
    /* Codes are stored hashed, never in clear. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.verification_codes WHERE code_hash "
             "LIKE '%%%s%%'",
             code);
    ck_assert_int_eq(th_sql_int(sql), 0);
}
END_TEST

struct guess {
    const char *base, *email;
    char code[8];
    int status;
};

static void *guess_main(void *arg)
{
    struct guess *g = arg;
    g->status = verify(g->base, g->email, g->code);
    return NULL;
}

enum { GUESSES = 40, ROUNDS = 8 };

START_TEST(concurrent_guesses_cannot_outrun_the_attempt_cap)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *extra[] = {"MULTICA_DEV_VERIFICATION_CODE=",
                           "JWT_SECRET=" SECRET,
                           "GATEWAY_DB_POOL=48",
                           "VERIFICATION_SENDS_PER_HOUR=100",
                           "VERIFICATION_SENDS_PER_CLIENT_PER_HOUR=100",
                           NULL};
    const char *base = tg_start(brokers, extra, NULL);
    /* Each round: 40 wrong guesses at once, then the right code as soon as the cap is
     * used up, while they still run. Exactly four
     * are judged wrong (400) before the fifth uses the cap up (429), and the right code never
     * logs in: once, 4 to 18 were judged against a live code and it logged in 2 rounds of 16. */
    for (int round = 0; round < ROUNDS; round++) {
        char email[64], code[7];
        snprintf(email, sizeof email, "race%d@example.com", round);
        ck_assert_int_eq(send_code(base, email), 200);
        logged_code(email, code);
        static struct guess g[GUESSES + 1];
        pthread_t t[GUESSES + 1];
        for (int i = 0; i <= GUESSES; i++) {
            g[i] = (struct guess){.base = base, .email = email};
            if (i < GUESSES)
                snprintf(g[i].code, sizeof g[i].code, "%06d", (atoi(code) + 1 + i) % 1000000);
            else
                snprintf(g[i].code, sizeof g[i].code, "%s", code);
        }
        /* The wrong guesses go first, all at once; the right code follows once the cap is
         * used up (five counted), while the rest of them still race. Sent any earlier, it may
         * legitimately be judged before the fifth wrong guess and log in. */
        for (int i = 0; i < GUESSES; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, guess_main, &g[i]), 0);
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT least(failed_attempts, 5) FROM gateway.verification_codes "
                 "WHERE email = '%s'",
                 email);
        ck_assert_int_eq(th_sql_wait(sql, 5, 10000), 5);
        ck_assert_int_eq(pthread_create(&t[GUESSES], NULL, guess_main, &g[GUESSES]), 0);
        int wrong = 0, capped = 0;
        for (int i = 0; i <= GUESSES; i++) {
            pthread_join(t[i], NULL);
            ck_assert_msg(g[i].status != 200, "round %d: guess %d logged in", round, i);
            wrong += g[i].status == 400;
            capped += g[i].status == 429;
        }
        ck_assert_int_eq(wrong, 4);
        ck_assert_int_eq(capped, GUESSES + 1 - 4);
    }
}
END_TEST

START_TEST(sending_codes_is_limited_per_client_too)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *extra[] = {"VERIFICATION_SENDS_PER_CLIENT_PER_HOUR=3",
                           "CLIENT_IP_HEADER=X-Forwarded-For", NULL};
    const char *base = tg_start(brokers, extra, NULL);
    /* One client, many addresses: the fourth is refused, whatever the address. */
    for (int i = 0; i < 3; i++) {
        char email[64];
        snprintf(email, sizeof email, "spray%d@example.com", i);
        ck_assert_int_eq(send_code(base, email), 200);
    }
    json_t *out = NULL;
    ck_assert_int_eq(tg_call(base, "POST", "/api/auth/send-code", NULL,
                             "{\"email\":\"spray9@example.com\"}", &out),
                     429);
    ck_assert_ptr_nonnull(strstr(tg_str(json_object_get(out, "error"), "message"), "client"));
    json_decref(out);
    /* Behind a trusted proxy, each client (its forwarded address) has its own budget. */
    char url[160], *body = NULL;
    snprintf(url, sizeof url, "%s/api/auth/send-code", base);
    const char *h1[] = {"X-Forwarded-For: 203.0.113.7, 10.0.0.1", NULL};
    ck_assert_int_eq(th_http("POST", url, h1, "{\"email\":\"other@example.com\"}", &body), 200);
    free(body);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM gateway.code_send_clients WHERE client = "
                                "'203.0.113.7'"),
                     1);
}
END_TEST

START_TEST(tampered_expired_and_unsigned_tokens_are_refused)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *extra[] = {"JWT_SECRET=" SECRET, NULL};
    const char *base = tg_start(brokers, extra, NULL);
    char *token = tg_login(base, "ann@example.com");
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", token, NULL, NULL), 200);
    json_t *me = NULL;
    tg_call(base, "GET", "/api/me", token, NULL, &me);
    const char *uid = tg_str(me, "id");
    char *tampered = mc_strdup(token);
    size_t n = strlen(tampered);
    tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
    char *expired = tg_jwt(SECRET, uid, (long)time(NULL) - 10, JWT_ALG_HS256);
    char *other_key = tg_jwt("another-secret-0123456789abcdef0123456789", uid,
                             (long)time(NULL) + 3600, JWT_ALG_HS256);
    char *unsigned_tok = tg_jwt(NULL, uid, (long)time(NULL) + 3600, JWT_ALG_NONE);
    char *good = tg_jwt(SECRET, uid, (long)time(NULL) + 3600, JWT_ALG_HS256);
    const char *bad[] = {tampered, expired, other_key, unsigned_tok, "garbage", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tg_call(base, "GET", "/api/me", bad[i], NULL, NULL) == 401, "token %zu", i);
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", good, NULL, NULL), 200);
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", NULL, NULL, NULL), 401);
    /* Tokens of the right shape that were never issued are refused like any other. */
    const char *unknown[] = {"mul_0000000000000000000000000000000000000000",
                             "mat_0000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        ck_assert_int_eq(tg_call(base, "GET", "/api/me", unknown[i], NULL, NULL), 401);
    /* A session token works for a daemon too (Multica's daemon accepts either). */
    ck_assert_int_eq(tg_call(base, "GET", "/api/daemon/workspaces", token, NULL, NULL), 200);
    json_decref(me);
    free(tampered);
    free(expired);
    free(other_key);
    free(unsigned_tok);
    free(good);
    free(token);
}
END_TEST

START_TEST(production_refuses_the_dev_code_and_weak_secrets)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    /* No or weak JWT_SECRET in production, however APP_ENV spells it, and an APP_ENV that is
     * neither production nor development: the gateway refuses to start, saying why. */
    const char *weak[][3] = {{"APP_ENV=production", "JWT_SECRET=", NULL},
                             {"APP_ENV=production", "JWT_SECRET=short", NULL},
                             {"APP_ENV=Production", "JWT_SECRET=short", NULL},
                             {"APP_ENV= PRODUCTION ", "JWT_SECRET=short", NULL},
                             {"APP_ENV=prod", "JWT_SECRET=short", NULL}};
    for (int i = 0; i < 5; i++) {
        char *env[] = {mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_gateway")),
                       mc_sprintf("KAFKA_BROKERS=%s", brokers),
                       mc_sprintf("HTTP_PORT=%d", th_free_port()),
                       mc_sprintf("%s", weak[i][0]),
                       mc_sprintf("%s", weak[i][1]),
                       NULL};
        pid_t pid = th_spawn(th_bin("multica-api-gateway"), (const char *const *)env, "weak");
        for (int k = 0; env[k]; k++)
            free(env[k]);
        int status = th_wait_exit(pid, 10000);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 2,
                      "gateway started with a weak secret");
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -q 'JWT_SECRET: is too weak' %s/weak.log", th_tmpdir());
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "grep -q \"APP_ENV: must be production or development, got 'prod'\" %s/weak.log",
             th_tmpdir());
    ck_assert_int_eq(system(cmd), 0);
    /* With a good secret it starts, and the fixed dev code is ignored (APP_ENV=Production is
     * production too). */
    const char *extra[] = {"APP_ENV=Production", "JWT_SECRET=" SECRET, NULL};
    const char *base = tg_start(brokers, extra, NULL);
    ck_assert_int_eq(send_code(base, "p@example.com"), 200);
    ck_assert_int_eq(verify(base, "p@example.com", "424242"), 400);
    char code[7];
    logged_code("p@example.com", code);
    ck_assert_int_eq(verify(base, "p@example.com", code), 200);
}
END_TEST

START_TEST(signup_and_workspace_switches)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *extra[] = {"ALLOW_SIGNUP=false", "DISABLE_WORKSPACE_CREATION=true",
                           "GOOGLE_CLIENT_ID=abc.apps.example", NULL};
    const char *base = tg_start(brokers, extra, NULL);
    json_t *cfg = NULL;
    ck_assert_int_eq(tg_call(base, "GET", "/api/config", NULL, NULL, &cfg), 200);
    ck_assert(json_is_false(json_object_get(cfg, "allow_signup")));
    ck_assert(json_is_true(json_object_get(cfg, "workspace_creation_disabled")));
    ck_assert_ptr_null(json_object_get(cfg, "disable_workspace_creation"));
    ck_assert_str_eq(tg_str(cfg, "google_client_id"), "abc.apps.example");
    json_decref(cfg);
    ck_assert_int_eq(send_code(base, "stranger@example.com"), 403);
    th_sql("INSERT INTO gateway.users (id, email) VALUES "
           "('0195f1c2-0000-7000-8000-00000000a001', 'known@example.com')");
    char *token = tg_login(base, "known@example.com");
    ck_assert_int_eq(tg_call(base, "POST", "/api/workspaces", token, "{\"name\":\"x\"}", NULL),
                     403);
    free(token);
}
END_TEST

/* Fills a route's path parameters with workspace B's ids. */
static void fill(const char *pattern, char *out, size_t len, const char *const ids[][2], int n)
{
    out[0] = '\0';
    const char *p = pattern;
    while (*p) {
        if (*p == ':') {
            const char *end = p + strcspn(p, "/");
            for (int i = 0; i < n; i++)
                if ((size_t)(end - p - 1) == strlen(ids[i][0]) &&
                    strncmp(p + 1, ids[i][0], (size_t)(end - p - 1)) == 0)
                    strncat(out, ids[i][1], len - strlen(out) - 1);
            p = end;
        } else {
            size_t l = strlen(out);
            if (l + 1 < len) {
                out[l] = *p;
                out[l + 1] = '\0';
            }
            p++;
        }
    }
}

START_TEST(a_member_of_a_sees_nothing_of_b_on_any_route)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    char *alice = tg_login(base, "alice@example.com");
    char *bob = tg_login(base, "bob@example.com");
    char ws_a[37], rt_a[37], ag_a[37], ws_b[37], rt_b[37], ag_b[37], issue_b[37], task_b[37];
    char *pat_a, *pat_b;
    tg_setup_workspace(base, alice, "a", ws_a, rt_a, &pat_a, ag_a);
    tg_setup_workspace(base, bob, "b", ws_b, rt_b, &pat_b, ag_b);
    json_t *out = NULL;
    char path[512];
    tg_issue(base, bob, ws_b, "B's secret", issue_b);
    ck_assert_int_eq(tg_assign(base, bob, issue_b, ag_b, task_b), 200);
    json_t *me = NULL;
    tg_call(base, "GET", "/api/me", bob, NULL, &me);
    char bob_id[37];
    snprintf(bob_id, sizeof bob_id, "%s", tg_str(me, "id"));
    json_decref(me);
    json_t *tokens = NULL;
    ck_assert_int_eq(tg_call(base, "GET", "/api/tokens", bob, NULL, &tokens), 200);
    char token_b[37];
    snprintf(token_b, sizeof token_b, "%s", tg_str(json_array_get(tokens, 0), "id"));
    json_decref(tokens);
    char project_b[37];
    snprintf(path, sizeof path, "/api/projects?workspace_id=%s", ws_b);
    ck_assert_int_eq(tg_call(base, "POST", path, bob, "{\"title\":\"B's plan\"}", &out), 201);
    snprintf(project_b, sizeof project_b, "%s", tg_str(out, "id"));
    json_decref(out);
    out = NULL;
    const char *ids[][2] = {{"workspace_id", ws_b}, {"issue_id", issue_b},    {"agent_id", ag_b},
                            {"task_id", task_b},    {"runtime_id", rt_b},     {"user_id", bob_id},
                            {"token_id", token_b},  {"project_id", project_b}};
    /* Every route the gateway registered, from the binary itself. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --routes", th_bin("multica-api-gateway"));
    FILE *routes = popen(cmd, "r");
    ck_assert_ptr_nonnull(routes);
    char line[256];
    int checked = 0;
    while (fgets(line, sizeof line, routes)) {
        char method[16], pattern[200], credential[16];
        ck_assert_int_eq(sscanf(line, "%15s %199s %15s", method, pattern, credential), 3);
        if (strchr(pattern, ':') == NULL)
            continue; /* not scoped to a resource: /api/me, /api/workspaces, login, ... */
        if (strcmp(credential, "none") == 0)
            continue; /* public: the web page's files hold nothing of anyone's */
        fill(pattern, path, sizeof path, ids, 8);
        /* A's session, and (on the daemon's routes) A's daemon token: neither reaches B. */
        const char *token = strncmp(pattern, "/api/daemon/", 12) == 0 ? pat_a : alice;
        const char *payload = strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0
                                  ? NULL
                                  : "{\"name\":\"x\",\"title\":\"x\",\"content\":\"x\",\"email\":"
                                    "\"mallory@example.com\",\"runtime_id\":\"00000000-0000-7000-"
                                    "8000-000000000000\",\"summary\":\"x\",\"step\":1,\"output\":"
                                    "\"x\",\"error\":\"x\",\"messages\":[]}";
        if (strstr(pattern, "/usage") && strncmp(pattern, "/api/daemon/", 12) == 0)
            payload =
                "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}]";
        int status = tg_call(base, method, path, token, payload, NULL);
        ck_assert_msg(status == 403 || status == 404 || status == 409,
                      "%s %s answered %d to a member of another workspace (%s)", method, path,
                      status, credential);
        /* The refusal is about membership, not a missing route: B itself may read. */
        if (strcmp(method, "GET") == 0)
            ck_assert_msg(tg_call(base, method, path, bob, NULL, NULL) == 200,
                          "GET %s does not answer its own member", path);
        checked++;
    }
    pclose(routes);
    ck_assert_int_ge(checked, 20);
    /* B's data is untouched, and B still sees it. */
    snprintf(path, sizeof path, "/api/issues/%s", issue_b);
    ck_assert_int_eq(tg_call(base, "GET", path, bob, NULL, &out), 200);
    ck_assert_str_eq(tg_str(out, "title"), "B's secret");
    json_decref(out);
    snprintf(path, sizeof path, "/api/workspaces/%s/members", ws_b);
    ck_assert_int_eq(tg_call(base, "GET", path, bob, NULL, &out), 200);
    ck_assert_uint_eq(json_array_size(out), 1);
    json_decref(out);
    free(alice);
    free(bob);
    free(pat_a);
    free(pat_b);
}
END_TEST

Suite *suite_auth(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("gateway");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, codes_expire_cap_attempts_and_rate_limit_sends);
    tcase_add_test(tc, concurrent_guesses_cannot_outrun_the_attempt_cap);
    tcase_add_test(tc, sending_codes_is_limited_per_client_too);
    tcase_add_test(tc, tampered_expired_and_unsigned_tokens_are_refused);
    tcase_add_test(tc, production_refuses_the_dev_code_and_weak_secrets);
    tcase_add_test(tc, signup_and_workspace_switches);
    tcase_add_test(tc, a_member_of_a_sees_nothing_of_b_on_any_route);
    suite_add_tcase(s, tc);
    return s;
}
