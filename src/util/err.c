/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.c - per-handle error messages (see err.h): the NULL-tolerant setter
 * and the file:line form VX_CORRUPT uses in debug builds.
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void vx_err_init(vex_err *e)
{
    pthread_mutex_init(&e->lock, NULL);
    e->rc = 0;
    e->msg[0] = '\0';
}

void vx_err_destroy(vex_err *e)
{
    pthread_mutex_destroy(&e->lock);
}

/* Formats into a local buffer first: fmt's arguments may point into
 * e->msg itself (a message that extends the previous one). */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 0)))
#endif
static int
err_record(vex_err *e, int rc, const char *file, int line, const char *fmt,
           va_list ap)
{
    char msg[VEX_ERRMSG_MAX];
    size_t n = 0;
    if (file != NULL) {
        const char *base = strrchr(file, '/');
        int k =
            snprintf(msg, sizeof msg, "%s:%d: ", base ? base + 1 : file, line);
        n = k < 0 ? 0 : (size_t)k < sizeof msg ? (size_t)k : sizeof msg - 1;
    }
    vsnprintf(msg + n, sizeof msg - n, fmt, ap);
    pthread_mutex_lock(&e->lock);
    memcpy(e->msg, msg, strlen(msg) + 1);
    e->rc = rc;
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int vx_err_set(vex_err *e, int rc, const char *fmt, ...)
{
    va_list ap;
    if (e == NULL)
        return rc;
    va_start(ap, fmt);
    err_record(e, rc, NULL, 0, fmt, ap);
    va_end(ap);
    return rc;
}

int vx_err_set_at(vex_err *e, int rc, const char *file, int line,
                  const char *fmt, ...)
{
    va_list ap;
    if (e == NULL)
        return rc;
    va_start(ap, fmt);
    err_record(e, rc, file, line, fmt, ap);
    va_end(ap);
    return rc;
}

size_t vx_err_copy(vex_err *e, char *buf, size_t size)
{
    size_t len;
    if (e == NULL) {
        if (size > 0)
            buf[0] = '\0';
        return 0;
    }
    pthread_mutex_lock(&e->lock);
    len = strlen(e->msg);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(buf, e->msg, n);
        buf[n] = '\0';
    }
    pthread_mutex_unlock(&e->lock);
    return len;
}
