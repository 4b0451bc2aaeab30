/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mcache.c - the database's cache of filter match sets (mcache.h).
 *
 * A chained hash table of entries keyed by (owner, filter id), with the
 * entries also on a doubly linked LRU list (most recent at the head).
 * Entries carry a reference count; an entry that leaves the table while
 * referenced (evicted, or dropped with its filter or segment) is unlinked
 * at once and freed by its last release. All under one mutex: lookups
 * are a hash probe, and sets are built outside it.
 */
#include "storage/mcache.h"

#include <pthread.h>
#include <string.h>

#include "util/check.h"

typedef struct entry {
    vx_match m; /* first: a vx_match * is an entry * */
    const void *owner;
    vx_mkey key; /* key.p points into this block, after the entry */
    size_t bytes;
    uint32_t refs;
    int linked; /* in the table and on the LRU list */
    struct entry *hnext, *prev, *next;
} entry;

struct vx_mcache {
    vex_mem mem;
    vx_mutex mu;
    size_t budget, bytes, n;
    entry **buckets;
    size_t n_buckets;   /* a power of two */
    entry *head, *tail; /* LRU: head most recent */
};

static size_t hash_in(size_t n_buckets, const void *owner, uint64_t id)
{
    uint64_t h = (uint64_t)(uintptr_t)owner * 0x9e3779b97f4a7c15ull ^ id;
    h ^= h >> 29;
    return (size_t)h & (n_buckets - 1);
}

static size_t hash(const vx_mcache *mc, const void *owner, uint64_t id)
{
    return hash_in(mc->n_buckets, owner, id);
}

int vx_mcache_create(const vex_mem *mem, size_t budget, vx_mcache **out)
{
    vx_mcache *mc = vx_mem_calloc(mem, 1, sizeof *mc);
    *out = NULL;
    if (mc == NULL)
        return VEX_NOMEM;
    mc->mem = *mem;
    mc->budget = budget;
    mc->n_buckets = 64;
    mc->buckets = vx_mem_calloc(mem, mc->n_buckets, sizeof *mc->buckets);
    if (mc->buckets == NULL) {
        vx_mem_free(mem, mc);
        return VEX_NOMEM;
    }
    vx_mutex_init(&mc->mu);
    *out = mc;
    return VEX_OK;
}

static void entry_free(vx_mcache *mc, entry *e)
{
    vx_mem_free(&mc->mem, (void *)e->m.bits);
    vx_mem_free(&mc->mem, e);
}

/* Take e out of the table and the LRU list (mu held). */
static void unlink_entry(vx_mcache *mc, entry *e)
{
    entry **pp = &mc->buckets[hash(mc, e->owner, e->key.hash)];
    VX_ASSERT_HELD(&mc->mu);
    VX_ASSERT(e->linked);
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        mc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        mc->tail = e->prev;
    e->linked = 0;
    mc->bytes -= e->bytes;
    mc->n--;
}

/* Unlink e and free it unless it is referenced (mu held). */
static void drop_entry(vx_mcache *mc, entry *e)
{
    unlink_entry(mc, e);
    if (e->refs == 0)
        entry_free(mc, e);
}

void vx_mcache_destroy(vx_mcache *mc)
{
    if (mc == NULL)
        return;
    while (mc->head) {
        VX_ASSERT(mc->head->refs == 0);
        drop_entry(mc, mc->head);
    }
    vx_mem_free(&mc->mem, mc->buckets);
    vx_mutex_destroy(&mc->mu);
    vx_mem_free(&mc->mem, mc);
}

static int same_key(const vx_mkey *a, const vx_mkey *b)
{
    return a->hash == b->hash && a->len == b->len &&
           memcmp(a->p, b->p, a->len) == 0;
}

static entry *find(vx_mcache *mc, const void *owner, const vx_mkey *key)
{
    entry *e = mc->buckets[hash(mc, owner, key->hash)];
    while (e && (e->owner != owner || !same_key(&e->key, key)))
        e = e->hnext;
    return e;
}

static void lru_front(vx_mcache *mc, entry *e)
{
    if (mc->head == e)
        return;
    e->prev->next = e->next; /* e is not the head, so it has a prev */
    if (e->next)
        e->next->prev = e->prev;
    else
        mc->tail = e->prev;
    e->prev = NULL;
    e->next = mc->head;
    mc->head->prev = e;
    mc->head = e;
}

const vx_match *vx_mcache_get(vx_mcache *mc, const void *owner,
                              const vx_mkey *key)
{
    entry *e;
    vx_mutex_lock(&mc->mu);
    e = find(mc, owner, key);
    if (e) {
        e->refs++;
        lru_front(mc, e);
    }
    vx_mutex_unlock(&mc->mu);
    return e ? &e->m : NULL;
}

