/* usage_api_util.h: what the usage API test files share (suite usage_api): a stack with the
 * gateway and the ingester, a signed-in owner and a workspace, usage events, the rollup, and
 * reads of the API. */
#ifndef MC_TEST_USAGE_API_UTIL_H
#define MC_TEST_USAGE_API_UTIL_H

#include "gateway_client.h"
#include "usage_gen.h"

/* The test cases of the usage_api suite, one per file (test_usage_api_<case>.c). */
TCase *ua_case_views(void);
TCase *ua_case_pricing(void);
TCase *ua_case_projects(void);
TCase *ua_case_reads(void);
TCase *ua_case_fresh(void);
TCase *ua_case_kept(void);
TCase *ua_case_moved(void);
TCase *ua_case_deltas(void);
TCase *ua_case_changes(void);

/* A running stack: broker, gateway (PRICING_ADMIN_EMAILS=admin@example.com), ingester, the
 * owner "alice@example.com" signed in, and her workspace with a runtime and an agent; with no
 * rollup safety lag. (The web suite starts its stack with it too.) */
struct ua_stack {
    const char *brokers;
    const char *base;
    int ingester_port;
    char *token;
    char ws[MC_UUID_STRLEN], runtime[MC_UUID_STRLEN], agent[MC_UUID_STRLEN];
    char *rt_token; /* the personal access token the workspace's daemon registered with */
    mc_producer *producer;
};
void ua_start(struct ua_stack *s);
void ua_stop(struct ua_stack *s);

/* Attribution of a task (TaskQueued, or another MC_EV_TASK_* type) and a usage report, sent
 * to the ingester through the broker; ua_settle waits until it applied everything sent. */
void ua_task(struct ua_stack *s, const char *type, const char *task, const char *ws,
             const char *agent, const char *runtime, const char *issue, int64_t version);
void ua_usage(struct ua_stack *s, const char *task, const char *provider, const char *model,
              int64_t in, int64_t out, int64_t cache_read, int64_t cache_write, int64_t at_us);
void ua_settle(struct ua_stack *s);

/* Runs the rollup until its watermark reaches now (it advances a day per call at most);
 * returns the buckets the runs changed. */
int64_t ua_rollup(void);

/* The gateway's counter multica_gateway_usage_kept_reads_total{result="<result>"}, read from
 * its /metrics. */
double ua_kept_reads(struct ua_stack *s, const char *result);

/* A request as a user; returns the status, *out (may be NULL) the JSON answer. */
int ua_call(struct ua_stack *s, const char *token, const char *method, const char *body,
            json_t **out, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A GET as the owner that must answer 200; returns the JSON (caller decrefs). */
json_t *ua_get(struct ua_stack *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The runtime's daily read (days, tz) as the owner: its body must be byte for byte the text of
 * gateway.runtime_usage_daily (the SQL read) at the same moment. */
void ua_daily_is_sqls(struct ua_stack *s, const char *tz, int days, const char *when);

/* The registered runtime's and another's 30-day reads equal task_usage's (?source=raw's SQL)
 * in UTC and two zones with odd offsets, and the registered one's answer, read twice (fill,
 * then hit), is the SQL read's byte for byte. */
void ua_reads_agree(struct ua_stack *s, const char *other_runtime, const char *when);

/* Sum of a numeric field over an array of objects. */
int64_t ua_sum(const json_t *rows, const char *field);
/* Tokens of a row: its four kinds added; of rows, all of theirs (and the rows are released). */
int64_t ua_tokens(const json_t *row);
int64_t ua_tokens_of(json_t *rows);

#endif
