/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexhnsw_vacuum.c - VACUUM for vexhnsw, and vexhnsw_check(), the
 * structural check the tests run after crashes and concurrent writes.
 *
 * Bulk delete, in two passes over the element pages:
 *   1. mark every element whose heap tuple is dead VEXHNSW_DELETED (one
 *      generic WAL record per page). From then on no scan returns it (its
 *      heap TID may be reused by a new row), but walks still pass through
 *      it, so the graph stays connected while the repair runs.
 *   2. repair: every live element with a link to a deleted one keeps its
 *      live links and fills the freed places with the nearest live
 *      elements one hop behind its deleted links (their links at that
 *      level). The new list is computed from copies without holding a
 *      lock, then written under the page's exclusive lock over the list
 *      as it is then (an insert may have changed it meanwhile): deleted
 *      links dropped, replacements added while there is room. When the
 *      entry point was deleted, the live element of the highest level
 *      becomes the entry point.
 * Deleted elements stay on their pages as tombstones until the next
 * VACUUM's cleanup, which frees their space for inserts (free slots,
 * below). The
 * cleanup after every VACUUM then links elements no search can reach
 * (further below).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/genam.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "vexpg.h"

static uint64 vexvac_key(BlockNumber blk, OffsetNumber off)
{
    return ((uint64)blk << 16) | off;
}

static HTAB *vexvac_set(const char *name)
{
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(uint64);
    ctl.entrysize = sizeof(uint64);
    ctl.hcxt = CurrentMemoryContext;
    return hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static bool vexvac_has(HTAB *set, BlockNumber blk, OffsetNumber off)
{
    uint64 k = vexvac_key(blk, off);
    return hash_search(set, &k, HASH_FIND, NULL) != NULL;
}

static void vexvac_add(HTAB *set, BlockNumber blk, OffsetNumber off)
{
    uint64 k = vexvac_key(blk, off);
    hash_search(set, &k, HASH_ENTER, NULL);
}

/* Pass 1 on one page: mark the dead; record every deleted element. */
static void vexvac_mark_page(IndexVacuumInfo *info, const VexHnswShape *s,
                             BlockNumber blk, IndexBulkDeleteCallback cb,
                             void *cb_state, HTAB *deleted,
                             IndexBulkDeleteResult *stats)
{
    Relation index = info->index;
    Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
                                    info->strategy);
    Page page;
    OffsetNumber dead[MaxOffsetNumber], n_dead = 0, max;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    page = BufferGetPage(buf);
    max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
    for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
        VexHnswElement *e = vexhnsw_get_element(index, s, page, blk, off);
        if (e->flags & VEXHNSW_DELETED) /* also free slots */
            vexvac_add(deleted, blk, off);
        else if (cb(&e->heaptid, cb_state)) {
            dead[n_dead++] = off;
            vexvac_add(deleted, blk, off);
            stats->tuples_removed += 1;
        } else
            stats->num_index_tuples += 1;
    }
    if (n_dead > 0) {
        GenericXLogState *st = GenericXLogStart(index);
        Page copy = GenericXLogRegisterBuffer(st, buf, 0);
        for (int i = 0; i < n_dead; i++)
            ((VexHnswElement *)PageGetItem(copy, PageGetItemId(copy, dead[i])))
                ->flags |= VEXHNSW_DELETED;
        GenericXLogFinish(st);
    }
    RecordPageWithFreeSpace(index, blk, vexhnsw_page_room(index, s, page, blk));
    UnlockReleaseBuffer(buf);
}

typedef struct VexRepl {
    BlockNumber blk;
    OffsetNumber off;
    float d;
} VexRepl;

