/*
 * recovery.c - loading a collection from its directory (vx_coll_load):
 * the manifest CURRENT names (strictly: no fallback to an older one), the
 * removal of files it does not name (leftovers of interrupted flushes and
 * compactions), the segments with their deletes (headers and id/key
 * sections checked, indexes opened later), then the replay of the log
 * after flushed_seq into memtables through the write path's apply
 * (apply.c), each record checked whole before any of it is applied
 * (vx_logrec_check). The log is opened for appending last. Runs in state
 * OPENING, before the handle is shared, so it takes no locks.
 */
#include <string.h>

#include "engine/coll_int.h"
#include "engine/logrec.h"
#include "storage/segment.h"

static int seg_path_of(vex_collection *c, uint64_t number, char **out)
{
    char name[64];
    vx_seg_file_name(name, sizeof name, number);
    *out = vx_path_join(c->mem, c->dir, name);
    return *out ? VEX_OK : vx_coll_nomem(c);
}

/* One log record after flushed_seq: checked whole (engine/logrec.h),
 * then applied at its sequence number as the write path applies it. */
static int replay_record(void *ctx, uint64_t seq, const void *payload, size_t n)
{
    vex_collection *c = ctx;
    const unsigned char *p = payload;
    size_t pos;
    uint32_t n_ops, i;
    int rc;
    vx_op op;
    VX_ASSERT(vx_coll_state_now(c) == VX_COLL_OPENING);
    if (c->apply.vec_align == NULL &&
        (c->apply.vec_align = vx_mem_alloc(c->mem, c->vec_bytes)) == NULL)
        return vx_coll_nomem(c);
    rc = vx_logrec_check(p, n, &c->icfg, c->apply.vec_align, c->mem, &c->err,
                         &n_ops);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&c->err, msg, sizeof msg);
        return vx_err_set(&c->err, rc, "%s: log record %llu: %s", c->wal_dir,
                          (unsigned long long)seq, msg);
    }
    /* a full memtable is frozen, as on the write path (its flush runs
     * once the collection is open) */
    if (vx_coll_active_full(c) && (rc = vx_coll_freeze(c)) != VEX_OK)
        return rc;
    for (i = 0, pos = VX_LOGREC_HEADER; i < n_ops && rc == VEX_OK; i++) {
        pos += vx_logrec_op_decode(p + pos, n - pos, c->vec_bytes, &op);
        rc = vx_coll_apply_op(c, &op, seq);
    }
    if (rc == VEX_OK) {
        c->apply.last_seq = seq;
        c->ver.visible_seq = seq;
    }
    return rc;
}

/* Files the manifest does not reference are leftovers of interrupted
 * flushes: remove them (only segment and manifest names we made). */
typedef struct orphan_ctx {
    vex_collection *c;
    const manifest *m;
    int removed;
} orphan_ctx;

static int orphan_entry(void *arg, const char *name, int kind)
{
    orphan_ctx *o = arg;
    uint64_t num;
    int keep = 1;
    if (kind != VEX_VFS_FILE)
        return 0;
    if (vx_seg_parse_name(name, &num)) {
        keep = 0;
        for (uint32_t i = 0; i < o->m->n_segments; i++)
            if (o->m->segs[i].number == num)
                keep = 1;
    } else if (vx_manifest_parse_name(name, &num)) {
        keep = num == o->m->number;
    } else if (strcmp(name, "CURRENT.tmp") == 0) {
        keep = 0;
    }
    if (!keep) {
        char *p = vx_path_join(o->c->mem, o->c->dir, name);
        if (p == NULL)
            return vx_coll_nomem(o->c);
        if (o->c->db->vfs->methods->remove(o->c->db->vfs, p, &o->c->err) ==
            VEX_OK)
            o->removed = 1;
        vx_mem_free(o->c->mem, p);
    }
    return 0;
}

/* The segments of manifest `m`, opened, with their deletes, into a first
 * version (with one empty memtable). */
