/* SPDX-License-Identifier: Apache-2.0 */
/*
 * write.c - the collection's write path: single-record writes and batch
 * commits enter a writer queue, a leader takes a group, checks it, logs
 * it as one record and applies it (LevelDB's writer queue).
 *
 * Each commit enqueues a request and waits. The request at the head is
 * the leader: it takes the whole queue (GROUP) or only itself (FULL,
 * NONE), checks each request's operations in order against the state
 * plus the effects of the requests before it (an overlay map; a request
 * that fails is rolled out of the overlay and fails alone), writes all
 * accepted operations as ONE log record (engine/logrec.h), which
 * vx_wal_append syncs (GROUP, FULL), applies them to the active memtable
 * at the record's sequence number (apply.c) and publishes that number
 * (V1). Appending a row is a copy: graph insertion happens later, on a
 * background thread (vx_mt_index_to), so an acknowledgement never waits
 * for the index.
 *
 * Vectors and metadata are checked against the collection's
 * configuration and schema in the caller's thread, before a request is
 * queued. A metadata-only update is a new row with the old vector and
 * payload: the leader logs it as an upsert with metadata and the vector
 * and payload it finds (encode_group), never as a reference to the old row,
 * which a compaction may drop before the log record is flushed (invariant 2 of
 * collection.c would then be broken on replay).
 */
#include <stdio.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/jobs.h"
#include "engine/logrec.h"
#include "engine/meta_api.h"
#include "meta/value.h"
#include "util/abi.h"

/* Iterate the operations of a request. */
typedef struct op_iter {
    const vx_wreq *w;
    size_t pos, i;
} op_iter;

static int op_next(const vex_collection *c, op_iter *it, vx_op *op)
{
    const vx_wreq *w = it->w;
    if (it->i >= w->n_ops)
        return 0;
    if (w->ops == NULL) {
        op->kind = w->one_kind;
        op->id = w->one_id;
        op->vec = w->one_vec;
        op->meta = w->one_meta;
        op->meta_len = w->one_meta_len;
        op->pay = w->one_pay;
        op->pay_len = w->one_pay_len;
        op->txt = w->one_txt;
        op->txt_len = w->one_txt_len;
    } else {
        it->pos += vx_logrec_op_decode(w->ops + it->pos, w->ops_len - it->pos,
                                       c->vec_bytes, op);
    }
    it->i++;
    return 1;
}

/* The logged size of a request as it was queued (its metadata updates
 * counted with a vector but without the payload they will carry). */
static size_t wreq_bytes(const vex_collection *c, const vx_wreq *w)
{
    if (w->where) /* sized by the leader when it evaluates the filter */
        return 0;
    if (w->bytes)
        return w->bytes;
    if (w->ops)
        return w->ops_len + w->n_setmeta * c->vec_bytes;
    return vx_logrec_op_size(c->vec_bytes, w->one_kind, w->one_meta_len,
                             w->one_pay_len, w->one_txt_len) +
           (w->one_kind == VX_OP_SETMETA ? c->vec_bytes : 0);
}

static int touch(vex_collection *c, uint64_t id, uint64_t val)
{
    if (c->lead.n_touched == c->lead.cap_touched) {
        size_t cap = c->lead.cap_touched ? c->lead.cap_touched * 2 : 64;
        uint64_t *p = vx_mem_realloc(c->mem, c->lead.touched, cap * sizeof *p);
        if (p == NULL)
            return VEX_NOMEM;
        c->lead.touched = p;
        c->lead.cap_touched = cap;
    }
    if (vx_idmap_put(&c->lead.overlay, id, val) != VEX_OK)
        return VEX_NOMEM;
    c->lead.touched[c->lead.n_touched++] = id;
    return VEX_OK;
}

/* The overlay's value of a live id: 1 | payload length << 1 | text
 * length << 32 (a payload and a text are at most 1 MiB each). */
static uint64_t overlay_val(size_t pay_len, size_t txt_len)
{
    return 1u | (uint64_t)pay_len << 1 | (uint64_t)txt_len << 32;
}

/* Whether `id` is live now (state + overlay), and with `want_pay` the
 * lengths of the payload and text a metadata update of it would carry
 * (*pay_len, *txt_len, live only; looked up in the state only when
 * asked, as it costs a second search of the sources). */
