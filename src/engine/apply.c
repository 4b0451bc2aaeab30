/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apply.c - applying logged operations to a collection's rows: a put
 * appends a row to the active memtable and ends the id's previous row
 * wherever it lives (end_seq in a memtable, a delete sequence in a
 * segment); a delete ends it. The write leader runs this with apply.mu
 * held on exactly what it logged, and recovery runs it on replayed
 * records before the handle is shared (state OPENING), so both take the
 * same path (invariant 2 of collection.c).
 */
#include <string.h>

#include "engine/coll_int.h"
#include "engine/logrec.h"
#include "meta/value.h"
#include "storage/segment.h"

/* Whether `id` has a live row now. */
int vx_coll_has_id(const vex_collection *c, uint64_t id)
{
    const version *v = c->ver.cur;
    uint64_t key;
    VX_ASSERT_APPLY(c);
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_live(v->mts[i], id))
            return 1;
    for (uint32_t i = v->n_segs; i-- > 0;)
        if (vx_vseg_live(v->segs[i], id, &key))
            return 1;
    return 0;
}

/* End the live row of `id` at `seq` wherever it is, the active memtable
 * excepted when `skip_active`. *ended = 1 when there was one. */
static int end_row(vex_collection *c, uint64_t id, uint64_t seq,
                   int skip_active, int *ended)
{
    version *v = c->ver.cur;
    uint64_t key;
    *ended = 0;
    for (uint32_t i = v->n_mts - (skip_active ? 1 : 0); i-- > 0;)
        if (vx_mt_delete(v->mts[i], id, seq)) {
            *ended = 1;
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;)
        if (vx_vseg_live(v->segs[i], id, &key)) {
            *ended = 1;
            if (vx_vseg_delete(v->segs[i], key, seq) != VEX_OK)
                return vx_coll_nomem(c);
            return VEX_OK;
        }
    return VEX_OK;
}

/* The vector, payload and text of the live row of `id` (leader,
 * apply.mu held), for a metadata-only update: the vector copied into
 * c->lead.vecbuf, the payload and text pointing into the source (valid
 * while the apply lock keeps the version; NULL and 0 when it has none): the row
 * the apply-lock holder sees, i.e. visible at the largest sequence number
 * (ended or deleted at any sequence counts as gone). VEX_NOTFOUND when there is
 * none. `vec` may be NULL (payload only). */
int vx_coll_live_row(vex_collection *c, uint64_t id, const void **vec,
                     const unsigned char **pay, size_t *pay_len,
                     const char **txt, size_t *txt_len)
{
    const version *v = c->ver.cur;
    uint64_t ref;
    VX_ASSERT_HELD(&c->apply.mu);
    *pay = NULL;
    *pay_len = 0;
    *txt = NULL;
    *txt_len = 0;
    for (uint32_t i = 0; i < v->n_src; i++) {
        const vx_source *src = &v->src[i];
        const void *p = NULL;
        int rc = VEX_OK;
        if (!src->m->find(src->self, id, UINT64_MAX - 1, &ref))
            continue;
        if (vec) {
            rc = src->m->vector(src->self, ref, c->lead.vecbuf, &c->err);
            *vec = c->lead.vecbuf;
        }
        if (rc == VEX_OK)
            rc = src->m->payload(src->self, ref, &p, pay_len, &c->err);
        *pay = p;
        if (rc == VEX_OK)
            rc = src->m->text(src->self, ref, txt, txt_len, &c->err);
        return rc;
    }
    return vx_err_set(&c->err, VEX_NOTFOUND,
                      "metadata update of id %llu: no such id",
                      (unsigned long long)id);
}

/* `vec` as the float kernels may read it: a vector inside a log record
 * that follows variable-length metadata can sit at any byte offset, so
 * such a vector is copied to c->apply.vec_align (NULL: out of memory). */
const void *vx_coll_vec_aligned(vex_collection *c, const void *vec)
{
    if ((uintptr_t)vec % sizeof(float) == 0)
        return vec;
    if (c->apply.vec_align == NULL &&
        (c->apply.vec_align = vx_mem_alloc(c->mem, c->vec_bytes)) == NULL)
        return NULL;
    memcpy(c->apply.vec_align, vec, c->vec_bytes);
    return c->apply.vec_align;
}

int vx_coll_apply_op(vex_collection *c, const vx_op *op, uint64_t seq)
{
    memtable *a = version_active(c->ver.cur);
    vm_record *rec = NULL;
    uint64_t id = op->id;
    const void *vec = op->vec;
    int rc, ended = 0, ended_here = 0;
    VX_ASSERT_APPLY(c);
    VX_ASSERT(seq > 0);
    if (op->kind == VX_OP_DELETE) {
        rc = end_row(c, id, seq, 0, &ended);
        if (ended)
            atomic_fetch_sub(&c->counts.n_live, 1);
        return rc;
    }
    if (vec == NULL) /* VX_OP_SETMETA is logged as a put */
        return vx_err_set(&c->err, VEX_INTERNAL,
                          "operation %d on id %llu has no vector", op->kind,
                          (unsigned long long)id);
    if (op->txt_len > 0 && !c->cfg.text)
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s of id %llu carries a text but the collection "
                          "has no text field",
                          vx_logrec_op_name(op->kind), (unsigned long long)id);
    if ((vec = vx_coll_vec_aligned(c, vec)) == NULL)
        return vx_coll_nomem(c);
    if (op->meta_len > 0) {
        rc = vx_vm_record_decode(op->meta, op->meta_len, c->mem, &c->err, &rec);
        if (rc != VEX_OK)
            return rc;
        if (vx_vm_record_n_fields(rec) == 0) {
            vx_vm_record_free(rec, c->mem); /* no fields: store none */
            rec = NULL;
        }
    }
    if (!vx_mt_live(a, id)) {
        rc = end_row(c, id, seq, 1, &ended);
        if (rc != VEX_OK) {
            vx_vm_record_free(rec, c->mem);
            return rc;
        }
    }
    rc = vx_mt_put(a, id, vec, rec, op->pay, op->pay_len, op->txt, op->txt_len,
                   seq, &ended_here);
    if (rc != VEX_OK) {
        vx_vm_record_free(rec, c->mem);
        return vx_err_set(&c->err, rc, "memtable: out of memory");
    }
    if (!ended && !ended_here)
        atomic_fetch_add(&c->counts.n_live, 1);
    return VEX_OK;
}
