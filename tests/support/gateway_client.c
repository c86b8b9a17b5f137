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

void tg_setup_workspace(const char *base, const char *token, const char *name, char ws[37],
                        char runtime[37], char **rt_token, char agent[37])
{
    char body[512], path[256];
    json_t *out = NULL;
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    ck_assert_int_eq(tg_call(base, "POST", "/api/workspaces", token, body, &out), 201);
    snprintf(ws, 37, "%s", tg_str(out, "id"));
    json_decref(out);
    snprintf(path, sizeof path, "/api/workspaces/%s/runtime-tokens", ws);
    ck_assert_int_eq(tg_call(base, "POST", path, token, NULL, &out), 201);
    snprintf(body, sizeof body,
             "{\"registration_token\":\"%s\",\"name\":\"%s-runtime\",\"max_concurrency\":2}",
             tg_str(out, "registration_token"), name);
    json_decref(out);
    ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/register", NULL, body, &out), 201);
    snprintf(runtime, 37, "%s", tg_str(out, "runtime_id"));
    *rt_token = mc_strdup(tg_str(out, "runtime_token"));
    json_decref(out);
    snprintf(path, sizeof path, "/api/workspaces/%s/agents", ws);
    snprintf(body, sizeof body,
             "{\"name\":\"%s-agent\",\"provider\":\"claude\",\"runtime_id\":\"%s\"}", name,
             runtime);
    ck_assert_int_eq(tg_call(base, "POST", path, token, body, &out), 201);
    snprintf(agent, 37, "%s", tg_str(out, "id"));
    json_decref(out);
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

pid_t tg_start_sim(const char *base, const char *runtime, const char *token, const char *name,
                   const char *extra_arg)
{
    char *cmd =
        mc_sprintf("exec %s --gateway %s --runtime-token %s --runtime-id %s --work-ms 60 "
                   "--chunks 2 --heartbeat-ms 1000 --max-concurrency 2 %s",
                   th_bin("multica-daemon-sim"), base, token, runtime, extra_arg ? extra_arg : "");
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pid_t pid = th_spawn_argv(argv, NULL, name);
    free(cmd);
    return pid;
}
