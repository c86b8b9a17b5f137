/* topics.c: the topic definitions, the name prefix, and creating topics with the admin API. */
#include "mc_common.h"
#include "mc_kafka.h"
#include "mc_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Retention follows what reads each topic: commands and events are consumed within seconds,
 * and seven days cover the longest outage a consumer group rides out (the ingester's
 * PROCESSED_EVENTS_RETENTION is seven days too); heartbeats are worthless after a day; the
 * DLQ and the execution records are kept 30 days for people to look at. The hourly topic is
 * compacted: its last record per bucket is the bucket, and a deleted bucket's tombstone stays
 * a day so that a reader catching up sees the deletion. */
#define RETAIN_1D  "retention.ms=86400000"
#define RETAIN_7D  "retention.ms=604800000"
#define RETAIN_30D "retention.ms=2592000000"
#define MAX_BYTES  "max.message.bytes=1048576"

const struct mc_topic_def mc_topic_defs[] = {
    {MC_TOPIC_TASK_COMMANDS, 6, "cleanup.policy=delete," RETAIN_7D "," MAX_BYTES,
     "task commands from the gateway to the dispatcher, keyed by task"},
    {MC_TOPIC_TASK_EVENTS, 6, "cleanup.policy=delete," RETAIN_7D "," MAX_BYTES,
     "task state changes from the dispatcher, keyed by task"},
    {MC_TOPIC_RUNTIME_EVENTS, 6, "cleanup.policy=delete," RETAIN_1D "," MAX_BYTES,
     "runtime registrations, heartbeats and offline notices, keyed by runtime"},
    {MC_TOPIC_USAGE_EVENTS, 6, "cleanup.policy=delete," RETAIN_7D "," MAX_BYTES,
     "token usage reports, keyed by task"},
    {MC_TOPIC_USAGE_DLQ, 6, "cleanup.policy=delete," RETAIN_30D "," MAX_BYTES,
     "messages the ingester rejected, with the reason"},
    {MC_TOPIC_USAGE_HOURLY, 6,
     "cleanup.policy=compact,min.compaction.lag.ms=60000,delete.retention.ms=86400000," MAX_BYTES,
     "hourly usage buckets, keyed by bucket; a null value deletes one"},
    {MC_TOPIC_SCHEDULER_EXECUTIONS, 6, "cleanup.policy=delete," RETAIN_30D "," MAX_BYTES,
     "finished scheduler runs"},
};
const size_t mc_ntopic_defs = MC_ARRAY_LEN(mc_topic_defs);

/* ---- names ---- */

/* Names with the prefix are interned: a handful per process, never freed, so callers can keep
 * the pointers as long as they like. */
struct interned {
    struct interned *next;
    char *base, *full;
};
static pthread_mutex_t g_names_mu = PTHREAD_MUTEX_INITIALIZER;
static struct interned *g_names;
static char g_prefix[101];

