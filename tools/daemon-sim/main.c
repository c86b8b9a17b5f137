/* main.c: multica-daemon-sim, a simulated runtime (daemon) that uses the public API like a
 * real one: it registers (or reuses a runtime token), heartbeats, receives TaskDispatched over
 * the WebSocket, and for each task reports start, progress chunks, cumulative token usage and
 * completion. Used by the end-to-end tests, the benchmarks and `make demo`.
 *
 *   multica-daemon-sim --gateway URL (--registration-token T | --runtime-token T)
 *       [--name N] [--max-concurrency C] [--tasks N] [--work-ms MS] [--chunks K]
 *       [--heartbeat-ms MS] [--silent] [--provider P] [--model M]
 *
 * Each action is printed as one JSON line on stdout. --silent heartbeats until it takes its
 * first task and then goes quiet (no report, no heartbeat): a daemon that died holding a task,
 * for reclaim tests. The process exits after
 * --tasks completions (0: run until SIGTERM). */
#include "mc_client.h"
#include "mc_common.h"
#include "mc_config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim {
    const char *gateway;
    char token[128];
    char runtime_id[MC_UUID_STRLEN];
    const char *name;
    int max_concurrency;
    int tasks;
    int work_ms;
    int chunks;
    int heartbeat_ms;
    bool silent;
    const char *provider, *model;
    atomic_int completed;
    atomic_int quiet; /* --silent took a task: no more heartbeats */
    atomic_int in_flight;
    pthread_mutex_t mu;
    json_t *seen; /* task ids already taken */
};

static mc_stop g_stop; /* raised by SIGTERM/SIGINT, or when the run is over */

static void on_signal(int sig)
{
    (void)sig;
    mc_stop_raise(&g_stop);
}

static void say(json_t *line)
{
    char *t = json_dumps(line, JSON_COMPACT);
    printf("%s\n", t ? t : "{}");
    fflush(stdout);
    free(t);
    json_decref(line);
}

static int post(struct sim *s, const char *path, json_t *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->gateway, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int status = 0;
    for (int attempt = 0; attempt < 5 && !mc_stop_raised(&g_stop); attempt++) {
        status = mc_client_request("POST", url, s->token, text ? text : "{}", NULL);
        if (status != 0 && status != 503)
            break;
        mc_sleep_ms_interruptible(200 << attempt, &g_stop);
    }
    free(text);
    json_decref(body);
    return status;
}

struct job {
    struct sim *s;
    char task[MC_UUID_STRLEN];
};

static void *work(void *arg)
{
    struct job *j = arg;
    struct sim *s = j->s;
    char path[256];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/start", j->task);
    int status = post(s, path, NULL);
    say(json_pack("{ss ss si}", "event", "started", "task_id", j->task, "status", status));
    int64_t in = 0, out = 0;
    for (int k = 0; k < s->chunks && !mc_stop_raised(&g_stop); k++) {
        mc_sleep_ms_interruptible(s->work_ms / (s->chunks + 1), &g_stop);
        snprintf(path, sizeof path, "/api/daemon/tasks/%s/progress", j->task);
        char text[64];
        snprintf(text, sizeof text, "step %d of %d", k + 1, s->chunks);
        post(s, path, json_pack("{si ss}", "seq", k, "text", text));
        in += 1000;
        out += 250;
        snprintf(path, sizeof path, "/api/daemon/tasks/%s/usage", j->task);
        post(s, path,
             json_pack("[{ss ss sI sI sI sI}]", "provider", s->provider, "model", s->model,
                       "input_tokens", (json_int_t)in, "output_tokens", (json_int_t)out,
                       "cache_read_tokens", (json_int_t)(in * 2), "cache_write_tokens",
                       (json_int_t)(in / 10)));
    }
    mc_sleep_ms_interruptible(s->work_ms / (s->chunks + 1), &g_stop);
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/complete", j->task);
    status = post(s, path, json_pack("{ss}", "result", "done by multica-daemon-sim"));
    say(json_pack("{ss ss si sI sI}", "event", "completed", "task_id", j->task, "status", status,
                  "input_tokens", (json_int_t)in, "output_tokens", (json_int_t)out));
    atomic_fetch_add(&s->completed, 1);
    atomic_fetch_sub(&s->in_flight, 1);
    free(j);
    return NULL;
}