static int exists_now(vex_collection *c, uint64_t id, int want_pay,
                      size_t *pay_len, size_t *txt_len)
{
    uint64_t v;
    const unsigned char *p;
    const char *t;
    *pay_len = 0;
    *txt_len = 0;
    if (vx_idmap_get(&c->lead.overlay, id, &v)) {
        *pay_len = (size_t)(v >> 1 & 0x7FFFFFFFu);
        *txt_len = (size_t)(v >> 32);
        return (int)(v & 1);
    }
    if (!vx_coll_has_id(c, id))
        return 0;
    if (!want_pay)
        return 1;
    /* a row's payload and text were checked when it was stored
     * (memtable) or opened (segment): this lookup does not fail */
    (void)vx_coll_live_row(c, id, NULL, &p, pay_len, &t, txt_len);
    return 1;
}

/* Check a request's operations in order against state + overlay; on
 * success its effects stay in the overlay and w->bytes is its exact
 * logged size (metadata updates with the vector and payload they carry).
 * A request larger than a group's record is VEX_FULL. */
static int validate(vex_collection *c, vx_wreq *w)
{
    op_iter it = {w, 0, 0};
    vx_op op;
    int rc = VEX_OK;
    size_t bytes = 0;
    VX_ASSERT_HELD(&c->apply.mu);
    while (rc == VEX_OK && op_next(c, &it, &op)) {
        size_t pl, tl;
        int ex = exists_now(c, op.id, op.kind == VX_OP_SETMETA, &pl, &tl);
        uint64_t id = op.id;
        if (op.kind == VX_OP_SETMETA && !ex) {
            rc = VEX_NOTFOUND;
            snprintf(w->msg, sizeof w->msg,
                     "metadata update of id %llu (operation %zu): no such id",
                     (unsigned long long)id, it.i - 1);
        } else if (vx_logrec_kind_is_insert(op.kind) && ex) {
            rc = VEX_EXISTS;
            snprintf(w->msg, sizeof w->msg,
                     "insert of id %llu (operation %zu): the id exists",
                     (unsigned long long)id, it.i - 1);
        } else if (op.kind == VX_OP_DELETE && !ex) {
            rc = VEX_NOTFOUND;
            snprintf(w->msg, sizeof w->msg,
                     "delete of id %llu (operation %zu): no such id",
                     (unsigned long long)id, it.i - 1);
        } else {
            if (op.kind == VX_OP_SETMETA)
                bytes += vx_logrec_op_size(
                    c->vec_bytes, vx_logrec_put_kind(0, op.meta_len, pl, tl),
                    op.meta_len, pl, tl);
            else
                bytes += vx_logrec_op_size(c->vec_bytes, op.kind, op.meta_len,
                                           op.pay_len, op.txt_len);
            if (op.kind != VX_OP_SETMETA) {
                pl = op.pay_len;
                tl = op.txt_len;
            }
            if (touch(c, id,
                      op.kind == VX_OP_DELETE ? 0 : overlay_val(pl, tl)) !=
                VEX_OK) {
                rc = VEX_NOMEM;
                snprintf(w->msg, sizeof w->msg, "out of memory");
            }
        }
    }
    if (rc == VEX_OK && bytes > VX_GROUP_MAX_BYTES - VX_LOGREC_HEADER) {
        rc = VEX_FULL;
        snprintf(w->msg, sizeof w->msg,
                 "the commit's log record would take %zu bytes, more than "
                 "the %zu a record may hold (metadata updates are logged "
                 "with the record's vector and payload): commit fewer "
                 "metadata updates at a time",
                 bytes, (size_t)VX_GROUP_MAX_BYTES - VX_LOGREC_HEADER);
    }
    if (rc != VEX_OK) {
        /* clear the overlay; the leader re-validates the requests accepted
         * before this one to rebuild it (the state has not changed) */
        for (size_t i = 0; i < c->lead.n_touched; i++)
            vx_idmap_remove(&c->lead.overlay, c->lead.touched[i]);
        c->lead.n_touched = 0;
    } else {
        w->bytes = bytes;
    }
    return rc;
}

/* Schedule background indexing of the active memtable when its unindexed
 * tail is long enough (apply.mu held). */
#define INDEX_TRIGGER 256
static void maybe_index(vex_collection *c)
{
    memtable *a = version_active(c->ver.cur);
    uint64_t n = mt_rows(a);
    if (a->ix && n > c->db->opts.memtable_exact_rows &&
        n - mt_indexed(a) >= INDEX_TRIGGER)
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_INDEX);
}

