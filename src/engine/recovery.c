/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recovery.c - loading a collection from its directory (vx_coll_load):
 * the manifest CURRENT names (strictly: no fallback to an older one), the
 * removal of files it does not name (leftovers of interrupted flushes and
 * compactions), the segments with their deletes (headers and id/key
 * sections checked, indexes opened later), then the replay of the log
 * after flushed_seq into memtables through the write path's apply
 * (apply.c), each record checked whole before any of it is applied
 * (vx_logrec_check). The log is opened for appending last. Runs in state
 * OPENING, before the handle is shared, so it takes no locks. A
 * read-only database loads instead a snapshot that writes nothing and
 * copes with a writer in another process (the second half of this file,
 * with vex_collection_refresh).
 */
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/jobs.h"
#include "engine/logrec.h"
#include "meta/column.h"
#include "storage/segment.h"

static int seg_path_of(vex_collection *c, uint64_t number, char **out)
{
    char name[64];
    vx_seg_file_name(name, sizeof name, number);
    *out = vx_path_join(c->mem, c->dir, name);
    return *out ? VEX_OK : vx_coll_nomem(c);
}

/* What replay_record returns to end a replay at apply.stop_seq (not a
 * status code). */
#define VX_REPLAY_STOP 1000

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
    VX_ASSERT_APPLY(c);
    if (c->apply.stop_seq && seq >= c->apply.stop_seq)
        return VX_REPLAY_STOP; /* past the version's point in time */
    if (VX_COLL_RO(c) && seq != c->apply.last_seq + 1)
        /* a reader racing a writer that dropped log files after a newer
         * manifest (the caller then retries from CURRENT), or a log that
         * lost records */
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s: the log continues at record %llu, but the "
                          "snapshot being read ends at record %llu",
                          c->wal_dir, (unsigned long long)seq,
                          (unsigned long long)c->apply.last_seq);
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
        vx_mutex_lock(&c->ver.mu); /* V1, as the write path's publish */
        c->ver.visible_seq = seq;
        vx_mutex_unlock(&c->ver.mu);
    } else if (vx_coll_state_now(c) != VX_COLL_OPENING) {
        c->apply.ro_stale = 1; /* part of a record may be applied */
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
        /* and the segments of the versions kept for point-in-time reads */
        for (uint32_t k = 0; k < o->c->keep.n && !keep; k++)
            for (uint32_t i = 0; i < o->c->keep.v[k].n_segs; i++)
                if (o->c->keep.v[k].segs[i] == num)
                    keep = 1;
    } else if (vx_manifest_parse_name(name, &num)) {
        keep = num == o->m->number;
        for (uint32_t k = 0; k < o->c->keep.n && !keep; k++)
            keep = o->c->keep.v[k].number == num;
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
        vseg_env env = {c->db->mcache, &c->db->dann_budget};
        rc = vx_vseg_open(c->db->vfs, path, ms->number, c->mem, c->db->pool,
                          &env, &c->err, &g);
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
        if (vx_seg_postings(g->s) &&
            (!c->cfg.text ||
             vx_post_analyzer(vx_seg_postings(g->s)).stemmer !=
                 c->analyzer.stemmer ||
             vx_post_analyzer(vx_seg_postings(g->s)).stopwords !=
                 c->analyzer.stopwords)) {
            rc = vx_err_set(&c->err, VEX_CORRUPT,
                            "%s: its text postings were not analysed as "
                            "the collection analyses texts (%s)",
                            vx_seg_path(g->s),
                            c->cfg.text ? "another stemmer or stop-word list"
                                        : "it has no text field");
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

/* The collection's identity from its manifest: the configuration, the
 * sizes derived from it and the schema (set once, at open). */
static int load_identity(vex_collection *c, manifest *m)
{
    if (strcmp(m->config.name, c->name) != 0)
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s: the manifest names collection \"%s\"", c->dir,
                          m->config.name);
    c->cfg = m->config;
    c->icfg.elem = (vex_elem)c->cfg.elem;
    c->icfg.metric = (vex_metric)c->cfg.metric;
    c->icfg.dim = c->cfg.dim;
    c->vec_bytes = vex_vector_size(c->icfg.elem, c->icfg.dim);
    c->icfg.vec_bytes = c->vec_bytes;
    c->analyzer.stemmer =
        c->cfg.text_stemmer ? (uint8_t)VT_STEM_PORTER : (uint8_t)VT_STEM_NONE;
    c->analyzer.stopwords = c->cfg.text_stopwords ? (uint8_t)VT_STOP_ENGLISH
                                                  : (uint8_t)VT_STOP_NONE;
    if (c->vec_bytes == 0 || (c->cfg.index_kind != VEX_INDEX_FLAT &&
                              c->cfg.index_kind != VEX_INDEX_HNSW))
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s: manifest configuration is invalid", c->dir);
    /* refused here, by name, rather than at the first metadata read */
    if (c->cfg.compression == VEX_COMPRESS_ZSTD && !vx_vm_colset_zstd())
        return vx_err_set(&c->err, VEX_UNSUPPORTED,
                          "collection \"%s\" compresses its metadata with "
                          "zstd (VEX_COMPRESS_ZSTD), and this library was "
                          "built without zstd: rebuild it with zstd "
                          "(libzstd-dev) to open this collection",
                          c->name);
    c->lead.vecbuf = vx_mem_alloc(c->mem, c->vec_bytes);
    if (c->lead.vecbuf == NULL)
        return vx_coll_nomem(c);
    if (m->schema_len)
        return load_schema(c, m);
    return VEX_OK;
}

/* The MANIFEST-* numbers of directory `dir` (any order). */
typedef struct num_list {
    const vex_mem *mem;
    uint64_t *v;
    size_t n, cap;
    int nomem;
} num_list;

static int collect_manifest(void *arg, const char *name, int kind)
{
    num_list *l = arg;
    uint64_t num;
    if (kind != VEX_VFS_FILE || !vx_manifest_parse_name(name, &num))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        uint64_t *p = vx_mem_realloc(l->mem, l->v, cap * sizeof *p);
        if (p == NULL) {
            l->nomem = 1;
            return VEX_NOMEM;
        }
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = num;
    return 0;
}

static int rec_cmp_num(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The manifest numbers in the collection's directory, ascending. */
static int list_manifests(vex_vfs *vfs, const char *dir, const vex_mem *mem,
                          vex_err *err, num_list *l)
{
    int rc;
    memset(l, 0, sizeof *l);
    l->mem = mem;
    rc = vfs->methods->list(vfs, dir, collect_manifest, l, err);
    if (l->nomem)
        rc = vx_err_set(err, VEX_NOMEM, "out of memory");
    if (rc == VEX_OK && l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, rec_cmp_num);
    return rc;
}

/* Writable handles with manifest_retention >= 2: the newest
 * retention - 1 manifests older than the current one (`current`), loaded
 * to learn their segments and flush positions. One that does not load is
 * not kept (and is removed with the orphans): an old version must never
 * keep the current state from opening. */
static int load_kept(vex_collection *c, uint64_t current)
{
    uint32_t want = c->db->opts.manifest_retention;
    num_list l;
    size_t i;
    int rc;
    if (want < 2)
        return VEX_OK;
    rc = list_manifests(c->db->vfs, c->dir, c->mem, &c->err, &l);
    if (rc != VEX_OK)
        return rc;
    c->keep.v = vx_mem_calloc(c->mem, want, sizeof *c->keep.v);
    if (c->keep.v == NULL) {
        vx_mem_free(c->mem, l.v);
        return vx_coll_nomem(c);
    }
    c->keep.cap = want;
    /* newest first into a scratch order, then reversed: oldest first */
    for (i = l.n; i-- > 0 && c->keep.n < want - 1 && rc == VEX_OK;) {
        manifest m;
        vex_err quiet;
        vx_kept *k;
        if (l.v[i] >= current)
            continue;
        vx_err_init(&quiet);
        rc = vx_manifest_load_number(c->db->vfs, c->dir, l.v[i], c->mem, &quiet,
                                     &m);
        vx_err_destroy(&quiet);
        if (rc == VEX_NOMEM)
            break;
        if (rc != VEX_OK || (m.as_of_seq == 0 && m.publish_unix == 0)) {
            vx_manifest_free(&m, c->mem);
            rc = VEX_OK;
            continue; /* not a point-in-time version: not kept */
        }
        k = &c->keep.v[c->keep.n];
        k->number = m.number;
        k->flushed_seq = m.flushed_seq;
        k->segs = vx_mem_calloc(c->mem, m.n_segments ? m.n_segments : 1, 8);
        if (k->segs == NULL) {
            vx_manifest_free(&m, c->mem);
            rc = VEX_NOMEM;
            break;
        }
        for (uint32_t j = 0; j < m.n_segments; j++)
            k->segs[j] = m.segs[j].number;
        k->n_segs = m.n_segments;
        c->keep.n++;
        vx_manifest_free(&m, c->mem);
    }
    vx_mem_free(c->mem, l.v);
    if (rc == VEX_NOMEM)
        return vx_coll_nomem(c);
    for (uint32_t a = 0, b = c->keep.n ? c->keep.n - 1 : 0; a < b; a++, b--) {
        vx_kept t = c->keep.v[a];
        c->keep.v[a] = c->keep.v[b];
        c->keep.v[b] = t;
    }
    return VEX_OK;
}

/* A file or directory the collection needs is missing: the status the
 * open got (VEX_NOTFOUND, which would read as "no such collection")
 * becomes VEX_CORRUPT, keeping its message (which names the path). */
static int missing_is_damage(vex_collection *c, const char *what)
{
    char msg[VEX_ERRMSG_MAX];
    vx_err_copy(&c->err, msg, sizeof msg);
    return vx_err_set(&c->err, VEX_CORRUPT, "%s: %s is missing: %s", c->dir,
                      what, msg);
}

/* The log must hold every record the manifest does not: from
 * flushed_seq + 1 (a later first record means the oldest log files are
 * missing) up to at least as_of_seq, the last record applied when the
 * manifest was published (a clean close publishes one, so a newest log
 * file that is missing, cut short or damaged where a torn tail would
 * otherwise explain it, is found). Replay stats `st`. */
static int check_log_span(vex_collection *c, const manifest *m,
                          const wal_replay_stats *st)
{
    uint64_t last = st->n_files ? st->next_seq - 1 : 0;
    if (st->n_files > 0 && st->first_seq > m->flushed_seq + 1)
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s: the log starts at record %llu but records "
                          "after %llu are not in segments: log files holding "
                          "records %llu..%llu are missing",
                          c->wal_dir, (unsigned long long)st->first_seq,
                          (unsigned long long)m->flushed_seq,
                          (unsigned long long)m->flushed_seq + 1,
                          (unsigned long long)st->first_seq - 1);
    if (m->as_of_seq > m->flushed_seq && last < m->as_of_seq)
        return vx_err_set(
            &c->err, VEX_CORRUPT,
            "%s: the log ends at record %llu but MANIFEST-%016llx "
            "was published after record %llu: records %llu..%llu "
            "are missing (a log file deleted, truncated or "
            "damaged%s)",
            c->wal_dir, (unsigned long long)last, (unsigned long long)m->number,
            (unsigned long long)m->as_of_seq,
            (unsigned long long)(last > m->flushed_seq ? last + 1
                                                       : m->flushed_seq + 1),
            (unsigned long long)m->as_of_seq,
            st->bytes_ignored ? "; its last file ends in bytes "
                                "that do not form a record"
                              : "");
    return VEX_OK;
}

static int load_rw(vex_collection *c);
static int load_ro(vex_collection *c);
static int load_at(vex_collection *c);

int vx_coll_load(vex_collection *c)
{
    if (c->at_version)
        return load_at(c);
    return VX_COLL_RO(c) ? load_ro(c) : load_rw(c);
}

/* Recovery of a writable collection. */
static int load_rw(vex_collection *c)
{
    manifest m;
    wal_options wo;
    wal_replay_stats st;
    orphan_ctx oc;
    uint64_t t0 = vx_now_ns();
    int rc;

    memset(&m, 0, sizeof m);
    memset(&st, 0, sizeof st);
    oc.removed = 0;
    rc = vx_manifest_load(c->db->vfs, c->dir, c->mem, &c->err, &m);
    if (rc == VEX_NOTFOUND)
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: a collection directory without CURRENT", c->dir);
    if (rc != VEX_OK)
        goto out;
    if ((rc = load_identity(c, &m)) != VEX_OK)
        goto out;
    c->apply.manifest_no = m.number;
    c->apply.next_file = m.next_file;
    atomic_store(&c->apply.flushed_seq, m.flushed_seq);
    c->apply.last_seq = c->ver.visible_seq = m.flushed_seq;
    if ((rc = load_kept(c, m.number)) != VEX_OK)
        goto out;
    oc.c = c;
    oc.m = &m;
    oc.removed = 0;
    rc = c->db->vfs->methods->list(c->db->vfs, c->dir, orphan_entry, &oc,
                                   &c->err);
    if (rc == VEX_OK && oc.removed)
        rc = c->db->vfs->methods->sync_dir(c->db->vfs, c->dir, &c->err);
    if (rc == VEX_OK)
        rc = open_segments(c, &m);
    if (rc == VEX_NOTFOUND) /* a file the manifest lists: data is missing */
        rc = missing_is_damage(c, "a segment file the manifest lists");
    if (rc != VEX_OK)
        goto out;
    c->apply.published_as_of = m.as_of_seq;
    rc = vx_wal_replay(c->db->vfs, c->wal_dir, c->apply.flushed_seq + 1,
                       replay_record, c, c->db->opts.allocator, &c->err, &st);
    if (rc == VEX_NOTFOUND)
        rc = missing_is_damage(c, "the log directory");
    if (rc != VEX_OK)
        goto out;
    if ((rc = check_log_span(c, &m, &st)) != VEX_OK)
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
    if (rc == VEX_OK) {
        vx_log(&c->db->obs, VEX_LOG_INFO, c->name,
               "recovered in %.3f ms: manifest %" PRIu64 ", %u segments, "
               "%" PRIu64 " leftover files removed, %" PRIu64
               " log records replayed from %" PRIu64 " files (records "
               "%" PRIu64 "..%" PRIu64 ")",
               (double)(vx_now_ns() - t0) / 1e6, m.number, m.n_segments,
               (uint64_t)oc.removed, st.n_delivered, st.n_files,
               c->apply.flushed_seq + 1, st.next_seq ? st.next_seq - 1 : 0);
        if (st.bytes_ignored)
            vx_log(&c->db->obs, VEX_LOG_WARNING, c->name,
                   "the log ended in a torn record (%" PRIu64
                   " bytes cut: a write a crash interrupted, never "
                   "acknowledged)",
                   st.bytes_ignored);
    } else {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&c->err, msg, sizeof msg);
        vx_log(&c->db->obs, rc == VEX_CORRUPT ? VEX_LOG_ERROR : VEX_LOG_WARNING,
               c->name, "recovery failed (%s)%s: %s", vex_status_name(rc),
               rc == VEX_CORRUPT ? ", a damaged file" : "", msg);
    }
    vx_manifest_free(&m, c->mem);
    return rc;
}

