/* bench_util.c: process, clock, /proc CPU and libpq helpers for the benchmark programs. */
#include "bench_util.h"
#include "mc_common.h"
#include "mc_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double bu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

pid_t bu_spawn(const char *const *argv, const char *const *extra_env, const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127); /* the parent died before the prctl */
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
        putenv((char *)extra_env[i]);
    execve(argv[0], (char *const *)argv, environ);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int bu_stop(pid_t pid, int grace_ms)
{
    int status = 0;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    for (int waited = 0; waited < grace_ms; waited += 20) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

/* Fields 14-17 of /proc/<pid>/stat (utime, stime, cutime, cstime) and field 4 (ppid). The
 * command name (field 2) may hold spaces, so parsing starts after its closing parenthesis. */
static int read_stat(pid_t pid, long *ppid, unsigned long long t[4])
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    char state;
    long pp, pgrp, session, tty, tpgid;
    unsigned long flags, minflt, cminflt, majflt, cmajflt;
    if (sscanf(p + 2, "%c %ld %ld %ld %ld %ld %lu %lu %lu %lu %lu %llu %llu %llu %llu", &state, &pp,
               &pgrp, &session, &tty, &tpgid, &flags, &minflt, &cminflt, &majflt, &cmajflt, &t[0],
               &t[1], &t[2], &t[3]) != 15)
        return -1;
    *ppid = pp;
    return 0;
}

double bu_proc_cpu(pid_t pid, bool with_children)
{
    long ppid;
    unsigned long long t[4];
    if (read_stat(pid, &ppid, t) != 0)
        return -1;
    unsigned long long ticks = t[0] + t[1] + (with_children ? t[2] + t[3] : 0);
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

double bu_pg_cpu(pid_t postmaster)
{
    double total = bu_proc_cpu(postmaster, true);
    if (total < 0)
        return -1;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return total;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        long ppid;
        unsigned long long t[4];
        if (read_stat((pid_t)pid, &ppid, t) == 0 && ppid == postmaster)
            total += (double)(t[0] + t[1]) / (double)sysconf(_SC_CLK_TCK);
    }
    closedir(d);
    return total;
}

double bu_machine_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return -1;
    /* user nice system idle iowait irq softirq steal */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

PGconn *bu_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench: connect: %s", PQerrorMessage(c));
        exit(1);
    }
    PGresult *r = PQexec(c, "SET client_min_messages = warning");
    PQclear(r);
    return c;
}

int64_t bu_sql_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    int64_t v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

