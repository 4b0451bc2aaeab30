/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup.c - vex_backup: a consistent copy of a database while writers
 * keep writing, built from the files alone, as a read-only open reads
 * them (FORMAT.md, "Reading while a writer writes"), so it works the
 * same for a writer in this process and one in another.
 *
 * One collection at a time, in one attempt:
 *  B1. read CURRENT's number N and load MANIFEST-N (the snapshot's
 *      segments, deletes and flushed_seq F);
 *  B2. copy (or hard-link) exactly the segment files it names: each is
 *      complete and synced before CURRENT named it and never changes, so
 *      a file that opens has the bytes the manifest describes (its size
 *      is checked); a file that no longer exists was removed after a
 *      newer publish;
 *  B3. copy the log records F + 1, F + 2, ... up to the last complete one
 *      into a new log that starts at F + 1 (vx_wal_open with first_seq):
 *      records are re-appended one by one, so the copy ends exactly at a
 *      record boundary (a record the writer is appending is left out)
 *      and holds every commit up to that sequence number; the copy must
 *      reach the manifest's as_of_seq (its deletes include commits up to
 *      there);
 *  B4. publish MANIFEST-N in the copy (the same struct: the same number,
 *      segments and deletes), which names exactly what B2 copied.
 * When a step fails and CURRENT has moved, the writer published (and may
 * have removed files or log records the attempt needed): the copy of
 * the collection is removed and the attempt starts again from B1, at
 * most BACKUP_ATTEMPTS times. Otherwise the failure is real (damage, I/O)
 * and the backup fails.
 *
 * The whole copy is built in "<dest>.partial", synced, optionally checked
 * with vex_db_verify, and renamed to dest; a failure removes the partial
 * directory, so dest holds a complete copy or nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "storage/manifest.h"
#include "storage/segment.h"
#include "storage/wal.h"
#include "util/abi.h"

#define BACKUP_ATTEMPTS 32
#define COPY_CHUNK      (1u << 20)

#define VX_ABI_BACKUP_OPTIONS                                                  \
    VX_ABI_LAYOUT(vex_backup_options, progress_ctx, "options",                 \
                  "vex_backup_options_init")
#define VX_ABI_BACKUP_REPORT                                                   \
    VX_ABI_LAYOUT(vex_backup_report, log_records, "report",                    \
                  "vex_backup_report_init")

typedef struct bctx {
    vex_db *db;
    vex_vfs *vfs;
    const vex_mem *mem;
    vex_err *err;
    vex_backup_options o;
    vex_backup_report r;
    unsigned char *buf;             /* COPY_CHUNK bytes */
    uint64_t done, total, reported; /* for o.progress */
    int stopped;                    /* o.progress returned non-zero */
} bctx;

/* `n` more bytes copied (or linked); o.progress about every MiB, and
 * always with `force`. Its non-zero return stops the backup. */
static int backup_tick(bctx *b, uint64_t n, int force)
{
    int r;
    b->done += n;
    if (b->o.progress == NULL || (!force && b->done - b->reported < COPY_CHUNK))
        return VEX_OK;
    b->reported = b->done;
    /* the last call (force) says done: the estimate counted whole log
     * files, the copy only the records it took */
    r = b->o.progress(b->o.progress_ctx, b->done,
                      b->total > b->done && !force ? b->total : b->done);
    if (r == 0)
        return VEX_OK;
    b->stopped = 1;
    return vx_err_set(b->err, r,
                      "backup: stopped by the progress callback (it "
                      "returned %d)",
                      r);
}