/* V1: the group's effects become visible to new snapshots. */
static void publish_seq(vex_collection *c, uint64_t seq)
{
    VX_ASSERT_HELD(&c->apply.mu);
    VX_ASSERT(seq >= c->ver.visible_seq);
    vx_mutex_lock(&c->ver.mu);
    c->ver.visible_seq = seq;
    vx_mutex_unlock(&c->ver.mu);
}

/* Encode the accepted requests of [head .. last] after the record header
 * in c->lead.rec (sized by their exact bytes). A metadata-only update is
 * logged as an upsert with metadata carrying the record's current vector
 * and payload, taken from an earlier put of the same group (vecmap: the
 * offset of that put in the record) or from the state: so replay never
 * needs a row that a compaction may have dropped since (a segment row
 * ended by the update is gone after the next compaction, while the log
 * record may be replayed until the next flush). */
static int encode_group(vex_collection *c, vx_wreq *head, vx_wreq *last,
                        size_t n_setmeta, size_t rec_len)
{
    size_t pos = VX_LOGREC_HEADER;
    int rc = VEX_OK;
    (void)rec_len; /* for the assertions */
    for (vx_wreq *w = head; rc == VEX_OK; w = w->next) {
        if (w->rc == VEX_OK) {
            op_iter it = {w, 0, 0};
            vx_op op;
            uint64_t at;
            while (rc == VEX_OK && op_next(c, &it, &op)) {
                if (op.kind == VX_OP_SETMETA) {
                    if (vx_idmap_get(&c->lead.vecmap, op.id, &at)) {
                        vx_op prev;
                        (void)vx_logrec_op_decode(c->lead.rec + at, pos - at,
                                                  c->vec_bytes, &prev);
                        op.vec = prev.vec;
                        op.pay = prev.pay;
                        op.pay_len = prev.pay_len;
                        op.txt = prev.txt;
                        op.txt_len = prev.txt_len;
                    } else if ((rc = vx_coll_live_row(
                                    c, op.id, &op.vec, &op.pay, &op.pay_len,
                                    &op.txt, &op.txt_len)) != VEX_OK) {
                        break;
                    }
                    op.kind = vx_logrec_put_kind(0, op.meta_len, op.pay_len,
                                                 op.txt_len);
                    if (op.kind == VX_OP_UPSERT)
                        op.kind = VX_OP_UPSERT_M; /* as logged before */
                }
                VX_ASSERT(pos + vx_logrec_op_size(c->vec_bytes, op.kind,
                                                  op.meta_len, op.pay_len,
                                                  op.txt_len) <=
                          rec_len);
                vx_logrec_op_encode(c->lead.rec + pos, &op, c->vec_bytes);
                if (n_setmeta && vx_logrec_kind_has_vec(op.kind)) {
                    if (vx_idmap_put(&c->lead.vecmap, op.id, pos) != VEX_OK)
                        rc = vx_coll_nomem(c);
                } else if (n_setmeta) {
                    vx_idmap_remove(&c->lead.vecmap, op.id);
                }
                pos += vx_logrec_op_size(c->vec_bytes, op.kind, op.meta_len,
                                         op.pay_len, op.txt_len);
            }
        }
        if (w == last)
            break;
    }
    VX_ASSERT(rc != VEX_OK || pos == rec_len);
    if (n_setmeta) {
        /* empty the map again: every id it may hold is in the record */
        size_t p = VX_LOGREC_HEADER;
        while (p < pos) {
            vx_op op;
            size_t used = vx_logrec_op_decode(c->lead.rec + p, pos - p,
                                              c->vec_bytes, &op);
            if (used == 0)
                break;
            vx_idmap_remove(&c->lead.vecmap, op.id);
            p += used;
        }
    }
    return rc;
}

/* Grow the leader's record buffer to hold `need` bytes. */
static int rec_reserve(vex_collection *c, size_t need)
{
    size_t cap;
    unsigned char *p;
    if (need <= c->lead.rec_cap)
        return VEX_OK;
    cap = c->lead.rec_cap ? c->lead.rec_cap : 4096;
    while (cap < need)
        cap *= 2;
    p = vx_mem_realloc(c->mem, c->lead.rec, cap);
    if (p == NULL)
        return VEX_NOMEM;
    c->lead.rec = p;
    c->lead.rec_cap = cap;
    return VEX_OK;
}

