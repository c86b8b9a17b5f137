/* test_http.c: the one JSON error shape, request bodies as handlers receive them, and integers
 * read from JSON numbers (mc_http without a server). */
#include "harness.h"
#include "mc_http.h"

#include <stdlib.h>
#include <string.h>

/* The response's JSON body (the caller decrefs); fails the test when it is not JSON. */
static json_t *body_of(struct _u_response *resp)
{
    json_t *body = ulfius_get_json_body_response(resp, NULL);
    ck_assert_ptr_nonnull(body);
    return body;
}

/* Checks {"error":{"code":code,["field":field,]"message":message}} and nothing else. */
static void expect_error(struct _u_response *resp, unsigned status, const char *code,
                         const char *field, const char *message_prefix)
{
    ck_assert_uint_eq(resp->status, status);
    ck_assert_str_eq(u_map_get_case(resp->map_header, "Content-Type"), "application/json");
    json_t *body = body_of(resp);
    ck_assert_uint_eq(json_object_size(body), 1);
    json_t *err = json_object_get(body, "error");
    ck_assert(json_is_object(err));
    ck_assert_uint_eq(json_object_size(err), field ? 3 : 2);
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    if (field != NULL)
        ck_assert_str_eq(json_string_value(json_object_get(err, "field")), field);
    const char *message = json_string_value(json_object_get(err, "message"));
    ck_assert_ptr_nonnull(message);
    ck_assert_msg(strncmp(message, message_prefix, strlen(message_prefix)) == 0,
                  "message '%s' does not start with '%s'", message, message_prefix);
    json_decref(body);
}

START_TEST(error_shape)
{
    struct _u_response resp;
    ulfius_init_response(&resp);
    mc_http_error(&resp, 422, MC_HTTP_INVALID_FIELD, "input_tokens", "must be >= %d", 0);
    expect_error(&resp, 422, "invalid_field", "input_tokens", "must be >= 0");
    ulfius_clean_response(&resp);

    ulfius_init_response(&resp);
    mc_http_error(&resp, 404, MC_HTTP_NOT_FOUND, NULL, "no task %s", "t-1");
    expect_error(&resp, 404, "not_found", NULL, "no task t-1");
    ulfius_clean_response(&resp);
}
END_TEST

/* Runs mc_http_body over text; returns what it returns and leaves the response in resp. */
static json_t *parse(const char *text, unsigned accept, struct _u_response *resp)
{
    struct _u_request req;
    ulfius_init_request(&req);
    if (text != NULL)
        ck_assert_int_eq(ulfius_set_string_body_request(&req, text), U_OK);
    ulfius_init_response(resp);
    json_t *body = mc_http_body(&req, resp, accept);
    ulfius_clean_request(&req);
    return body;
}

START_TEST(bodies_are_refused_with_the_error_shape)
{
    struct {
        const char *text;
        unsigned accept;
        const char *message;
    } cases[] = {
        {NULL, MC_BODY_OBJECT, "request body is empty"},
        {"{\"a\":", MC_BODY_OBJECT, "invalid JSON at byte"},
        {"{\"a\":1,\"a\":2}", MC_BODY_OBJECT, "invalid JSON at byte"},
        {"[1]", MC_BODY_OBJECT, "request body must be a JSON object"},
        {"{}", MC_BODY_ARRAY, "request body must be a JSON array"},
        {"7", MC_BODY_OBJECT | MC_BODY_ARRAY, "invalid JSON at byte"}, /* not a container */
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(cases); i++) {
        struct _u_response resp;
        ck_assert_ptr_null(parse(cases[i].text, cases[i].accept, &resp));
        expect_error(&resp, 400, "invalid_json", NULL, cases[i].message);
        ulfius_clean_response(&resp);
    }
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    struct _u_response resp;
    ck_assert_ptr_null(parse(big, MC_BODY_OBJECT, &resp));
    expect_error(&resp, 413, "too_large", NULL, "request body is over 1048576 bytes");
    ulfius_clean_response(&resp);
    free(big);
}
END_TEST

START_TEST(bodies_accepted_as_asked)
{
    struct _u_response resp;
    json_t *body = parse("[{\"n\":1}]", MC_BODY_OBJECT | MC_BODY_ARRAY, &resp);
    ck_assert(json_is_array(body));
    json_decref(body);
    ulfius_clean_response(&resp);
    /* An integer beyond int64 is valid JSON: the body is read with reals, so the validator can
     * name the field. */
    body = parse("{\"n\":99999999999999999999,\"m\":5}", MC_BODY_OBJECT, &resp);
    ck_assert(json_is_object(body));
    int64_t v = 0;
    ck_assert_int_eq(mc_json_int64(json_object_get(body, "n"), &v), MC_EINVAL);
    ck_assert_int_eq(mc_json_int64(json_object_get(body, "m"), &v), 0);
    ck_assert_int_eq(v, 5);
    json_decref(body);
    ulfius_clean_response(&resp);
}
END_TEST

START_TEST(json_int64_takes_whole_numbers_only)
{
    int64_t v = 0;
    json_t *vals[] = {json_integer(-7), json_real(3.0), json_real(9007199254740991.0)};
    const int64_t want[] = {-7, 3, 9007199254740991};
    for (size_t i = 0; i < MC_ARRAY_LEN(vals); i++) {
        ck_assert_int_eq(mc_json_int64(vals[i], &v), 0);
        ck_assert_int_eq(v, want[i]);
        json_decref(vals[i]);
    }
    json_t *bad[] = {json_real(3.5),
                     json_real(9007199254740992.0),
                     json_real(-9007199254740992.0),
                     json_string("5"),
                     json_true(),
                     json_null()};
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(mc_json_int64(bad[i], &v), MC_EINVAL);
        json_decref(bad[i]);
    }
    ck_assert_int_eq(mc_json_int64(NULL, &v), MC_EINVAL);
}
END_TEST

Suite *suite_http(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, error_shape);
    tcase_add_test(tc, bodies_are_refused_with_the_error_shape);
    tcase_add_test(tc, bodies_accepted_as_asked);
    tcase_add_test(tc, json_int64_takes_whole_numbers_only);
    suite_add_tcase(s, tc);
    return s;
}
