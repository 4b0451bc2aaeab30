/* SPDX-License-Identifier: Apache-2.0 */
/*
 * batch.c - vex_batch: operations encoded ahead of a commit, in the log
 * record encoding (engine/logrec.h), so that a commit checks them in the
 * caller's thread and hands the bytes to the writer queue as they are.
 * A batch is bounded by VX_BATCH_MAX_BYTES of log record (metadata-only
 * updates count with the vector the leader adds to them; the payload it
 * adds too is only known at commit, where an oversized record is
 * VEX_FULL). A batch has its own message (vex_batch_errmsg), set by each
 * failed call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/logrec.h"
#include "text/text.h"
#include "engine/meta_api.h"
#include "meta/value.h"
#include "util/endian.h"

struct vex_batch {
    vex_mem mem;
    size_t vec_bytes;
    unsigned char *buf;
    size_t len, cap, n;
    size_t logged; /* len plus the vector of every metadata-only update,
                      which the log record carries (bounded by
                      VX_BATCH_MAX_BYTES) */
    char msg[VEX_ERRMSG_MAX];
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
batch_fail(vex_batch *b, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof b->msg, fmt, ap);
    va_end(ap);
    return rc;
}

const char *vex_batch_errmsg(const vex_batch *b)
{
    return b ? b->msg : "batch is NULL";
}

int vex_batch_create(size_t vector_size, const vex_allocator *alloc,
                     vex_batch **out)
{
    vex_mem mem;
    vex_batch *b;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vector_size == 0 || vector_size > (size_t)VEX_MAX_DIM * 4)
        return VEX_INVALID;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    b = vx_mem_calloc(&mem, 1, sizeof *b);
    if (b == NULL)
        return VEX_NOMEM;
    b->mem = mem;
    b->vec_bytes = vector_size;
    *out = b;
    return VEX_OK;
}

void vex_batch_free(vex_batch *b)
{
    vex_mem mem;
    if (b == NULL)
        return;
    mem = b->mem;
    vx_mem_free(&mem, b->buf);
    vx_mem_free(&mem, b);
}

size_t vex_batch_count(const vex_batch *b)
{
    return b ? b->n : 0;
}

void vex_batch_clear(vex_batch *b)
{
    if (b) {
        b->len = 0;
        b->logged = 0;
        b->n = 0;
    }
}

static int batch_add(vex_batch *b, int kind, uint64_t id, const void *vec,
                     const vex_meta *meta, const void *pay, size_t pay_len,
                     const char *txt, size_t txt_len)
{
    const vm_record *rec = vx_meta_record(meta);
    size_t need, meta_len = 0, extra;
    vx_op op;
    char msg[VEX_ERRMSG_MAX];
    if (b == NULL)
        return VEX_MISUSE;
    b->msg[0] = '\0';
    if (vx_logrec_kind_has_vec(kind) && vec == NULL)
        return batch_fail(b, VEX_MISUSE, "%s of id %llu: vector is NULL",
                          vx_logrec_op_name(kind), (unsigned long long)id);
    if (vx_coll_check_payload(pay, pay_len, vx_logrec_op_name(kind), b->n, id,
                              msg, sizeof msg) != VEX_OK)
        return batch_fail(b, VEX_INVALID, "%s", msg);
    if (txt_len > VEX_MAX_TEXT || (txt_len && txt == NULL))
        return batch_fail(b, VEX_INVALID,
                          "%s of id %llu (operation %zu): text of %zu bytes "
                          "at %p (at most VEX_MAX_TEXT, %u, not NULL)",
                          vx_logrec_op_name(kind), (unsigned long long)id, b->n,
                          txt_len, (const void *)txt, (unsigned)VEX_MAX_TEXT);
    if (txt_len) {
        vex_err e;
        int rc;
        vx_err_init(&e);
        rc = vx_text_check_utf8(txt, txt_len, "text", &e);
        if (rc != VEX_OK) {
            vx_err_copy(&e, msg, sizeof msg);
            vx_err_destroy(&e);
            return batch_fail(
                b, VEX_INVALID, "%s of id %llu (operation %zu): %s",
                vx_logrec_op_name(kind), (unsigned long long)id, b->n, msg);
        }
        vx_err_destroy(&e);
    }
    if (vx_vm_record_n_fields(rec) > 0 || kind == VX_OP_SETMETA)
        meta_len = vx_vm_record_encoded_size(rec);
    if (kind == VX_OP_INSERT || kind == VX_OP_UPSERT)
        kind = vx_logrec_put_kind(kind == VX_OP_INSERT, meta_len, pay_len,
                                  txt_len);
    need = vx_logrec_op_size(b->vec_bytes, kind, meta_len, pay_len, txt_len);
    extra = kind == VX_OP_SETMETA ? b->vec_bytes : 0;
    if (b->logged + need + extra > VX_BATCH_MAX_BYTES)
        return batch_fail(
            b, VEX_FULL,
            "batch is full: %zu operations take %zu of its %zu bytes and "
            "this %s of id %llu needs %zu more; commit it and start "
            "another, or use vex_insert_many",
            b->n, b->logged, (size_t)VX_BATCH_MAX_BYTES,
            vx_logrec_op_name(kind), (unsigned long long)id, need + extra);
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *p;
        while (cap < b->len + need)
            cap *= 2;
        p = vx_mem_realloc(&b->mem, b->buf, cap);
        if (p == NULL)
            return batch_fail(b, VEX_NOMEM, "out of memory (%zu bytes)", cap);
        b->buf = p;
        b->cap = cap;
    }
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.id = id;
    op.vec = vec;
    op.meta_len = meta_len;
    op.pay = pay;
    op.pay_len = pay_len;
    op.txt = txt;
    op.txt_len = txt_len;
    vx_logrec_op_encode(b->buf + b->len, &op, b->vec_bytes);
    if (meta_len) {
        size_t at = need - meta_len -
                    (vx_logrec_kind_has_payload(kind) ? pay_len : 0) -
                    (vx_logrec_kind_has_text(kind) ? txt_len : 0);
        vx_vm_record_encode(rec, b->buf + b->len + at);
    }
    b->len += need;
    b->logged += need + extra;
    b->n++;
    return VEX_OK;
}