/* The most deletes one log record holds (WAL_MAX_PAYLOAD). */
#define WHERE_MAX_DELETES                                                      \
    ((WAL_MAX_PAYLOAD - VX_LOGREC_HEADER) / VX_LOGREC_OP_HEADER)

typedef struct where_ctx {
    vex_collection *c;
    size_t pos;
    uint64_t n, max;
} where_ctx;

static int where_row(void *arg, const vx_source *src, uint64_t id, uint64_t ref)
{
    where_ctx *x = arg;
    (void)src;
    (void)ref;
    if (x->n >= x->max)
        return VEX_FULL;
    if (rec_reserve(x->c, x->pos + VX_LOGREC_OP_HEADER) != VEX_OK)
        return vx_err_set(&x->c->err, VEX_NOMEM,
                          "delete where: out of memory for %llu deletes",
                          (unsigned long long)x->n + 1);
    vx_op op = {.kind = VX_OP_DELETE, .id = id};
    vx_logrec_op_encode(x->c->lead.rec + x->pos, &op, x->c->vec_bytes);
    x->pos += VX_LOGREC_OP_HEADER;
    x->n++;
    return 0;
}

/* Leader of a delete by filter (apply.mu held): encode a delete of every
 * record `w->where` matches now (the state at the last applied record,
 * which no one can change while apply.mu is held) into c->lead.rec.
 * *rec_len and *n_ops describe the record; n_ops 0 = nothing matched. */
static int collect_where(vex_collection *c, vx_wreq *w, size_t *rec_len,
                         size_t *n_ops)
{
    where_ctx x = {c, VX_LOGREC_HEADER, 0, WHERE_MAX_DELETES};
    vx_snap s;
    int rc;
    VX_ASSERT_HELD(&c->apply.mu);
    if (c->lead.where_max && c->lead.where_max < x.max)
        x.max = c->lead.where_max;
    if (rec_reserve(c, VX_LOGREC_HEADER) != VEX_OK) {
        snprintf(w->msg, sizeof w->msg, "delete where: out of memory");
        return VEX_NOMEM;
    }
    vx_coll_snap_take(c, &s);
    VX_ASSERT(s.seq == c->apply.last_seq);
    rc = vx_coll_scan_snap(c, &s, w->where, where_row, &x);
    vx_coll_snap_drop(&s);
    if (rc == VEX_FULL) {
        snprintf(w->msg, sizeof w->msg,
                 "delete where: more than %llu records match, and one "
                 "atomic commit holds at most that many deletes (a log "
                 "record is at most %u MiB); nothing was deleted: narrow "
                 "the filter and delete in several calls",
                 (unsigned long long)x.max, (unsigned)(WAL_MAX_PAYLOAD >> 20));
        return VEX_FULL;
    }
    if (rc != VEX_OK) { /* the scan's message (a segment's metadata) */
        vx_err_copy(&c->err, w->msg, sizeof w->msg);
        return rc;
    }
    vx_logrec_header(c->lead.rec, (uint32_t)x.n);
    *rec_len = x.pos;
    *n_ops = (size_t)x.n;
    return VEX_OK;
}

/* After a delete by filter: a record buffer grown past what any group
 * needs (up to the 64 MiB of a log record) is not kept. */
static void rec_trim(vex_collection *c)
{
    if (c->lead.rec_cap > VX_GROUP_MAX_BYTES + VX_LOGREC_HEADER) {
        vx_mem_free(c->mem, c->lead.rec);
        c->lead.rec = NULL;
        c->lead.rec_cap = 0;
    }
}

/* Leader: the group [head .. *last]. A request whose exact size would
 * take the record past VX_GROUP_MAX_BYTES (metadata updates carry
 * payloads the queue did not count) ends the group before it: *last
 * moves back and the rest goes to the next leader. */