void vex_backup_options_init_size(vex_backup_options *opts, size_t size)
{
    vex_backup_options full;
    if (opts == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    full.verify = 1;
    vx_abi_init(&VX_ABI_BACKUP_OPTIONS, opts, size, &full);
}

void(vex_backup_options_init)(vex_backup_options *opts)
{
    vex_backup_options_init_size(opts, VX_ABI_BACKUP_OPTIONS.ends[0]);
}

void vex_backup_report_init_size(vex_backup_report *r, size_t size)
{
    vex_backup_report full;
    if (r == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    vx_abi_init(&VX_ABI_BACKUP_REPORT, r, size, &full);
}

void(vex_backup_report_init)(vex_backup_report *r)
{
    vex_backup_report_init_size(r, VX_ABI_BACKUP_REPORT.ends[0]);
}

static int backup_nomem(bctx *b)
{
    return vx_err_set(b->err, VEX_NOMEM, "backup: out of memory");
}

/* Copy file `from` (which must be `size` bytes: else VEX_CORRUPT) to the
 * new file `to`, synced. */
static int copy_file(bctx *b, const char *from, const char *to, uint64_t size)
{
    vex_file *in = NULL, *out = NULL;
    uint64_t have = 0, off;
    int rc = vex_vfs_open(b->vfs, from, VX_FILE_READONLY, &in, b->err);
    if (rc == VEX_OK)
        rc = vex_file_size(in, &have, b->err);
    if (rc == VEX_OK && have != size)
        rc = vx_err_set(b->err, VEX_CORRUPT,
                        "%s: %" PRIu64 " bytes, its manifest says %" PRIu64
                        " at offset 0",
                        from, have, size);
    if (rc == VEX_OK)
        rc = vex_vfs_open(b->vfs, to,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_EXCL,
                          &out, b->err);
    for (off = 0; rc == VEX_OK && off < size; off += COPY_CHUNK) {
        size_t n = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;
        rc = vx_file_read_exact(in, b->buf, n, off, b->err);
        if (rc == VEX_OK)
            rc = vex_file_write(out, b->buf, n, off, b->err);
        if (rc == VEX_OK)
            rc = backup_tick(b, n, 0);
    }
    if (rc == VEX_OK)
        rc = vex_file_sync(out, VEX_SYNC_FULL, b->err);
    if (out) {
        int rc2 = vex_file_close(out, b->err);
        if (rc == VEX_OK)
            rc = rc2;
    }
    vex_file_close(in, NULL);
    if (rc == VEX_OK)
        b->r.bytes += size;
    return rc;
}

/* B2: one segment file. */
static int copy_segment(bctx *b, const char *src, const char *dst,
                        const man_segment *ms)
{
    char name[SEG_NAME_LEN + 1];
    char *from, *to;
    int rc = VEX_UNSUPPORTED;
    vx_seg_file_name(name, sizeof name, ms->number);
    from = vx_path_join(b->mem, src, name);
    to = vx_path_join(b->mem, dst, name);
    if (from == NULL || to == NULL) {
        rc = backup_nomem(b);
        goto done;
    }
    if (b->o.hard_link && b->vfs->methods->link) {
        vex_err quiet;
        vx_err_init(&quiet);
        rc = b->vfs->methods->link(b->vfs, from, to, &quiet);
        if (rc != VEX_OK && rc != VEX_UNSUPPORTED) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&quiet, msg, sizeof msg);
            vx_err_set(b->err, rc, "backup: %s", msg);
        }
        vx_err_destroy(&quiet);
        if (rc == VEX_OK) {
            vex_file *f = NULL;
            uint64_t size = 0;
            rc = vex_vfs_open(b->vfs, to, VX_FILE_READONLY, &f, b->err);
            if (rc == VEX_OK)
                rc = vex_file_size(f, &size, b->err);
            vex_file_close(f, NULL);
            if (rc == VEX_OK && size != ms->file_size)
                rc = vx_err_set(b->err, VEX_CORRUPT,
                                "%s: %" PRIu64 " bytes, its manifest says "
                                "%" PRIu64 " at offset 0",
                                from, size, ms->file_size);
            if (rc == VEX_OK)
                b->r.linked++;
            if (rc == VEX_OK)
                rc = backup_tick(b, size, 0);
        }
    }
    if (rc == VEX_UNSUPPORTED) /* no links here: copy */
        rc = copy_file(b, from, to, ms->file_size);
    if (rc == VEX_OK)
        b->r.segments++;
done:
    vx_mem_free(b->mem, from);
    vx_mem_free(b->mem, to);
    return rc;
}

/* B3: the log after flushed_seq. */
typedef struct logcopy {
    bctx *b;
    wal *w;
    uint64_t expect; /* the next sequence number */
    const char *src;
} logcopy;

