/* harness.c: shared test machinery (Postgres, per-test brokers, processes, HTTP, Kafka). */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

#include "mc_common.h"

#define MAX_CHILDREN 64

static char g_pg_port[16];
static char g_db_name[64];
static char g_db_admin_url[256];
static PGconn *g_pg;
static pid_t g_children[MAX_CHILDREN];
static int g_nchildren;
static int g_atexit_done;

const char *th_root(void)
{
    const char *r = getenv("MC_TEST_ROOT");
    return r && *r ? r : ".";
}

char *th_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

const char *th_bin(const char *name)
{
    static char path[8][512];
    static int slot;
    const char *dir = getenv("MC_TEST_BIN");
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", dir && *dir ? dir : "build/bin", name);
    return p;
}

const char *th_tmpdir(void)
{
    static char dir[512];
    static pid_t owner;
    if (owner != getpid()) {
        const char *base = getenv("MC_TEST_TMP");
        snprintf(dir, sizeof dir, "%s/t-%d", base && *base ? base : "/tmp/multica-tests",
                 (int)getpid());
        char cmd[600];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0)
            ck_abort_msg("cannot create %s", dir);
        owner = getpid();
    }
    return dir;
}

static int run_cmd(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void pg_env(char *buf, size_t len)
{
    const char *build = getenv("MC_TEST_BUILD");
    snprintf(buf, len,
             "DEV_PG_DIR='%s/test-pg' DEV_PG_PORT=%s DEV_PG_FAST=1 "
             "DEV_PG_PRELOAD=pg_cron DEV_PG_CRON_DB=crontest",
             build && *build ? build : "build", g_pg_port);
}

int th_start_postgres(void)
{
    snprintf(g_pg_port, sizeof g_pg_port, "%d", th_free_port());
    char env[512], cmd[2048];
    pg_env(env, sizeof env);
    /* A cluster left by an interrupted run is stopped and wiped: every run starts fresh. */
    snprintf(cmd, sizeof cmd, "%s %s/tools/devpg.sh destroy && %s %s/tools/devpg.sh start", env,
             th_root(), env, th_root());
    if (run_cmd(cmd) != 0) {
        fprintf(stderr, "harness: cannot start Postgres\n");
        return -1;
    }
    snprintf(cmd, sizeof cmd,
             "DATABASE_URL=postgres://postgres:postgres@127.0.0.1:%s/multica LOG_LEVEL=warning "
             "%s up",
             g_pg_port, th_bin("multica-migrate"));
    if (run_cmd(cmd) != 0) {
        fprintf(stderr, "harness: migrations failed on the template database\n");
        return -1;
    }
    /* pg_cron's launcher works in one database, named when the cluster starts (crontest). */
    snprintf(cmd, sizeof cmd,
             "psql -q 'postgres://postgres:postgres@127.0.0.1:%s/postgres' "
             "-c 'CREATE DATABASE crontest TEMPLATE multica'",
             g_pg_port);
    if (run_cmd(cmd) != 0) {
        fprintf(stderr, "harness: cannot create the pg_cron database\n");
        return -1;
    }
    return 0;
}

void th_stop_postgres(void)
{
    char env[512], cmd[1024];
    pg_env(env, sizeof env);
    snprintf(cmd, sizeof cmd, "%s %s/tools/devpg.sh stop", env, th_root());
    run_cmd(cmd);
}

void th_postgres_stop_now(void)
{
    th_stop_postgres();
}

void th_postgres_start_now(void)
{
    char env[512], cmd[1024];
    pg_env(env, sizeof env);
    snprintf(cmd, sizeof cmd, "%s %s/tools/devpg.sh start", env, th_root());
    ck_assert_int_eq(run_cmd(cmd), 0);
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *admin_connect(const char *db)
{
    char url[256];
    snprintf(url, sizeof url, "postgres://postgres:postgres@127.0.0.1:%s/%s", g_pg_port, db);
    PGconn *c = PQconnectdb(url);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", url, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

static void close_pg(void)
{
    if (g_pg != NULL) {
        PQfinish(g_pg);
        g_pg = NULL;
    }
}

static const char *db_create(const char *template)
{
    /* The pid alone is not unique over a run: a full run starts more processes than pid_max
     * (32768 on Debian), so a later test can get the pid of one whose database is still there
     * ("already exists", seen under ASan). The clock's nanoseconds make the name unique. */
    static int counter;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(g_db_name, sizeof g_db_name, "t_%d_%d_%lx", (int)getpid(), ++counter,
             (unsigned long)now.tv_sec * 1000000000UL + (unsigned long)now.tv_nsec);
    PGconn *c = admin_connect("postgres");
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE %s", g_db_name, template);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    snprintf(g_db_admin_url, sizeof g_db_admin_url, "postgres://postgres:postgres@127.0.0.1:%s/%s",
             g_pg_port, g_db_name);
    close_pg();
    return g_db_admin_url;
}

const char *th_db_new(void)
{
    return db_create("multica");
}

const char *th_db_new_empty(void)
{
    return db_create("template0");
}

const char *th_cron_db_url(const char *role)
{
    static char url[256];
    snprintf(url, sizeof url, "postgres://%s:%s@127.0.0.1:%s/crontest", role,
             strcmp(role, "postgres") == 0 ? "postgres" : role, g_pg_port);
    return url;
}

const char *th_db_url_as(const char *role)
{
    static char urls[4][256];
    static const char *roles[] = {"multica_gateway", "multica_dispatch", "multica_usage",
                                  "multica_scheduler"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(roles[i], role) == 0) {
            snprintf(urls[i], sizeof urls[i], "postgres://%s:%s@127.0.0.1:%s/%s", role, role,
                     g_pg_port, g_db_name);
            return urls[i];
        }
    }
    ck_abort_msg("unknown role %s", role);
    return NULL;
}

PGconn *th_pg(void)
{
    if (g_pg == NULL || PQstatus(g_pg) != CONNECTION_OK) {
        close_pg();
        g_pg = admin_connect(g_db_name);
    }
    return g_pg;
}

int64_t th_sql_int_or(const char *sql, int64_t fallback)
{
    PGresult *r = PQexec(th_pg(), sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(th_pg()));
    int64_t v = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                                           : fallback;
    PQclear(r);
    return v;
}

int64_t th_sql_wait(const char *sql, int64_t want, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms, got;
    while ((got = th_sql_int_or(sql, -1)) != want && mc_now_mono_ms() < deadline)
        usleep(100 * 1000);
    return got;
}

void th_sql(const char *sql)
{
    PGresult *r = PQexec(th_pg(), sql);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQerrorMessage(th_pg()));
    PQclear(r);
}

