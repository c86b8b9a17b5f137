/* gateway_client.c: gateway processes and API calls for the gateway test suites. */
#include "gateway_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tg_start(const char *brokers, const char *const *extra, pid_t *pid)
{
    static char base[64];
    int port = th_free_port();
    char *env[24];
    int n = 0;
    env[n++] = mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_gateway"));
    env[n++] = mc_sprintf("KAFKA_BROKERS=%s", brokers);
    env[n++] = mc_sprintf("HTTP_PORT=%d", port);
    env[n++] = mc_sprintf("HTTP_BIND=127.0.0.1");
    env[n++] = mc_sprintf("MULTICA_DEV_VERIFICATION_CODE=424242");
    env[n++] = mc_sprintf("APP_ENV=development");
    env[n++] = mc_sprintf("KAFKA_CONFIG=session.timeout.ms=6000,heartbeat.interval.ms=500");
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 22; i++)
        env[n++] = mc_sprintf("%s", extra[i]);
    env[n] = NULL;
    pid_t p = th_spawn(th_bin("multica-api-gateway"), (const char *const *)env, "gateway");
    for (int i = 0; i < n; i++)
        free(env[i]);
    if (pid)
        *pid = p;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", base);
    ck_assert_int_eq(th_wait_http_ok(url, 30000), 200);
    return base;
}

int tg_call(const char *base, const char *method, const char *path, const char *token,
            const char *body, json_t **out)
{
    return mc_client_call(base, method, path, token, body, out);
}

const char *tg_str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    ck_assert_msg(v != NULL, "missing %s", key);
    return v;
}

char *tg_jwt(const char *secret, const char *sub, long exp, jwt_alg_t alg)
{
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    jwt_add_grant(jwt, "sub", sub);
    jwt_add_grant(jwt, "iss", "multica");
    jwt_add_grant_int(jwt, "exp", exp);
    jwt_set_alg(jwt, alg, alg == JWT_ALG_NONE ? NULL : (const unsigned char *)secret,
                alg == JWT_ALG_NONE ? 0 : (int)strlen(secret));
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    return t;
}

void tg_workspace(const char *base, const char *token, const char *name, char ws[37])
{
    char body[300];
    json_t *out = NULL;
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    ck_assert_int_eq(tg_call(base, "POST", "/api/workspaces", token, body, &out), 201);
    snprintf(ws, 37, "%s", tg_str(out, "id"));
    json_decref(out);
}

json_t *tg_ws_next(mc_wsclient *ws, const char *type, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    while (mc_now_mono_ms() < deadline) {
        json_t *m = mc_wsclient_next(ws, 100);
        const char *t = json_string_value(json_object_get(m, "type"));
        if (t != NULL && strcmp(t, type) == 0)
            return m;
        json_decref(m);
    }
    return NULL;
}

mc_wsclient *tg_ws_watch(const char *base, const char *token, const char *scope, const char *id)
{
    char url[256];
    snprintf(url, sizeof url, "%s/api/ws", base);
    mc_wsclient *w = mc_wsclient_open(url, token);
    ck_assert_ptr_nonnull(w);
    json_t *sub = json_pack("{ss ss}", "type", "subscribe", scope, id);
    ck_assert_int_eq(mc_wsclient_send(w, sub), 0);
    json_decref(sub);
    return w;
}

char *tg_login(const char *base, const char *email)
{
    char body[300];
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
    ck_assert_int_eq(tg_call(base, "POST", "/api/auth/send-code", NULL, body, NULL), 200);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"code\":\"424242\"}", email);
    json_t *out = NULL;
    ck_assert_int_eq(tg_call(base, "POST", "/api/auth/verify-code", NULL, body, &out), 200);
    char *token = mc_strdup(tg_str(out, "token"));
    json_decref(out);
    return token;
}

char *tg_pat(const char *base, const char *session)
{
    json_t *out = NULL;
    ck_assert_int_eq(
        tg_call(base, "POST", "/api/tokens", session, "{\"name\":\"test daemon\"}", &out), 201);
    char *pat = mc_strdup(tg_str(out, "token"));
    json_decref(out);
    return pat;
}

void tg_register(const char *base, const char *pat, const char *ws, const char *daemon_id,
                 char runtime[37])
{
    char body[512];
    json_t *out = NULL;
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"daemon_id\":\"%s\",\"device_name\":\"test-host\","
             "\"cli_version\":\"test\",\"runtimes\":[{\"name\":\"Claude (test-host)\","
             "\"type\":\"claude\",\"version\":\"2.1.220\",\"status\":\"online\"}]}",
             ws, daemon_id);
    ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/register", pat, body, &out), 200);
    json_t *rt = json_array_get(json_object_get(out, "runtimes"), 0);
    ck_assert_str_eq(tg_str(rt, "provider"), "claude");
    snprintf(runtime, 37, "%s", tg_str(rt, "id"));
    json_decref(out);
}

void tg_agent(const char *base, const char *token, const char *ws, const char *name,
              const char *runtime, int max_concurrent_tasks, char agent[37])
{
    char body[512], path[128];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/agents?workspace_id=%s", ws);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"runtime_id\":\"%s\",\"max_concurrent_tasks\":%d,"
             "\"instructions\":\"Be brief.\"}",
             name, runtime, max_concurrent_tasks);
    ck_assert_int_eq(tg_call(base, "POST", path, token, body, &out), 201);
    snprintf(agent, 37, "%s", tg_str(out, "id"));
    json_decref(out);
}

