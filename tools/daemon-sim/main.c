/* main.c: multica-daemon-sim, a simulated runtime that speaks Multica's daemon protocol as the
 * official `multica daemon` does, without running an agent: it lists its workspaces, registers
 * one runtime per workspace, recovers orphans, connects to /api/daemon/ws (heartbeats,
 * daemon:task_available), claims over HTTP, and runs each task as start, messages and progress
 * chunks with cumulative token usage, then complete; between chunks it polls the task's status
 * and stops a cancelled task with cancel-ack. Used by the end-to-end tests, the benchmarks and
 * `make demo`.
 *
 *   multica-daemon-sim --gateway URL --token mul_... [--workspace ID] [--daemon-id ID]
 *       [--name N] [--provider P] [--model M] [--max-concurrency C] [--tasks N]
 *       [--work-ms MS] [--chunks K] [--heartbeat-ms MS] [--poll-ms MS] [--silent]
 *
 * Each action is printed as one JSON line on stdout ({"event":"registered","runtime_id":..}
 * first). --max-concurrency is the daemon's slots: a claim asks for at most the free ones.
 * --silent claims its first task and then goes quiet (no start, no heartbeat): a daemon that
 * died holding a task, for reclaim tests. The process exits after --tasks completions (0: run
 * until SIGTERM), deregistering its runtimes. */
#include "mc_client.h"
#include "mc_common.h"
#include "mc_config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNTIMES 64