int64_t th_sql_int(const char *sql)
{
    PGresult *r = PQexec(th_pg(), sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(th_pg()));
    ck_assert_msg(PQntuples(r) == 1, "%s: expected one row, got %d", sql, PQntuples(r));
    int64_t v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* ---- processes ---- */

static void kill_children(void)
{
    for (int i = 0; i < g_nchildren; i++) {
        if (g_children[i] > 0 && kill(g_children[i], 0) == 0) {
            kill(g_children[i], SIGKILL);
            waitpid(g_children[i], NULL, 0);
        }
    }
    g_nchildren = 0;
    close_pg();
}

pid_t th_spawn(const char *bin, const char *const *env, const char *logname)
{
    const char *argv[] = {bin, NULL};
    return th_spawn_argv(argv, env, logname);
}

pid_t th_spawn_argv(const char *const *argv, const char *const *env, const char *logname)
{
    const char *bin = argv[0];
    if (!g_atexit_done) {
        atexit(kill_children);
        g_atexit_done = 1;
    }
    char log[600];
    snprintf(log, sizeof log, "%s/%s.log", th_tmpdir(), logname);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The child must not outlive the test, even when the test is killed by a timeout. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        for (int i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    if (g_nchildren < MAX_CHILDREN)
        g_children[g_nchildren++] = pid;
    return pid;
}

int th_wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    int status;
    while (mc_now_mono_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        usleep(20 * 1000);
    }
    return -1;
}

int th_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    return th_wait_exit(pid, timeout_ms);
}

/* ---- broker ---- */

/* One Apache Kafka broker serves the whole run (tools/kafka, started by main). Each test that
 * wants Kafka gets its own topics and consumer groups under a prefix of its own
 * (KAFKA_PREFIX, inherited by every process it spawns), so tests never see each other's
 * messages, and deletes them when it ends. */
static char g_kafka_port[16];
static char g_kafka_bootstrap[64];

static void kafka_env(char *buf, size_t len)
{
    const char *build = getenv("MC_TEST_BUILD");
    const char *tmp = getenv("MC_TEST_TMP");
    snprintf(buf, len, "KAFKA_DIR='%s/test-kafka' KAFKA_PORT=%s KAFKA_LOG='%s/kafka.log'",
             build && *build ? build : "build", g_kafka_port,
             tmp && *tmp ? tmp : "/tmp/multica-tests");
}

static int kafka_cmd(const char *verb)
{
    char env[1024], cmd[1400];
    kafka_env(env, sizeof env);
    snprintf(cmd, sizeof cmd, "%s %s/tools/kafka %s", env, th_root(), verb);
    return run_cmd(cmd);
}

