/* test_openapi.c: docs/openapi.yaml against the gateway (part of the `shipping` suite): the
 * spec is valid OpenAPI 3.1 and lists exactly the route table's routes with their credentials
 * (tools/check-openapi.py), and schemathesis, fuzzing a live gateway with it as a signed-in
 * member of a workspace, meets no 5xx and no response outside the spec (tools/fuzz-openapi.sh). */
#include "gateway_client.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PYTHON                                                                                 \
    "\"${MULTICA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multica-c}/venv-api/bin/python\""

/* Runs tools/check-openapi.py on spec; returns its exit status and its output in *out. */
static int check_spec(const char *spec, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && " API_PYTHON " tools/check-openapi.py '%s' '%s' 2>&1",
             th_root(), th_bin("multica-api-gateway"), spec);
    return th_run(cmd, out);
}

START_TEST(the_spec_is_valid_and_lists_every_route)
{
    char *out = NULL;
    ck_assert_msg(check_spec("docs/openapi.yaml", &out) == 0, "%s", out);
    ck_assert_msg(strstr(out, " 0 problems") != NULL, "%s", out);
    free(out);

    /* The check sees a route missing from the spec, an operation that is no route, and a
     * route whose credentials the spec misstates. */
    char spec[600], cmd[2048];
    snprintf(spec, sizeof spec, "%s/openapi.yaml", th_tmpdir());
    snprintf(
        cmd, sizeof cmd,
        "sed -e 's|^  /api/daemon/claim:|  /api/daemon/claimed:|' -e '/operationId: getMe/{n;n;"
        "s|, {taskToken: \\[\\]}||}' '%s/docs/openapi.yaml' >'%s'",
        th_root(), spec);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    free(out);
    ck_assert_int_eq(check_spec(spec, &out), 1);
    ck_assert_msg(strstr(out, "route POST /api/daemon/claim is not in") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "has POST /api/daemon/claimed, which is no route") != NULL, "%s",
                  out);
    ck_assert_msg(strstr(out, "GET /api/me: security") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(schemathesis_meets_no_server_error_and_no_response_outside_the_spec)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher", NULL);
    char *token = tg_login(base, "fuzz@example.com");
    char ws[37], runtime[37], agent[37], issue[37], doomed[37], task[37];
    char *pat = NULL;
    tg_setup_workspace(base, token, "fuzz", ws, runtime, &pat, agent);
    tg_issue(base, token, ws, "fuzzed issue", issue);
    ck_assert_int_eq(tg_assign(base, token, issue, agent, task), 200);
    ck_assert_msg(task[0] != '\0', "the assignment started no task");
    tg_issue(base, token, ws, "doomed issue", doomed);
    char project[37], doomed_project[37];
    tg_project(base, token, ws, "fuzzed project", project);
    tg_project(base, token, ws, "doomed project", doomed_project);

    /* What schemathesis found, answered as every refusal is: a form content type without a
     * boundary had the connection dropped, and a WebSocket route without a handshake answered
     * ulfius' plain text. */
    char cmd[4096], *out = NULL, log[600];
    snprintf(cmd, sizeof cmd,
             "curl -sS -H 'Content-Type: multipart/form-data' '%s/api/config'; echo; "
             "curl -sS -X POST -H 'Content-Type: multipart/form-data' -d '{\"email\":1}' "
             "'%s/api/auth/send-code'; echo; curl -sS -H 'Authorization: Bearer %s' '%s/api/ws'",
             base, base, token, base);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "{\"allow_signup\":true") == out, "%s", out);
    ck_assert_msg(strstr(out, "\"field\":\"email\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "{\"error\":{\"code\":\"invalid_field\"") != NULL &&
                      strstr(out, "\"field\":\"Upgrade\"") != NULL,
                  "%s", out);
    free(out);

    snprintf(log, sizeof log, "%s/schemathesis.log", th_tmpdir());
    snprintf(cmd, sizeof cmd,
             "cd '%s' && MC_FUZZ_URL='%s' MC_FUZZ_TOKEN='%s' MC_FUZZ_WORKSPACE='%s' "
             "MC_FUZZ_RUNTIME='%s' MC_FUZZ_AGENT='%s' MC_FUZZ_ISSUE='%s' MC_FUZZ_TASK='%s' "
             "MC_FUZZ_DOOMED_ISSUE='%s' MC_FUZZ_PROJECT='%s' MC_FUZZ_DOOMED_PROJECT='%s' "
             "timeout 300 tools/fuzz-openapi.sh >'%s' 2>&1; rc=$?; tail -n 60 '%s'; exit $rc",
             th_root(), base, token, ws, runtime, agent, issue, task, doomed, project,
             doomed_project, log, log);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0, "schemathesis failed (exit %d; %s):\n%s", rc, log, out);
    /* It ran every operation of the spec (the summary at the end of the tail says so). */
    ck_assert_msg(strstr(out, "Selected: 71/71") != NULL && strstr(out, "Tested: 71") != NULL, "%s",
                  out);
    free(out);
    /* The gateway is still there. */
    ck_assert_int_eq(tg_call(base, "GET", "/api/config", NULL, NULL, NULL), 200);
    free(pat);
    free(token);
}
END_TEST

TCase *tcase_openapi(void)
{
    TCase *tc = tcase_create("openapi");
    tcase_set_timeout(tc, 420);
    tcase_add_test(tc, the_spec_is_valid_and_lists_every_route);
    tcase_add_test(tc, schemathesis_meets_no_server_error_and_no_response_outside_the_spec);
    return tc;
}