struct sim {
    const char *gateway, *token, *workspace, *name, *provider, *model;
    char daemon_id[MC_UUID_STRLEN];
    char runtimes[MAX_RUNTIMES][MC_UUID_STRLEN];
    int nruntimes;
    int slots, tasks, work_ms, chunks, heartbeat_ms, poll_ms;
    int64_t next_poll;
    bool silent;
    atomic_int completed, in_flight, quiet, wake;
    mc_wsclient *ws;
    pthread_mutex_t ws_mu;
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

/* A request to the gateway (body stolen, may be NULL); 5xx and unreachable are retried with
 * backoff, as the daemon retries its terminal reports. */
static int call(struct sim *s, const char *method, const char *path, json_t *body, json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int status = 0;
    for (int attempt = 0; attempt < 5 && !mc_stop_raised(&g_stop); attempt++) {
        if (out != NULL)
            *out = NULL;
        status = mc_client_call(s->gateway, method, path, s->token, text, out);
        if (status != 0 && status < 500)
            break;
        if (out != NULL)
            json_decref(*out);
        mc_sleep_ms_interruptible(200 << attempt, &g_stop);
    }
    free(text);
    json_decref(body);
    return status;
}

static int task_post(struct sim *s, const char *task, const char *what, json_t *body)
{
    char path[160];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/%s", task, what);
    return call(s, "POST", path, body ? body : json_object(), NULL);
}

/* Whether the task is still to be worked on: its status poll says it was not cancelled,
 * failed or deleted ("task not found"). */
static bool still_wanted(struct sim *s, const char *task)
{
    char path[160];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/status", task);
    int status = call(s, "GET", path, NULL, &out);
    const char *st = json_string_value(json_object_get(out, "status"));
    bool wanted = status != 404 &&
                  (st == NULL || (strcmp(st, "cancelled") != 0 && strcmp(st, "failed") != 0 &&
                                  strcmp(st, "completed") != 0));
    json_decref(out);
    return wanted;
}

struct job {
    struct sim *s;
    char task[MC_UUID_STRLEN];
};

static void *work(void *arg)
{
    struct job *j = arg;
    struct sim *s = j->s;
    int status = task_post(s, j->task, "start", NULL);
    say(json_pack("{ss ss si}", "event", "started", "task_id", j->task, "status", status));
    task_post(s, j->task, "progress",
              json_pack("{ss si si}", "summary", "Launching", "step", 1, "total", 2));
    int64_t in = 0, out = 0;
    bool cancelled = false;
    for (int k = 0; k < s->chunks && !mc_stop_raised(&g_stop) && !cancelled; k++) {
        mc_sleep_ms_interruptible(s->work_ms / (s->chunks + 1), &g_stop);
        char text[64];
        snprintf(text, sizeof text, "step %d of %d", k + 1, s->chunks);
        task_post(s, j->task, "messages",
                  json_pack("{s[{si ss ss}]}", "messages", "seq", k + 1, "type", "text", "content",
                            text));
        in += 1000;
        out += 250;
        task_post(s, j->task, "usage",
                  json_pack("{s[{ss ss sI sI sI sI}]}", "usage", "provider", s->provider, "model",
                            s->model, "input_tokens", (json_int_t)in, "output_tokens",
                            (json_int_t)out, "cache_read_tokens", (json_int_t)(in * 2),
                            "cache_write_tokens", (json_int_t)(in / 10)));
        cancelled = !still_wanted(s, j->task);
    }
    if (cancelled) {
        status = task_post(s, j->task, "cancel-ack", NULL);
        say(json_pack("{ss ss si}", "event", "cancelled", "task_id", j->task, "status", status));
    } else {
        mc_sleep_ms_interruptible(s->work_ms / (s->chunks + 1), &g_stop);
        task_post(s, j->task, "progress",
                  json_pack("{ss si si}", "summary", "Finishing task", "step", 2, "total", 2));
        status = task_post(s, j->task, "complete",
                           json_pack("{ss}", "output", "done by multica-daemon-sim"));
        say(json_pack("{ss ss si sI sI}", "event", "completed", "task_id", j->task, "status",
                      status, "input_tokens", (json_int_t)in, "output_tokens", (json_int_t)out));
    }
    atomic_fetch_add(&s->completed, 1);
    atomic_fetch_sub(&s->in_flight, 1);
    atomic_store(&s->wake, 1); /* a free slot: claim again at once */
    free(j);
    return NULL;
}

/* One claim for the free slots; starts a worker per task handed out. */
static void claim(struct sim *s)
{
    int free_slots = s->slots - atomic_load(&s->in_flight);
    if (free_slots <= 0 || atomic_load(&s->quiet))
        return;
    json_t *ids = json_array();
    for (int i = 0; i < s->nruntimes; i++)
        json_array_append_new(ids, json_string(s->runtimes[i]));
    json_t *out = NULL;
    call(s, "POST", "/api/daemon/tasks/claim",
         json_pack("{ss so si}", "daemon_id", s->daemon_id, "runtime_ids", ids, "max_tasks",
                   free_slots),
         &out);
    json_t *tasks = json_object_get(out, "tasks");
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        const char *task = json_string_value(json_object_get(json_array_get(tasks, i), "id"));
        if (task == NULL)
            continue;
        say(json_pack("{ss ss}", "event", "claimed", "task_id", task));
        if (s->silent) {
            atomic_store(&s->quiet, 1);
            break;
        }
        struct job *j = mc_calloc(1, sizeof *j);
        j->s = s;
        snprintf(j->task, sizeof j->task, "%s", task);
        atomic_fetch_add(&s->in_flight, 1);
        pthread_t t;
        if (pthread_create(&t, NULL, work, j) == 0)
            pthread_detach(t);
    }
    json_decref(out);
}

static void ws_send(struct sim *s, json_t *msg)
{
    pthread_mutex_lock(&s->ws_mu);
    if (s->ws != NULL)
        mc_wsclient_send(s->ws, msg);
    pthread_mutex_unlock(&s->ws_mu);
    json_decref(msg);
}

/* Heartbeats every runtime, over the WebSocket while it is open (acks there), else over HTTP. */
static void *heartbeat(void *arg)
{
    struct sim *s = arg;
    while (!mc_stop_raised(&g_stop) && !atomic_load(&s->quiet)) {
        pthread_mutex_lock(&s->ws_mu);
        bool ws = s->ws != NULL && mc_wsclient_open_p(s->ws);
        pthread_mutex_unlock(&s->ws_mu);
        for (int i = 0; i < s->nruntimes; i++) {
            if (ws)
                ws_send(s, json_pack("{ss s{ss sb}}", "type", "daemon:heartbeat", "payload",
                                     "runtime_id", s->runtimes[i], "supports_batch_import", 1));
            else
                call(s, "POST", "/api/daemon/heartbeat",
                     json_pack("{ss}", "runtime_id", s->runtimes[i]), NULL);
        }
        mc_sleep_ms_interruptible(s->heartbeat_ms, &g_stop);
    }
    return NULL;
}

