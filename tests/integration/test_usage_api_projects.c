/* test_usage_api_projects.c: projects in Multica's routes (what the multica CLI's project
 * commands call), an issue in at most one project of its workspace, and usage that follows
 * an issue to another project (or out of every project) in the next read, and in the hourly
 * table, keyed NULL-safely by project, at the next rollup run. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *new_project(struct ua_stack *s, const char *body)
{
    json_t *out = NULL;
    ck_assert_int_eq(
        ua_call(s, s->token, "POST", body, &out, "/api/projects?workspace_id=%s", s->ws), 201);
    char *id = mc_strdup(tg_str(out, "id"));
    json_decref(out);
    return id;
}

static char *new_issue(struct ua_stack *s, const char *ws, const char *project, int want)
{
    char body[256];
    if (project)
        snprintf(body, sizeof body, "{\"title\":\"An issue\",\"project_id\":\"%s\"}", project);
    else
        snprintf(body, sizeof body, "{\"title\":\"An issue\"}");
    json_t *out = NULL;
    ck_assert_int_eq(ua_call(s, s->token, "POST", body, &out, "/api/issues?workspace_id=%s", ws),
                     want);
    char *id = want == 201 ? mc_strdup(tg_str(out, "id")) : NULL;
    json_decref(out);
    return id;
}

START_TEST(projects_are_created_listed_changed_and_deleted)
{
    struct ua_stack s;
    ua_start(&s);
    json_t *me = ua_get(&s, "/api/me"), *out = NULL;
    char body[512];
    snprintf(body, sizeof body,
             "{\"title\":\"Alpha\",\"description\":\"the first\",\"icon\":\"🚀\",\"status\":"
             "\"in_progress\",\"priority\":\"high\",\"lead_type\":\"member\",\"lead_id\":\"%s\","
             "\"start_date\":\"2026-01-31\"}",
             tg_str(me, "id"));
    json_decref(me);
    char *alpha = new_project(&s, body);
    /* The CLI's other way to name the workspace: the X-Workspace-ID header. */
    char url[512], auth[1200], hdr[128], *text = NULL;
    snprintf(url, sizeof url, "%s/api/projects", s.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s.token);
    snprintf(hdr, sizeof hdr, "X-Workspace-ID: %s", s.ws);
    const char *headers[] = {auth, hdr, NULL};
    ck_assert_int_eq(th_http("POST", url, headers, "{\"title\":\"Beta\"}", &text), 201);
    out = json_loads(text, 0, NULL);
    ck_assert_str_eq(tg_str(out, "status"), "planned");
    ck_assert_str_eq(tg_str(out, "priority"), "none");
    ck_assert_str_eq(tg_str(out, "workspace_id"), s.ws);
    json_decref(out);
    free(text);
    /* Bad input, by name. */
    const char *bad[][2] = {{"{}", "title"},
                            {"{\"title\":\"x\",\"status\":\"active\"}", "status"},
                            {"{\"title\":\"x\",\"priority\":\"p1\"}", "priority"},
                            {"{\"title\":\"x\",\"start_date\":\"2026-02-30\"}", "start_date"},
                            {"{\"title\":\"x\",\"due_date\":\"tomorrow\"}", "due_date"},
                            {"{\"title\":\"x\",\"due_date\":\"0000-01-01\"}", "due_date"},
                            {"{\"title\":\"x\",\"start_date\":\"-001-01-01\"}", "start_date"},
                            {"{\"title\":\"x\",\"lead_type\":\"agent\"}", "lead_id"},
                            {"{\"title\":\"x\",\"lead_type\":\"agent\",\"lead_id\":"
                             "\"0195f1c2-0000-7000-8000-000000000999\"}",
                             "lead_id"}};
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(
            ua_call(&s, s.token, "POST", bad[i][0], &out, "/api/projects?workspace_id=%s", s.ws),
            400);
        ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), bad[i][1]);
        json_decref(out);
    }
    ck_assert_int_eq(ua_call(&s, s.token, "POST", "{\"title\":\"x\"}", &out, "/api/projects"), 400);
    ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "workspace_id");
    json_decref(out);
    /* Listed as Multica lists them, with filters. */
    out = ua_get(&s, "/api/projects?workspace_id=%s", s.ws);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "total")), 2);
    json_decref(out);
    out = ua_get(&s, "/api/projects?workspace_id=%s&status=in_progress", s.ws);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "total")), 1);
    json_t *p = json_array_get(json_object_get(out, "projects"), 0);
    ck_assert_str_eq(tg_str(p, "title"), "Alpha");
    ck_assert_str_eq(tg_str(p, "start_date"), "2026-01-31");
    ck_assert_str_eq(tg_str(p, "icon"), "🚀");
    json_decref(out);
    /* An issue in it counts; a project of another workspace is refused. */
    char *issue = new_issue(&s, s.ws, alpha, 201);
    out = ua_get(&s, "/api/projects/%s", alpha);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "issue_count")), 1);
    json_decref(out);
    out = ua_get(&s, "/api/issues/%s", issue);
    ck_assert_str_eq(tg_str(out, "project_id"), alpha);
    json_decref(out);
    char ws2[37], rt2[37], agent2[37], *tok2 = NULL;
    tg_setup_workspace(s.base, s.token, "other", ws2, rt2, &tok2, agent2);
    free(new_issue(&s, ws2, alpha, 400));
    ck_assert_int_eq(
        ua_call(&s, s.token, "PUT", "{\"project_id\":\"nope\"}", &out, "/api/issues/%s", issue),
        400);
    ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "project_id");
    json_decref(out);
    /* Read and changed; another workspace's id in the request, or a stranger, sees nothing. */
    ck_assert_int_eq(
        ua_call(&s, s.token, "GET", NULL, NULL, "/api/projects/%s?workspace_id=%s", alpha, ws2),
        404);
    char *bob = tg_login(s.base, "bob@example.com");
    ck_assert_int_eq(ua_call(&s, bob, "GET", NULL, NULL, "/api/projects/%s", alpha), 404);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", "{\"title\":\"Alpha 2\",\"start_date\":\"\"}",
                             &out, "/api/projects/%s", alpha),
                     200);
    ck_assert_str_eq(tg_str(out, "title"), "Alpha 2");
    ck_assert(json_is_null(json_object_get(out, "start_date")));
    ck_assert_str_eq(tg_str(out, "status"), "in_progress");
    json_decref(out);
    /* Deleting: owners and admins; its issues leave it first. */
    ck_assert_int_eq(ua_call(&s, s.token, "POST", "{\"email\":\"bob@example.com\"}", NULL,
                             "/api/workspaces/%s/members", s.ws),
                     201);
    ck_assert_int_eq(ua_call(&s, bob, "DELETE", NULL, NULL, "/api/projects/%s", alpha), 403);
    ck_assert_int_eq(ua_call(&s, s.token, "DELETE", NULL, NULL, "/api/projects/%s", alpha), 204);
    ck_assert_int_eq(ua_call(&s, s.token, "GET", NULL, NULL, "/api/projects/%s", alpha), 404);
    out = ua_get(&s, "/api/issues/%s", issue);
    ck_assert(json_is_null(json_object_get(out, "project_id")));
    json_decref(out);
    /* Each change of the issue's project was announced, in order of its versions. */
    ua_settle(&s);
    json_t *msgs = th_consume_all(s.brokers, MC_TOPIC_USAGE_EVENTS);
    int versions = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *v = json_string_value(json_object_get(m, "value"));
        if (strstr(v, MC_EV_ISSUE_PROJECT_CHANGED) && strstr(v, issue))
            versions++;
    }
    ck_assert_int_eq(versions, 2); /* joined Alpha (1), left it when it was deleted (2) */
    th_capture(msgs);
    json_decref(msgs);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage.issue_projects WHERE issue_id = '%s' AND project_id IS "
             "NULL AND version = 2",
             issue);
    ck_assert_int_eq(th_sql_int(sql), 1);
    free(issue);
    free(alpha);
    free(bob);
    free(tok2);
    ua_stop(&s);
}
END_TEST

