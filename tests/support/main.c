/* main.c: the single Check runner for unit and integration suites.
 *
 * It starts a private Postgres and a private Apache Kafka broker for the whole run
 * (integration suites create a database per test from the migrated template, and topics and
 * groups under a prefix per test), runs every suite, and ends with
 * Check's summary line. CK_RUN_SUITE / CK_RUN_CASE narrow the run; CK_VERBOSITY=verbose
 * lists every test. */
#include "harness.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>

typedef Suite *(*suite_fn)(void);

/* contract comes last: it validates what the other suites captured. */
static const suite_fn suites[] = {
    suite_common,  suite_config, suite_proto,         suite_metrics,  suite_migrate, suite_kafka,
    suite_service, suite_ingest, suite_gateway_usage, suite_dispatch, suite_rollup,  suite_auth,
    suite_routes,  suite_e2e,    suite_websocket,     suite_broker,   suite_deploy,  suite_contract,
};

int main(void)
{
    /* Library messages inside the test process only matter when something is wrong. */
    mc_log_init("multica-tests", getenv("TEST_LOG_LEVEL") ? getenv("TEST_LOG_LEVEL") : "error");
    if (th_start_postgres() != 0)
        return 1;
    if (th_start_kafka() != 0) {
        th_stop_postgres();
        return 1;
    }
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    th_stop_kafka();
    th_stop_postgres();
    return failed == 0 ? 0 : 1;
}