static int vexrepl_cmp(const void *a, const void *b)
{
    float x = ((const VexRepl *)a)->d, y = ((const VexRepl *)b)->d;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Pass 2 for one list (level l of element (blk, off), vector vec, links
 * lk[0..n)): the replacements for its deleted links, nearest first. */
static int vexvac_candidates(Relation index, const VexHnswShape *s,
                             BlockNumber blk, OffsetNumber off, int l,
                             const float *vec, const VexHnswLink *lk, int n,
                             HTAB *deleted, VexRepl *out, int out_cap)
{
    VexHnswLink *hop = palloc(sizeof(VexHnswLink) * vexhnsw_cap(s, l));
    HTAB *seen = vexvac_set("vexhnsw repair");
    int k = 0;
    vexvac_add(seen, blk, off);
    for (int i = 0; i < n; i++)
        vexvac_add(seen, lk[i].blk, lk[i].off);
    for (int i = 0; i < n && k < out_cap; i++) {
        int nh;
        if (!vexvac_has(deleted, lk[i].blk, lk[i].off))
            continue;
        nh = vexhnsw_read_links(index, s, lk[i].blk, lk[i].off, l, hop);
        for (int j = 0; j < nh && k < out_cap; j++) {
            if (vexvac_has(seen, hop[j].blk, hop[j].off) ||
                vexvac_has(deleted, hop[j].blk, hop[j].off))
                continue;
            vexvac_add(seen, hop[j].blk, hop[j].off);
            out[k].blk = hop[j].blk;
            out[k].off = hop[j].off;
            out[k].d =
                vexhnsw_element_dist(index, s, vec, hop[j].blk, hop[j].off);
            k++;
        }
    }
    qsort(out, k, sizeof *out, vexrepl_cmp);
    hash_destroy(seen);
    pfree(hop);
    return k;
}

/* Rewrite level l of (blk, off) under its page lock: the current list
 * without deleted links, then replacements while there is room. */
static void vexvac_write_list(Relation index, const VexHnswShape *s,
                              BlockNumber blk, OffsetNumber off,
                              ItemPointerData tid, int l, HTAB *deleted,
                              const VexRepl *repl, int n_repl)
{
    Buffer buf = ReadBuffer(index, blk);
    GenericXLogState *st;
    VexHnswElement *e;
    uint32 *list;
    VexHnswLink *lk;
    uint32 n = 0;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    e = vexhnsw_get_element(index, s, GenericXLogRegisterBuffer(st, buf, 0),
                            blk, off);
    if (!ItemPointerEquals(&e->heaptid, &tid) || l > e->level) {
        GenericXLogAbort(st);
        UnlockReleaseBuffer(buf);
        return;
    }
    list = vexhnsw_get_list(index, s, e, blk, off, l);
    lk = vexhnsw_links(list);
    for (uint32 i = 0; i < *list; i++)
        if (!vexvac_has(deleted, lk[i].blk, lk[i].off))
            lk[n++] = lk[i];
    for (int r = 0; r < n_repl && n < (uint32)vexhnsw_cap(s, l); r++) {
        bool dup = false;
        for (uint32 i = 0; i < n && !dup; i++)
            dup = lk[i].blk == repl[r].blk && lk[i].off == repl[r].off;
        if (dup)
            continue;
        lk[n].blk = repl[r].blk;
        lk[n].off = repl[r].off;
        lk[n].unused = 0;
        lk[n].dist = repl[r].d;
        n++;
    }
    *list = n;
    GenericXLogFinish(st);
    UnlockReleaseBuffer(buf);
}

typedef struct VexFix {
    OffsetNumber off;
    ItemPointerData tid;
    int level;
    float *vec;
    uint32 n[VEXHNSW_MAX_LEVEL + 1];
    VexHnswLink *lk[VEXHNSW_MAX_LEVEL + 1];
} VexFix;

/* Pass 2 on one page. Tracks the highest live element in *top. */
static void vexvac_repair_page(IndexVacuumInfo *info, const VexHnswShape *s,
                               BlockNumber blk, HTAB *deleted, int *top_level,
                               BlockNumber *top_blk, OffsetNumber *top_off)
{
    Relation index = info->index;
    Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
                                    info->strategy);
    Page page;
    OffsetNumber max;
    VexFix *fix;
    int n_fix = 0;
    VexRepl *repl = palloc(sizeof(VexRepl) * 2 * s->m * 2 * s->m);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    page = BufferGetPage(buf);
    max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
    fix = palloc0(sizeof(VexFix) * (max + 1));
    for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
        VexHnswElement *e = vexhnsw_get_element(index, s, page, blk, off);
        VexFix *f = &fix[n_fix];
        bool needs = false;
        if (e->flags & VEXHNSW_DELETED)
            continue;
        if (e->level > *top_level || *top_blk == InvalidBlockNumber) {
            *top_level = e->level;
            *top_blk = blk;
            *top_off = off;
        }
        for (int l = 0; l <= e->level && !needs; l++) {
            uint32 *list = vexhnsw_get_list(index, s, e, blk, off, l);
            for (uint32 i = 0; i < *list && !needs; i++)
                needs = vexvac_has(deleted, vexhnsw_links(list)[i].blk,
                                   vexhnsw_links(list)[i].off);
        }
        if (!needs)
            continue;
        f->off = off;
        f->tid = e->heaptid;
        f->level = e->level;
        f->vec = palloc(sizeof(float) * s->dim);
        memcpy(f->vec, vexhnsw_elem_vec(s, e), sizeof(float) * s->dim);
        for (int l = 0; l <= e->level; l++) {
            uint32 *list = vexhnsw_get_list(index, s, e, blk, off, l);
            f->n[l] = *list;
            f->lk[l] = palloc(sizeof(VexHnswLink) * (*list + 1));
            memcpy(f->lk[l], vexhnsw_links(list), sizeof(VexHnswLink) * *list);
        }
        n_fix++;
    }
    UnlockReleaseBuffer(buf);
    for (int i = 0; i < n_fix; i++) {
        VexFix *f = &fix[i];
        for (int l = 0; l <= f->level; l++) {
            int n_repl;
            bool any = false;
            for (uint32 j = 0; j < f->n[l] && !any; j++)
                any = vexvac_has(deleted, f->lk[l][j].blk, f->lk[l][j].off);
            if (!any)
                continue;
            n_repl = vexvac_candidates(index, s, blk, f->off, l, f->vec,
                                       f->lk[l], (int)f->n[l], deleted, repl,
                                       2 * s->m * 2 * s->m);
            vexvac_write_list(index, s, blk, f->off, f->tid, l, deleted, repl,
                              n_repl);
        }
        vacuum_delay_point();
    }
    pfree(repl);
}