static int copy_record(void *ctx, uint64_t seq, const void *payload, size_t n)
{
    logcopy *l = ctx;
    uint64_t got = 0;
    int rc;
    if (seq != l->expect)
        return vx_err_set(l->b->err, VEX_CORRUPT,
                          "%s: the log continues at record %" PRIu64
                          ", the copy expected record %" PRIu64,
                          l->src, seq, l->expect);
    rc = vx_wal_append(l->w, payload, n, &got, l->b->err);
    if (rc == VEX_OK && got != seq)
        rc = vx_err_set(l->b->err, VEX_INTERNAL,
                        "backup: the copy's log numbered record %" PRIu64
                        " as %" PRIu64,
                        seq, got);
    if (rc == VEX_OK) {
        l->expect++;
        l->b->r.log_records++;
        l->b->r.bytes += n;
        rc = backup_tick(l->b, n, 0);
    }
    return rc;
}

static int copy_log(bctx *b, const char *src, const char *dst,
                    const manifest *m)
{
    wal_options wo;
    wal_replay_stats st;
    logcopy l;
    int rc, rc2;
    memset(&l, 0, sizeof l);
    vx_wal_options_init(&wo);
    wo.durability = WAL_DURABILITY_NONE; /* synced once, below */
    wo.max_file_bytes = 1ull << 40;
    wo.first_seq = m->flushed_seq + 1;
    rc = vx_wal_open(b->vfs, dst, &wo, &b->mem->a, b->err, &l.w);
    if (rc != VEX_OK)
        return rc;
    l.b = b;
    l.expect = m->flushed_seq + 1;
    l.src = src;
    rc = vx_wal_replay_tail(b->vfs, src, m->flushed_seq + 1, copy_record, &l,
                            &b->mem->a, b->err, &st);
    if (rc == VEX_OK && st.n_files > 0 && st.first_seq > m->flushed_seq + 1)
        rc = vx_err_set(b->err, VEX_CORRUPT,
                        "%s: the log starts at record %" PRIu64
                        ", but the manifest has records only up to %" PRIu64,
                        src, st.first_seq, m->flushed_seq);
    if (rc == VEX_OK && l.expect <= m->as_of_seq)
        rc = vx_err_set(b->err, VEX_CORRUPT,
                        "%s: the log ends at record %" PRIu64
                        ", but the manifest was published after record "
                        "%" PRIu64,
                        src, l.expect - 1, m->as_of_seq);
    if (rc == VEX_OK)
        rc = vx_wal_sync(l.w, b->err);
    rc2 = vx_wal_close(l.w, rc == VEX_OK ? b->err : NULL);
    if (rc == VEX_OK)
        rc = rc2;
    if (rc == VEX_OK)
        rc = vex_vfs_sync_dir(b->vfs, dst, b->err);
    return rc;
}

/* B1..B4 for one attempt: src and dst are the collection's directories;
 * dst does not exist yet. */
static int copy_collection(bctx *b, const char *src, const char *dst,
                           const manifest *m)
{
    char *swal = vx_path_join(b->mem, src, "wal");
    char *dwal = vx_path_join(b->mem, dst, "wal");
    int rc = VEX_OK, amb = 0;
    if (swal == NULL || dwal == NULL)
        rc = backup_nomem(b);
    if (rc == VEX_OK)
        rc = vex_vfs_mkdir(b->vfs, dst, b->err);
    if (rc == VEX_OK)
        rc = vex_vfs_mkdir(b->vfs, dwal, b->err);
    for (uint32_t i = 0; i < m->n_segments && rc == VEX_OK; i++)
        rc = copy_segment(b, src, dst, &m->segs[i]);
    if (rc == VEX_OK)
        rc = copy_log(b, swal, dwal, m);
    if (rc == VEX_OK)
        rc = vx_manifest_publish(b->vfs, dst, m, b->mem, b->err, &amb);
    vx_mem_free(b->mem, swal);
    vx_mem_free(b->mem, dwal);
    return rc;
}