/* ---------------------------------------------------------------------
 * Read-only loads (vex_db_options.read_only)
 *
 * A reader takes no lock and writes nothing, so a writer (another process)
 * may publish a manifest, delete the segments and log files it replaced,
 * start a log file or append a record at any moment. A snapshot is read
 * as: the manifest CURRENT names, its segments (each mapped whole, with
 * its file kept open, so it stays readable after the writer unlinks it:
 * nothing of a segment is read by path after vx_vseg_open), then the log
 * from flushed_seq + 1 to its last complete record (a record the writer
 * is appending is a torn tail, which ends the replay; nothing is cut).
 * Every record after flushed_seq must be there, in order (replay_record
 * checks it); a segment, manifest or log file missing, or records missing
 * at the start of the log, are what a concurrent publish does: when
 * CURRENT names another manifest after a failed attempt, the attempt is
 * repeated from the new CURRENT (at most RO_ATTEMPTS times, then
 * VEX_BUSY); when it names the same one, the failure is real and
 * returned.
 *
 * The snapshot is built in a shadow handle (the identity of the real one,
 * its own version, counters and positions), so a refresh never shows a
 * half-built state: ro_adopt swaps the finished version in under apply.mu
 * and ver.mu, and searches running on the old version finish on it.
 * ------------------------------------------------------------------- */