/* Move the entry point off a deleted element. */
static void vexvac_fix_entry(Relation index, HTAB *deleted, int level,
                             BlockNumber blk, OffsetNumber off)
{
    Buffer buf = ReadBuffer(index, VEXHNSW_METAPAGE);
    GenericXLogState *st;
    VexHnswMeta *m;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    m = (VexHnswMeta *)PageGetContents(GenericXLogRegisterBuffer(st, buf, 0));
    if (m->entry_blk != InvalidBlockNumber &&
        vexvac_has(deleted, m->entry_blk, m->entry_off)) {
        m->entry_blk = blk;
        m->entry_off = off;
        m->entry_level = (uint16)(blk == InvalidBlockNumber ? 0 : level);
        GenericXLogFinish(st);
    } else
        GenericXLogAbort(st);
    UnlockReleaseBuffer(buf);
}

/* ---- free slots ----
 *
 * Run by the cleanup at the end of every VACUUM (PostgreSQL calls it also
 * when there was nothing to delete, when bulk delete is skipped):
 *   0. every tombstone is marked REPAIRED (the bulk delete that marked it
 *      has repaired the lists around it by now); one that carried the mark
 *      already, from an earlier VACUUM, is a candidate. So a tombstone
 *      waits one full VACUUM cycle, and a scan that read the old entry
 *      point or a list naming it before the repair is long done;
 * a candidate becomes a free slot when no live element links to it:
 *   1. wait for every insert in progress (the update lock, exclusively,
 *      then released): an insert that began before the tombstone was
 *      marked could still add a link to it; later inserts never choose a
 *      deleted element;
 *   2. read every live element's lists; a tombstone some list names is
 *      kept for a later VACUUM;
 *   3. each remaining one is overwritten by a free slot, its 8-byte header
 *      with flags DELETED | FREE (PageIndexTupleOverwrite: the rest of its
 *      bytes become the page's free space, every line pointer stays), one
 *      generic WAL record per page;
 *   4. each such page's room goes into PostgreSQL's free space map, where
 *      inserts look first (vexhnsw_place). The map is a hint, as for the
 *      heap: an insert checks the page under its lock and records what it
 *      found; every VACUUM records every page's room again (pass 1), so a
 *      map lost in a crash is rebuilt. The free slots themselves are on
 *      the pages, WAL-logged like every other change.
 * Walks that still hold a free slot's address (a scan that reached it
 * before) read it as deleted, with no vector and no links; a slot reused
 * by a new element is simply that element. Tombstones' own lists may name
 * free or reused slots; nothing follows them but such stale walks, and
 * vexhnsw_check does not hold them to the rules of live lists. */
