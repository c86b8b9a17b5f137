/* daemon_util.c: the stack, workspace and daemon calls of the daemon-protocol tests. */
#include "daemon_util.h"
#include "usage_gen.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dp_setup(struct dp *p, const char *const *gateway_extra)
{
    memset(p, 0, sizeof *p);
    th_db_new();
    p->brokers = th_broker_start(2);
    p->base = tg_start(p->brokers, gateway_extra, NULL);
    tg_start_dispatcher(p->brokers, "dispatcher", NULL);
    tu_start_ingester(p->brokers, th_free_port(), "ingester", NULL);
    p->alice = tg_login(p->base, "alice@example.com");
    json_t *out = NULL;
    ck_assert_int_eq(
        tg_call(p->base, "POST", "/api/workspaces", p->alice, "{\"name\":\"Acme\"}", &out), 201);
    snprintf(p->ws, sizeof p->ws, "%s", tg_str(out, "id"));
    json_decref(out);
    p->pat = tg_pat(p->base, p->alice);
    tg_register(p->base, p->pat, p->ws, "daemon-1", p->runtime);
    tg_agent(p->base, p->alice, p->ws, "Claude", p->runtime, 5, p->agent);
}

void dp_free(struct dp *p)
{
    free(p->alice);
    free(p->pat);
}

static bool dispatched(void *arg)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.tasks WHERE task_id = '%s' AND "
             "status = 'dispatched'",
             (const char *)arg);
    return th_sql_int(sql) == 1;
}

void dp_task(struct dp *p, const char *title, char task[37], char issue[37])
{
    char id[37];
    tg_issue(p->base, p->alice, p->ws, title, id);
    ck_assert_int_eq(tg_assign(p->base, p->alice, id, p->agent, task), 200);
    ck_assert_msg(th_eventually(dispatched, task, 30000), "task %s was not dispatched", task);
    if (issue != NULL)
        snprintf(issue, 37, "%s", id);
}

int dp_claim(struct dp *p, int max_tasks, json_t **tasks)
{
    char body[256];
    json_t *out = NULL;
    snprintf(body, sizeof body,
             "{\"daemon_id\":\"daemon-1\",\"runtime_ids\":[\"%s\"],\"max_tasks\":%d}", p->runtime,
             max_tasks);
    int status = tg_call(p->base, "POST", "/api/daemon/tasks/claim", p->pat, body, &out);
    if (tasks != NULL)
        *tasks = json_incref(json_object_get(out, "tasks"));
    json_decref(out);
    return status;
}

static int request(struct dp *p, const char *method, const char *path, const char *body, char **out)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s%s", p->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", p->pat);
    const char *headers[] = {auth, NULL};
    return th_http(method, url, headers, body, out);
}

int dp_report(struct dp *p, const char *task, const char *what, const char *body, char **out)
{
    char path[256];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/%s", task, what);
    return request(p, "POST", path, body ? body : "{}", out);
}

int dp_status(struct dp *p, const char *task, char **out)
{
    char path[256];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/status", task);
    return request(p, "GET", path, NULL, out);
}

bool dp_wait_status(struct dp *p, const char *task, int code, const char *want, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    do {
        char *body = NULL;
        int status = dp_status(p, task, &body);
        bool ok = status == code && (want == NULL || (body && dp_contains(body, want)));
        free(body);
        if (ok)
            return true;
        usleep(100 * 1000);
    } while (mc_now_mono_ms() < deadline);
    return false;
}

bool dp_wait_queue(const char *task, const char *status, int timeout_ms)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND status = "
             "'%s'",
             task, status);
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    while (th_sql_int(sql) == 0) {
        if (mc_now_mono_ms() >= deadline)
            return false;
        usleep(100 * 1000);
    }
    return true;
}

bool dp_contains(const char *text, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *t = text; *t; t++) {
        size_t i = 0;
        while (i < n && t[i] && tolower((unsigned char)t[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}