#define RO_ATTEMPTS 32

/* A shadow of `c` for building a snapshot (state OPENING). Borrows c's
 * identity (paths, configuration, schema); shadow_free releases only what
 * the shadow owns. */
static int shadow_new(vex_collection *c, vex_collection **out)
{
    vex_collection *t = vx_mem_calloc(c->mem, 1, sizeof *t);
    *out = NULL;
    if (t == NULL)
        return vx_coll_nomem(c);
    t->db = c->db;
    t->mem = c->mem;
    memcpy(t->name, c->name, sizeof t->name);
    t->dir = c->dir;
    t->wal_dir = c->wal_dir;
    t->cfg = c->cfg;
    t->icfg = c->icfg;
    t->analyzer = c->analyzer;
    t->vec_bytes = c->vec_bytes;
    t->schema = c->schema;
    t->refs = 1;
    vx_err_init(&t->err);
    vx_mutex_init(&t->ver.mu);
    vx_mutex_init(&t->apply.mu);
    atomic_init(&t->counts.n_live, 0);
    atomic_init(&t->life.cancel, 0);
    atomic_init(&t->life.state, VX_COLL_OPENING);
    *out = t;
    return VEX_OK;
}

static void shadow_free(vex_collection *t)
{
    if (t == NULL)
        return;
    vx_version_unref(t->ver.cur);
    vx_mem_free(t->mem, t->apply.vec_align);
    vx_mutex_destroy(&t->ver.mu);
    vx_mutex_destroy(&t->apply.mu);
    vx_err_destroy(&t->err);
    vx_mem_free(t->mem, t);
}