int mc_kafka_set_prefix(const char *prefix)
{
    if (prefix == NULL)
        prefix = "";
    if (strlen(prefix) >= sizeof g_prefix ||
        strspn(prefix, "abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(prefix))
        return MC_EINVAL;
    pthread_mutex_lock(&g_names_mu);
    snprintf(g_prefix, sizeof g_prefix, "%s", prefix);
    while (g_names != NULL) {
        struct interned *n = g_names;
        g_names = n->next;
        free(n->base);
        free(n->full);
        free(n);
    }
    pthread_mutex_unlock(&g_names_mu);
    return 0;
}

const char *mc_kafka_prefix(void)
{
    return g_prefix;
}

const char *mc_topic(const char *base)
{
    if (g_prefix[0] == '\0')
        return base;
    pthread_mutex_lock(&g_names_mu);
    struct interned *n = g_names;
    while (n != NULL && strcmp(n->base, base) != 0)
        n = n->next;
    if (n == NULL) {
        n = mc_calloc(1, sizeof *n);
        n->base = mc_strdup(base);
        n->full = mc_sprintf("%s%s", g_prefix, base);
        n->next = g_names;
        g_names = n;
    }
    const char *full = n->full;
    pthread_mutex_unlock(&g_names_mu);
    return full;
}

/* The base name of a name on the broker: the name without the prefix (the name itself when
 * it lacks the prefix). */
static const char *topic_base(const char *name)
{
    size_t n = strlen(g_prefix);
    return n > 0 && strncmp(name, g_prefix, n) == 0 ? name + n : name;
}

bool mc_topic_is(const char *name, const char *base)
{
    size_t n = strlen(g_prefix);
    return strncmp(name, g_prefix, n) == 0 && strcmp(name + n, base) == 0;
}

/* ---- topics ---- */

static rd_kafka_t *admin_new(const char *brokers, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = mc_kafka_conf_new(brokers, "multica-topics", err, errlen);
    if (conf == NULL)
        return NULL;
    if (mc_kafka_apply_env(conf, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Waits for the result event of one admin request on its own queue. */
static rd_kafka_event_t *await(rd_kafka_queue_t *q, int timeout_ms)
{
    return rd_kafka_queue_poll(q, timeout_ms + 1000);
}

/* A request that got no answer (broker down or still starting) is worth retrying; one the
 * broker refused is not. */
static int failure(rd_kafka_event_t *ev)
{
    if (ev == NULL)
        return MC_ETIMEDOUT;
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    return e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT ||
                   e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                   e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT
               ? MC_ETIMEDOUT
               : MC_EKAFKA;
}

/* Applies one "k=v,k=v" list with fn (NewTopic or ConfigResource setter). */
static int each_config(const char *configs, int (*fn)(void *obj, const char *k, const char *v),
                       void *obj)
{
    char *copy = mc_strdup(configs);
    char *save = NULL;
    int rc = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv != NULL && rc == 0;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            rc = MC_EINVAL;
            break;
        }
        *eq = '\0';
        rc = fn(obj, kv, eq + 1);
    }
    free(copy);
    return rc;
}

static int new_topic_set(void *obj, const char *k, const char *v)
{
    return rd_kafka_NewTopic_set_config(obj, k, v) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : MC_EINVAL;
}

static void say(void (*report)(void *, const char *), void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(void (*report)(void *, const char *), void *ctx, const char *fmt, ...)
{
    if (report == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    report(ctx, line);
}

static int create_all(rd_kafka_t *rk, rd_kafka_queue_t *q, int partitions, int replication,
                      bool *existed, char *err, size_t errlen)
{
    rd_kafka_NewTopic_t *nt[MC_ARRAY_LEN(mc_topic_defs)];
    char inner[256];
    for (size_t i = 0; i < mc_ntopic_defs; i++) {
        const struct mc_topic_def *d = &mc_topic_defs[i];
        nt[i] =
            rd_kafka_NewTopic_new(mc_topic(d->name), partitions > 0 ? partitions : d->partitions,
                                  replication, inner, sizeof inner);
        if (nt[i] == NULL || each_config(d->configs, new_topic_set, nt[i]) != 0) {
            snprintf(err, errlen, "topic %s: %s", d->name, nt[i] ? "bad configs" : inner);
            for (size_t j = 0; j <= i; j++)
                rd_kafka_NewTopic_destroy(nt[j]);
            return MC_EINVAL;
        }
    }
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, inner, sizeof inner);
    rd_kafka_CreateTopics(rk, nt, mc_ntopic_defs, opt, q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy_array(nt, mc_ntopic_defs);
    rd_kafka_event_t *ev = await(q, 30000);
    int rc = 0;
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "create topics: %s",
                 ev ? rd_kafka_event_error_string(ev) : "no answer from the broker");
        rc = failure(ev);
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            const char *name = topic_base(rd_kafka_topic_result_name(res[i]));
            for (size_t j = 0; j < mc_ntopic_defs; j++)
                if (strcmp(mc_topic_defs[j].name, name) == 0)
                    existed[j] = e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, errlen, "create %s: %s", rd_kafka_topic_result_name(res[i]),
                         rd_kafka_topic_result_error_string(res[i]));
                rc = MC_EKAFKA;
            }
        }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* True when the definition sets key (a setter appends: the request must not repeat a key). */
static bool defines(const struct mc_topic_def *d, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = d->configs; p != NULL && *p != '\0';) {
        if (strncmp(p, key, n) == 0 && p[n] == '=')
            return true;
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* Adds each "k=v" of configs whose key is not among keep (the operator's own values). */
static void add_missing(const char *configs, const char *const *keep, size_t nkeep,
                        rd_kafka_ConfigResource_t *res)
{
    char *copy = mc_strdup(configs);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        bool kept = false;
        for (size_t i = 0; i < nkeep && !kept; i++)
            kept = strcmp(keep[i], kv) == 0;
        if (!kept)
            rd_kafka_ConfigResource_set_config(res, kv, eq + 1);
    }
    free(copy);
}

/* Settings of an existing topic: what the definition names is added where the topic has no
 * value of its own, so an upgrade that adds a setting reaches existing topics while an
 * operator's retention or size limit stays; cleanup.policy is the code's to say (compaction is
 * what the hourly topic's readers rely on) and is always applied. AlterConfigs replaces every
 * dynamic setting of a topic, so the request carries all of them. */
static int update_existing(rd_kafka_t *rk, rd_kafka_queue_t *q, const struct mc_topic_def *d,
                           char *err, size_t errlen)
{
    const char *name = mc_topic(d->name);
    char inner[256];
    rd_kafka_ConfigResource_t *want = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opt, 30000, inner, sizeof inner);
    rd_kafka_DescribeConfigs(rk, &want, 1, opt, q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_ConfigResource_destroy(want);
    rd_kafka_event_t *ev = await(q, 30000);
    rd_kafka_ConfigResource_t *alter = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    const char *keep[32];
    size_t nkeep = 0;
    int rc = 0;
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "describe %s: %s", name,
                 ev ? rd_kafka_event_error_string(ev) : "no answer from the broker");
        rc = failure(ev);
    } else {
        size_t nres = 0;
        const rd_kafka_ConfigResource_t **res = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &nres);
        size_t nentries = 0;
        const rd_kafka_ConfigEntry_t **entries =
            nres == 1 ? rd_kafka_ConfigResource_configs(res[0], &nentries) : NULL;
        for (size_t i = 0; i < nentries; i++) {
            const char *key = rd_kafka_ConfigEntry_name(entries[i]);
            if (rd_kafka_ConfigEntry_source(entries[i]) !=
                    RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG ||
                rd_kafka_ConfigEntry_value(entries[i]) == NULL ||
                strcmp(key, "cleanup.policy") == 0)
                continue;
            rd_kafka_ConfigResource_set_config(alter, key, rd_kafka_ConfigEntry_value(entries[i]));
            if (defines(d, key) && nkeep < MC_ARRAY_LEN(keep))
                keep[nkeep++] = key;
        }
        add_missing(d->configs, keep, nkeep, alter);
    }
    rd_kafka_event_destroy(ev);
    if (rc == 0) {
        opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
        rd_kafka_AdminOptions_set_request_timeout(opt, 30000, inner, sizeof inner);
        rd_kafka_AlterConfigs(rk, &alter, 1, opt, q);
        rd_kafka_AdminOptions_destroy(opt);
        ev = await(q, 30000);
        if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "alter %s: %s", name,
                     ev ? rd_kafka_event_error_string(ev) : "no answer from the broker");
            rc = failure(ev);
        } else {
            size_t n = 0;
            const rd_kafka_ConfigResource_t **res =
                rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
            if (n == 1 && rd_kafka_ConfigResource_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "alter %s: %s", name,
                         rd_kafka_ConfigResource_error_string(res[0]));
                rc = MC_EKAFKA;
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_ConfigResource_destroy(alter);
    return rc;
}