static void vexvac_free(IndexVacuumInfo *info, const VexHnswShape *s)
{
    Relation index = info->index;
    BlockNumber nblocks = RelationGetNumberOfBlocks(index);
    HTAB *cand = vexvac_set("vexhnsw free candidates");
    VexHnswElement stub;
    Buffer buf;
    GenericXLogState *st;
    Page page;

    /* 0 */
    for (BlockNumber blk = 1; blk < nblocks; blk++) {
        OffsetNumber max, mark[MaxOffsetNumber];
        int n_mark = 0;
        buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
                                 info->strategy);
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        page = BufferGetPage(buf);
        max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
            VexHnswElement *e = vexhnsw_get_element(index, s, page, blk, off);
            if ((e->flags & (VEXHNSW_DELETED | VEXHNSW_FREE)) !=
                VEXHNSW_DELETED)
                continue;
            if (e->flags & VEXHNSW_REPAIRED)
                vexvac_add(cand, blk, off);
            else
                mark[n_mark++] = off;
        }
        if (n_mark > 0) {
            GenericXLogState *mst = GenericXLogStart(index);
            Page copy = GenericXLogRegisterBuffer(mst, buf, 0);
            for (int i = 0; i < n_mark; i++)
                ((VexHnswElement *)PageGetItem(copy,
                                               PageGetItemId(copy, mark[i])))
                    ->flags |= VEXHNSW_REPAIRED;
            GenericXLogFinish(mst);
        }
        RecordPageWithFreeSpace(index, blk,
                                vexhnsw_page_room(index, s, page, blk));
        UnlockReleaseBuffer(buf);
        vacuum_delay_point();
    }
    if (hash_get_num_entries(cand) == 0)
        return;
    /* 1 */
    LockPage(index, VEXHNSW_METAPAGE, ExclusiveLock);
    UnlockPage(index, VEXHNSW_METAPAGE, ExclusiveLock);
    /* 2 */
    for (BlockNumber blk = 1; blk < nblocks; blk++) {
        OffsetNumber max;
        buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
                                 info->strategy);
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
            VexHnswElement *e = vexhnsw_get_element(index, s, page, blk, off);
            if (e->flags & VEXHNSW_DELETED)
                continue;
            for (int l = 0; l <= e->level; l++) {
                uint32 *list = vexhnsw_get_list(index, s, e, blk, off, l);
                for (uint32 i = 0; i < *list; i++) {
                    uint64 k = vexvac_key(vexhnsw_links(list)[i].blk,
                                          vexhnsw_links(list)[i].off);
                    hash_search(cand, &k, HASH_REMOVE, NULL);
                }
            }
        }
        UnlockReleaseBuffer(buf);
        vacuum_delay_point();
    }
    /* 3 */
    memset(&stub, 0, sizeof stub);
    ItemPointerSetInvalid(&stub.heaptid);
    stub.flags = VEXHNSW_DELETED | VEXHNSW_FREE;
    for (BlockNumber blk = 1; blk < nblocks && hash_get_num_entries(cand) > 0;
         blk++) {
        OffsetNumber max;
        bool any = false;
        buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
                                 info->strategy);
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        st = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(st, buf, 0);
        max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
            VexHnswElement *e;
            if (!vexvac_has(cand, blk, off))
                continue;
            e = vexhnsw_get_element(index, s, page, blk, off);
            if ((e->flags & (VEXHNSW_DELETED | VEXHNSW_FREE)) !=
                VEXHNSW_DELETED)
                continue;
            if (!PageIndexTupleOverwrite(page, off, (Item)&stub,
                                         VEXHNSW_STUB_SIZE))
                elog(ERROR, "vexhnsw: could not free slot (%u,%u)", blk, off);
            any = true;
        }
        if (any) {
            Size room = vexhnsw_page_room(index, s, page, blk);
            GenericXLogFinish(st);
            RecordPageWithFreeSpace(index, blk, room);
        } else
            GenericXLogAbort(st);
        UnlockReleaseBuffer(buf);
        vacuum_delay_point();
    }
}

IndexBulkDeleteResult *vexhnsw_bulkdelete(IndexVacuumInfo *info,
                                          IndexBulkDeleteResult *stats,
                                          IndexBulkDeleteCallback callback,
                                          void *callback_state)
{
    Relation index = info->index;
    VexHnswMetaBuf mbuf;
    VexHnswMeta *meta = &mbuf.m;
    VexHnswShape s;
    BlockNumber nblocks, top_blk = InvalidBlockNumber;
    OffsetNumber top_off = InvalidOffsetNumber;
    int top_level = 0;
    HTAB *deleted;
    MemoryContext ctx, old;
    if (stats == NULL)
        stats = palloc0(sizeof(IndexBulkDeleteResult));
    ctx = AllocSetContextCreate(CurrentMemoryContext, "vexhnsw vacuum",
                                ALLOCSET_DEFAULT_SIZES);
    old = MemoryContextSwitchTo(ctx);
    vexhnsw_read_meta(index, meta);
    vexhnsw_shape(index, meta, &s);
    deleted = vexvac_set("vexhnsw deleted");
    nblocks = RelationGetNumberOfBlocks(index);
    stats->num_index_tuples = 0;
    for (BlockNumber blk = 1; blk < nblocks; blk++) {
        vexvac_mark_page(info, &s, blk, callback, callback_state, deleted,
                         stats);
        vacuum_delay_point();
    }
    if (hash_get_num_entries(deleted) > 0) {
        for (BlockNumber blk = 1; blk < nblocks; blk++)
            vexvac_repair_page(info, &s, blk, deleted, &top_level, &top_blk,
                               &top_off);
        vexvac_fix_entry(index, deleted, top_level, top_blk, top_off);
    }

    stats->num_pages = nblocks;
    MemoryContextSwitchTo(old);
    MemoryContextDelete(ctx);
    return stats;
}

/* ---- the reachability pass (vacuum cleanup) ----
 *
 * Pruning (a full list re-chosen by the heuristic, a repair) can leave an
 * element with no in-link from any element a search reaches; no scan can
 * return it then. After every VACUUM the cleanup walks level 0 from the
 * entry point over a copy of every element's level-0 links and, for each
 * live element it did not reach, searches the graph for that element's
 * vector (greedy descent, then a beam of ef_construction: whatever that
 * finds is reachable) and links the nearest result to it: appended when
 * its list has room, else in place of its farthest link whose target has
 * another in-link (so no other element loses its last one). What the new
 * link makes reachable is marked before the next element is considered.
 * The copy costs about 12 bytes per link; when it would exceed
 * maintenance_work_mem the pass is skipped (counted, not relinked). */