static void lead(vex_collection *c, vx_wreq *head, vx_wreq **lastp)
{
    size_t rec_len = VX_LOGREC_HEADER, n_ops = 0, n_setmeta = 0;
    int rc = VEX_OK;
    uint64_t seq = 0;
    vx_wreq *w, *last = *lastp, *prev = NULL;
    VX_ASSERT(!vx_mutex_held(&c->apply.mu));

    vx_mutex_lock(&c->apply.mu);
    rc = vx_coll_sticky(c);
    if (rc != VEX_OK) {
        for (w = head;; w = w->next) {
            w->rc = rc;
            snprintf(w->msg, sizeof w->msg, "%s", c->life.sticky_msg);
            if (w == last)
                break;
        }
        vx_mutex_unlock(&c->apply.mu);
        return;
    }
    rc = vx_coll_need_room(c);
    if (rc != VEX_OK)
        goto done;
    if (head->where) {
        /* a delete by filter leads alone (vx_coll_submit): its deletes
         * are the matches in the state every earlier record made */
        VX_ASSERT(head == last);
        rc = collect_where(c, head, &rec_len, &n_ops);
        if (rc != VEX_OK || n_ops == 0) {
            if (rc != VEX_OK)
                head->rc = rc;
            rec_trim(c);
            vx_mutex_unlock(&c->apply.mu);
            return;
        }
        goto log;
    }
    /* validate in order; requests that fail drop out of the group */
    for (w = head;; prev = w, w = w->next) {
        size_t before = c->lead.n_touched;
        w->rc = validate(c, w);
        if (w->rc == VEX_OK && w != head &&
            rec_len + w->bytes > VX_GROUP_MAX_BYTES) {
            /* too big for this group: w and the rest wait for the next */
            last = prev;
            *lastp = prev;
            break;
        }
        if (w->rc != VEX_OK && before > 0) {
            /* rebuild the overlay of the accepted requests before w */
            vx_wreq *v;
            c->lead.n_touched = 0;
            for (v = head; v != w; v = v->next)
                if (v->rc == VEX_OK)
                    (void)validate(c, v);
        }
        if (w->rc == VEX_OK) {
            rec_len += w->bytes;
            n_ops += w->n_ops;
            n_setmeta += w->ops ? w->n_setmeta : w->one_kind == VX_OP_SETMETA;
        }
        if (w == last)
            break;
    }
    for (size_t i = 0; i < c->lead.n_touched; i++)
        vx_idmap_remove(&c->lead.overlay, c->lead.touched[i]);
    c->lead.n_touched = 0;
    if (n_ops == 0) {
        vx_mutex_unlock(&c->apply.mu);
        return;
    }
    if (rec_len > c->lead.rec_cap) {
        unsigned char *p = vx_mem_realloc(c->mem, c->lead.rec, rec_len);
        if (p == NULL) {
            rc = vx_coll_nomem(c);
            goto done;
        }
        c->lead.rec = p;
        c->lead.rec_cap = rec_len;
    }
    vx_logrec_header(c->lead.rec, (uint32_t)n_ops);
    rc = encode_group(c, head, last, n_setmeta, rec_len);
    if (rc != VEX_OK)
        goto done;
log : {
    /* under GROUP and FULL the append returns once synced: a log sync */
    int syncs = c->db->opts.durability != VEX_DURABILITY_NONE;
    uint64_t t0 = syncs ? vx_now_ns() : 0;
    rc = vx_wal_append(c->w, c->lead.rec, rec_len, &seq, &c->err);
    if (rc != VEX_OK) {
        vx_coll_fail(c, rc, "writing the log failed");
        goto done;
    }
    if (syncs) {
        vx_hist_time(&c->met, VX_H_SYNC, t0);
        vx_hist_add(&c->met.h[VX_H_SYNC_ROWS], n_ops, VX_UNIT_COUNT);
    }
    vx_count(&c->met, VX_C_WRITE_ROWS, n_ops);
}
    /* apply exactly what was logged, as replay will */
    {
        size_t pos = VX_LOGREC_HEADER;
        for (size_t i = 0; i < n_ops && rc == VEX_OK; i++) {
            vx_op op;
            pos += vx_logrec_op_decode(c->lead.rec + pos, rec_len - pos,
                                       c->vec_bytes, &op);
            rc = vx_coll_apply_op(c, &op, seq);
        }
        if (head->where)
            head->n_deleted = n_ops;
    }
    VX_ASSERT(seq > c->apply.last_seq);
    c->apply.last_seq = seq;
    if (rc != VEX_OK) {
        vx_coll_fail(c, rc, "applying a logged write failed");
        goto done;
    }
    publish_seq(c, seq); /* V1 */
    atomic_store_explicit(&c->bg.last_write_ns, vx_now_ns(),
                          memory_order_relaxed);
    /* the group is durable and visible; freezing a full memtable now lets
     * its flush start before the next write needs the room */
    if (vx_coll_active_full(c) &&
        c->ver.cur->n_mts - 1 < c->db->opts.max_frozen_memtables &&
        vx_coll_freeze(c) != VEX_OK)
        vx_coll_fail(c, VEX_NOMEM, "freezing the memtable failed");
    maybe_index(c);
    if (head->where)
        rec_trim(c);
    vx_mutex_unlock(&c->apply.mu);
    return;
done:
    if (head->where)
        rec_trim(c);
    vx_mutex_unlock(&c->apply.mu);
    for (w = head;; w = w->next) {
        if (w->rc == VEX_OK) {
            w->rc = rc;
            vx_err_copy(&c->err, w->msg, sizeof w->msg);
        }
        if (w == last)
            break;
    }
}

