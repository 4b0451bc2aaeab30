/*
 * err.c - per-handle error messages (see err.h).
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

int vx_err_set(vex_err *e, int rc, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&e->lock);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->rc = rc;
    pthread_mutex_unlock(&e->lock);
    return rc;
}

size_t vx_err_copy(vex_err *e, char *buf, size_t size)
{
    size_t len;
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