static int open_segments(vex_collection *c, const manifest *m)
{
    vseg **segs;
    memtable *mt = NULL;
    uint32_t n = 0;
    int rc = VEX_OK;
    segs =
        vx_mem_calloc(c->mem, m->n_segments ? m->n_segments : 1, sizeof *segs);
    if (segs == NULL)
        return vx_coll_nomem(c);
    for (uint32_t i = 0; i < m->n_segments && rc == VEX_OK; i++) {
        const man_segment *ms = &m->segs[i];
        vseg *g;
        char *path;
        uint64_t key;
        if ((rc = seg_path_of(c, ms->number, &path)) != VEX_OK)
            break;
        rc = vx_vseg_open(c->db->vfs, path, ms->number, c->mem, c->db->pool,
                          c->db->mcache, &c->err, &g);
        vx_mem_free(c->mem, path);
        if (rc != VEX_OK)
            break;
        segs[n++] = g;
        if (g->info.n_rows != ms->n_rows ||
            g->info.file_size != ms->file_size || g->info.dim != c->cfg.dim ||
            g->info.elem != c->cfg.elem || g->info.metric != c->cfg.metric) {
            rc = vx_err_set(&c->err, VEX_CORRUPT,
                            "%s: holds %llu rows of dim %u in %llu bytes; "
                            "the manifest says %llu rows of dim %u in %llu",
                            vx_seg_path(g->s),
                            (unsigned long long)g->info.n_rows, g->info.dim,
                            (unsigned long long)g->info.file_size,
                            (unsigned long long)ms->n_rows, c->cfg.dim,
                            (unsigned long long)ms->file_size);
            break;
        }
        for (uint64_t j = 0; j < ms->n_deleted && rc == VEX_OK; j++) {
            if (!vx_seg_find(g->s, ms->deleted[j], &key))
                rc = vx_err_set(&c->err, VEX_CORRUPT,
                                "MANIFEST-%016llx: deleted id %llu is not "
                                "in %s",
                                (unsigned long long)m->number,
                                (unsigned long long)ms->deleted[j],
                                vx_seg_path(g->s));
            else if (vx_vseg_delete(g, key, 1) != VEX_OK)
                rc = vx_coll_nomem(c);
        }
        atomic_fetch_add(&c->counts.n_live, ms->n_rows - ms->n_deleted);
    }
    if (rc == VEX_OK)
        rc = vx_coll_memtable_new(c, &mt);
    if (rc == VEX_OK)
        rc = vx_coll_version_from(c, &mt, 1, segs, n, &c->ver.cur);
    vx_mt_unref(mt);
    for (uint32_t i = 0; i < n; i++)
        vx_vseg_unref(segs[i]);
    vx_mem_free(c->mem, segs);
    return rc;
}

/* The manifest's schema blob: decoded strictly, kept for the next
 * manifests, and the public view built (names NUL-terminated). */
static int load_schema(vex_collection *c, manifest *m)
{
    const vm_schema_field *f;
    size_t n, bytes = 0;
    char *p;
    int rc = vx_vm_schema_decode(m->schema, m->schema_len, c->mem, &c->err,
                                 &c->schema);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&c->err, msg, sizeof msg);
        return vx_err_set(&c->err, rc, "%s: manifest %llu: %s", c->dir,
                          (unsigned long long)m->number, msg);
    }
    c->schema_blob = m->schema; /* taken over */
    c->schema_len = m->schema_len;
    m->schema = NULL;
    m->schema_len = 0;
    n = vx_vm_schema_n_fields(c->schema);
    f = vx_vm_schema_fields(c->schema);
    for (size_t i = 0; i < n; i++)
        bytes += f[i].name.len + 1;
    c->schema_pub = vx_mem_calloc(c->mem, n ? n : 1, sizeof *c->schema_pub);
    c->schema_names = vx_mem_alloc(c->mem, bytes ? bytes : 1);
    if (c->schema_pub == NULL || c->schema_names == NULL)
        return vx_coll_nomem(c);
    for (size_t i = 0, at = 0; i < n; i++) {
        p = c->schema_names + at;
        memcpy(p, f[i].name.p, f[i].name.len);
        p[f[i].name.len] = '\0';
        at += f[i].name.len + 1;
        c->schema_pub[i].name = p;
        c->schema_pub[i].type = (vex_type)f[i].type;
        c->schema_pub[i].nullable = f[i].nullable;
    }
    return VEX_OK;
}

