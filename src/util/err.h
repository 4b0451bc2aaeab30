/*
 * err.h - per-handle error messages.
 *
 * A handle embeds a vex_err. Failing calls record "what went wrong" with
 * vx_err_set(), which also returns the status code so call sites read
 * `return vx_err_set(&h->err, VEX_INVALID, "k must be 1..%d", VEX_MAX_K);`.
 * Writes are serialised by a mutex; vx_err_copy() reads under it.
 */
#ifndef VEX_UTIL_ERR_H
#define VEX_UTIL_ERR_H

#include <pthread.h>
#include <stddef.h>

#define VEX_ERRMSG_MAX 512

typedef struct vex_err {
    pthread_mutex_t lock;
    int rc;
    char msg[VEX_ERRMSG_MAX];
} vex_err;

void vx_err_init(vex_err *e);
void vx_err_destroy(vex_err *e);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int vx_err_set(vex_err *e, int rc, const char *fmt, ...);

size_t vx_err_copy(vex_err *e, char *buf, size_t size);

#endif