/* POSTs {title} to /api/<kind>?workspace_id=ws (expecting 201); fills id. */
static void create_titled(const char *base, const char *token, const char *kind, const char *ws,
                          const char *title, char id[37])
{
    char body[512], path[128];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/%s?workspace_id=%s", kind, ws);
    snprintf(body, sizeof body, "{\"title\":\"%s\"}", title);
    ck_assert_int_eq(tg_call(base, "POST", path, token, body, &out), 201);
    snprintf(id, 37, "%s", tg_str(out, "id"));
    json_decref(out);
}

void tg_issue(const char *base, const char *token, const char *ws, const char *title,
              char issue[37])
{
    create_titled(base, token, "issues", ws, title, issue);
}

void tg_project(const char *base, const char *token, const char *ws, const char *title,
                char project[37])
{
    create_titled(base, token, "projects", ws, title, project);
}

int tg_assign(const char *base, const char *token, const char *issue, const char *agent,
              char task[37])
{
    char body[256], path[128];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/issues/%s", issue);
    if (agent != NULL)
        snprintf(body, sizeof body, "{\"assignee_type\":\"agent\",\"assignee_id\":\"%s\"}", agent);
    else
        snprintf(body, sizeof body, "{\"assignee_type\":null,\"assignee_id\":null}");
    int status = tg_call(base, "PUT", path, token, body, &out);
    if (task != NULL) {
        const char *t = json_string_value(json_object_get(out, "task_id"));
        snprintf(task, 37, "%s", t ? t : "");
    }
    json_decref(out);
    return status;
}

void tg_setup_workspace(const char *base, const char *token, const char *name, char ws[37],
                        char runtime[37], char **pat, char agent[37])
{
    char daemon[37], agent_name[128];
    tg_workspace(base, token, name, ws);
    *pat = tg_pat(base, token);
    mc_uuid_v7(daemon);
    tg_register(base, *pat, ws, daemon, runtime);
    snprintf(agent_name, sizeof agent_name, "%s-agent", name);
    tg_agent(base, token, ws, agent_name, runtime, 1, agent);
}

/* The id of the runtime daemon_id registered in ws, or "" while there is none. */
static void runtime_of(const char *base, const char *pat, const char *ws, const char *daemon_id,
                       char runtime[37])
{
    char path[128];
    json_t *out = NULL;
    runtime[0] = '\0';
    snprintf(path, sizeof path, "/api/runtimes?workspace_id=%s", ws);
    if (tg_call(base, "GET", path, pat, NULL, &out) == 200)
        for (size_t i = 0; i < json_array_size(out); i++) {
            const json_t *rt = json_array_get(out, i);
            const char *d = json_string_value(json_object_get(rt, "daemon_id"));
            if (d != NULL && strcmp(d, daemon_id) == 0)
                snprintf(runtime, 37, "%s", tg_str(rt, "id"));
        }
    json_decref(out);
}

pid_t tg_start_sim(const char *base, const char *pat, const char *ws, const char *daemon_id,
                   const char *extra_args, const char *name, char runtime[37])
{
    char *cmd = mc_sprintf("exec %s --gateway %s --token %s --workspace %s --daemon-id %s "
                           "--name %s %s",
                           th_bin("multica-daemon-sim"), base, pat, ws, daemon_id, name,
                           extra_args ? extra_args : "");
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pid_t pid = th_spawn_argv(argv, NULL, name);
    free(cmd);
    int64_t deadline = mc_now_mono_ms() + 30000;
    runtime_of(base, pat, ws, daemon_id, runtime);
    while (runtime[0] == '\0' && mc_now_mono_ms() < deadline) {
        usleep(50 * 1000);
        runtime_of(base, pat, ws, daemon_id, runtime);
    }
    ck_assert_msg(runtime[0] != '\0', "daemon %s did not register", name);
    return pid;
}

pid_t tg_start_dispatcher(const char *brokers, const char *name, const char *const *extra)
{
    char *env[16];
    int n = 0;
    env[n++] = mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_dispatch"));
    env[n++] = mc_sprintf("KAFKA_BROKERS=%s", brokers);
    env[n++] = mc_sprintf("HTTP_PORT=%d", th_free_port());
    env[n++] = mc_sprintf("HTTP_BIND=127.0.0.1");
    env[n++] = mc_sprintf("KAFKA_CONFIG=session.timeout.ms=6000,heartbeat.interval.ms=500");
    for (int i = 0; extra && extra[i] && n < 15; i++)
        env[n++] = mc_sprintf("%s", extra[i]);
    env[n] = NULL;
    pid_t pid = th_spawn(th_bin("multica-task-dispatcher"), (const char *const *)env, name);
    for (int i = 0; i < n; i++)
        free(env[i]);
    return pid;
}

/* Polls a task until it reaches status (or the timeout passes); returns the task JSON. */
json_t *tg_wait_task(const char *base, const char *token, const char *task, const char *status,
                     int timeout_ms)
{
    char path[128];
    snprintf(path, sizeof path, "/api/tasks/%s", task);
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    json_t *out = NULL;
    while (mc_now_mono_ms() < deadline) {
        json_decref(out);
        out = NULL;
        if (tg_call(base, "GET", path, token, NULL, &out) == 200 &&
            strcmp(tg_str(json_object_get(out, "task"), "status"), status) == 0)
            return out;
        usleep(100 * 1000);
    }
    ck_abort_msg("task %s did not reach %s: %s", task, status,
                 out ? json_dumps(out, JSON_COMPACT) : "(no answer)");
    return NULL;
}