/* Enqueue a request and wait until a leader (maybe this thread) ran it. */
static int wq_submit(vex_collection *c, vx_wreq *w)
{
    vx_wreq *last;
    size_t bytes;
    int rc;
    /* every write goes through here: a read-only handle logs nothing */
    if ((rc = vx_coll_writable(c, "write")) != VEX_OK)
        return rc;
    w->next = NULL;
    w->done = 0;
    w->rc = VEX_OK;
    w->msg[0] = '\0';
    pthread_cond_init(&w->cv, NULL);
    vx_mutex_lock(&c->wq.mu);
    if (c->wq.tail)
        c->wq.tail->next = w;
    else
        c->wq.head = w;
    c->wq.tail = w;
    while (!w->done && w != c->wq.head)
        vx_cond_wait(&w->cv, &c->wq.mu);
    if (w->done) {
        vx_mutex_unlock(&c->wq.mu);
        pthread_cond_destroy(&w->cv);
        if (w->rc != VEX_OK)
            vx_err_set(&c->err, w->rc, "%s", w->msg);
        return w->rc;
    }
    /* leader: take a group */
    last = w;
    bytes = wreq_bytes(c, w);
    if (c->db->opts.durability == VEX_DURABILITY_GROUP && w->where == NULL) {
        while (last->next && last->next->where == NULL &&
               bytes + wreq_bytes(c, last->next) <= VX_GROUP_MAX_BYTES) {
            last = last->next;
            bytes += wreq_bytes(c, last);
        }
    }
    vx_mutex_unlock(&c->wq.mu);

    lead(c, w, &last);

    vx_mutex_lock(&c->wq.mu);
    c->wq.head = last->next;
    if (c->wq.head == NULL)
        c->wq.tail = NULL;
    for (vx_wreq *v = w->next; v != NULL && v != last->next; v = v->next) {
        v->done = 1;
        pthread_cond_signal(&v->cv);
    }
    if (c->wq.head)
        pthread_cond_signal(&c->wq.head->cv);
    vx_mutex_unlock(&c->wq.mu);
    pthread_cond_destroy(&w->cv);
    if (w->rc != VEX_OK)
        vx_err_set(&c->err, w->rc, "%s", w->msg);
    return w->rc;
}

int vx_coll_submit(vex_collection *c, vx_wreq *w)
{
    uint64_t t0 = vx_now_ns();
    int rc = wq_submit(c, w);
    if (vx_coll_usable(c) && !VX_COLL_RO(c)) {
        vx_count(&c->met, VX_C_WRITES, 1);
        if (rc != VEX_OK)
            vx_count(&c->met, VX_C_WRITE_ERRORS, 1);
        vx_hist_time(&c->met, VX_H_WRITE, t0);
    }
    return rc;
}

/* ---------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------- */

int vx_coll_check_vec(vex_collection *c, const void *vec, const char *what,
                      size_t pos, uint64_t id, char *msg, size_t msg_size)
{
    char why[160];
    if (vx_vector_check(&c->icfg, vec, why, sizeof why) == VEX_OK)
        return VEX_OK;
    snprintf(msg, msg_size, "%s of id %llu (operation %zu): %s", what,
             (unsigned long long)id, pos, why);
    return VEX_INVALID;
}

/* Check a put's metadata (NULL: none) against the schema, if any. */
int vx_coll_check_meta(vex_collection *c, const vm_record *rec, int kind,
                       uint64_t id, size_t pos, char *msg, size_t msg_size)
{
    vex_err e;
    int rc;
    if (c->schema == NULL)
        return VEX_OK;
    vx_err_init(&e);
    rc = vx_vm_schema_check(c->schema, rec, &e);
    if (rc != VEX_OK) {
        char why[VEX_ERRMSG_MAX];
        vx_err_copy(&e, why, sizeof why);
        snprintf(msg, msg_size, "%s of id %llu (operation %zu): %.400s",
                 vx_logrec_op_name(kind), (unsigned long long)id, pos, why);
    }
    vx_err_destroy(&e);
    return rc;
}