int th_start_kafka(void)
{
    /* The controller listens on the next port: find two free ones in a row. */
    for (int attempt = 0; attempt < 50; attempt++) {
        int p = th_free_port();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons((uint16_t)(p + 1))};
        bool free_next = p < 65535 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (free_next) {
            snprintf(g_kafka_port, sizeof g_kafka_port, "%d", p);
            break;
        }
    }
    snprintf(g_kafka_bootstrap, sizeof g_kafka_bootstrap, "127.0.0.1:%s", g_kafka_port);
    /* A broker left by an interrupted run is stopped and wiped: every run starts fresh. */
    if (kafka_cmd("destroy") != 0 || kafka_cmd("start") != 0) {
        fprintf(stderr, "harness: cannot start Kafka (see %s/kafka.log)\n",
                getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp/multica-tests");
        return -1;
    }
    setenv("MC_TEST_KAFKA_PORT", g_kafka_port, 1);
    return 0;
}

void th_stop_kafka(void)
{
    kafka_cmd("destroy");
}

const char *th_kafka_bootstrap(void)
{
    if (g_kafka_bootstrap[0] == '\0' && getenv("MC_TEST_KAFKA_PORT") != NULL) {
        snprintf(g_kafka_port, sizeof g_kafka_port, "%s", getenv("MC_TEST_KAFKA_PORT"));
        snprintf(g_kafka_bootstrap, sizeof g_kafka_bootstrap, "127.0.0.1:%s", g_kafka_port);
    }
    return g_kafka_bootstrap;
}

static void delete_topics(void)
{
    if (mc_kafka_prefix()[0] != '\0')
        mc_kafka_delete_topics(th_kafka_bootstrap(), 10000);
}

const char *th_broker_start(int partitions)
{
    static int counter;
    const char *brokers = th_kafka_bootstrap();
    ck_assert_msg(brokers[0] != '\0', "no Kafka broker for this run");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t%d-%d.", (int)getpid(), ++counter);
    ck_assert_int_eq(mc_kafka_set_prefix(prefix), 0);
    setenv("KAFKA_PREFIX", prefix, 1);
    char err[512];
    int rc = mc_kafka_ensure_topics(brokers, partitions, 1, NULL, NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "creating the topics of %s: %s", prefix, err);
    static bool registered;
    if (!registered) {
        atexit(delete_topics);
        registered = true;
    }
    return brokers;
}

void th_broker_stop_now(void)
{
    ck_assert_int_eq(kafka_cmd("stop"), 0);
}

void th_broker_kill_now(void)
{
    ck_assert_int_eq(kafka_cmd("kill"), 0);
}

void th_broker_start_now(void)
{
    ck_assert_int_eq(kafka_cmd("start"), 0);
}

int th_topic_delete(const char *topic)
{
    char err[256];
    rd_kafka_conf_t *conf = mc_kafka_conf_new(th_kafka_bootstrap(), "th-admin", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_ptr_nonnull(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(mc_topic(topic));
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int rc = ev != NULL && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : MC_EKAFKA;
    if (ev != NULL) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        if (n == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = MC_EKAFKA;
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

char *th_kafka_tool(const char *fmt, ...)
{
    char args[1024], env[1024], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    kafka_env(env, sizeof env);
    snprintf(cmd, sizeof cmd, "%s %s/tools/kafka tool %s 2>>'%s/kafka-tool.log'", env, th_root(),
             args, th_tmpdir());
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 512) {
            cap *= 2;
            char *grown = realloc(out, cap);
            ck_assert_ptr_nonnull(grown);
            out = grown;
        }
    }
    out[len] = '\0';
    pclose(f);
    return out;
}

void th_produce(const char *brokers, const char *topic, const char *key, const void *value,
                size_t len)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "message.max.bytes", "8388608", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_ptr_nonnull(rk);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(mc_topic(topic)), RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(e));
    ck_assert_int_eq(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

json_t *th_consume_all(const char *brokers, const char *topic)
{
    topic = mc_topic(topic);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", mc_topic("th-reader"), err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_ptr_nonnull(rk);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    ck_assert_int_eq(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    int64_t *high = calloc((size_t)nparts, sizeof(int64_t));
    int64_t remaining = 0;
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0, hi = 0;
        /* A cluster just started, or just restarted by the case, may still be electing the
         * partition's leader: "not the leader" is retried, as a client's next metadata does. */
        rd_kafka_resp_err_t e;
        int64_t retry_until = mc_now_mono_ms() + 30000;
        while ((e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000)) ==
                   RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
               e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
            ck_assert_msg(mc_now_mono_ms() < retry_until, "partition %d: %s", p,
                          rd_kafka_err2str(e));
            usleep(200 * 1000);
        }
        ck_assert_msg(e == RD_KAFKA_RESP_ERR_NO_ERROR, "partition %d: %s", p, rd_kafka_err2str(e));
        high[p] = hi;
        remaining += hi - lo;
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    json_t *out = json_array();
    int64_t deadline = mc_now_mono_ms() + 30000;
    while (remaining > 0 && mc_now_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset < high[m->partition]) {
            /* content_type: the CloudEvents header, or null; tombstone: a null value. */
            rd_kafka_headers_t *h = NULL;
            const void *ct = NULL;
            size_t ctlen = 0;
            bool has_ct = rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                          rd_kafka_header_get_last(h, "content-type", &ct, &ctlen) ==
                              RD_KAFKA_RESP_ERR_NO_ERROR &&
                          ct != NULL;
            json_array_append_new(
                out,
                json_pack("{s:s%, s:s%, s:i, s:I, s:o, s:b}", "key", m->key ? (char *)m->key : "",
                          m->key ? m->key_len : 0, "value", m->payload ? (char *)m->payload : "",
                          m->payload ? m->len : 0, "partition", (int)m->partition, "offset",
                          (json_int_t)m->offset, "content_type",
                          has_ct ? json_stringn((const char *)ct, ctlen) : json_null(), "tombstone",
                          m->payload == NULL));
            remaining--;
        }
        rd_kafka_message_destroy(m);
    }
    free(high);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    ck_assert_msg(remaining == 0, "%lld messages of %s were not read", (long long)remaining, topic);
    return out;
}