static int backup_collection(bctx *b, const char *src_root,
                             const char *dst_root, const char *name)
{
    char *src = vx_path_join(b->mem, src_root, name);
    char *dst = vx_path_join(b->mem, dst_root, name);
    int rc = VEX_OK;
    if (src == NULL || dst == NULL) {
        rc = backup_nomem(b);
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        uint64_t before = 0, after = 0;
        manifest m;
        vex_err quiet;
        int rc2, kind = VEX_VFS_NONE;
        if (attempt == BACKUP_ATTEMPTS) {
            rc = vx_err_set(b->err, VEX_BUSY,
                            "backup: %s: the writer published a new manifest "
                            "during each of %d attempts to copy it; retry",
                            src, BACKUP_ATTEMPTS);
            break;
        }
        memset(&m, 0, sizeof m);
        rc = vx_manifest_current(b->vfs, src, b->err, &before);
        if (rc == VEX_NOTFOUND) { /* dropped since it was listed */
            rc = VEX_OK;
            break;
        }
        if (rc == VEX_OK)
            rc = vx_manifest_load_number(b->vfs, src, before, b->mem, b->err,
                                         &m);
        if (rc == VEX_OK)
            rc = copy_collection(b, src, dst, &m);
        vx_manifest_free(&m, b->mem);
        if (rc == VEX_OK) {
            b->r.collections++;
            break;
        }
        /* start again from an empty place (best effort; a leftover makes
         * the next mkdir fail, which stops the backup) */
        vx_err_init(&quiet);
        if (vex_vfs_exists(b->vfs, dst, &kind, &quiet) == VEX_OK &&
            kind == VEX_VFS_DIR)
            vx_rmtree(b->vfs, b->mem, dst, &quiet);
        rc2 = vx_manifest_current(b->vfs, src, &quiet, &after);
        vx_err_destroy(&quiet);
        if (rc == VEX_NOMEM || b->stopped || (rc2 == VEX_OK && after == before))
            break; /* real: nothing moved (or the caller said stop) */
        if (rc2 == VEX_NOTFOUND) { /* dropped meanwhile */
            rc = VEX_OK;
            break;
        }
    }
done:
    vx_mem_free(b->mem, src);
    vx_mem_free(b->mem, dst);
    return rc;
}

/* The collections to copy: names, sorted. */
typedef struct clist {
    const vex_mem *mem;
    char **v;
    size_t n, cap;
} clist;

static int clist_add(void *ctx, const char *name)
{
    clist *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = vx_mem_realloc(l->mem, l->v, cap * sizeof *p);
        if (p == NULL)
            return VEX_NOMEM;
        l->v = p;
        l->cap = cap;
    }
    if ((l->v[l->n] = vx_vfs_strdup(l->mem, name)) == NULL)
        return VEX_NOMEM;
    l->n++;
    return 0;
}

/* The copy's marker: the source's bytes (checked first). */
static int copy_marker(bctx *b, const char *dst_root)
{
    char *from = vx_path_join(b->mem, b->db->path, "VEXDB");
    char *to = vx_path_join(b->mem, dst_root, "VEXDB");
    int rc = VEX_OK;
    if (from == NULL || to == NULL)
        rc = backup_nomem(b);
    if (rc == VEX_OK)
        rc = vx_db_marker_check(b->vfs, from, b->err);
    if (rc == VEX_OK)
        rc = copy_file(b, from, to, 32);
    vx_mem_free(b->mem, from);
    vx_mem_free(b->mem, to);
    return rc;
}

/* o.progress's total: the sizes of collection `name`'s current segments
 * and log files now (best effort: an estimate, errors ignored). */
typedef struct est {
    bctx *b;
    const char *dir;
} est;

static int est_file(void *ctx, const char *name, int kind)
{
    est *e = ctx;
    char *p;
    vex_file *f = NULL;
    uint64_t size = 0;
    if (kind != VEX_VFS_FILE ||
        (p = vx_path_join(e->b->mem, e->dir, name)) == NULL)
        return 0;
    if (vex_vfs_open(e->b->vfs, p, VX_FILE_READONLY, &f, NULL) == VEX_OK &&
        vex_file_size(f, &size, NULL) == VEX_OK)
        e->b->total += size;
    vex_file_close(f, NULL);
    vx_mem_free(e->b->mem, p);
    return 0;
}

