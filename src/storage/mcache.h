/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mcache.h - the database's cache of filter match sets.
 *
 * A match set is the bitmap of a segment's keys whose metadata a compiled
 * filter matches, and its count (storage/version.h, vx_vseg_match). It
 * costs a pass over the segment's metadata columns to build, and a
 * program usually runs the same filter many times, so built sets are
 * kept here for the whole database, keyed by the segment and the
 * filter's canonical text (vex_filter_print): a filter parsed anew for
 * every query (the usual pattern of a server) finds the set that an
 * earlier handle with the same text built. The cache is
 *
 *  - bounded in bytes: the least recently used sets are evicted when a
 *    new one would pass the budget; a set bigger than the budget is
 *    handed out uncached and freed after use;
 *  - released with the filter: vex_filter_free moves its sets to the
 *    cold end of the LRU list (vx_mcache_release_key), so they are the
 *    first to go when room is needed and sets of filters in use are not
 *    pushed out by ones nobody holds; a handle parsed from the same text
 *    before they are evicted picks them up again;
 *  - pruned with the segment: when a segment is freed (it left the
 *    version and its last snapshot ended) its sets go
 *    (vx_mcache_drop_owner), before its address can be reused.
 *
 * Rejected: slots in the segment keyed by filter handle (what this
 * replaced: 16 slots filled by the first 16 handles and never released,
 * so after 16 short-lived handles every filtered search on a long-lived
 * segment paid a full evaluation and an allocation, for as long as the
 * segment lived; and a handle parsed per query never hit).
 *
 * A set handed out is referenced: it stays valid until vx_mcache_release,
 * even if it is evicted or dropped meanwhile. Threading: every function
 * may be called from any thread; one mutex guards the table, held for a
 * hash lookup or an insert (never while a set is built).
 */
#ifndef VEX_STORAGE_MCACHE_H
#define VEX_STORAGE_MCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/plan.h"
#include "util/mem.h"

typedef struct vx_mcache vx_mcache;

typedef struct vx_match {
    const uint64_t *bits; /* one bit per key */
    uint64_t count;       /* bits set */
    /* the planner's feedback on this set (storage/plan.h): the one part
     * the searches holding a set write (atomics; zeroed at birth) */
    vx_plan_fb fb;
} vx_match;

/* A filter's identity in the cache: its canonical text (borrowed) and a
 * hash of it (vx_mkey_init). */
typedef struct vx_mkey {
    const char *p;
    size_t len;
    uint64_t hash;
} vx_mkey;

static inline void vx_mkey_init(vx_mkey *k, const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    k->p = p;
    k->len = len;
    k->hash = h;
}

/* A cache with a budget of `budget` bytes of bitmaps (0: nothing is
 * kept; every set is built per use). VEX_NOMEM. */
int vx_mcache_create(const vex_mem *mem, size_t budget, vx_mcache **out);
/* Free the cache and every set (none may be in use). NULL: no-op. */
void vx_mcache_destroy(vx_mcache *mc);

/* The set of (owner, key), referenced, or NULL when not cached. */
const vx_match *vx_mcache_get(vx_mcache *mc, const void *owner,
                              const vx_mkey *key);

/* Hand over a built set: `bits` (allocated with the cache's allocator,
 * `bytes` long) is taken over whatever happens. Returns the referenced
 * set now cached for (owner, key) (another thread's, when it was first),
 * or an uncached one freed at its release; NULL only when out of memory
 * (bits are freed then). */
const vx_match *vx_mcache_put(vx_mcache *mc, const void *owner,
                              const vx_mkey *key, uint64_t *bits, size_t bytes,
                              uint64_t count);

/* Drop the reference vx_mcache_get/put gave. NULL: no-op. */
void vx_mcache_release(vx_mcache *mc, const vx_match *m);

/* Remove every set of `owner` (sets in use are freed at their last
 * release). */
void vx_mcache_drop_owner(vx_mcache *mc, const void *owner);

/* A handle of filter `key` was freed: its sets move to the cold end of
 * the LRU list. */
void vx_mcache_release_key(vx_mcache *mc, const vx_mkey *key);

/* Sets and bytes cached now (for tests and statistics). */
void vx_mcache_usage(vx_mcache *mc, size_t *n_sets, size_t *bytes);

#endif
