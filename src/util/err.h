/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.h - per-handle error messages and the one way to say "corrupt".
 *
 * A handle embeds a vex_err. Failing calls record "what went wrong" with
 * vx_err_set(), which also returns the status code so call sites read
 * `return vx_err_set(&h->err, VEX_INVALID, "k must be 1..%d", VEX_MAX_K);`.
 * Writes are serialised by a mutex; vx_err_copy() reads under it.
 *
 * Conventions:
 *  - `err` may be NULL wherever a function takes a `vex_err *`: the caller
 *    wants the status code only. vx_err_set(NULL, rc, ...) formats nothing
 *    and returns rc, so callees never test for NULL themselves.
 *  - The message may be built from the handle's own current message
 *    (`vx_err_set(e, rc, "open: %s", e->msg)`): it is formatted into a
 *    local buffer before it replaces the old one.
 *  - Damaged input (bytes read from a file, a log record, a blob) is
 *    reported with VX_CORRUPT(err, fmt, ...), never with VEX_CORRUPT by
 *    hand: the message names the file or structure, what is wrong and the
 *    byte offset ("schema: bad magic at offset 0"). In builds without
 *    NDEBUG the macro prefixes the message with "file.c:line: " of the
 *    detecting check (SQLite's SQLITE_CORRUPT_BKPT, zstd's RETURN_ERROR),
 *    so a fuzzer's report leads to the line; Release messages carry no
 *    prefix. Tests therefore look for fragments (strstr), never compare a
 *    whole corruption message.
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

/* Record rc and the printf-formatted message in e; returns rc. e may be
 * NULL: nothing is recorded and rc is returned. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int vx_err_set(vex_err *e, int rc, const char *fmt, ...);

/* vx_err_set with "<base name of file>:<line>: " before the message; the
 * debug half of VX_CORRUPT. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
int vx_err_set_at(vex_err *e, int rc, const char *file, int line,
                  const char *fmt, ...);

/* VX_CORRUPT(err, fmt, ...): vx_err_set(err, VEX_CORRUPT, fmt, ...), with
 * the detecting site's file:line in front of the message when NDEBUG is
 * not defined. Evaluates to VEX_CORRUPT (the value of vx_err_set), so
 * `return VX_CORRUPT(err, "wal: bad magic at offset 0");`. The status code
 * itself comes from include/vexdb.h, which the user of the macro
 * includes. */
#ifdef NDEBUG
#define VX_CORRUPT(err, ...) vx_err_set((err), VEX_CORRUPT, __VA_ARGS__)
#else
#define VX_CORRUPT(err, ...)                                                   \
    vx_err_set_at((err), VEX_CORRUPT, __FILE__, __LINE__, __VA_ARGS__)
#endif

/* The message, as snprintf; a NULL `e` gives the empty message. */
size_t vx_err_copy(vex_err *e, char *buf, size_t size);

#endif
