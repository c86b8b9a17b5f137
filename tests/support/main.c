/* main.c: the single Check runner for unit and integration suites.
 *
 * It starts a private Postgres and a private Apache Kafka broker for the whole run
 * (integration suites create a database per test from the migrated template, and topics and
 * groups under a prefix per test), runs every suite, and ends with Check's summary line.
 * `multica-tests --unit` (make test-unit) runs the unit suites alone and starts neither
 * server. CK_RUN_SUITE / CK_RUN_CASE narrow the run; CK_VERBOSITY=verbose lists every test. */
#include "harness.h"
#include "mc_log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Suite *(*suite_fn)(void);

/* Suites that need nothing outside the process. */
static const suite_fn unit_suites[] = {
    suite_common, suite_config,       suite_secrets, suite_topics,
    suite_proto,  suite_usage_decode, suite_metrics, suite_http,
};

/* Suites that run against the run's Postgres and broker and the built services. */
static const suite_fn integration_suites[] = {
    suite_migrate,      suite_kafka,    suite_service,   suite_ingest,   suite_gateway_usage,
    suite_dispatch,     suite_rollup,   suite_usage_api, suite_auth,     suite_routes,
    suite_daemon,       suite_e2e,      suite_websocket, suite_web,      suite_broker,
    suite_official_cli, suite_devstack, suite_deploy,    suite_shipping,
};

static void add_all(SRunner *sr, const suite_fn *suites, size_t n)
{
    for (size_t i = 0; i < n; i++)
        srunner_add_suite(sr, suites[i]());
}

int main(int argc, char **argv)
{
    bool unit_only = argc == 2 && strcmp(argv[1], "--unit") == 0;
    if (argc > 1 && !unit_only) {
        fprintf(stderr, "usage: %s [--unit]\n", argv[0]);
        return 2;
    }
    /* Library messages inside the test process only matter when something is wrong. */
    mc_log_init("multica-tests", getenv("TEST_LOG_LEVEL") ? getenv("TEST_LOG_LEVEL") : "error");
    /* A start that fails after the cluster came up (migrations failing on the template) must
     * not leave it running: it would outlive the run and hold what the run inherited, such as
     * the lock a caller took with flock. */
    if (!unit_only && th_start_postgres() != 0) {
        th_stop_postgres();
        return 1;
    }
    if (!unit_only && th_start_kafka() != 0) {
        th_stop_postgres();
        return 1;
    }
    SRunner *sr = srunner_create(NULL);
    add_all(sr, unit_suites, MC_ARRAY_LEN(unit_suites));
    if (!unit_only)
        add_all(sr, integration_suites, MC_ARRAY_LEN(integration_suites));
    /* Last: validates the proto examples and what the other suites captured (nothing in a
     * unit run). It needs only python3-jsonschema. */
    srunner_add_suite(sr, suite_contract());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (!unit_only) {
        th_stop_kafka();
        th_stop_postgres();
    }
    return failed == 0 ? 0 : 1;
}