/* Registers a runtime in every workspace (or only --workspace); returns how many. */
static int register_all(struct sim *s)
{
    json_t *list = NULL;
    if (call(s, "GET", "/api/daemon/workspaces", NULL, &list) != 200) {
        json_decref(list);
        return 0;
    }
    for (size_t i = 0; i < json_array_size(list) && s->nruntimes < MAX_RUNTIMES; i++) {
        const char *ws = json_string_value(json_object_get(json_array_get(list, i), "id"));
        if (ws == NULL || (s->workspace != NULL && strcmp(ws, s->workspace) != 0))
            continue;
        json_t *out = NULL;
        int status =
            call(s, "POST", "/api/daemon/register",
                 json_pack("{ss ss ss ss s[{ss ss ss ss}]}", "workspace_id", ws, "daemon_id",
                           s->daemon_id, "device_name", s->name, "cli_version",
                           "multica-daemon-sim", "runtimes", "name", s->name, "type", s->provider,
                           "version", "sim", "status", "online"),
                 &out);
        const char *rt = json_string_value(
            json_object_get(json_array_get(json_object_get(out, "runtimes"), 0), "id"));
        if (status == 200 && rt != NULL) {
            snprintf(s->runtimes[s->nruntimes++], MC_UUID_STRLEN, "%s", rt);
            char path[160];
            snprintf(path, sizeof path, "/api/daemon/runtimes/%s/recover-orphans", rt);
            call(s, "POST", path, json_object(), NULL);
            say(json_pack("{ss ss ss ss}", "event", "registered", "runtime_id", rt, "workspace_id",
                          ws, "daemon_id", s->daemon_id));
        } else {
            fprintf(stderr, "multica-daemon-sim: registration in %s answered %d\n", ws, status);
        }
        json_decref(out);
    }
    json_decref(list);
    return s->nruntimes;
}

static bool done(struct sim *s)
{
    return mc_stop_raised(&g_stop) || (s->tasks > 0 && atomic_load(&s->completed) >= s->tasks);
}

/* Claims now when woken or when the poll interval is up. */
static void maybe_claim(struct sim *s)
{
    if (atomic_exchange(&s->wake, 0) || mc_now_mono_ms() >= s->next_poll) {
        claim(s);
        s->next_poll = mc_now_mono_ms() + s->poll_ms;
    }
}

/* Connects /api/daemon/ws and reads it until it drops, claiming on every wake-up and every
 * --poll-ms, as the daemon does; without the socket it polls for a second and returns, to try
 * the socket again. */
static void serve(struct sim *s)
{
    char url[4096];
    int n = snprintf(url, sizeof url, "%s/api/daemon/ws?runtime_ids=", s->gateway);
    for (int i = 0; i < s->nruntimes && n < (int)sizeof url - 40; i++)
        n += snprintf(url + n, sizeof url - (size_t)n, "%s%s", i ? "," : "", s->runtimes[i]);
    mc_wsclient *ws = mc_wsclient_open(url, s->token);
    if (ws == NULL) {
        int64_t until = mc_now_mono_ms() + 1000;
        while (!done(s) && !atomic_load(&s->quiet) && mc_now_mono_ms() < until) {
            maybe_claim(s);
            mc_sleep_ms_interruptible(50, &g_stop);
        }
        return;
    }
    pthread_mutex_lock(&s->ws_mu);
    s->ws = ws;
    pthread_mutex_unlock(&s->ws_mu);
    say(json_pack("{ss}", "event", "connected"));
    for (int i = 0; i < s->nruntimes; i++)
        ws_send(s, json_pack("{ss s{ss}}", "type", "daemon:heartbeat", "payload", "runtime_id",
                             s->runtimes[i]));
    atomic_store(&s->wake, 1); /* the daemon claims as soon as it connects */
    while (!done(s) && !atomic_load(&s->quiet) && mc_wsclient_open_p(ws)) {
        json_t *m = mc_wsclient_next(ws, 50);
        const char *type = json_string_value(json_object_get(m, "type"));
        if (type != NULL && strcmp(type, "daemon:task_available") == 0)
            atomic_store(&s->wake, 1);
        json_decref(m);
        maybe_claim(s);
    }
    pthread_mutex_lock(&s->ws_mu);
    s->ws = NULL;
    pthread_mutex_unlock(&s->ws_mu);
    mc_wsclient_close(ws);
}

