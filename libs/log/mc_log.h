/* mc_log.h: structured JSON-line logging through yder, one line per message. */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <jansson.h>

enum mc_log_level {
    MC_LOG_ERROR = 0,
    MC_LOG_WARNING = 1,
    MC_LOG_INFO = 2,
    MC_LOG_DEBUG = 3,
};

/* Initialises yder in callback mode once per process. level_name is "error", "warning",
 * "info" or "debug" (NULL means info). Each message becomes one JSON line on stderr:
 * {"ts":..,"level":..,"service":..,"msg":.., then the message's fields}. Messages that
 * libraries such as ulfius send to yder get the same shape. Returns 0 or MC_EINVAL. */
int mc_log_init(const char *service, const char *level_name);

/* Flushes and closes the log. */
void mc_log_close(void);

/* Logs msg with optional fields (a JSON object, stolen; NULL for none). */
void mc_log(enum mc_log_level level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, adding "src":"file:line"; used for faults of ours ("cannot happen"). */
void mc_log_at(enum mc_log_level level, const char *file, int line, json_t *fields, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

#define MC_LOG_ERROR_AT(fields, ...)                                                               \
    mc_log_at(MC_LOG_ERROR, __FILE__, __LINE__, fields, __VA_ARGS__)
#define mc_log_error(fields, ...) mc_log(MC_LOG_ERROR, fields, __VA_ARGS__)
#define mc_log_warn(fields, ...)  mc_log(MC_LOG_WARNING, fields, __VA_ARGS__)
#define mc_log_info(fields, ...)  mc_log(MC_LOG_INFO, fields, __VA_ARGS__)
#define mc_log_debug(fields, ...) mc_log(MC_LOG_DEBUG, fields, __VA_ARGS__)

#endif
