/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bulk.c - vex_insert_many / vex_upsert_many: n records from arrays
 * (ids, an n x dim vector array, optional metadata handles and payloads)
 * written in as few log records as the batch limit allows.
 *
 * Two passes. The first checks everything in the caller's thread before
 * anything is written: each vector, payload and metadata record (against
 * the schema), and for inserts an id repeated within the call or already
 * present in a snapshot. The second encodes the records in order into
 * chunks of at most VX_BATCH_MAX_BYTES of operations (the log encoding,
 * engine/logrec.h, as a vex_batch holds them) and commits each chunk as
 * one request of the writer queue: each chunk is atomic and durable, the
 * call as a whole is not, and *n_done says how many records the chunks
 * committed before a failure. The leader re-checks every chunk (a
 * concurrent writer may have inserted an id since the first pass).
 *
 * Rejected: one log record for the whole call (a call may hold gigabytes:
 * the log caps a record at 64 MiB and a group at 32 MiB, and a record is
 * applied under the apply lock, which would stall every other writer for
 * the whole load); committing per record (one fsync each, the loop the
 * caller could write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/logrec.h"
#include "engine/meta_api.h"
#include "meta/value.h"
#include "storage/source.h"

typedef struct idx_id {
    uint64_t id;
    size_t i;
} idx_id;

static int cmp_idx_id(const void *a, const void *b)
{
    const idx_id *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Inserts: no id twice in the call, none present now. */
static int check_ids(vex_collection *c, size_t n, const uint64_t *ids)
{
    idx_id *v = vx_mem_alloc(c->mem, n * sizeof *v);
    vx_snap s;
    int rc = VEX_OK;
    if (v == NULL)
        return vx_coll_nomem(c);
    for (size_t i = 0; i < n; i++) {
        v[i].id = ids[i];
        v[i].i = i;
    }
    qsort(v, n, sizeof *v, cmp_idx_id);
    for (size_t i = 1; i < n && rc == VEX_OK; i++)
        if (v[i].id == v[i - 1].id)
            rc = vx_err_set(&c->err, VEX_INVALID,
                            "insert of id %llu (operation %zu): the id is "
                            "also record %zu of the same call",
                            (unsigned long long)v[i].id, v[i].i, v[i - 1].i);
    vx_mem_free(c->mem, v);
    if (rc != VEX_OK)
        return rc;
    vx_coll_snap_take(c, &s);
    for (size_t i = 0; i < n && rc == VEX_OK; i++) {
        uint64_t ref;
        for (uint32_t j = 0; j < s.v->n_src; j++) {
            const vx_source *src = &s.v->src[j];
            if (src->m->find(src->self, ids[i], s.seq, &ref)) {
                rc = vx_err_set(&c->err, VEX_EXISTS,
                                "insert of id %llu (operation %zu): the id "
                                "exists",
                                (unsigned long long)ids[i], i);
                break;
            }
        }
    }
    vx_coll_snap_drop(&s);
    return rc;
}

/* Record i's operation: its kind and encoded size (metadata size in
 * *meta_len). */
static size_t op_bytes(const vex_collection *c, int insert,
                       const vex_meta *meta, size_t pay_len, size_t txt_len,
                       int *kind, size_t *meta_len)
{
    const vm_record *rec = vx_meta_record(meta);
    *meta_len =
        vx_vm_record_n_fields(rec) > 0 ? vx_vm_record_encoded_size(rec) : 0;
    *kind = vx_logrec_put_kind(insert, *meta_len, pay_len, txt_len);
    return vx_logrec_op_size(c->vec_bytes, *kind, *meta_len, pay_len, txt_len);
}

/* The first pass: every record valid; *max_chunk the largest chunk's
 * size (the buffer the second pass needs). */
static int check_all(vex_collection *c, int insert, size_t n,
                     const uint64_t *ids, const unsigned char *vecs,
                     const vex_meta *const *metas, const vex_payload *pays,
                     const vex_payload *txts, size_t *max_chunk)
{
    const char *what = insert ? "insert" : "upsert";
    char msg[VEX_ERRMSG_MAX];
    size_t chunk = 0;
    *max_chunk = 0;
    for (size_t i = 0; i < n; i++) {
        const vex_meta *meta = metas ? metas[i] : NULL;
        size_t pl = pays ? pays[i].len : 0, ml, need;
        size_t tl = txts ? txts[i].len : 0;
        int kind;
        if (vx_coll_check_vec(c, vecs + i * c->vec_bytes, what, i, ids[i], msg,
                              sizeof msg) != VEX_OK ||
            (pays && vx_coll_check_payload(pays[i].data, pl, what, i, ids[i],
                                           msg, sizeof msg) != VEX_OK) ||
            (txts && vx_coll_check_text(c, txts[i].data, tl, what, i, ids[i],
                                        msg, sizeof msg) != VEX_OK))
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
        if (vx_coll_check_meta(c, vx_meta_record(meta),
                               insert ? VX_OP_INSERT : VX_OP_UPSERT, ids[i], i,
                               msg, sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
        need = op_bytes(c, insert, meta, pl, tl, &kind, &ml);
        if (chunk + need > VX_BATCH_MAX_BYTES)
            chunk = 0;
        chunk += need;
        if (chunk > *max_chunk)
            *max_chunk = chunk;
    }
    return insert ? check_ids(c, n, ids) : VEX_OK;
}

static int many(vex_collection *c, int insert, size_t n, const uint64_t *ids,
                const void *vectors, const vex_meta *const *metas,
                const vex_payload *pays, const vex_payload *txts,
                size_t *n_done)
{
    const unsigned char *vecs = vectors;
    unsigned char *buf = NULL;
    size_t cap, i = 0;
    int rc;
    if (n_done)
        *n_done = 0;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (n == 0)
        return VEX_OK;
    if (ids == NULL || vectors == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "%s is NULL for %zu records",
                          ids == NULL ? "ids" : "vectors", n);
    rc = check_all(c, insert, n, ids, vecs, metas, pays, txts, &cap);
    if (rc != VEX_OK)
        return rc;
    buf = vx_mem_alloc(c->mem, cap);
    if (buf == NULL)
        return vx_coll_nomem(c);
    while (i < n && rc == VEX_OK) {
        size_t len = 0, first = i;
        vx_wreq w;
        for (; i < n; i++) {
            const vex_meta *meta = metas ? metas[i] : NULL;
            size_t pl = pays ? pays[i].len : 0, ml, need;
            size_t tl = txts ? txts[i].len : 0;
            vx_op op;
            need = op_bytes(c, insert, meta, pl, tl, &op.kind, &ml);
            if (len + need > cap)
                break;
            op.id = ids[i];
            op.vec = vecs + i * c->vec_bytes;
            op.meta = NULL; /* encoded in place below */
            op.meta_len = ml;
            op.pay = pl ? pays[i].data : NULL;
            op.pay_len = pl;
            op.txt = tl ? txts[i].data : NULL;
            op.txt_len = tl;
            vx_logrec_op_encode(buf + len, &op, c->vec_bytes);
            if (ml)
                vx_vm_record_encode(vx_meta_record(meta),
                                    buf + len + need - ml - pl - tl);
            len += need;
        }
        memset(&w, 0, sizeof w);
        w.ops = buf;
        w.ops_len = len;
        w.n_ops = i - first;
        rc = vx_coll_submit(c, &w);
        if (rc == VEX_OK && n_done)
            *n_done = i;
    }
    vx_mem_free(c->mem, buf);
    return rc;
}

int vex_insert_many(vex_collection *c, size_t n, const uint64_t *ids,
                    const void *vectors, const vex_meta *const *metas,
                    const vex_payload *payloads, size_t *n_done)
{
    return many(c, 1, n, ids, vectors, metas, payloads, NULL, n_done);
}

int vex_upsert_many(vex_collection *c, size_t n, const uint64_t *ids,
                    const void *vectors, const vex_meta *const *metas,
                    const vex_payload *payloads, size_t *n_done)
{
    return many(c, 0, n, ids, vectors, metas, payloads, NULL, n_done);
}

int vex_insert_many_text(vex_collection *c, size_t n, const uint64_t *ids,
                         const void *vectors, const vex_meta *const *metas,
                         const vex_payload *payloads, const vex_payload *texts,
                         size_t *n_done)
{
    return many(c, 1, n, ids, vectors, metas, payloads, texts, n_done);
}

int vex_upsert_many_text(vex_collection *c, size_t n, const uint64_t *ids,
                         const void *vectors, const vex_meta *const *metas,
                         const vex_payload *payloads, const vex_payload *texts,
                         size_t *n_done)
{
    return many(c, 0, n, ids, vectors, metas, payloads, texts, n_done);
}