/* Double the bucket array when the table is dense (mu held); a failed
 * allocation leaves the table as it is (only longer chains). */
static void maybe_grow(vx_mcache *mc)
{
    size_t nb = mc->n_buckets * 2;
    entry **b;
    if (mc->n < mc->n_buckets * 2)
        return;
    b = vx_mem_calloc(&mc->mem, nb, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < mc->n_buckets; i++)
        while (mc->buckets[i]) {
            entry *e = mc->buckets[i];
            size_t h = hash_in(nb, e->owner, e->key.hash);
            mc->buckets[i] = e->hnext;
            e->hnext = b[h];
            b[h] = e;
        }
    vx_mem_free(&mc->mem, mc->buckets);
    mc->buckets = b;
    mc->n_buckets = nb;
}

const vx_match *vx_mcache_put(vx_mcache *mc, const void *owner,
                              const vx_mkey *key, uint64_t *bits, size_t bytes,
                              uint64_t count)
{
    entry *e = vx_mem_calloc(&mc->mem, 1, sizeof *e + key->len + 1), *old;
    size_t h;
    if (e == NULL) {
        vx_mem_free(&mc->mem, bits);
        return NULL;
    }
    e->m.bits = bits;
    e->m.count = count;
    e->owner = owner;
    memcpy(e + 1, key->p, key->len);
    e->key.p = (const char *)(e + 1);
    e->key.len = key->len;
    e->key.hash = key->hash;
    e->bytes = bytes + key->len;
    e->refs = 1;
    if (e->bytes > mc->budget)
        return &e->m; /* uncached: freed at its release */
    vx_mutex_lock(&mc->mu);
    if ((old = find(mc, owner, key)) != NULL) {
        /* another thread built it first: use that one */
        old->refs++;
        lru_front(mc, old);
        vx_mutex_unlock(&mc->mu);
        entry_free(mc, e);
        return &old->m;
    }
    while (mc->bytes + e->bytes > mc->budget && mc->tail)
        drop_entry(mc, mc->tail);
    maybe_grow(mc);
    h = hash(mc, owner, key->hash);
    e->hnext = mc->buckets[h];
    mc->buckets[h] = e;
    e->next = mc->head;
    if (mc->head)
        mc->head->prev = e;
    mc->head = e;
    if (mc->tail == NULL)
        mc->tail = e;
    e->linked = 1;
    mc->bytes += e->bytes;
    mc->n++;
    vx_mutex_unlock(&mc->mu);
    return &e->m;
}

void vx_mcache_release(vx_mcache *mc, const vx_match *m)
{
    entry *e = (entry *)(void *)m;
    int free_it;
    if (m == NULL)
        return;
    vx_mutex_lock(&mc->mu);
    VX_ASSERT(e->refs > 0);
    free_it = --e->refs == 0 && !e->linked;
    vx_mutex_unlock(&mc->mu);
    if (free_it)
        entry_free(mc, e);
}

void vx_mcache_drop_owner(vx_mcache *mc, const void *owner)
{
    entry *e, *next;
    if (mc == NULL)
        return;
    vx_mutex_lock(&mc->mu);
    for (e = mc->head; e; e = next) {
        next = e->next;
        if (e->owner == owner)
            drop_entry(mc, e);
    }
    vx_mutex_unlock(&mc->mu);
}

/* Move e to the cold end of the LRU list (mu held). */
static void lru_back(vx_mcache *mc, entry *e)
{
    if (mc->tail == e)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        mc->head = e->next;
    e->next->prev = e->prev; /* e is not the tail, so it has a next */
    e->next = NULL;
    e->prev = mc->tail;
    mc->tail->next = e;
    mc->tail = e;
}

void vx_mcache_release_key(vx_mcache *mc, const vx_mkey *key)
{
    entry *e, *next, *stop;
    if (mc == NULL)
        return;
    vx_mutex_lock(&mc->mu);
    /* walk the list once: entries moved to the back are not seen again */
    stop = NULL;
    for (e = mc->head; e && e != stop; e = next) {
        next = e->next;
        if (same_key(&e->key, key)) {
            if (stop == NULL)
                stop = e;
            lru_back(mc, e);
        }
    }
    vx_mutex_unlock(&mc->mu);
}

void vx_mcache_usage(vx_mcache *mc, size_t *n_sets, size_t *bytes)
{
    vx_mutex_lock(&mc->mu);
    *n_sets = mc->n;
    *bytes = mc->bytes;
    vx_mutex_unlock(&mc->mu);
}