int vx_coll_check_text(const vex_collection *c, const char *txt, size_t len,
                       const char *what, size_t pos, uint64_t id, char *msg,
                       size_t msg_size)
{
    vex_err e;
    int rc = VEX_OK;
    if (len == 0)
        return VEX_OK;
    if (!c->cfg.text)
        snprintf(msg, msg_size,
                 "%s of id %llu (operation %zu): a text of %zu bytes, but "
                 "collection \"%s\" has no text field (create it with "
                 "vex_collection_config.text = 1)",
                 what, (unsigned long long)id, pos, len, c->name);
    else if (len > VEX_MAX_TEXT)
        snprintf(msg, msg_size,
                 "%s of id %llu (operation %zu): text of %zu bytes, more than "
                 "VEX_MAX_TEXT (%u)",
                 what, (unsigned long long)id, pos, len,
                 (unsigned)VEX_MAX_TEXT);
    else if (txt == NULL)
        snprintf(msg, msg_size,
                 "%s of id %llu (operation %zu): text is NULL with length %zu",
                 what, (unsigned long long)id, pos, len);
    else {
        vx_err_init(&e);
        rc = vx_text_check_utf8(txt, len, "text", &e);
        if (rc != VEX_OK) {
            char why[VEX_ERRMSG_MAX];
            vx_err_copy(&e, why, sizeof why);
            snprintf(msg, msg_size, "%s of id %llu (operation %zu): %.400s",
                     what, (unsigned long long)id, pos, why);
        }
        vx_err_destroy(&e);
        return rc == VEX_OK ? VEX_OK : VEX_INVALID;
    }
    return VEX_INVALID;
}

int vx_coll_check_payload(const void *pay, size_t len, const char *what,
                          size_t pos, uint64_t id, char *msg, size_t msg_size)
{
    if (len > VEX_MAX_PAYLOAD)
        snprintf(msg, msg_size,
                 "%s of id %llu (operation %zu): payload of %zu bytes, more "
                 "than VEX_MAX_PAYLOAD (%u)",
                 what, (unsigned long long)id, pos, len,
                 (unsigned)VEX_MAX_PAYLOAD);
    else if (len > 0 && pay == NULL)
        snprintf(msg, msg_size,
                 "%s of id %llu (operation %zu): payload is NULL with length "
                 "%zu",
                 what, (unsigned long long)id, pos, len);
    else
        return VEX_OK;
    return VEX_INVALID;
}