static void estimate(bctx *b, const char *root, const char *name)
{
    char *dir = vx_path_join(b->mem, root, name), *wdir = NULL;
    manifest m;
    memset(&m, 0, sizeof m);
    if (dir && vx_manifest_load(b->vfs, dir, b->mem, NULL, &m) == VEX_OK)
        for (uint32_t i = 0; i < m.n_segments; i++)
            b->total += m.segs[i].file_size;
    vx_manifest_free(&m, b->mem);
    if (dir && (wdir = vx_path_join(b->mem, dir, "wal")) != NULL) {
        est e = {b, wdir};
        vex_vfs_list(b->vfs, wdir, est_file, &e, NULL);
    }
    vx_mem_free(b->mem, wdir);
    vx_mem_free(b->mem, dir);
}

/* opts->verify: the first error of the copy's verification. */
typedef struct first_err {
    char msg[VEX_ERRMSG_MAX];
    int have;
} first_err;

static int keep_first(void *ctx, const vex_finding *f)
{
    first_err *fe = ctx;
    if (f->severity == VEX_SEVERITY_ERROR && !fe->have) {
        fe->have = 1;
        if (f->offset != VEX_NO_OFFSET)
            snprintf(fe->msg, sizeof fe->msg, "%s at offset %" PRIu64 ": %s",
                     f->file, f->offset, f->message);
        else
            snprintf(fe->msg, sizeof fe->msg, "%s: %s", f->file, f->message);
    }
    return 0;
}

static int build(bctx *b, const char *part)
{
    char *cdir = vx_path_join(b->mem, part, "collections");
    clist l = {b->mem, NULL, 0, 0};
    int rc = VEX_OK;
    if (cdir == NULL)
        return backup_nomem(b);
    rc = vex_vfs_mkdir(b->vfs, part, b->err);
    if (rc == VEX_OK)
        rc = vex_vfs_mkdir(b->vfs, cdir, b->err);
    if (rc == VEX_OK)
        rc = copy_marker(b, part);
    if (rc == VEX_OK) {
        rc = vex_collection_list(b->db, clist_add, &l);
        if (rc == VEX_NOMEM)
            backup_nomem(b);
    }
    for (size_t i = 0; i < l.n && rc == VEX_OK && b->o.progress; i++)
        estimate(b, b->db->coll_dir, l.v[i]);
    for (size_t i = 0; i < l.n && rc == VEX_OK; i++)
        rc = backup_collection(b, b->db->coll_dir, cdir, l.v[i]);
    if (rc == VEX_OK)
        rc = backup_tick(b, 0, 1);
    if (rc == VEX_OK)
        rc = vex_vfs_sync_dir(b->vfs, cdir, b->err);
    if (rc == VEX_OK)
        rc = vex_vfs_sync_dir(b->vfs, part, b->err);
    if (rc == VEX_OK && b->o.verify) {
        vex_verify_options vo;
        first_err fe;
        memset(&fe, 0, sizeof fe);
        vex_verify_options_init(&vo);
        vo.on_finding = keep_first;
        vo.ctx = &fe;
        vo.allocator = &b->mem->a;
        rc = vx_db_verify_vfs(b->vfs, part, &vo, NULL);
        if (rc == VEX_NOMEM)
            backup_nomem(b);
        else if (rc != VEX_OK)
            rc = vx_err_set(b->err, rc, "backup: the copy does not verify: %s",
                            fe.have ? fe.msg : vex_errstr(rc));
    }
    for (size_t i = 0; i < l.n; i++)
        vx_mem_free(b->mem, l.v[i]);
    vx_mem_free(b->mem, l.v);
    vx_mem_free(b->mem, cdir);
    return rc;
}

/* The directory holding `path` ("." for a bare name). */
static char *parent_of(const vex_mem *mem, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *p;
    if (slash == path)
        n = 1; /* "/x": the root */
    p = vx_mem_alloc(mem, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, slash ? path : ".", n);
    p[n] = '\0';
    return p;
}