static void take(struct sim *s, const json_t *event)
{
    const json_t *data = json_object_get(event, "data");
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *task = json_string_value(json_object_get(data, "task_id"));
    const char *runtime = json_string_value(json_object_get(data, "runtime_id"));
    if (type == NULL || task == NULL || runtime == NULL ||
        strcmp(type, "multica.task.dispatched.v1") != 0 || strcmp(runtime, s->runtime_id) != 0)
        return;
    /* A dispatch per attempt: the same task may come back after a requeue. */
    char key[80];
    snprintf(key, sizeof key, "%s/%lld", task,
             (long long)json_integer_value(json_object_get(data, "attempt")));
    pthread_mutex_lock(&s->mu);
    bool seen = json_object_get(s->seen, key) != NULL;
    json_object_set_new(s->seen, key, json_true());
    pthread_mutex_unlock(&s->mu);
    if (seen)
        return;
    say(json_pack("{ss ss sI}", "event", "dispatched", "task_id", task, "attempt",
                  json_integer_value(json_object_get(data, "attempt"))));
    if (s->silent) {
        atomic_store(&s->quiet, 1);
        return;
    }
    while (atomic_load(&s->in_flight) >= s->max_concurrency && !mc_stop_raised(&g_stop))
        mc_sleep_ms_interruptible(10, &g_stop);
    struct job *j = mc_calloc(1, sizeof *j);
    j->s = s;
    snprintf(j->task, sizeof j->task, "%s", task);
    atomic_fetch_add(&s->in_flight, 1);
    pthread_t t;
    if (pthread_create(&t, NULL, work, j) == 0)
        pthread_detach(t);
}

static void *heartbeat(void *arg)
{
    struct sim *s = arg;
    while (!mc_stop_raised(&g_stop) && !atomic_load(&s->quiet)) {
        post(s, "/api/daemon/heartbeat", NULL);
        mc_sleep_ms_interruptible(s->heartbeat_ms, &g_stop);
    }
    return NULL;
}

static bool done(struct sim *s)
{
    return mc_stop_raised(&g_stop) || (s->tasks > 0 && atomic_load(&s->completed) >= s->tasks);
}

static int register_runtime(struct sim *s, const char *reg)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/daemon/register", s->gateway);
    json_t *body = json_pack("{ss ss si}", "registration_token", reg, "name", s->name,
                             "max_concurrency", s->max_concurrency);
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *out = NULL;
    int status = mc_client_request("POST", url, NULL, text, &out);
    free(text);
    json_decref(body);
    if (status != 201) {
        fprintf(stderr, "multica-daemon-sim: registration failed with status %d\n", status);
        json_decref(out);
        return 1;
    }
    snprintf(s->token, sizeof s->token, "%s",
             json_string_value(json_object_get(out, "runtime_token")));
    snprintf(s->runtime_id, sizeof s->runtime_id, "%s",
             json_string_value(json_object_get(out, "runtime_id")));
    say(json_pack("{ss ss ss}", "event", "registered", "runtime_id", s->runtime_id, "runtime_token",
                  s->token));
    json_decref(out);
    return 0;
}

#define SYNOPSIS                                                                                   \
    "multica-daemon-sim --gateway URL (--registration-token T | --runtime-token T --runtime-id "   \
    "ID) [--name N] [--max-concurrency C] [--tasks N] [--work-ms MS] [--chunks K] "                \
    "[--heartbeat-ms MS] [--provider P] [--model M] [--silent]\n"                                  \
    "       multica-daemon-sim --help | --version"