/* Whether manifest `m` describes the collection `c` opened (not one
 * dropped and created again under the same name since). */
static int same_collection(const vex_collection *c, const manifest *m)
{
    const man_config *a = &c->cfg, *b = &m->config;
    /* manifest numbers and flushed_seq only grow in one collection */
    return m->number >= c->apply.manifest_no &&
           m->flushed_seq >= atomic_load(&c->apply.flushed_seq) &&
           strcmp(a->name, b->name) == 0 &&
           a->created_unix == b->created_unix && a->dim == b->dim &&
           a->elem == b->elem && a->metric == b->metric &&
           a->index_kind == b->index_kind && a->text == b->text &&
           a->text_stemmer == b->text_stemmer &&
           a->text_stopwords == b->text_stopwords;
}

/* One attempt: manifest `m`'s segments and the log after it, into the
 * shadow `t`. */
static int ro_build(vex_collection *t, const manifest *m)
{
    wal_replay_stats st;
    int rc;
    t->apply.manifest_no = m->number;
    t->apply.next_file = m->next_file;
    atomic_store(&t->apply.flushed_seq, m->flushed_seq);
    t->apply.last_seq = t->ver.visible_seq = m->flushed_seq;
    rc = open_segments(t, m);
    if (rc == VEX_OK) {
        rc = vx_wal_replay_tail(t->db->vfs, t->wal_dir, m->flushed_seq + 1,
                                replay_record, t, t->db->opts.allocator,
                                &t->err, &st);
        if (rc == VX_REPLAY_STOP)
            rc = VEX_OK;
    }
    if (rc == VEX_OK && st.n_files > 0 && st.first_seq > m->flushed_seq + 1)
        rc = vx_err_set(&t->err, VEX_CORRUPT,
                        "%s: the log starts at record %llu, but the manifest "
                        "covers records only up to %llu",
                        t->wal_dir, (unsigned long long)st.first_seq,
                        (unsigned long long)m->flushed_seq);
    return rc;
}

