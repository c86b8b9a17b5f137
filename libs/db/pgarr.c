/* pgarr.c: builds PostgreSQL array literals for batch parameters. */
#include "mc_db.h"
#include "mc_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct mc_pgarr *a, size_t extra)
{
    if (a->len + extra + 2 <= a->cap)
        return;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + extra + 2)
        cap *= 2;
    a->buf = mc_realloc(a->buf, cap);
    a->cap = cap;
}

static void sep(struct mc_pgarr *a)
{
    reserve(a, 1);
    if (a->len == 0)
        a->buf[a->len++] = '{';
    else if (a->n > 0)
        a->buf[a->len++] = ',';
    a->n++;
}

void mc_pgarr_reset(struct mc_pgarr *a)
{
    a->len = 0;
    a->n = 0;
}

void mc_pgarr_add_raw(struct mc_pgarr *a, const char *s)
{
    size_t l = strlen(s);
    sep(a);
    reserve(a, l);
    memcpy(a->buf + a->len, s, l);
    a->len += l;
}

void mc_pgarr_add_int(struct mc_pgarr *a, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    mc_pgarr_add_raw(a, num);
}

void mc_pgarr_add_text(struct mc_pgarr *a, const char *s)
{
    if (s == NULL) {
        mc_pgarr_add_raw(a, "NULL");
        return;
    }
    size_t l = strlen(s);
    sep(a);
    reserve(a, 2 * l + 2);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < l; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
}

const char *mc_pgarr_str(struct mc_pgarr *a)
{
    reserve(a, 2);
    if (a->len == 0)
        a->buf[a->len++] = '{';
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void mc_pgarr_free(struct mc_pgarr *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}
