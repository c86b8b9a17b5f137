/* log.c: yder callback that renders every message as one JSON line with its fields. */
#include "mc_log.h"
#include "mc_common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yder.h>

static char g_service[64] = "multica";
static unsigned long g_level = Y_LOG_LEVEL_INFO;
static int g_initialised;

/* Fields travel from mc_log to the yder callback through the calling thread, since
 * y_log_message only carries a string. */
static _Thread_local json_t *t_fields;

static const char *level_name(unsigned long level)
{
    switch (level) {
    case Y_LOG_LEVEL_ERROR:
        return "error";
    case Y_LOG_LEVEL_WARNING:
        return "warning";
    case Y_LOG_LEVEL_DEBUG:
        return "debug";
    default:
        return "info";
    }
}

static void write_line(void *cls, const char *app, const time_t date, const unsigned long level,
                       const char *message)
{
    (void)cls;
    (void)app;
    (void)date;
    char ts[40];
    mc_format_rfc3339(mc_now_wall_us(), ts, sizeof ts);
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_name(level)));
    json_object_set_new(line, "service", json_string(g_service));
    json_object_set_new(line, "msg", json_string(message ? message : ""));
    if (t_fields != NULL) {
        const char *key;
        json_t *val;
        json_object_foreach(t_fields, key, val)
        {
            if (json_object_get(line, key) == NULL)
                json_object_set(line, key, val);
        }
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text != NULL) {
        /* One fputs of the whole line keeps lines from different threads whole. */
        flockfile(stderr);
        fputs(text, stderr);
        fputc('\n', stderr);
        fflush(stderr);
        funlockfile(stderr);
        free(text);
    }
    json_decref(line);
}

static unsigned long to_yder(enum mc_log_level level)
{
    switch (level) {
    case MC_LOG_ERROR:
        return Y_LOG_LEVEL_ERROR;
    case MC_LOG_WARNING:
        return Y_LOG_LEVEL_WARNING;
    case MC_LOG_DEBUG:
        return Y_LOG_LEVEL_DEBUG;
    default:
        return Y_LOG_LEVEL_INFO;
    }
}

int mc_log_init(const char *service, const char *level)
{
    if (level == NULL || strcmp(level, "info") == 0)
        g_level = Y_LOG_LEVEL_INFO;
    else if (strcmp(level, "debug") == 0)
        g_level = Y_LOG_LEVEL_DEBUG;
    else if (strcmp(level, "warning") == 0 || strcmp(level, "warn") == 0)
        g_level = Y_LOG_LEVEL_WARNING;
    else if (strcmp(level, "error") == 0)
        g_level = Y_LOG_LEVEL_ERROR;
    else
        return MC_EINVAL;
    snprintf(g_service, sizeof g_service, "%s", service ? service : "multica");
    if (g_initialised)
        return 0;
    if (y_init_logs(g_service, Y_LOG_MODE_CALLBACK, g_level, NULL, NULL) != 1 ||
        y_set_logs_callback(write_line, NULL, NULL) != 1)
        return MC_EINVAL;
    g_initialised = 1;
    return 0;
}

void mc_log_close(void)
{
    if (g_initialised) {
        y_close_logs();
        g_initialised = 0;
    }
}

static void vlog(enum mc_log_level level, json_t *fields, const char *fmt, va_list ap)
{
    if (!g_initialised) {
        /* Before init (or in tools that never call it) messages still reach stderr. */
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        json_decref(fields);
        return;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    t_fields = fields;
    y_log_message(to_yder(level), "%s", msg ? msg : fmt);
    t_fields = NULL;
    free(msg);
    json_decref(fields);
}

void mc_log(enum mc_log_level level, json_t *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fields, fmt, ap);
    va_end(ap);
}

void mc_log_at(enum mc_log_level level, const char *file, int line, json_t *fields, const char *fmt,
               ...)
{
    if (fields == NULL)
        fields = json_object();
    char src[256];
    snprintf(src, sizeof src, "%s:%d", file, line);
    json_object_set_new(fields, "src", json_string(src));
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fields, fmt, ap);
    va_end(ap);
}
