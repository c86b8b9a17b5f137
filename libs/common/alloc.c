/* alloc.c: the one out-of-memory policy: allocations that abort instead of returning NULL. */
#include "mc_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Like Redis' zmalloc_default_oom: say how much was asked for, then stop. fprintf rather than
 * the JSON log, which would itself need memory. */
static void out_of_memory(size_t size)
{
    fprintf(stderr, "multica: out of memory allocating %zu bytes\n", size);
    fflush(stderr);
    abort();
}

void *mc_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *mc_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *mc_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL)
        out_of_memory(size);
    return q;
}

char *mc_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    char *d = mc_malloc(len + 1);
    memcpy(d, s, len + 1);
    return d;
}

char *mc_strndup(const char *s, size_t n)
{
    char *d = mc_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mc_sprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    int rc = vasprintf(&out, fmt, ap);
    va_end(ap);
    /* vasprintf fails only when it cannot allocate (the formats here are ours). */
    if (rc < 0)
        out_of_memory(strlen(fmt));
    return out;
}