void bu_sql(PGconn *c, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

int bu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A sorted copy of v[0..n), n > 0, for the caller to free. */
static double *sorted_copy(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    if (c == NULL)
        abort();
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    return c;
}

double bu_median(const double *v, int n)
{
    if (n <= 0)
        return 0;
    double *c = sorted_copy(v, n);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

double bu_percentile(const double *v, int n, double p)
{
    if (n <= 0)
        return 0;
    double *c = sorted_copy(v, n);
    /* Nearest rank: the smallest value with at least p% of the values at or below it. */
    int rank = (int)((p / 100.0) * n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    double x = c[rank - 1];
    free(c);
    return x;
}

struct parallel {
    atomic_int next;
    int n;
    void (*fn)(int, void *);
    void *ud;
};

static void *parallel_worker(void *arg)
{
    struct parallel *p = arg;
    for (int i = atomic_fetch_add(&p->next, 1); i < p->n; i = atomic_fetch_add(&p->next, 1))
        p->fn(i, p->ud);
    return NULL;
}

void bu_parallel(int threads, int n, void (*fn)(int i, void *ud), void *ud)
{
    struct parallel p = {.n = n, .fn = fn, .ud = ud};
    atomic_init(&p.next, 0);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    if (t == NULL)
        abort();
    int started = 0;
    for (int k = 0; k < threads; k++)
        if (pthread_create(&t[started], NULL, parallel_worker, &p) == 0)
            started++;
    if (started == 0)
        parallel_worker(&p);
    for (int k = 0; k < started; k++)
        pthread_join(t[k], NULL);
    free(t);
}

int bu_api(const char *base, const char *method, const char *path, const char *bearer,
           const char *body, json_t **out)
{
    return mc_client_call(base, method, path, bearer, body, out);
}

const char *bu_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* Exits with what the API answered: setup steps have no fallback. */
static void api_fail(const char *what, int status, json_t *out)
{
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    fprintf(stderr, "bench: %s: HTTP %d %s\n", what, status, text ? text : "");
    free(text);
    json_decref(out);
    exit(1);
}

char *bu_api_login(const char *base, const char *email, const char *code)
{
    char body[512];
    json_t *out = NULL;
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
    int st = bu_api(base, "POST", "/api/auth/send-code", NULL, body, &out);
    if (st != 200)
        api_fail("send-code", st, out);
    json_decref(out);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"code\":\"%s\"}", email, code);
    st = bu_api(base, "POST", "/api/auth/verify-code", NULL, body, &out);
    if (st != 200 || bu_str(out, "token")[0] == '\0')
        api_fail("verify-code", st, out);
    char *token = strdup(bu_str(out, "token"));
    json_decref(out);
    return token;
}

void bu_api_workspace(const char *base, const char *token, const char *name, char *ws)
{
    char body[256];
    json_t *out = NULL;
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    int st = bu_api(base, "POST", "/api/workspaces", token, body, &out);
    if (st != 201)
        api_fail("create workspace", st, out);
    snprintf(ws, 37, "%s", bu_str(out, "id"));
    json_decref(out);
}

char *bu_api_pat(const char *base, const char *token)
{
    json_t *out = NULL;
    int st = bu_api(base, "POST", "/api/tokens", token, "{\"name\":\"bench daemon\"}", &out);
    if (st != 201 || bu_str(out, "token")[0] == '\0')
        api_fail("create a personal access token", st, out);
    char *pat = strdup(bu_str(out, "token"));
    json_decref(out);
    return pat;
}

void bu_api_runtime(const char *base, const char *token, const char *pat, const char *ws,
                    const char *name, int capacity, struct bu_runtime *rt)
{
    char path[256], body[768], daemon[MC_UUID_STRLEN];
    json_t *out = NULL;
    mc_uuid_v7(daemon);
    snprintf(rt->daemon, sizeof rt->daemon, "%s", daemon);
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"daemon_id\":\"%s\",\"device_name\":\"%s\","
             "\"cli_version\":\"bench\",\"runtimes\":[{\"name\":\"%s\",\"type\":\"claude\","
             "\"version\":\"bench\",\"status\":\"online\"}]}",
             ws, daemon, name, name);
    int st = bu_api(base, "POST", "/api/daemon/register", pat, body, &out);
    json_t *first = json_array_get(json_object_get(out, "runtimes"), 0);
    if (st != 200 || bu_str(first, "id")[0] == '\0')
        api_fail("register runtime", st, out);
    snprintf(rt->id, sizeof rt->id, "%s", bu_str(first, "id"));
    json_decref(out);
    snprintf(path, sizeof path, "/api/agents?workspace_id=%s", ws);
    snprintf(body, sizeof body,
             "{\"name\":\"%s-agent\",\"runtime_id\":\"%s\",\"max_concurrent_tasks\":%d}", name,
             rt->id, capacity > 1000 ? 1000 : capacity);
    st = bu_api(base, "POST", path, token, body, &out);
    if (st != 201)
        api_fail("create agent", st, out);
    snprintf(rt->agent, sizeof rt->agent, "%s", bu_str(out, "id"));
    json_decref(out);
}

int bu_api_claim(const char *base, const char *pat, const char *runtime, int max, json_t *ids)
{
    char body[256];
    json_t *out = NULL;
    snprintf(body, sizeof body,
             "{\"daemon_id\":\"bench\",\"runtime_ids\":[\"%s\"],\"max_tasks\":%d}", runtime, max);
    int st = bu_api(base, "POST", "/api/daemon/tasks/claim", pat, body, &out);
    if (st != 200)
        api_fail("claim", st, out);
    json_t *tasks = json_object_get(out, "tasks");
    for (size_t i = 0; i < json_array_size(tasks); i++)
        json_array_append_new(ids, json_string(bu_str(json_array_get(tasks, i), "id")));
    int n = (int)json_array_size(tasks);
    json_decref(out);
    return n;
}
