/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c - the database's log hook (vex_db_set_log, vx_log) and its
 * health (vex_db_health): the record of background failures that
 * vx_obs_bg_error keeps, and the state of the open collections.
 *
 * One mutex (vx_obs.mu) guards the hook and the record, and the hook is
 * called under it: calls never overlap, and a replaced hook is never
 * called after vex_db_set_log returns. The level is also an atomic so
 * that a check before formatting a message costs one load. Callers log
 * without holding a lock a search takes (a flush logs after it released
 * apply.mu), so a slow hook delays only background work.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/coll_int.h"
#include "engine/obs.h"
#include "util/abi.h"

void vx_obs_init(vx_obs *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    atomic_init(&o->level, -1);
}

void vx_obs_destroy(vx_obs *o)
{
    pthread_mutex_destroy(&o->mu);
}

const char *vex_log_level_name(int level)
{
    switch (level) {
    case VEX_LOG_ERROR:
        return "error";
    case VEX_LOG_WARNING:
        return "warning";
    case VEX_LOG_INFO:
        return "info";
    case VEX_LOG_DEBUG:
        return "debug";
    }
    return "?";
}

int vex_db_set_log(vex_db *db, vex_log_fn fn, void *ctx, int level)
{
    if (db == NULL)
        return VEX_MISUSE;
    if (level < VEX_LOG_ERROR || level > VEX_LOG_DEBUG)
        return vx_err_set(&db->err, VEX_INVALID,
                          "log level is %d, must be VEX_LOG_ERROR (0) .. "
                          "VEX_LOG_DEBUG (3)",
                          level);
    pthread_mutex_lock(&db->obs.mu);
    db->obs.fn = fn;
    db->obs.ctx = ctx;
    atomic_store(&db->obs.level, fn ? level : -1);
    pthread_mutex_unlock(&db->obs.mu);
    return VEX_OK;
}

static void obs_deliver(vx_obs *o, int level, const char *coll, const char *msg)
{
    pthread_mutex_lock(&o->mu);
    if (o->fn && level <= atomic_load(&o->level))
        o->fn(o->ctx, level, coll, msg);
    pthread_mutex_unlock(&o->mu);
}

void vx_log(vx_obs *o, int level, const char *coll, const char *fmt, ...)
{
    char msg[VEX_ERRMSG_MAX + 256];
    va_list ap;
    if (!vx_log_on(o, level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    obs_deliver(o, level, coll, msg);
}

static uint64_t obs_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vx_obs_bg_error(vx_obs *o, const char *coll, int rc, const char *what,
                     const char *msg)
{
    char line[VEX_ERRMSG_MAX + 256];
    snprintf(line, sizeof line, "%s failed (%s): %s", what, vex_status_name(rc),
             msg);
    pthread_mutex_lock(&o->mu);
    o->bg_errors++;
    o->last_rc = rc;
    o->last_unix_ms = obs_unix_ms();
    o->last_full = rc == VEX_FULL;
    snprintf(o->last_coll, sizeof o->last_coll, "%s", coll ? coll : "");
    snprintf(o->last_msg, sizeof o->last_msg, "%.500s", line);
    if (o->fn && VEX_LOG_ERROR <= atomic_load(&o->level))
        o->fn(o->ctx, VEX_LOG_ERROR, coll, line);
    pthread_mutex_unlock(&o->mu);
}

void vx_obs_bg_ok(vx_obs *o)
{
    pthread_mutex_lock(&o->mu);
    o->last_full = 0;
    pthread_mutex_unlock(&o->mu);
}

/* ---------------------------------------------------------------------
 * Health
 * ------------------------------------------------------------------- */

void vex_health_init_size(vex_health *h, size_t size)
{
    vex_health full;
    if (h == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    vx_abi_init(&VX_ABI_HEALTH, h, size, &full);
}

void(vex_health_init)(vex_health *h)
{
    vex_health_init_size(h, VX_ABI_HEALTH.ends[0]);
}

int vex_db_health(vex_db *db, vex_health *user)
{
    vex_health full, *h = &full;
    int rc;
    if (db == NULL)
        return VEX_MISUSE;
    if (user == NULL)
        return vx_err_set(&db->err, VEX_MISUSE, "health is NULL");
    if ((rc = vx_abi_check(&VX_ABI_HEALTH, user->struct_size, &db->err)) !=
        VEX_OK)
        return rc;
    vex_health_init(h);
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->n_open; i++) {
        vex_collection *c = db->open[i];
        if (vx_coll_sticky(c) != VEX_OK) {
            if (h->sticky_collections++ == 0) {
                snprintf(h->sticky_collection, sizeof h->sticky_collection,
                         "%s", c->name);
                snprintf(h->sticky_message, sizeof h->sticky_message, "%s",
                         c->life.sticky_msg);
            }
        }
        h->flush_failing += atomic_load(&c->met.flush_failing) != 0;
        h->compaction_failing += atomic_load(&c->bg.compact_failed) != 0;
    }
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_lock(&db->obs.mu);
    h->background_errors = db->obs.bg_errors;
    h->last_error = db->obs.last_rc;
    h->last_error_unix_ms = db->obs.last_unix_ms;
    h->disk_full = db->obs.last_full;
    snprintf(h->last_error_collection, sizeof h->last_error_collection, "%s",
             db->obs.last_coll);
    snprintf(h->last_error_message, sizeof h->last_error_message, "%s",
             db->obs.last_msg);
    pthread_mutex_unlock(&db->obs.mu);
    h->degraded = h->sticky_collections || h->disk_full || h->flush_failing ||
                  h->compaction_failing;
    vx_abi_out(&VX_ABI_HEALTH, user, h);
    return VEX_OK;
}