int vx_coll_load(vex_collection *c)
{
    manifest m;
    wal_options wo;
    wal_replay_stats st;
    orphan_ctx oc;
    int rc;

    memset(&m, 0, sizeof m);
    rc = vx_manifest_load(c->db->vfs, c->dir, c->mem, &c->err, &m);
    if (rc == VEX_NOTFOUND)
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: a collection directory without CURRENT", c->dir);
    if (rc != VEX_OK)
        goto out;
    if (strcmp(m.config.name, c->name) != 0) {
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: the manifest names collection \"%s\"", c->dir,
                        m.config.name);
        goto out;
    }
    c->cfg = m.config;
    c->icfg.elem = (vex_elem)c->cfg.elem;
    c->icfg.metric = (vex_metric)c->cfg.metric;
    c->icfg.dim = c->cfg.dim;
    c->vec_bytes = vex_vector_size(c->icfg.elem, c->icfg.dim);
    c->icfg.vec_bytes = c->vec_bytes;
    if (c->vec_bytes == 0 || (c->cfg.index_kind != VEX_INDEX_FLAT &&
                              c->cfg.index_kind != VEX_INDEX_HNSW)) {
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: manifest configuration is invalid", c->dir);
        goto out;
    }
    c->lead.vecbuf = vx_mem_alloc(c->mem, c->vec_bytes);
    if (c->lead.vecbuf == NULL) {
        rc = vx_coll_nomem(c);
        goto out;
    }
    if (m.schema_len && (rc = load_schema(c, &m)) != VEX_OK)
        goto out;
    c->apply.manifest_no = m.number;
    c->apply.next_file = m.next_file;
    atomic_store(&c->apply.flushed_seq, m.flushed_seq);
    c->apply.last_seq = c->ver.visible_seq = m.flushed_seq;
    oc.c = c;
    oc.m = &m;
    oc.removed = 0;
    rc = c->db->vfs->methods->list(c->db->vfs, c->dir, orphan_entry, &oc,
                                   &c->err);
    if (rc == VEX_OK && oc.removed)
        rc = c->db->vfs->methods->sync_dir(c->db->vfs, c->dir, &c->err);
    if (rc == VEX_OK)
        rc = open_segments(c, &m);
    if (rc != VEX_OK)
        goto out;
    rc = vx_wal_replay(c->db->vfs, c->wal_dir, c->apply.flushed_seq + 1,
                       replay_record, c, c->db->opts.allocator, &c->err, &st);
    if (rc != VEX_OK)
        goto out;
    if (st.n_records > 0 && st.next_seq <= c->apply.flushed_seq) {
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: the log ends at record %llu but the manifest "
                        "says records up to %llu are in segments",
                        c->wal_dir, (unsigned long long)st.next_seq - 1,
                        (unsigned long long)c->apply.flushed_seq);
        goto out;
    }
    vx_wal_options_init(&wo);
    wo.max_file_bytes = c->db->opts.wal_file_bytes;
    wo.durability = c->db->opts.durability == VEX_DURABILITY_NONE
                        ? WAL_DURABILITY_NONE
                        : WAL_DURABILITY_FULL;
    rc = vx_wal_open(c->db->vfs, c->wal_dir, &wo, c->db->opts.allocator,
                     &c->err, &c->w);
    if (rc != VEX_OK)
        goto out;
    if (vx_wal_next_seq(c->w) <= c->apply.flushed_seq) {
        /* a log that restarts below the manifest's position would have
         * its records skipped by the next replay */
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: the log starts again at record %llu but the "
                        "manifest says records up to %llu are in segments",
                        c->wal_dir, (unsigned long long)vx_wal_next_seq(c->w),
                        (unsigned long long)c->apply.flushed_seq);
        goto out;
    }
out:
    vx_manifest_free(&m, c->mem);
    return rc;
}