/* Tokens of the workspace's usage in a project ("" for every project and none). */
static int64_t in_project(struct ua_stack *s, const char *project)
{
    return ua_tokens_of(ua_get(s, "/api/dashboard/usage/daily?workspace_id=%s%s%s", s->ws,
                               *project ? "&project_id=" : "", project));
}

static int64_t no_project_buckets(struct ua_stack *s)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(task_count), 0) FROM usage.task_usage_hourly WHERE "
             "workspace_id = '%s' AND project_id IS NULL",
             s->ws);
    return th_sql_int(sql);
}

START_TEST(moving_an_issue_moves_its_usage_in_the_next_read)
{
    struct ua_stack s;
    ua_start(&s);
    char *a = new_project(&s, "{\"title\":\"A\"}");
    char *b = new_project(&s, "{\"title\":\"B\"}");
    char *issue = new_issue(&s, s.ws, a, 201);
    char t1[37], t2[37];
    tu_uuid(t1, 0xe1000000, 1);
    tu_uuid(t2, 0xe1000000, 2);
    int64_t at = mc_now_wall_us() - 3600LL * 1000000;
    /* Two tasks of one agent in one hour: one of the issue, one of no issue. */
    ua_task(&s, MC_EV_TASK_QUEUED, t1, s.ws, s.agent, s.runtime, issue, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, t2, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, t1, "openai", "gpt-5", 1000, 100, 0, 0, at);
    ua_usage(&s, t2, "openai", "gpt-5", 7, 3, 0, 0, at);
    ua_settle(&s);
    ua_rollup();
    ck_assert_int_eq(in_project(&s, a), 1100);
    ck_assert_int_eq(in_project(&s, b), 0);
    ck_assert_int_eq(in_project(&s, ""), 1110);
    /* To B: the dashboards follow in the next read, before the rollup runs (the issue's
     * buckets are queued, and reads take queued hours from task_usage), and stay after it. */
    char body[128];
    snprintf(body, sizeof body, "{\"project_id\":\"%s\"}", b);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, NULL, "/api/issues/%s", issue), 200);
    ua_settle(&s);
    ck_assert_int_eq(no_project_buckets(&s), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE project_id IS "
                                "NOT NULL AND input_tokens = 1000"),
                     1); /* the rollup still holds it in A */
    ck_assert_int_eq(in_project(&s, a), 0);
    ck_assert_int_eq(in_project(&s, b), 1100);
    ck_assert_int_eq(in_project(&s, ""), 1110);
    ua_rollup();
    ck_assert_int_eq(in_project(&s, a), 0);
    ck_assert_int_eq(in_project(&s, b), 1100);
    ck_assert_int_eq(in_project(&s, ""), 1110);
    ck_assert_int_eq(no_project_buckets(&s), 1);
    /* Out of every project: one bucket of no project for both tasks, found NULL-safely. */
    ck_assert_int_eq(
        ua_call(&s, s.token, "PUT", "{\"project_id\":null}", NULL, "/api/issues/%s", issue), 200);
    ua_settle(&s);
    ua_rollup();
    ck_assert_int_eq(in_project(&s, b), 0);
    ck_assert_int_eq(no_project_buckets(&s), 2);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly"), 1);
    /* Back into B, then B is deleted: its issue and usage leave it. */
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, NULL, "/api/issues/%s", issue), 200);
    ua_settle(&s);
    ua_rollup();
    ck_assert_int_eq(in_project(&s, b), 1100);
    ck_assert_int_eq(ua_call(&s, s.token, "DELETE", NULL, NULL, "/api/projects/%s", b), 204);
    ua_settle(&s);
    ua_rollup();
    ck_assert_int_eq(no_project_buckets(&s), 2);
    ck_assert_int_eq(in_project(&s, ""), 1110);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE project_id IS "
                                "NOT NULL"),
                     0);
    free(a);
    free(b);
    free(issue);
    ua_stop(&s);
}
END_TEST

TCase *ua_case_projects(void)
{
    TCase *tc = tcase_create("projects");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, projects_are_created_listed_changed_and_deleted);
    tcase_add_test(tc, moving_an_issue_moves_its_usage_in_the_next_read);
    return tc;
}