/* A consistent snapshot of the collection's files, built in a new shadow
 * (*out on VEX_OK). With `identity`, c's identity is loaded from the first
 * manifest read (the open); otherwise the manifest must describe the same
 * collection (a refresh). Errors are in c->err. */
static int ro_snapshot(vex_collection *c, int identity, vex_collection **out)
{
    uint64_t before = 0, after = 0;
    int rc = VEX_OK;
    *out = NULL;
    for (int attempt = 0; attempt < RO_ATTEMPTS; attempt++) {
        vex_collection *t = NULL;
        manifest m;
        char msg[VEX_ERRMSG_MAX];
        vex_err quiet;
        int rc2;
        memset(&m, 0, sizeof m);
        rc = vx_manifest_current(c->db->vfs, c->dir, &c->err, &before);
        if (rc == VEX_OK)
            rc = vx_manifest_load(c->db->vfs, c->dir, c->mem, &c->err, &m);
        if (rc == VEX_OK)
            before = m.number; /* CURRENT may have moved since */
        if (rc == VEX_NOTFOUND)
            return vx_err_set(&c->err, VEX_NOTFOUND,
                              "%s: no CURRENT (the collection was dropped, or "
                              "its create has not finished)",
                              c->dir);
        if (rc == VEX_OK && identity) {
            rc = load_identity(c, &m);
            if (rc != VEX_OK) {
                vx_manifest_free(&m, c->mem);
                return rc;
            }
            identity = 0;
        } else if (rc == VEX_OK && !same_collection(c, &m)) {
            vx_manifest_free(&m, c->mem);
            return vx_err_set(&c->err, VEX_NOTFOUND,
                              "collection \"%s\" was dropped and created "
                              "again since this handle opened it: open it "
                              "again",
                              c->name);
        }
        if (rc == VEX_OK)
            rc = shadow_new(c, &t);
        if (rc == VEX_OK) {
            rc = ro_build(t, &m);
            if (rc != VEX_OK) {
                vx_err_copy(&t->err, msg, sizeof msg);
                vx_err_set(&c->err, rc, "%s", msg);
            }
        }
        vx_manifest_free(&m, c->mem);
        if (rc == VEX_OK) {
            *out = t;
            return VEX_OK;
        }
        shadow_free(t);
        if (rc == VEX_NOMEM)
            return rc;
        /* a concurrent publish explains the failure only if CURRENT
         * moved; otherwise it is real */
        vx_err_init(&quiet);
        rc2 = vx_manifest_current(c->db->vfs, c->dir, &quiet, &after);
        vx_err_destroy(&quiet);
        if (rc2 != VEX_OK || after == before)
            return rc;
    }
    return vx_err_set(&c->err, VEX_BUSY,
                      "%s: the writer published a new manifest during each "
                      "of %d attempts to read a snapshot; retry later",
                      c->dir, RO_ATTEMPTS);
}