typedef struct VexReach {
    BlockNumber blk;
    OffsetNumber off;
    bool live, reached;
    int deg_in;
    int64 first; /* into links */
    int n;
} VexReach;

typedef struct VexReachSet {
    VexReach *node;
    int64 n, cap;
    int64 *links; /* node indexes, -1 unknown */
    uint64 *keys; /* while reading */
    int64 n_links, cap_links;
    HTAB *idx;
} VexReachSet;

typedef struct VexReachKey {
    uint64 key;
    int64 idx;
} VexReachKey;

static int64 vexreach_find(VexReachSet *r, BlockNumber blk, OffsetNumber off)
{
    uint64 k = vexvac_key(blk, off);
    VexReachKey *e = hash_search(r->idx, &k, HASH_FIND, NULL);
    return e == NULL ? -1 : e->idx;
}

static void vexreach_mark(VexReachSet *r, int64 from)
{
    int64 *stack = palloc(sizeof(int64) * Max(r->n, 1)), top = 0;
    if (r->node[from].reached)
        return;
    r->node[from].reached = true;
    stack[top++] = from;
    while (top > 0) {
        VexReach *u = &r->node[stack[--top]];
        for (int i = 0; i < u->n; i++) {
            int64 t = r->links[u->first + i];
            if (t >= 0 && !r->node[t].reached) {
                r->node[t].reached = true;
                stack[top++] = t;
            }
        }
    }
    pfree(stack);
}

/* Link element r (index ri) to u (index ui, distance d) by the rule in the
 * comment above. Returns whether r links u afterwards. */
static bool vexreach_link(Relation index, const VexHnswShape *s, VexReachSet *r,
                          int64 ri, int64 ui, float d)
{
    VexReach *rn = &r->node[ri], *un = &r->node[ui];
    Buffer buf = ReadBuffer(index, rn->blk);
    GenericXLogState *st;
    VexHnswElement *e;
    uint32 *list;
    VexHnswLink *lk;
    int pick = -1;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    e = vexhnsw_get_element(index, s, GenericXLogRegisterBuffer(st, buf, 0),
                            rn->blk, rn->off);
    list = vexhnsw_get_list(index, s, e, rn->blk, rn->off, 0);
    lk = vexhnsw_links(list);
    for (uint32 i = 0; i < *list; i++)
        if (lk[i].blk == un->blk && lk[i].off == un->off) {
            GenericXLogAbort(st); /* linked meanwhile */
            UnlockReleaseBuffer(buf);
            return true;
        }
    if (*list < (uint32)vexhnsw_cap(s, 0))
        pick = (int)(*list)++;
    else {
        int64 t;
        for (uint32 i = 0; i < *list; i++) {
            t = vexreach_find(r, lk[i].blk, lk[i].off);
            if (t >= 0 && r->node[t].deg_in >= 2 &&
                (pick < 0 || lk[i].dist > lk[pick].dist))
                pick = (int)i;
        }
        if (pick < 0) {
            GenericXLogAbort(st);
            UnlockReleaseBuffer(buf);
            return false;
        }
        t = vexreach_find(r, lk[pick].blk, lk[pick].off);
        r->node[t].deg_in--;
    }
    lk[pick].blk = un->blk;
    lk[pick].off = un->off;
    lk[pick].unused = 0;
    lk[pick].dist = d;
    un->deg_in++;
    GenericXLogFinish(st);
    UnlockReleaseBuffer(buf);
    return true;
}

static uint32 vexreach_no_links = 0; /* a free slot's list */