/* The partition count the broker reports; a topic just created may take a moment to appear
 * in the metadata, so ask a few times. -1 when it never does. */
static int partition_count(rd_kafka_t *rk, const char *name)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, name, NULL);
    int n = -1;
    for (int attempt = 0; attempt < 50 && n < 0; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        if (n < 0)
            mc_sleep_ms_interruptible(100, NULL);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

int mc_kafka_ensure_topics(const char *brokers, int partitions, int replication,
                           void (*report)(void *ctx, const char *line), void *ctx, char *err,
                           size_t errlen)
{
    rd_kafka_t *rk = admin_new(brokers, err, errlen);
    if (rk == NULL)
        return MC_EINVAL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    bool existed[MC_ARRAY_LEN(mc_topic_defs)] = {false};
    int rc = create_all(rk, q, partitions, replication, existed, err, errlen);
    for (size_t i = 0; rc == 0 && i < mc_ntopic_defs; i++) {
        const struct mc_topic_def *d = &mc_topic_defs[i];
        if (existed[i])
            rc = update_existing(rk, q, d, err, errlen);
        if (rc != 0)
            break;
        int want = partitions > 0 ? partitions : d->partitions;
        int have = partition_count(rk, mc_topic(d->name));
        say(report, ctx, "%s %s (%d partitions; %s)", mc_topic(d->name),
            existed[i] ? "existed, settings applied" : "created", have, d->configs);
        if (have >= 0 && have < want)
            say(report, ctx,
                "%s has %d partitions, fewer than %d; left as it is (see "
                "docs/SELF_HOSTING_ADVANCED.md, Topics and partitions)",
                mc_topic(d->name), have, want);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int mc_kafka_delete_topics(const char *brokers, int timeout_ms)
{
    char err[256];
    rd_kafka_t *rk = admin_new(brokers, err, sizeof err);
    if (rk == NULL)
        return MC_EINVAL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopic_t *dt[MC_ARRAY_LEN(mc_topic_defs)];
    for (size_t i = 0; i < mc_ntopic_defs; i++)
        dt[i] = rd_kafka_DeleteTopic_new(mc_topic(mc_topic_defs[i].name));
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, err, sizeof err);
    rd_kafka_DeleteTopics(rk, dt, mc_ntopic_defs, opt, q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_DeleteTopic_destroy_array(dt, mc_ntopic_defs);
    rd_kafka_event_t *ev = await(q, timeout_ms);
    int rc = ev != NULL && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : MC_EKAFKA;
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