/* Make the shadow's snapshot the handle's (apply.mu held, or OPENING). */
static void ro_adopt(vex_collection *c, vex_collection *t)
{
    version *old;
    VX_ASSERT_APPLY(c);
    vx_mutex_lock(&c->ver.mu);
    old = c->ver.cur;
    c->ver.cur = t->ver.cur;
    c->ver.visible_seq = t->ver.visible_seq;
    vx_mutex_unlock(&c->ver.mu);
    t->ver.cur = NULL;
    c->apply.last_seq = t->apply.last_seq;
    c->apply.manifest_no = t->apply.manifest_no;
    c->apply.next_file = t->apply.next_file;
    atomic_store(&c->apply.flushed_seq, atomic_load(&t->apply.flushed_seq));
    atomic_store(&c->counts.n_live, atomic_load(&t->counts.n_live));
    c->apply.ro_stale = 0;
    vx_version_unref(old);
}

static int load_ro(vex_collection *c)
{
    vex_collection *t = NULL;
    int rc = ro_snapshot(c, 1, &t);
    if (rc == VEX_OK) {
        ro_adopt(c, t);
        shadow_free(t);
    }
    return rc;
}

/* The records appended to the log since the handle's snapshot, applied
 * in place as the write path applies them (apply.mu held): each record
 * becomes visible whole (V1), so searches running meanwhile see a prefix
 * of the log. VEX_OK with nothing applied when the log holds nothing new;
 * a failure (records missing: the writer dropped log files after a newer
 * manifest) leaves a consistent prefix, and the caller reloads. */
static int ro_catch_up(vex_collection *c)
{
    wal_replay_stats st;
    int rc;
    VX_ASSERT_HELD(&c->apply.mu);
    rc = vx_wal_replay_tail(c->db->vfs, c->wal_dir, c->apply.last_seq + 1,
                            replay_record, c, c->db->opts.allocator, &c->err,
                            &st);
    if (rc == VEX_OK && st.n_files > 0 && st.next_seq <= c->apply.last_seq)
        /* the log ends before the records this handle has read: not the
         * log it read (a collection created again under the name) */
        rc = VEX_NOTFOUND;
    return rc;
}

