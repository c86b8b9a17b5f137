/* kafka.c: idempotent producer with synchronous batches, and the consumer-group wrapper. */
#include "mc_kafka.h"
#include "mc_common.h"
#include "mc_log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define MAX_BYTES_STR MC_STR(MC_KAFKA_MAX_MESSAGE_BYTES)

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* librdkafka reports a refused connection at LOG_ERR although it retries by itself; the
     * error callback already tells the service when every broker is down, so its own log
     * lines are warnings at most. */
    enum mc_log_level l = level <= LOG_WARNING ? MC_LOG_WARNING
                          : level <= LOG_INFO  ? MC_LOG_INFO
                                               : MC_LOG_DEBUG;
    mc_log(l, json_pack("{ss}", "facility", fac), "librdkafka: %s", buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
        mc_log_error(json_pack("{ss ss}", "error", rd_kafka_err2name(orig), "reason", buf),
                     "kafka fatal error");
        return;
    }
    mc_log_warn(json_pack("{ss ss}", "error", rd_kafka_err2name(err), "reason", reason),
                "kafka error");
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    if (rd_kafka_conf_set(conf, k, v, err, errlen) != RD_KAFKA_CONF_OK)
        return MC_EINVAL;
    return 0;
}

int mc_kafka_apply_env(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    const char *env = getenv("KAFKA_CONFIG");
    if (env == NULL || *env == '\0')
        return 0;
    char *copy = mc_strdup(env);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "KAFKA_CONFIG: expected key=value, got '%s'", tok);
            rc = MC_EINVAL;
            break;
        }
        *eq = '\0';
        char inner[256];
        if (rd_kafka_conf_set(conf, tok, eq + 1, inner, sizeof inner) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "KAFKA_CONFIG: %s", inner);
            rc = MC_EINVAL;
            break;
        }
    }
    free(copy);
    return rc;
}

rd_kafka_conf_t *mc_kafka_conf_new(const char *brokers, const char *client_id, char *err,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers, err, errlen) ||
        set(conf, "client.id", client_id, err, errlen) ||
        set(conf, "reconnect.backoff.max.ms", "2000", err, errlen) ||
        set(conf, "message.max.bytes", MAX_BYTES_STR, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

/* ---- producer ---- */

struct mc_producer {
    rd_kafka_t *rk;
    struct mc_worker poller; /* serves delivery reports */
};

/* A synchronous batch lives on the sender's stack until its last delivery report. */
struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;
};

struct slot {
    struct batch *b;
    struct mc_kmsg *m;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct slot *s = msg->_private;
    if (s == NULL)
        return;
    s->m->err = msg->err;
    s->m->partition = msg->partition;
    s->m->offset = msg->offset;
    pthread_mutex_lock(&s->b->mu);
    if (--s->b->pending == 0)
        pthread_cond_broadcast(&s->b->cv);
    pthread_mutex_unlock(&s->b->mu);
}