/* Read every element's level-0 links (false: over the memory limit). */
static bool vexreach_read(IndexVacuumInfo *info, const VexHnswShape *s,
                          VexReachSet *r, int64 *live)
{
    Relation index = info->index;
    BlockNumber nblocks = RelationGetNumberOfBlocks(index);
    Size limit = (Size)maintenance_work_mem * 1024;
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(uint64);
    ctl.entrysize = sizeof(VexReachKey);
    ctl.hcxt = CurrentMemoryContext;
    r->idx = hash_create("vexhnsw reach", 1024, &ctl,
                         HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    r->cap = 1024;
    r->node = palloc(sizeof(VexReach) * r->cap);
    r->cap_links = 1024;
    r->keys = palloc(sizeof(uint64) * r->cap_links);
    *live = 0;
    for (BlockNumber blk = 1; blk < nblocks; blk++) {
        Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
                                        info->strategy);
        Page page;
        OffsetNumber max;
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
            VexHnswElement *e = vexhnsw_get_element(index, s, page, blk, off);
            uint32 *list = (e->flags & VEXHNSW_FREE)
                               ? &vexreach_no_links
                               : vexhnsw_get_list(index, s, e, blk, off, 0);
            uint64 key = vexvac_key(blk, off);
            VexReachKey *k = hash_search(r->idx, &key, HASH_ENTER, NULL);
            VexReach *n;
            if (!(e->flags & VEXHNSW_DELETED))
                (*live)++;
            if (r->n == r->cap) {
                r->cap *= 2;
                r->node = repalloc_huge(r->node, sizeof(VexReach) * r->cap);
            }
            while (r->n_links + (int64)*list > r->cap_links) {
                r->cap_links *= 2;
                r->keys = repalloc_huge(r->keys, sizeof(uint64) * r->cap_links);
            }
            if ((Size)r->cap * sizeof(VexReach) +
                    (Size)r->cap_links * 2 * sizeof(uint64) >
                limit) {
                UnlockReleaseBuffer(buf);
                return false;
            }
            k->idx = r->n;
            n = &r->node[r->n++];
            n->blk = blk;
            n->off = off;
            n->live = !(e->flags & VEXHNSW_DELETED);
            n->reached = false;
            n->deg_in = 0;
            n->first = r->n_links;
            n->n = (int)*list;
            for (uint32 i = 0; i < *list; i++)
                r->keys[r->n_links++] = vexvac_key(vexhnsw_links(list)[i].blk,
                                                   vexhnsw_links(list)[i].off);
        }
        UnlockReleaseBuffer(buf);
        vacuum_delay_point();
    }
    r->links =
        palloc_extended(sizeof(int64) * Max(r->n_links, 1), MCXT_ALLOC_HUGE);
    for (int64 i = 0; i < r->n_links; i++) {
        VexReachKey *k = hash_search(r->idx, &r->keys[i], HASH_FIND, NULL);
        r->links[i] = k == NULL ? -1 : k->idx;
        if (k != NULL)
            r->node[k->idx].deg_in++;
    }
    return true;
}

/* The pass (comment above); returns the live elements. */
static int64 vexvac_reach(IndexVacuumInfo *info, const VexHnswMeta *meta,
                          const VexHnswShape *s)
{
    Relation index = info->index;
    VexReachSet r;
    int64 live, entry, relinked = 0, left = 0;
    float *vec = palloc(sizeof(float) * s->dim);
    int *res = palloc(sizeof(int) * Max(meta->ef_construction, 1));
    memset(&r, 0, sizeof r);
    if (!vexreach_read(info, s, &r, &live) ||
        meta->entry_blk == InvalidBlockNumber)
        return live;
    entry = vexreach_find(&r, meta->entry_blk, meta->entry_off);
    if (entry < 0)
        return live;
    vexreach_mark(&r, entry);
    for (int64 u = 0; u < r.n; u++) {
        BlockNumber blk = meta->entry_blk;
        OffsetNumber off = meta->entry_off;
        VexWalk w;
        float d;
        int n;
        bool done = false;
        if (!r.node[u].live || r.node[u].reached)
            continue;
        vexhnsw_read_vector(index, s, r.node[u].blk, r.node[u].off, vec);
        d = vexhnsw_element_dist(index, s, vec, blk, off);
        for (int l = meta->entry_level; l > 0; l--)
            vexhnsw_greedy(index, s, vec, l, &blk, &off, &d);
        vexwalk_init(&w, index, s, vec, 0, false);
        vexwalk_visit(&w, blk, off);
        n = vexwalk_batch(&w, meta->ef_construction, res);
        for (int i = 0; i < n && !done; i++) {
            int64 t =
                vexreach_find(&r, w.nodes[res[i]].blk, w.nodes[res[i]].off);
            if (t < 0 || t == u || !r.node[t].reached)
                continue;
            done = vexreach_link(index, s, &r, t, u, w.nodes[res[i]].d);
        }
        vexwalk_free(&w);
        if (done) {
            relinked++;
            vexreach_mark(&r, u);
        } else
            left++;
        vacuum_delay_point();
    }
    if (relinked > 0 || left > 0)
        ereport(DEBUG1, (errmsg("index \"%s\": %lld unreachable elements "
                                "linked, %lld left",
                                RelationGetRelationName(index),
                                (long long)relinked, (long long)left)));
    return live;
}

/* After every VACUUM: the reachability pass, and the count of live
 * elements. */