int vex_collection_refresh(vex_collection *c, int *changed)
{
    vex_collection *t = NULL;
    uint64_t seq0, man0, cur = 0;
    int rc, inc = 0;
    if (changed)
        *changed = 0;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (!VX_COLL_RO(c))
        return VEX_OK; /* a writable handle always reads its latest state */
    if (c->at_version)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "collection \"%s\" is open at version %llu, which "
                          "never changes: it does not refresh",
                          c->name, (unsigned long long)c->at_version);
    /* one refresh at a time (a read-only handle never flushes, so the
     * flush lock is free for this) */
    vx_mutex_lock(&c->bg.flush_mu);
    vx_mutex_lock(&c->apply.mu);
    seq0 = c->apply.last_seq;
    man0 = c->apply.manifest_no;
    rc = vx_manifest_current(c->db->vfs, c->dir, &c->err, &cur);
    if (rc == VEX_OK && cur == man0 && !c->apply.ro_stale) {
        /* the same manifest: only new log records */
        inc = ro_catch_up(c) == VEX_OK;
    }
    vx_mutex_unlock(&c->apply.mu);
    if (rc == VEX_NOTFOUND)
        rc = vx_err_set(&c->err, VEX_NOTFOUND,
                        "%s: no CURRENT (the collection was dropped)", c->dir);
    if (rc == VEX_OK && !inc)
        rc = ro_snapshot(c, 0, &t);
    if (rc == VEX_OK && t && t->apply.last_seq < seq0) {
        /* commits only accumulate in one collection */
        rc = vx_err_set(&c->err, VEX_NOTFOUND,
                        "collection \"%s\" was dropped and created again "
                        "since this handle opened it: open it again",
                        c->name);
        shadow_free(t);
        t = NULL;
    }
    if (rc == VEX_OK && t) {
        vx_mutex_lock(&c->apply.mu);
        ro_adopt(c, t);
        vx_mutex_unlock(&c->apply.mu);
        shadow_free(t);
    }
    if (rc == VEX_OK) {
        if (changed)
            *changed =
                c->apply.last_seq != seq0 || c->apply.manifest_no != man0;
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_INDEX);
    }
    vx_mutex_unlock(&c->bg.flush_mu);
    return rc;
}

/* ---------------------------------------------------------------------
 * Point-in-time reads: a handle at a kept version, and the list of them
 * ------------------------------------------------------------------- */

/* Manifest `c->at_version`'s segments and deletes, and the log from its
 * flushed_seq + 1 to its as_of_seq: the collection as that manifest was
 * published (its deletes hold every delete up to as_of_seq, the records
 * after flushed_seq bring the rows that were still in memtables). */
static int load_at(vex_collection *c)
{
    vex_collection *t = NULL;
    manifest m;
    int rc;
    rc = vx_manifest_load_number(c->db->vfs, c->dir, c->at_version, c->mem,
                                 &c->err, &m);
    if (rc == VEX_NOTFOUND)
        return vx_err_set(&c->err, VEX_NOTFOUND,
                          "version %llu is not kept (see "
                          "vex_collection_versions and "
                          "vex_db_options.manifest_retention)",
                          (unsigned long long)c->at_version);
    if (rc != VEX_OK)
        return rc;
    rc = load_identity(c, &m);
    if (rc == VEX_OK && m.as_of_seq == 0 && m.publish_unix == 0)
        rc = vx_err_set(&c->err, VEX_UNSUPPORTED,
                        "version %llu was written before point-in-time "
                        "reads (manifest format %s): it records no point "
                        "in time",
                        (unsigned long long)c->at_version,
                        m.schema_len ? "2" : "1");
    if (rc == VEX_OK)
        rc = shadow_new(c, &t);
    if (rc == VEX_OK) {
        t->apply.stop_seq = m.as_of_seq + 1;
        rc = ro_build(t, &m);
        if (rc == VEX_OK && t->apply.last_seq != m.as_of_seq)
            rc = vx_err_set(&t->err, VEX_NOTFOUND,
                            "%s: the log ends at record %llu, before the "
                            "version's %llu",
                            c->wal_dir, (unsigned long long)t->apply.last_seq,
                            (unsigned long long)m.as_of_seq);
        if (rc != VEX_OK) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&t->err, msg, sizeof msg);
            if (rc == VEX_NOTFOUND || rc == VEX_CORRUPT) {
                /* files the version needs are gone: the writer removed
                 * it (it left the window) while this read it */
                manifest again;
                vex_err quiet;
                vx_err_init(&quiet);
                if (vx_manifest_load_number(c->db->vfs, c->dir, c->at_version,
                                            c->mem, &quiet,
                                            &again) == VEX_NOTFOUND)
                    rc = VEX_NOTFOUND;
                vx_manifest_free(&again, c->mem);
                vx_err_destroy(&quiet);
            }
            vx_err_set(&c->err, rc, "version %llu: %s",
                       (unsigned long long)c->at_version, msg);
        }
    }
    if (rc == VEX_OK)
        ro_adopt(c, t);
    shadow_free(t);
    vx_manifest_free(&m, c->mem);
    return rc;
}