#define SYNOPSIS                                                                                   \
    "multica-daemon-sim --gateway URL --token mul_... [--workspace ID] [--daemon-id ID] "          \
    "[--name N] [--provider P] [--model M] [--max-concurrency C] [--tasks N] [--work-ms MS] "      \
    "[--chunks K] [--heartbeat-ms MS] [--poll-ms MS] [--silent]\n"                                 \
    "       multica-daemon-sim --help | --version"

static int parse(struct sim *s, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--silent") == 0) {
            s->silent = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "multica-daemon-sim: %s needs a value\n", a);
            return 2;
        }
        i++;
        const char **str[] = {&s->gateway, &s->token,    &s->workspace,
                              &s->name,    &s->provider, &s->model};
        const char *strn[] = {"--gateway", "--token",    "--workspace",
                              "--name",    "--provider", "--model"};
        int *num[] = {&s->slots, &s->tasks, &s->work_ms, &s->chunks, &s->heartbeat_ms, &s->poll_ms};
        const char *numn[] = {"--max-concurrency", "--tasks",        "--work-ms",
                              "--chunks",          "--heartbeat-ms", "--poll-ms"};
        bool known = strcmp(a, "--daemon-id") == 0;
        if (known)
            snprintf(s->daemon_id, sizeof s->daemon_id, "%s", v);
        for (size_t k = 0; k < MC_ARRAY_LEN(strn); k++) {
            if (strcmp(a, strn[k]) == 0) {
                *str[k] = v;
                known = true;
            }
        }
        for (size_t k = 0; k < MC_ARRAY_LEN(numn); k++) {
            if (strcmp(a, numn[k]) == 0) {
                *num[k] = atoi(v);
                known = true;
            }
        }
        if (!known) {
            fprintf(stderr, "multica-daemon-sim: unknown option %s\n", a);
            return 2;
        }
    }
    if (s->gateway == NULL || s->token == NULL || s->slots < 1 || s->poll_ms < 10) {
        fprintf(stderr, "usage: " SYNOPSIS "\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sim s = {.name = "multica-daemon-sim",
                    .provider = "claude",
                    .model = "claude-sonnet-4",
                    .slots = 1,
                    .work_ms = 300,
                    .chunks = 3,
                    .heartbeat_ms = 15000,
                    .poll_ms = 30000};
    const struct mc_config_usage cli = {
        "multica-daemon-sim", SYNOPSIS,
        "A simulated daemon: it speaks Multica's daemon protocol (register, claim, start, "
        "messages, usage, complete) without running an agent."};
    if (mc_config_cli(argc, argv, &cli, NULL, 0))
        return 0;
    int rc = parse(&s, argc, argv);
    if (rc != 0)
        return rc;
    if (s.daemon_id[0] == '\0')
        mc_uuid_v7(s.daemon_id);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_mutex_init(&s.ws_mu, NULL);
    if (register_all(&s) == 0) {
        fprintf(stderr, "multica-daemon-sim: no workspace to register in\n");
        return 1;
    }
    pthread_t hb;
    bool beating = pthread_create(&hb, NULL, heartbeat, &s) == 0;
    while (!done(&s) && !atomic_load(&s.quiet))
        serve(&s);
    while (!mc_stop_raised(&g_stop) &&
           atomic_load(&s.quiet)) /* --silent: hold the task, say nothing */
        mc_sleep_ms_interruptible(100, &g_stop);
    while (atomic_load(&s.in_flight) > 0) /* let running tasks finish their reports */
        mc_sleep_ms_interruptible(20, NULL);
    mc_stop_raise(&g_stop);
    if (beating)
        pthread_join(hb, NULL);
    if (!s.silent) {
        json_t *ids = json_array();
        for (int i = 0; i < s.nruntimes; i++)
            json_array_append_new(ids, json_string(s.runtimes[i]));
        atomic_store(&g_stop.raised, 0); /* one last request (the other threads are gone) */
        call(&s, "POST", "/api/daemon/deregister", json_pack("{so}", "runtime_ids", ids), NULL);
    }
    say(json_pack("{ss si}", "event", "exit", "completed", atomic_load(&s.completed)));
    pthread_mutex_destroy(&s.ws_mu);
    return 0;
}