IndexBulkDeleteResult *vexhnsw_vacuumcleanup(IndexVacuumInfo *info,
                                             IndexBulkDeleteResult *stats)
{
    Relation index = info->index;
    VexHnswMetaBuf mbuf;
    VexHnswMeta *meta = &mbuf.m;
    VexHnswShape s;
    MemoryContext ctx, old;
    int64 live;
    if (info->analyze_only)
        return stats;
    if (stats == NULL)
        stats = palloc0(sizeof(IndexBulkDeleteResult));
    ctx = AllocSetContextCreate(CurrentMemoryContext, "vexhnsw cleanup",
                                ALLOCSET_DEFAULT_SIZES);
    old = MemoryContextSwitchTo(ctx);
    vexhnsw_read_meta(index, meta);
    vexhnsw_shape(index, meta, &s);
    vexvac_free(info, &s);
    FreeSpaceMapVacuum(index);
    live = vexvac_reach(info, meta, &s);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(ctx);
    stats->num_index_tuples = (double)live;
    stats->num_pages = RelationGetNumberOfBlocks(index);
    return stats;
}

/* ---- vexhnsw_check(regclass) ---- */

typedef struct VexChkNode {
    uint64 key;
    int idx;
} VexChkNode;

/* vexhnsw_check(index) -> (live, deleted, unreachable, max_level): reads
 * every element (each checked as a scan checks it), follows every link to
 * an element of at least the link's level, checks the entry point is an
 * element of the top level, and counts the live elements a level-0 walk
 * from the entry point does not reach. ERRCODE_INDEX_CORRUPTED on the
 * first broken rule. Takes share locks only, one page at a time. */