int vex_collection_versions(vex_db *db, const char *name,
                            int (*fn)(void *ctx, const vex_version_info *info),
                            void *ctx)
{
    char *dir = NULL;
    num_list l;
    uint64_t cur = 0;
    int rc, kind, leftover = 0;
    char why[128];
    if (db == NULL || db->pool == NULL || name == NULL || fn == NULL)
        return db ? vx_err_set(&db->err, VEX_MISUSE,
                               "vex_collection_versions: NULL argument")
                  : VEX_MISUSE;
    if (!vx_name_ok(name, why, sizeof why))
        return vx_err_set(&db->err, VEX_INVALID,
                          "collection name \"%.80s\": %s", name, why);
    dir = vx_path_join(&db->mem, db->coll_dir, name);
    if (dir == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    rc = db->vfs->methods->exists(db->vfs, dir, &kind, &db->err);
    if (rc == VEX_OK && kind == VEX_VFS_DIR)
        rc = vx_coll_leftover(db->vfs, dir, &leftover, &db->err);
    if (rc == VEX_OK && (kind != VEX_VFS_DIR || leftover))
        rc = vx_err_set(&db->err, VEX_NOTFOUND, "no collection \"%s\"", name);
    if (rc == VEX_OK)
        rc = vx_manifest_current(db->vfs, dir, &db->err, &cur);
    if (rc == VEX_OK)
        rc = list_manifests(db->vfs, dir, &db->mem, &db->err, &l);
    if (rc != VEX_OK) {
        vx_mem_free(&db->mem, dir);
        return rc;
    }
    for (size_t i = 0; i < l.n && rc == VEX_OK; i++) {
        manifest m;
        vex_version_info info;
        vex_err quiet;
        int rc2;
        if (l.v[i] > cur)
            continue; /* a publish in progress (or its leftover) */
        vx_err_init(&quiet);
        rc2 = vx_manifest_load_number(db->vfs, dir, l.v[i], &db->mem,
                                      l.v[i] == cur ? &db->err : &quiet, &m);
        vx_err_destroy(&quiet);
        if (rc2 != VEX_OK) {
            /* an older one the writer is removing, or a damaged one no
             * version needs: skipped; the current one must load */
            if (l.v[i] == cur || rc2 == VEX_NOMEM)
                rc = rc2;
            continue;
        }
        memset(&info, 0, sizeof info);
        info.version = m.number;
        info.as_of_seq = m.as_of_seq;
        info.flushed_seq = m.flushed_seq;
        info.publish_unix = m.publish_unix;
        info.segments = m.n_segments;
        for (uint32_t j = 0; j < m.n_segments; j++)
            info.segment_rows += m.segs[j].n_rows - m.segs[j].n_deleted;
        info.current = m.number == cur;
        vx_manifest_free(&m, &db->mem);
        rc = fn(ctx, &info);
    }
    vx_mem_free(&db->mem, l.v);
    vx_mem_free(&db->mem, dir);
    return rc;
}