static int write_one(vex_collection *c, int kind, uint64_t id, const void *vec,
                     const vex_meta *meta, const void *pay, size_t pay_len,
                     const char *txt, size_t txt_len)
{
    vx_wreq w;
    const vm_record *rec = vx_meta_record(meta);
    unsigned char stack[1024], *enc = NULL;
    size_t enc_len = 0;
    char msg[VEX_ERRMSG_MAX];
    int rc;
    if ((rc = vx_coll_writable(c, vx_logrec_op_name(kind))) != VEX_OK)
        return rc;
    if (kind != VX_OP_DELETE && kind != VX_OP_SETMETA) {
        if (vec == NULL)
            return vx_err_set(&c->err, VEX_MISUSE, "vector is NULL");
        if (vx_coll_check_vec(c, vec, vx_logrec_op_name(kind), 0, id, msg,
                              sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
        if (vx_coll_check_payload(pay, pay_len, vx_logrec_op_name(kind), 0, id,
                                  msg, sizeof msg) != VEX_OK ||
            vx_coll_check_text(c, txt, txt_len, vx_logrec_op_name(kind), 0, id,
                               msg, sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
    }
    if (kind != VX_OP_DELETE &&
        vx_coll_check_meta(c, rec, kind, id, 0, msg, sizeof msg) != VEX_OK)
        return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
    if (vx_vm_record_n_fields(rec) > 0 || kind == VX_OP_SETMETA) {
        enc_len = vx_vm_record_encoded_size(rec);
        enc = enc_len <= sizeof stack ? stack : vx_mem_alloc(c->mem, enc_len);
        if (enc == NULL)
            return vx_coll_nomem(c);
        vx_vm_record_encode(rec, enc);
    }
    if (kind == VX_OP_INSERT || kind == VX_OP_UPSERT)
        kind =
            vx_logrec_put_kind(kind == VX_OP_INSERT, enc_len, pay_len, txt_len);
    memset(&w, 0, sizeof w);
    w.n_ops = 1;
    w.one_kind = kind;
    w.one_id = id;
    w.one_vec = vec;
    w.one_meta = enc;
    w.one_meta_len = enc_len;
    w.one_pay = pay_len ? pay : NULL;
    w.one_pay_len = pay_len;
    w.one_txt = txt_len ? txt : NULL;
    w.one_txt_len = txt_len;
    rc = vx_coll_submit(c, &w);
    if (enc != stack)
        vx_mem_free(c->mem, enc);
    return rc;
}

int vex_insert(vex_collection *c, uint64_t id, const void *vector)
{
    return write_one(c, VX_OP_INSERT, id, vector, NULL, NULL, 0, NULL, 0);
}

int vex_upsert(vex_collection *c, uint64_t id, const void *vector)
{
    return write_one(c, VX_OP_UPSERT, id, vector, NULL, NULL, 0, NULL, 0);
}

int vex_delete(vex_collection *c, uint64_t id)
{
    return write_one(c, VX_OP_DELETE, id, NULL, NULL, NULL, 0, NULL, 0);
}

int vex_insert_meta(vex_collection *c, uint64_t id, const void *vector,
                    const vex_meta *meta)
{
    return write_one(c, VX_OP_INSERT, id, vector, meta, NULL, 0, NULL, 0);
}

int vex_upsert_meta(vex_collection *c, uint64_t id, const void *vector,
                    const vex_meta *meta)
{
    return write_one(c, VX_OP_UPSERT, id, vector, meta, NULL, 0, NULL, 0);
}

int vex_update_meta(vex_collection *c, uint64_t id, const vex_meta *meta)
{
    return write_one(c, VX_OP_SETMETA, id, NULL, meta, NULL, 0, NULL, 0);
}

void vex_record_init_size(vex_record *r, size_t size)
{
    vex_record full;
    if (r == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = (uint32_t)sizeof full;
    vx_abi_init(&VX_ABI_RECORD, r, size, &full);
}

void(vex_record_init)(vex_record *r)
{
    vex_record_init_size(r, VX_ABI_RECORD.ends[0]);
}

int vx_record_take(const vex_record **r, vex_record *buf, vex_err *err)
{
    int rc;
    if ((*r)->struct_size == sizeof **r)
        return VEX_OK;
    memset(buf, 0, sizeof *buf);
    if ((rc = vx_abi_in(&VX_ABI_RECORD, *r, buf, err)) != VEX_OK)
        return rc;
    *r = buf;
    return VEX_OK;
}

static int write_record(vex_collection *c, int kind, const vex_record *r)
{
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    vex_record buf;
    int rc;
    if (r == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "record is NULL");
    if ((rc = vx_record_take(&r, &buf, &c->err)) != VEX_OK)
        return rc;
    return write_one(c, kind, r->id, r->vector, r->meta, r->payload,
                     r->payload_len, r->text, r->text_len);
}

int vex_insert_record(vex_collection *c, const vex_record *r)
{
    return write_record(c, VX_OP_INSERT, r);
}

int vex_upsert_record(vex_collection *c, const vex_record *r)
{
    return write_record(c, VX_OP_UPSERT, r);
}

/* ---------------------------------------------------------------------
 * Delete by filter
 * ------------------------------------------------------------------- */

int vex_delete_where(vex_collection *c, const vex_filter *where,
                     uint64_t *n_deleted)
{
    vx_wreq w;
    int rc;
    if (n_deleted)
        *n_deleted = 0;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (where == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "delete where: the filter is NULL (to delete "
                          "every record, drop the collection)");
    if (where->db != c->db)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "delete where: the filter was compiled for a "
                          "collection of another database");
    memset(&w, 0, sizeof w);
    w.where = where;
    rc = vx_coll_submit(c, &w);
    if (rc == VEX_OK && n_deleted)
        *n_deleted = w.n_deleted;
    return rc;
}

int vex_delete_where_text(vex_collection *c, const char *where,
                          uint64_t *n_deleted)
{
    vex_filter *f = NULL;
    int rc;
    if (n_deleted)
        *n_deleted = 0;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (where == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "delete where: the filter text is NULL");
    rc = vex_filter_parse(c, where, &f);
    if (rc != VEX_OK)
        return rc;
    rc = vex_delete_where(c, f, n_deleted);
    vex_filter_free(f);
    return rc;
}