int vex_batch_insert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, VX_OP_INSERT, id, vector, NULL, NULL, 0, NULL, 0);
}

int vex_batch_upsert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, VX_OP_UPSERT, id, vector, NULL, NULL, 0, NULL, 0);
}

int vex_batch_delete(vex_batch *b, uint64_t id)
{
    return batch_add(b, VX_OP_DELETE, id, NULL, NULL, NULL, 0, NULL, 0);
}

int vex_batch_insert_meta(vex_batch *b, uint64_t id, const void *vector,
                          const vex_meta *meta)
{
    return batch_add(b, VX_OP_INSERT, id, vector, meta, NULL, 0, NULL, 0);
}

int vex_batch_upsert_meta(vex_batch *b, uint64_t id, const void *vector,
                          const vex_meta *meta)
{
    return batch_add(b, VX_OP_UPSERT, id, vector, meta, NULL, 0, NULL, 0);
}

int vex_batch_update_meta(vex_batch *b, uint64_t id, const vex_meta *meta)
{
    return batch_add(b, VX_OP_SETMETA, id, NULL, meta, NULL, 0, NULL, 0);
}

static int batch_record(vex_batch *b, int kind, const vex_record *r)
{
    if (b == NULL)
        return VEX_MISUSE;
    vex_record buf;
    if (r == NULL)
        return batch_fail(b, VEX_MISUSE, "record is NULL");
    if (vx_record_take(&r, &buf, NULL) != VEX_OK)
        return batch_fail(b, VEX_MISUSE,
                          "record.struct_size is %u, not a vex_record of "
                          "this library or an older one (call "
                          "vex_record_init)",
                          r->struct_size);
    return batch_add(b, kind, r->id, r->vector, r->meta, r->payload,
                     r->payload_len, r->text, r->text_len);
}

int vex_batch_insert_record(vex_batch *b, const vex_record *r)
{
    return batch_record(b, VX_OP_INSERT, r);
}

int vex_batch_upsert_record(vex_batch *b, const vex_record *r)
{
    return batch_record(b, VX_OP_UPSERT, r);
}

int vex_batch_commit(vex_collection *c, const vex_batch *b)
{
    vx_wreq w;
    size_t pos = 0, i = 0, n_setmeta = 0;
    int wrc;
    if ((wrc = vx_coll_writable(c, "batch commit")) != VEX_OK)
        return wrc;
    if (b == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "batch is NULL");
    if (b->vec_bytes != c->vec_bytes)
        return vx_err_set(&c->err, VEX_INVALID,
                          "the batch holds vectors of %zu bytes, the "
                          "collection's have %zu",
                          b->vec_bytes, c->vec_bytes);
    if (b->n == 0)
        return VEX_OK;
    /* vectors and metadata are checked here, in the caller's thread */
    while (pos < b->len) {
        int kind, rc = VEX_OK;
        uint64_t id;
        vx_op op;
        const void *vec;
        const unsigned char *meta;
        size_t meta_len;
        char msg[VEX_ERRMSG_MAX];
        pos +=
            vx_logrec_op_decode(b->buf + pos, b->len - pos, c->vec_bytes, &op);
        kind = op.kind;
        id = op.id;
        vec = op.vec;
        meta = op.meta;
        meta_len = op.meta_len;
        if ((vx_logrec_kind_has_vec(kind) &&
             vx_coll_check_vec(c, vec, vx_logrec_op_name(kind), i, id, msg,
                               sizeof msg) != VEX_OK) ||
            vx_coll_check_text(c, op.txt, op.txt_len, vx_logrec_op_name(kind),
                               i, id, msg, sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
        if (kind != VX_OP_DELETE && c->schema) {
            vm_record *rec = NULL;
            if (meta_len)
                rc = vx_vm_record_decode(meta, meta_len, c->mem, &c->err, &rec);
            if (rc == VEX_OK)
                rc = vx_coll_check_meta(c, rec, kind, id, i, msg, sizeof msg);
            vx_vm_record_free(rec, c->mem);
            if (rc != VEX_OK)
                return vx_err_set(&c->err, rc, "%s", msg);
        }
        n_setmeta += kind == VX_OP_SETMETA;
        i++;
    }
    memset(&w, 0, sizeof w);
    w.ops = b->buf;
    w.ops_len = b->len;
    w.n_ops = b->n;
    w.n_setmeta = n_setmeta;
    return vx_coll_submit(c, &w);
}