int main(int argc, char **argv)
{
    struct sim s = {.name = "multica-daemon-sim",
                    .max_concurrency = 1,
                    .work_ms = 300,
                    .chunks = 3,
                    .heartbeat_ms = 10000,
                    .provider = "anthropic",
                    .model = "claude-sonnet-4"};
    const char *reg = NULL;
    const struct mc_config_usage cli = {
        "multica-daemon-sim", SYNOPSIS,
        "A simulated runtime: it registers, heartbeats, claims tasks over the gateway's WebSocket "
        "and reports progress and usage through the public API, as a real daemon does."};
    if (mc_config_cli(argc, argv, &cli, NULL, 0))
        return 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--silent") == 0) {
            s.silent = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "multica-daemon-sim: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--gateway") == 0)
            s.gateway = v;
        else if (strcmp(a, "--registration-token") == 0)
            reg = v;
        else if (strcmp(a, "--runtime-token") == 0)
            snprintf(s.token, sizeof s.token, "%s", v);
        else if (strcmp(a, "--runtime-id") == 0)
            snprintf(s.runtime_id, sizeof s.runtime_id, "%s", v);
        else if (strcmp(a, "--name") == 0)
            s.name = v;
        else if (strcmp(a, "--max-concurrency") == 0)
            s.max_concurrency = atoi(v);
        else if (strcmp(a, "--tasks") == 0)
            s.tasks = atoi(v);
        else if (strcmp(a, "--work-ms") == 0)
            s.work_ms = atoi(v);
        else if (strcmp(a, "--chunks") == 0)
            s.chunks = atoi(v);
        else if (strcmp(a, "--heartbeat-ms") == 0)
            s.heartbeat_ms = atoi(v);
        else if (strcmp(a, "--provider") == 0)
            s.provider = v;
        else if (strcmp(a, "--model") == 0)
            s.model = v;
        else {
            fprintf(stderr, "multica-daemon-sim: unknown option %s\n", a);
            return 2;
        }
    }
    if (s.gateway == NULL || (reg == NULL && (s.token[0] == '\0' || s.runtime_id[0] == '\0')) ||
        s.max_concurrency < 1) {
        fprintf(stderr, "usage: " SYNOPSIS "\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_mutex_init(&s.mu, NULL);
    s.seen = json_object();
    if (reg != NULL && register_runtime(&s, reg) != 0)
        return 1;
    pthread_t hb;
    bool beating = pthread_create(&hb, NULL, heartbeat, &s) == 0;
    long long last_seq = 0;
    while (!done(&s)) {
        char url[600];
        snprintf(url, sizeof url, "%s/api/ws?since=%lld", s.gateway, last_seq);
        mc_wsclient *ws = mc_wsclient_open(url, s.token);
        if (ws == NULL) {
            mc_sleep_ms_interruptible(500, &g_stop);
            continue;
        }
        say(json_pack("{ss sI}", "event", "connected", "since", (json_int_t)last_seq));
        while (!done(&s) && mc_wsclient_open_p(ws)) {
            json_t *m = mc_wsclient_next(ws, 200);
            if (m == NULL)
                continue;
            json_t *seq = json_object_get(m, "seq");
            if (json_is_integer(seq) && json_integer_value(seq) > last_seq)
                last_seq = json_integer_value(seq);
            take(&s, json_object_get(m, "event"));
            json_decref(m);
        }
        mc_wsclient_close(ws);
    }
    /* Let running tasks finish their reports. */
    while (atomic_load(&s.in_flight) > 0)
        mc_sleep_ms_interruptible(20, NULL);
    mc_stop_raise(&g_stop);
    if (beating)
        pthread_join(hb, NULL);
    say(json_pack("{ss si}", "event", "exit", "completed", atomic_load(&s.completed)));
    json_decref(s.seen);
    pthread_mutex_destroy(&s.mu);
    return 0;
}