PG_FUNCTION_INFO_V1(vexhnsw_check);
Datum vexhnsw_check(PG_FUNCTION_ARGS)
{
    Oid oid = PG_GETARG_OID(0);
    Relation index = index_open(oid, AccessShareLock);
    VexHnswMetaBuf mbuf;
    VexHnswMeta *meta = &mbuf.m;
    VexHnswShape s;
    BlockNumber nblocks;
    HASHCTL ctl;
    HTAB *all;
    int64 live = 0, dead = 0, unreachable = 0, n = 0, cap = 1024;
    int max_level = 0;
    BlockNumber *blks = palloc(sizeof(BlockNumber) * cap);
    OffsetNumber *offs = palloc(sizeof(OffsetNumber) * cap);
    bool *reached, *is_live, *is_free;
    int64 *queue, head = 0, tail = 0;
    VexHnswLink *lk;
    TupleDesc td;
    Datum vals[4];
    bool nulls[4] = {false, false, false, false};

    if (index->rd_rel->relkind != RELKIND_INDEX ||
        index->rd_rel->relam != get_index_am_oid("vexhnsw", false))
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("\"%s\" is not a vexhnsw index",
                               RelationGetRelationName(index))));
    if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "vexhnsw_check: return type must be a row type");
    vexhnsw_read_meta(index, meta);
    vexhnsw_shape(index, meta, &s);
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(uint64);
    ctl.entrysize = sizeof(VexChkNode);
    ctl.hcxt = CurrentMemoryContext;
    all = hash_create("vexhnsw check", 1024, &ctl,
                      HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    nblocks = RelationGetNumberOfBlocks(index);
    is_live = palloc(sizeof(bool) * cap);
    is_free = palloc(sizeof(bool) * cap);
    for (BlockNumber blk = 1; blk < nblocks; blk++) {
        Buffer buf = ReadBuffer(index, blk);
        Page page;
        OffsetNumber max;
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        max = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= max; off++) {
            VexHnswElement *e = vexhnsw_get_element(index, &s, page, blk, off);
            uint64 key = vexvac_key(blk, off);
            VexChkNode *c = hash_search(all, &key, HASH_ENTER, NULL);
            if (n == cap) {
                cap *= 2;
                blks = repalloc(blks, sizeof(BlockNumber) * cap);
                offs = repalloc(offs, sizeof(OffsetNumber) * cap);
                is_live = repalloc(is_live, sizeof(bool) * cap);
                is_free = repalloc(is_free, sizeof(bool) * cap);
            }
            is_free[n] = (e->flags & VEXHNSW_FREE) != 0;
            c->idx = (int)n;
            blks[n] = blk;
            offs[n] = off;
            is_live[n] = !(e->flags & VEXHNSW_DELETED);
            n++;
            if (e->flags & VEXHNSW_DELETED)
                dead++;
            else {
                live++;
                max_level = Max(max_level, e->level);
            }
        }
        UnlockReleaseBuffer(buf);
    }
    if (meta->entry_blk == InvalidBlockNumber) {
        if (live > 0)
            ereport(ERROR,
                    (errcode(ERRCODE_INDEX_CORRUPTED),
                     errmsg("index \"%s\": %lld live elements but no "
                            "entry point",
                            RelationGetRelationName(index), (long long)live)));
    } else {
        uint64 key = vexvac_key(meta->entry_blk, meta->entry_off);
        if (hash_search(all, &key, HASH_FIND, NULL) == NULL)
            ereport(ERROR,
                    (errcode(ERRCODE_INDEX_CORRUPTED),
                     errmsg("index \"%s\": entry point (%u,%u) is no element",
                            RelationGetRelationName(index), meta->entry_blk,
                            meta->entry_off)));
        if (is_free[((VexChkNode *)hash_search(all, &key, HASH_FIND, NULL))
                        ->idx])
            ereport(ERROR,
                    (errcode(ERRCODE_INDEX_CORRUPTED),
                     errmsg("index \"%s\": entry point (%u,%u) is a free "
                            "slot",
                            RelationGetRelationName(index), meta->entry_blk,
                            meta->entry_off)));
        if (meta->entry_level < max_level)
            ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                            errmsg("index \"%s\": entry level %d below the top "
                                   "live level %d",
                                   RelationGetRelationName(index),
                                   meta->entry_level, max_level)));
    }
    /* every link names an element of at least its level; the level-0 walk */
    reached = palloc0(sizeof(bool) * Max(n, 1));
    queue = palloc(sizeof(int64) * Max(n, 1));
    lk = palloc(sizeof(VexHnswLink) * 2 * s.m);
    if (meta->entry_blk != InvalidBlockNumber) {
        uint64 key = vexvac_key(meta->entry_blk, meta->entry_off);
        VexChkNode *c = hash_search(all, &key, HASH_FIND, NULL);
        reached[c->idx] = true;
        queue[tail++] = c->idx;
    }
    for (int64 i = 0; i < n; i++) {
        Buffer buf = ReadBuffer(index, blks[i]);
        VexHnswElement *e;
        int lv;
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        e = vexhnsw_get_element(index, &s, BufferGetPage(buf), blks[i],
                                offs[i]);
        lv = (e->flags & VEXHNSW_FREE) ? -1 : e->level;
        UnlockReleaseBuffer(buf);
        for (int l = 0; l <= lv; l++) {
            int cnt = vexhnsw_read_links(index, &s, blks[i], offs[i], l, lk);
            for (int j = 0; j < cnt; j++) {
                uint64 key = vexvac_key(lk[j].blk, lk[j].off);
                VexChkNode *c = hash_search(all, &key, HASH_FIND, NULL);
                Buffer tb;
                VexHnswElement *te;
                int tl;
                bool tfree;
                if (c == NULL)
                    ereport(ERROR,
                            (errcode(ERRCODE_INDEX_CORRUPTED),
                             errmsg("index \"%s\": element (%u,%u) links to "
                                    "(%u,%u), which is no element",
                                    RelationGetRelationName(index), blks[i],
                                    offs[i], lk[j].blk, lk[j].off)));
                /* a tombstone's list may name slots freed since (see
                 * vexvac_free); a live list may not */
                if (!is_live[i])
                    continue;
                tb = ReadBuffer(index, lk[j].blk);
                LockBuffer(tb, BUFFER_LOCK_SHARE);
                te = vexhnsw_get_element(index, &s, BufferGetPage(tb),
                                         lk[j].blk, lk[j].off);
                tl = te->level;
                tfree = (te->flags & VEXHNSW_FREE) != 0;
                UnlockReleaseBuffer(tb);
                if (tfree)
                    ereport(ERROR,
                            (errcode(ERRCODE_INDEX_CORRUPTED),
                             errmsg("index \"%s\": element (%u,%u) links to "
                                    "the free slot (%u,%u)",
                                    RelationGetRelationName(index), blks[i],
                                    offs[i], lk[j].blk, lk[j].off)));
                if (tl < l)
                    ereport(ERROR,
                            (errcode(ERRCODE_INDEX_CORRUPTED),
                             errmsg("index \"%s\": element (%u,%u) links on "
                                    "level %d to (%u,%u) of level %d",
                                    RelationGetRelationName(index), blks[i],
                                    offs[i], l, lk[j].blk, lk[j].off, tl)));
            }
        }
        CHECK_FOR_INTERRUPTS();
    }
    while (head < tail) {
        int64 u = queue[head++];
        int cnt = vexhnsw_read_links(index, &s, blks[u], offs[u], 0, lk);
        for (int j = 0; j < cnt; j++) {
            uint64 key = vexvac_key(lk[j].blk, lk[j].off);
            VexChkNode *c = hash_search(all, &key, HASH_FIND, NULL);
            if (!reached[c->idx]) {
                reached[c->idx] = true;
                queue[tail++] = c->idx;
            }
        }
    }
    for (int64 i = 0; i < n; i++)
        if (is_live[i] && !reached[i])
            unreachable++;
    index_close(index, AccessShareLock);
    vals[0] = Int64GetDatum(live);
    vals[1] = Int64GetDatum(dead);
    vals[2] = Int64GetDatum(unreachable);
    vals[3] = Int32GetDatum(max_level);
    PG_RETURN_DATUM(
        HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), vals, nulls)));
}