void th_capture(const json_t *messages)
{
    static int counter;
    const char *base = getenv("MC_TEST_TMP");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/captured", base && *base ? base : "/tmp/multica-tests");
    mkdir(dir, 0755);
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        /* Every event a service produces says what it is, as the CloudEvents Kafka binding
         * asks (structured mode). */
        const char *ct = json_string_value(json_object_get(m, "content_type"));
        ck_assert_msg(ct != NULL && strcmp(ct, MC_KAFKA_CONTENT_TYPE) == 0,
                      "a produced event has content-type %s", ct ? ct : "(none)");
        char path[700];
        snprintf(path, sizeof path, "%s/%d-%d.json", dir, (int)getpid(), ++counter);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(json_string_value(json_object_get(m, "value")), f);
        fclose(f);
    }
}

/* ---- http ---- */

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("th_free_port");
        abort();
    }
    close(fd);
    return ntohs(a.sin_port);
}

int th_http(const char *method, const char *url, const char *const *headers, const char *body,
            char **body_out)
{
    struct _u_request req;
    struct _u_response resp;
    ulfius_init_request(&req);
    ulfius_init_response(&resp);
    ulfius_set_request_properties(&req, U_OPT_HTTP_VERB, method, U_OPT_HTTP_URL, url, U_OPT_TIMEOUT,
                                  30L, U_OPT_NONE);
    for (int i = 0; headers != NULL && headers[i] != NULL; i++) {
        char *copy = mc_strdup(headers[i]);
        char *colon = strchr(copy, ':');
        if (colon != NULL) {
            *colon = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            u_map_put(req.map_header, copy, v);
        }
        free(copy);
    }
    if (body != NULL) {
        u_map_put(req.map_header, "Content-Type", "application/json");
        ulfius_set_string_body_request(&req, body);
    }
    int status = 0;
    if (ulfius_send_http_request(&req, &resp) == U_OK) {
        status = (int)resp.status;
        if (body_out != NULL) {
            *body_out = calloc(1, resp.binary_body_length + 1);
            if (resp.binary_body_length)
                memcpy(*body_out, resp.binary_body, resp.binary_body_length);
        }
    } else if (body_out != NULL) {
        *body_out = mc_strdup("");
    }
    ulfius_clean_request(&req);
    ulfius_clean_response(&resp);
    return status;
}

int th_wait_http_ok(const char *url, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    int status = 0;
    while (mc_now_mono_ms() < deadline) {
        status = th_http("GET", url, NULL, NULL, NULL);
        if (status == 200)
            return status;
        usleep(100 * 1000);
    }
    return status;
}

bool th_eventually(bool (*pred)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    for (;;) {
        if (pred(arg))
            return true;
        if (mc_now_mono_ms() >= deadline)
            return false;
        usleep(50 * 1000);
    }
}

int th_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            char *bigger = realloc(buf, cap * 2);
            ck_assert_ptr_nonnull(bigger);
            buf = bigger;
            cap *= 2;
        }
    }
    buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