int vex_backup(vex_db *db, const char *dest, const vex_backup_options *opts,
               vex_backup_report *report)
{
    bctx b;
    char *part = NULL, *parent = NULL, *dst = NULL;
    size_t dlen;
    int rc, kind = VEX_VFS_NONE;
    if (db == NULL || db->vfs == NULL || db->coll_dir == NULL)
        return VEX_MISUSE;
    memset(&b, 0, sizeof b);
    b.db = db;
    b.vfs = db->vfs;
    b.mem = &db->mem;
    b.err = &db->err;
    b.r.struct_size = sizeof b.r;
    if (dest == NULL || dest[0] == '\0')
        return vx_err_set(&db->err, VEX_MISUSE, "backup: dest is NULL or \"\"");
    vex_backup_options_init(&b.o);
    if (opts &&
        (rc = vx_abi_in(&VX_ABI_BACKUP_OPTIONS, opts, &b.o, &db->err)) != 0)
        return rc;
    if (report && (rc = vx_abi_check(&VX_ABI_BACKUP_REPORT, report->struct_size,
                                     &db->err)) != VEX_OK)
        return rc;
    if ((b.o.hard_link != 0 && b.o.hard_link != 1) ||
        (b.o.verify != 0 && b.o.verify != 1))
        return vx_err_set(&db->err, VEX_INVALID,
                          "backup: hard_link and verify are 0 or 1");
    /* "dir/copy/" is "dir/copy" ("/" stays "/") */
    for (dlen = strlen(dest); dlen > 1 && dest[dlen - 1] == '/'; dlen--)
        ;
    dst = vx_mem_alloc(b.mem, dlen + 1);
    part = vx_mem_alloc(b.mem, dlen + sizeof ".partial");
    b.buf = vx_mem_alloc(b.mem, COPY_CHUNK);
    if (dst != NULL) {
        memcpy(dst, dest, dlen);
        dst[dlen] = '\0';
        parent = parent_of(b.mem, dst);
    }
    if (dst == NULL || part == NULL || parent == NULL || b.buf == NULL) {
        rc = backup_nomem(&b);
        goto done;
    }
    dest = dst;
    strcpy(part, dest);
    strcat(part, ".partial");
    rc = vex_vfs_exists(b.vfs, dest, &kind, b.err);
    if (rc == VEX_OK && kind != VEX_VFS_NONE)
        rc = vx_err_set(b.err, VEX_EXISTS,
                        "backup: %s exists; a backup makes a new directory",
                        dest);
    if (rc == VEX_OK)
        rc = vex_vfs_exists(b.vfs, part, &kind, b.err);
    if (rc == VEX_OK && kind != VEX_VFS_NONE)
        rc = vx_err_set(b.err, VEX_EXISTS,
                        "backup: %s exists, left by a backup that did not "
                        "finish: remove it",
                        part);
    if (rc == VEX_OK)
        rc = vex_vfs_exists(b.vfs, parent, &kind, b.err);
    if (rc == VEX_OK && kind != VEX_VFS_DIR)
        rc = vx_err_set(b.err, VEX_NOTFOUND,
                        "backup: %s: no such directory to put the copy in",
                        parent);
    if (rc != VEX_OK)
        goto done;
    rc = build(&b, part);
    if (rc == VEX_OK)
        rc = vex_vfs_rename(b.vfs, part, dest, b.err);
    if (rc == VEX_OK)
        rc = vex_vfs_sync_dir(b.vfs, parent, b.err);
    if (rc != VEX_OK) {
        vex_err quiet;
        vx_err_init(&quiet);
        /* the copy so far goes; if it cannot (the failure was memory, say,
         * and removing a tree needs some), the message says what is left,
         * as the next backup to the same place refuses it */
        if (vex_vfs_exists(b.vfs, part, &kind, &quiet) == VEX_OK &&
            kind == VEX_VFS_DIR &&
            vx_rmtree(b.vfs, b.mem, part, &quiet) != VEX_OK)
            vx_err_set(b.err, rc,
                       "%s; %s, the unfinished copy, is left: "
                       "remove it",
                       b.err->msg, part);
        vx_err_destroy(&quiet);
    }
done:
    if (report && rc == VEX_OK)
        vx_abi_out(&VX_ABI_BACKUP_REPORT, report, &b.r);
    vx_mem_free(b.mem, part);
    vx_mem_free(b.mem, parent);
    vx_mem_free(b.mem, dst);
    vx_mem_free(b.mem, b.buf);
    return rc;
}
