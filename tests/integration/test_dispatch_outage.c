/* test_dispatch_outage.c: Postgres goes away under a working dispatcher: consumption pauses,
 * reports wait, and once the database is back nothing is lost and no change is invented. */
#include "dispatch_util.h"
#include "mc_proto.h"

#include <stdbool.h>
#include <unistd.h>

START_TEST(postgres_outage_pauses_and_loses_nothing)
{
    dt_setup(3);
    struct dispatcher d;
    /* The second half waits out the outage; its lifecycle is counted exactly below, so no
     * TaskWaiting (the fairness case's business). */
    const char *quiet[] = {"DISPATCH_WAIT_NOTICE=24h", NULL};
    dt_start_dispatcher(&d, "dispatcher", quiet);
    enum { N = 12 };
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], t[N][MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_agent_id(agent, 1);
    dt_heartbeat(rt, N / 2);
    for (int i = 0; i < N; i++) {
        dt_task_id(t[i], (unsigned long)i);
        dt_request(t[i], agent, rt, NULL, N / 2);
    }
    ck_assert(dt_sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                             "'dispatched'",
                             N / 2, 20000));
    /* Every request is in (a real broker hands the partitions' messages over in several
     * fetches, so the first dispatches may come before the last requests). */
    ck_assert(dt_sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue", N, 20000));
    /* Which half went out depends on the order the partitions were consumed in. */
    bool first[N];
    for (int i = 0; i < N; i++)
        first[i] = dt_task_int(t[i], "(status = 'dispatched')::int") == 1;
    /* The database goes away while the daemons report: the reports wait in the paused batch
     * and in Kafka, and are applied once it is back. */
    th_postgres_stop_now();
    for (int i = 0; i < N; i++) {
        if (first[i]) {
            dt_report(MC_EV_TASK_START_REPORTED, t[i], rt, 0, NULL);
            dt_report(MC_EV_TASK_COMPLETION_REPORTED, t[i], rt, 0, "done");
        }
    }
    ck_assert(dt_log_has_within(d.name, "consumption paused", NULL, NULL, 20000));
    usleep(2000 * 1000);
    th_postgres_start_now();
    PQreset(th_pg()); /* the test's own connection died with the server */
    ck_assert(dt_log_has_within(d.name, "consumption resumed", NULL, NULL, 30000));
    ck_assert(dt_sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                             "'completed'",
                             N / 2, 30000));
    /* The freed capacity goes to the other half. */
    for (int i = 0; i < N; i++) {
        if (!first[i]) {
            dt_wait_task(t[i], "dispatched", 2, 20000);
            dt_report(MC_EV_TASK_START_REPORTED, t[i], rt, 0, NULL);
            dt_report(MC_EV_TASK_COMPLETION_REPORTED, t[i], rt, 0, "done");
        }
    }
    ck_assert(dt_sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                             "'completed' AND version = 4",
                             N, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 4 * N);
    /* A relay round cut off by the outage is produced again: at least once, never a change
     * that did not happen. */
    int redelivered = 0;
    json_t *all = dt_events_on_topic(&redelivered);
    ck_assert_uint_eq(json_array_size(all), 4 * N);
    ck_assert_int_le(redelivered, 3 * N);
    json_decref(all);
    ck_assert_int_eq(dt_log_lines(d.name, "illegal transition refused", NULL, NULL), 0);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

TCase *dt_case_outage(void)
{
    TCase *tc = tcase_create("outage");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, postgres_outage_pauses_and_loses_nothing);
    return tc;
}