static void *poll_loop(void *arg)
{
    mc_producer *p = arg;
    while (!mc_worker_stopping(&p->poller))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

mc_producer *mc_producer_new(const char *brokers, const char *client_id, int message_timeout_ms,
                             char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = mc_kafka_conf_new(brokers, client_id, err, errlen);
    if (conf == NULL)
        return NULL;
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", message_timeout_ms);
    if (set(conf, "enable.idempotence", "true", err, errlen) ||
        set(conf, "acks", "all", err, errlen) || set(conf, "linger.ms", "2", err, errlen) ||
        set(conf, "compression.type", "lz4", err, errlen) ||
        set(conf, "message.timeout.ms", timeout, err, errlen) ||
        mc_kafka_apply_env(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    mc_producer *p = mc_calloc(1, sizeof *p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (p->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    mc_worker_init(&p->poller);
    if (mc_worker_start(&p->poller, poll_loop, p) != 0) {
        mc_worker_stop(&p->poller);
        rd_kafka_destroy(p->rk);
        free(p);
        snprintf(err, errlen, "cannot start the delivery-report thread");
        return NULL;
    }
    return p;
}

void mc_producer_free(mc_producer *p, int flush_ms)
{
    if (p == NULL)
        return;
    rd_kafka_flush(p->rk, flush_ms);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0)
        mc_log_warn(json_pack("{si}", "undelivered", left),
                    "producer closed with messages still queued");
    mc_worker_stop(&p->poller);
    rd_kafka_destroy(p->rk);
    free(p);
}

rd_kafka_t *mc_producer_handle(mc_producer *p)
{
    return p->rk;
}

int mc_producer_send(mc_producer *p, struct mc_kmsg *msgs, size_t n)
{
    if (p == NULL || (msgs == NULL && n > 0))
        return MC_EINVAL;
    if (n == 0)
        return 0;
    struct slot *slots = mc_calloc(n, sizeof *slots);
    struct batch b = {.pending = 0};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    for (size_t i = 0; i < n; i++) {
        struct mc_kmsg *m = &msgs[i];
        slots[i] = (struct slot){&b, m};
        m->err = RD_KAFKA_RESP_ERR_NO_ERROR;
        m->partition = -1;
        m->offset = -1;
        pthread_mutex_lock(&b.mu);
        b.pending++;
        pthread_mutex_unlock(&b.mu);
        rd_kafka_resp_err_t e;
        for (;;) {
            /* Every value is a CloudEvent in structured mode; a tombstone carries none. */
            rd_kafka_headers_t *h = NULL;
            if (m->value != NULL) {
                h = rd_kafka_headers_new(1);
                rd_kafka_header_add(h, "content-type", -1, MC_KAFKA_CONTENT_TYPE, -1);
            }
            e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(mc_topic(m->topic)),
                                  RD_KAFKA_V_KEY((void *)m->key, m->keylen),
                                  RD_KAFKA_V_VALUE((void *)m->value, m->len), RD_KAFKA_V_HEADERS(h),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE(&slots[i]), RD_KAFKA_V_END);
            /* On success the message owns the headers; otherwise they are still ours. */
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR && h != NULL)
                rd_kafka_headers_destroy(h);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            /* The local queue is full: let delivery reports drain it, then retry. */
            rd_kafka_poll(p->rk, 50);
        }
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            m->err = e;
            pthread_mutex_lock(&b.mu);
            b.pending--;
            pthread_mutex_unlock(&b.mu);
        }
    }
    /* librdkafka reports every accepted message within message.timeout.ms, so this wait is
     * bounded by that setting. */
    pthread_mutex_lock(&b.mu);
    while (b.pending > 0)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    free(slots);
    for (size_t i = 0; i < n; i++)
        if (msgs[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            return MC_EKAFKA;
    return 0;
}

/* ---- consumer ---- */

struct mc_consumer {
    rd_kafka_t *rk;
    struct mc_consumer_hooks hooks;
    /* What /healthz and /metrics read from the HTTP thread: the partitions assigned, with the
     * next offset the service has finished with (-1 while unknown), and when each last made
     * progress (its assignment or a commit that moved it), in since[i]. */
    pthread_mutex_t mu;
    rd_kafka_topic_partition_list_t *assigned;
    int64_t *since;
    /* Offsets finished with but not yet committed to the group (NULL when none), and when the
     * last commit went out: see COMMIT_EVERY_MS. Under mu. */
    rd_kafka_topic_partition_list_t *pending;
    int64_t committed_at;
};

/* Asynchronous commits go out at most this often per consumer; what is finished meanwhile waits
 * in `pending` and goes with the next one (or with the next poll once the time is up, so an idle
 * consumer's committed offsets are at most this late). Every offset commit is a write to the
 * broker's __consumer_offsets: committing after every batch cost about 0.8 OffsetCommit requests
 * per task in the dispatch bench (11 % of the broker's requests). A crash loses at most this
 * much of the commits, and every consumer here absorbs a redelivery (the dispatcher's state
 * machine, the projection by version, the ingester's own offsets in Postgres). Synchronous
 * commits, a revocation and the close send what is pending at once. */
#define COMMIT_EVERY_MS 1000

/* Where the group's committed offsets put the partitions the service left to them (offset
 * unset at assignment): the service is done with everything before. One request to the group
 * coordinator; on failure the position stands in (see mc_consumer_progress). */
static void track_committed(mc_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(c->assigned->cnt + 1);
    for (int i = 0; i < c->assigned->cnt; i++)
        if (c->assigned->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(ask, c->assigned->elems[i].topic,
                                              c->assigned->elems[i].partition);
    pthread_mutex_unlock(&c->mu);
    if (ask->cnt > 0 && rd_kafka_committed(c->rk, ask, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&c->mu);
        for (int i = 0; i < ask->cnt; i++) {
            rd_kafka_topic_partition_t *a = rd_kafka_topic_partition_list_find(
                c->assigned, ask->elems[i].topic, ask->elems[i].partition);
            /* No committed offset: the group starts at the beginning (auto.offset.reset). */
            if (a != NULL && a->offset == -1)
                a->offset =
                    ask->elems[i].offset >= 0 ? ask->elems[i].offset : RD_KAFKA_OFFSET_BEGINNING;
        }
        pthread_mutex_unlock(&c->mu);
    }
    rd_kafka_topic_partition_list_destroy(ask);
}

static void track_assignment(mc_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&c->mu);
    rd_kafka_topic_partition_list_destroy(c->assigned);
    c->assigned =
        parts ? rd_kafka_topic_partition_list_copy(parts) : rd_kafka_topic_partition_list_new(0);
    free(c->since);
    c->since = mc_calloc((size_t)c->assigned->cnt + 1, sizeof *c->since);
    int64_t now = mc_now_mono_ms();
    for (int i = 0; i < c->assigned->cnt; i++) {
        /* -1: the group's committed offset (asked for next); BEGINNING stays. */
        if (c->assigned->elems[i].offset < 0 &&
            c->assigned->elems[i].offset != RD_KAFKA_OFFSET_BEGINNING)
            c->assigned->elems[i].offset = -1;
        c->since[i] = now;
    }
    pthread_mutex_unlock(&c->mu);
}

static void log_refused(rd_kafka_resp_err_t e, int partitions)
{
    mc_log_warn(json_pack("{ss si}", "error", rd_kafka_err2name(e), "partitions", partitions),
                "offset commit refused; those messages will be delivered again");
}

/* Commits what is pending (asynchronously when async). Returns 0 or MC_EKAFKA. */
static int flush_pending(mc_consumer *c, bool async)
{
    pthread_mutex_lock(&c->mu);
    rd_kafka_topic_partition_list_t *l = c->pending;
    c->pending = NULL;
    c->committed_at = mc_now_mono_ms();
    pthread_mutex_unlock(&c->mu);
    if (l == NULL)
        return 0;
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, async ? 1 : 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_refused(e, l->cnt);
    rd_kafka_topic_partition_list_destroy(l);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : MC_EKAFKA;
}

/* Sends what is pending asynchronously once COMMIT_EVERY_MS has passed since the last commit. */
static void flush_pending_if_due(mc_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    bool due = c->pending != NULL && mc_now_mono_ms() - c->committed_at >= COMMIT_EVERY_MS;
    pthread_mutex_unlock(&c->mu);
    if (due)
        flush_pending(c, true);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    mc_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (c->hooks.on_assign != NULL) {
            while (c->hooks.on_assign(c->hooks.ctx, parts) != 0) {
                if (c->hooks.keep_trying != NULL && !c->hooks.keep_trying(c->hooks.ctx))
                    break;
                mc_sleep_ms_interruptible(500, NULL);
            }
        }
        rd_kafka_assign(rk, parts);
        track_assignment(c, parts);
        track_committed(c);
        mc_log_info(json_pack("{si}", "partitions", parts->cnt), "partitions assigned");
    } else {
        if (c->hooks.on_revoke != NULL)
            c->hooks.on_revoke(c->hooks.ctx, parts);
        /* While the partitions are still ours: a later commit of them could move back the
         * offsets of their next owner. */
        flush_pending(c, false);
        rd_kafka_assign(rk, NULL);
        track_assignment(c, NULL);
        mc_log_info(
            json_pack("{si ss}", "partitions", parts->cnt, "reason", rd_kafka_err2name(err)),
            "partitions revoked");
    }
}

static char g_instance_id[250];

int mc_kafka_set_instance_id(const char *id)
{
    if (id == NULL)
        id = "";
    if (strlen(id) >= sizeof g_instance_id)
        return MC_EINVAL;
    snprintf(g_instance_id, sizeof g_instance_id, "%s", id);
    return 0;
}

static void consumer_free(mc_consumer *c)
{
    if (c->pending != NULL)
        rd_kafka_topic_partition_list_destroy(c->pending);
    rd_kafka_topic_partition_list_destroy(c->assigned);
    free(c->since);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

mc_consumer *mc_consumer_new(const char *brokers, const char *group, const char *const *topics,
                             size_t ntopics, const struct mc_consumer_hooks *hooks, char *err,
                             size_t errlen)
{
    group = mc_topic(group);
    rd_kafka_conf_t *conf = mc_kafka_conf_new(brokers, group, err, errlen);
    if (conf == NULL)
        return NULL;
    if (set(conf, "group.id", group, err, errlen) ||
        set(conf, "enable.auto.commit", "false", err, errlen) ||
        set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        set(conf, "auto.offset.reset", "earliest", err, errlen) ||
        set(conf, "partition.assignment.strategy", "range", err, errlen) ||
        set(conf, "session.timeout.ms", "10000", err, errlen) ||
        set(conf, "heartbeat.interval.ms", "1000", err, errlen) ||
        set(conf, "fetch.max.bytes", "16777216", err, errlen) ||
        set(conf, "max.partition.fetch.bytes", "8388608", err, errlen) ||
        (g_instance_id[0] && set(conf, "group.instance.id", g_instance_id, err, errlen)) ||
        mc_kafka_apply_env(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    mc_consumer *c = mc_calloc(1, sizeof *c);
    if (hooks != NULL)
        c->hooks = *hooks;
    pthread_mutex_init(&c->mu, NULL);
    c->assigned = rd_kafka_topic_partition_list_new(0);
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (c->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        consumer_free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(sub, mc_topic(topics[i]), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(c->rk);
        consumer_free(c);
        return NULL;
    }
    return c;
}

rd_kafka_message_t *mc_consumer_poll(mc_consumer *c, int timeout_ms)
{
    flush_pending_if_due(c);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (m == NULL)
        return NULL;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return m;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        mc_log_warn(json_pack("{ss ss}", "error", rd_kafka_err2name(m->err), "reason",
                              rd_kafka_message_errstr(m)),
                    "consumer error");
    rd_kafka_message_destroy(m);
    return NULL;
}

void mc_offsets_done(rd_kafka_topic_partition_list_t **done, const char *topic, int32_t partition,
                     int64_t next)
{
    if (*done == NULL)
        *done = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(*done, topic, partition);
    if (p == NULL)
        p = rd_kafka_topic_partition_list_add(*done, topic, partition);
    if (p->offset < next)
        p->offset = next;
}

void mc_offsets_done_msg(rd_kafka_topic_partition_list_t **done, const rd_kafka_message_t *m)
{
    mc_offsets_done(done, rd_kafka_topic_name(m->rkt), m->partition, m->offset + 1);
}

/* The service is done with these offsets, whatever becomes of the commit itself. */
static void track_done(mc_consumer *c, const rd_kafka_topic_partition_list_t *offsets)
{
    pthread_mutex_lock(&c->mu);
    int64_t now = mc_now_mono_ms();
    for (int i = 0; i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *a = rd_kafka_topic_partition_list_find(
            c->assigned, offsets->elems[i].topic, offsets->elems[i].partition);
        if (a != NULL && offsets->elems[i].offset > a->offset) {
            a->offset = offsets->elems[i].offset;
            c->since[a - c->assigned->elems] = now;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

int mc_consumer_commit(mc_consumer *c, rd_kafka_topic_partition_list_t **done, bool async)
{
    if (*done == NULL)
        return 0;
    if ((*done)->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(*done);
        *done = NULL;
        return 0;
    }
    track_done(c, *done);
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < (*done)->cnt; i++)
        mc_offsets_done(&c->pending, (*done)->elems[i].topic, (*done)->elems[i].partition,
                        (*done)->elems[i].offset);
    pthread_mutex_unlock(&c->mu);
    rd_kafka_topic_partition_list_destroy(*done);
    *done = NULL;
    if (!async)
        return flush_pending(c, false);
    flush_pending_if_due(c);
    return 0;
}

void mc_consumer_pause(mc_consumer *c, bool pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || l == NULL)
        return;
    if (l->cnt > 0 && pause)
        rd_kafka_pause_partitions(c->rk, l);
    else if (l->cnt > 0)
        rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void mc_consumer_progress(mc_consumer *c, struct mc_consumer_state *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    out->assigned = c->assigned->cnt;
    int64_t now = mc_now_mono_ms();
    for (int i = 0; i < c->assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *a = &c->assigned->elems[i];
        int64_t lo = -1, hi = -1, done = a->offset;
        /* Watermarks as of the last fetch (no request is sent); the position stands in for
         * what is done until the service first commits. */
        if (rd_kafka_get_watermark_offsets(c->rk, a->topic, a->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        if (done == RD_KAFKA_OFFSET_BEGINNING)
            done = lo;
        if (done < 0) {
            rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(pos, a->topic, a->partition);
            if (rd_kafka_position(c->rk, pos) == RD_KAFKA_RESP_ERR_NO_ERROR)
                done = pos->elems[0].offset;
            rd_kafka_topic_partition_list_destroy(pos);
        }
        if (done < 0)
            done = lo;
        if (done >= 0 && hi > done) {
            out->lag += hi - done;
            if (now - c->since[i] > out->idle_ms)
                out->idle_ms = now - c->since[i];
        }
    }
    pthread_mutex_unlock(&c->mu);
}

int mc_consumer_seek(mc_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, parts, 5000);
    if (e != NULL) {
        mc_log_warn(json_pack("{ss}", "error", rd_kafka_error_string(e)), "seek failed");
        rd_kafka_error_destroy(e);
        return MC_EKAFKA;
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            return MC_EKAFKA;
    return 0;
}

void mc_consumer_close(mc_consumer *c)
{
    if (c == NULL)
        return;
    flush_pending(c, false);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    consumer_free(c);
}

rd_kafka_t *mc_consumer_handle(mc_consumer *c)
{
    return c->rk;
}

bool mc_kafka_reachable(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}
