/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal.c - the write-ahead log (interface and contract in wal.h, bytes in
 * docs/FORMAT.md): a writer that appends checksummed, sequence-numbered
 * records to the newest of a directory's wal-*.log files and rotates to a
 * new file when one is full, and a reader (vx_wal_replay, also run by
 * vx_wal_open to find the end) that tells a torn tail, which a crash leaves
 * and which is cut away, from damage, which is VEX_CORRUPT. Part of the
 * storage layer; every file operation goes through the vfs.
 *
 * Invariants (what is durable when, what replay guarantees):
 *  1. Sequence numbers are consecutive across records and files: a file
 *     named wal-S.log has S in its header and its first record (if any)
 *     is S; the next file starts one past the last record of the previous
 *     one. Replay checks all three; a break is VEX_CORRUPT.
 *  2. A file is used only once its header is durable: wal_rotate (and
 *     vx_wal_open for a new or torn-header file) writes the header, syncs
 *     the file, then syncs the directory, before any record goes in. So a
 *     crash during a rotation leaves at most a last file with a torn
 *     header and nothing after it, which replay treats as a torn tail.
 *  3. Before rotating, the old file is synced (whatever the durability),
 *     so only the last file can ever have a torn tail; damage in an
 *     earlier file is real damage.
 *  4. Each record is written with one write at the end of the file. Under
 *     FULL, vx_wal_append syncs it (fdatasync) before returning VEX_OK, and
 *     pads it with zeros to a multiple of WAL_SECTOR bytes, so the next
 *     append never rewrites a sector holding an acknowledged record: a
 *     power loss that garbles the sectors of an unfinished write (a torn
 *     sector can come back as garbage, vfs_crash.c rule 6) cannot damage
 *     an acknowledged one. The file header fills a whole sector for the
 *     same reason. Under NONE, records are not padded and are durable
 *     only after vx_wal_sync, a rotation or vx_wal_close's caller syncing.
 *  5. Each record carries n_unsynced: how many records just before it
 *     were not yet known durable (covered by a completed sync) when it
 *     was written; its "sync mark" seq - n_unsynced says every record
 *     below it was on disk first. A torn tail is a bad record (short
 *     header, bad header checksum, length past the end of the file, bad
 *     payload checksum) in the last file after which no intact record
 *     has a sync mark above the bad record's sequence number: the bad
 *     record was never synced, so a crash may have garbled it while
 *     later unsynced writes (other group-commit members, NONE appends)
 *     landed intact. Replay stops there with VEX_OK. A bad record that a
 *     later intact record proves was synced (found by scanning every
 *     later byte offset), or any bad record in an earlier file, is
 *     VEX_CORRUPT naming the file and the offset.
 *  6. vx_wal_open cuts a torn tail away (truncate) and syncs the last file
 *     before the first append, so new records follow the last intact one,
 *     a later replay never sees the old garbage between them, and every
 *     record found at open is durable (synced_seq starts there).
 *  7. Sticky errors: after any failed write, sync or rotation the writer
 *     is in the ERROR state (w->sticky != VEX_OK): appends and syncs
 *     return that status until the handle is closed; reopening rereads
 *     the disk and cuts whatever partial record the failure left.
 *
 *  8. Group commit: appends write under w->mu, so records go to the file
 *     in sequence order; a FULL append then waits until synced_seq
 *     covers its record. If no thread is syncing, it becomes the syncer:
 *     it notes the last record written, drops the mutex, fdatasyncs, and
 *     on success raises synced_seq to that record and wakes the waiters,
 *     so one sync serves every record written before it started. A record
 *     is acknowledged only once a sync that started after its write
 *     succeeded. A failed sync is sticky (rule 7) and fails every waiter
 *     whose record it did not cover. A rotation first waits for the
 *     running sync (it closes the file that sync uses), and its sync of
 *     the old file covers every record written so far.
 *
 * States of the writer: OPEN (appending to w->file) -> ERROR (sticky,
 * set by wal_fail) -> closed (vx_wal_close). wal_rotate moves OPEN to OPEN
 * with a new current file, or to ERROR.
 */
#include "storage/wal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/hex.h"
#include "util/mem.h"
#include "util/rd.h"

#define WAL_VERSION  1u
#define WAL_HDR_SIZE 512u /* file header, padded to one sector */
#define WAL_HDR_USED 32u
#define WAL_REC_HDR  32u
#define WAL_SECTOR   512u
#define WAL_NAME_LEN 24u /* "wal-" + 16 hex + ".log" */
#define WAL_PATH_MAX 4096u
#define WAL_MSG_MAX  256u

static const unsigned char wal_magic[8] = {'V', 'E', 'X', 'W', 'A', 'L', 0, 0};

struct wal {
    vex_vfs *vfs;
    vex_mem mem;
    char *dir;
    wal_options opts;
    vex_file *file;      /* current (last) file */
    uint64_t file_first; /* its first sequence number */
    uint64_t file_size;
    uint64_t next_seq;
    uint64_t *firsts; /* first seqs of all files, ascending */
    size_t n_files, cap_files;
    unsigned char *buf; /* record staging */
    size_t buf_cap;
    /* group commit (rule 8): everything above and below is under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int syncing;         /* a thread is syncing `file` without mu */
    uint64_t synced_seq; /* every record <= this is durable */
    int sticky;
    char sticky_msg[WAL_MSG_MAX];
};

void vx_wal_options_init(wal_options *o)
{
    o->max_file_bytes = 64u << 20;
    o->durability = WAL_DURABILITY_FULL;
    o->first_seq = 1;
}

/* ---- names ---------------------------------------------------------- */

static void wal_name(char *out, uint64_t first)
{
    snprintf(out, WAL_NAME_LEN + 1, "wal-%016llx.log",
             (unsigned long long)first);
}

static int wal_path(char *out, const char *dir, uint64_t first, vex_err *err)
{
    char name[WAL_NAME_LEN + 1];
    int n;
    wal_name(name, first);
    n = snprintf(out, WAL_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= WAL_PATH_MAX)
        return vx_err_set(err, VEX_INVALID, "%s: path too long", dir);
    return VEX_OK;
}

/* 1 and *first when `name` is a log file name. */
static int wal_parse_name(const char *name, uint64_t *first)
{
    uint64_t v = 0;
    if (strlen(name) != WAL_NAME_LEN || memcmp(name, "wal-", 4) != 0 ||
        memcmp(name + 20, ".log", 4) != 0 || !vex_parse_hex(name + 4, 16, &v))
        return 0;
    *first = v;
    return 1;
}

typedef struct name_list {
    const vex_mem *mem;
    uint64_t *v;
    size_t n, cap;
} name_list;

static int list_cb(void *ctx, const char *name, int kind)
{
    name_list *l = ctx;
    uint64_t first;
    if (kind != VEX_VFS_FILE || !wal_parse_name(name, &first))
        return VEX_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *p = vx_mem_realloc(l->mem, l->v, cap * sizeof *p);
        if (p == NULL)
            return VEX_NOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = first;
    return VEX_OK;
}

static int wal_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- encoding --------------------------------------------------------- */

static void wal_encode_header(unsigned char *h, uint64_t first)
{
    memset(h, 0, WAL_HDR_SIZE);
    memcpy(h, wal_magic, 8);
    vex_put_u32le(h + 8, WAL_VERSION);
    vex_put_u32le(h + 12, WAL_HDR_SIZE);
    vex_put_u64le(h + 16, first);
    vex_put_u32le(h + 24, 0);
    vex_put_u32le(h + 28, vex_crc32c(h, 28));
}

static void wal_encode_rec(unsigned char *h, uint32_t len, uint32_t pad,
                           uint64_t seq, uint32_t n_unsynced, uint32_t pcrc)
{
    vex_put_u32le(h, len);
    vex_put_u32le(h + 4, pad);
    vex_put_u64le(h + 8, seq);
    vex_put_u32le(h + 16, n_unsynced);
    vex_put_u32le(h + 20, 0);
    vex_put_u32le(h + 24, pcrc);
    vex_put_u32le(h + 28, vex_crc32c(h, 28));
}

/* The fields of a file header or a record header (docs/FORMAT.md), read
 * through vx_rd from bytes that may be torn or garbage. */
typedef struct wal_file_hdr {
    const unsigned char *magic;
    uint32_t version, hdr_size, crc;
    uint64_t first;
} wal_file_hdr;

typedef struct wal_rec_hdr {
    uint32_t len, pad, n_unsynced, pcrc, crc;
    uint64_t seq;
} wal_rec_hdr;

/* h holds WAL_HDR_SIZE bytes. */
static void wal_read_header(const unsigned char *h, wal_file_hdr *fh)
{
    vx_rd in = vx_rd_new(h, WAL_HDR_USED);
    fh->magic = vx_rd_take(&in, 8, NULL);
    fh->version = vx_rd_u32(&in, NULL);
    fh->hdr_size = vx_rd_u32(&in, NULL);
    fh->first = vx_rd_u64(&in, NULL);
    vx_rd_skip(&in, 4, NULL); /* reserved */
    fh->crc = vx_rd_u32(&in, NULL);
}

/* The record header at p, where avail bytes of the file remain (p holds
 * min(avail, WAL_REC_HDR) of them): NULL when it is intact and the record
 * fits in avail, else why not. The payload is not looked at. */
static const char *wal_read_rec(const unsigned char *p, uint64_t avail,
                                wal_rec_hdr *rh)
{
    vx_rd in = vx_rd_new(p, avail < WAL_REC_HDR ? (size_t)avail : WAL_REC_HDR);
    rh->len = vx_rd_u32(&in, "truncated record header");
    rh->pad = vx_rd_u32(&in, "truncated record header");
    rh->seq = vx_rd_u64(&in, "truncated record header");
    rh->n_unsynced = vx_rd_u32(&in, "truncated record header");
    vx_rd_skip(&in, 4, "truncated record header"); /* reserved */
    rh->pcrc = vx_rd_u32(&in, "truncated record header");
    rh->crc = vx_rd_u32(&in, "truncated record header");
    if (!vx_rd_ok(&in))
        return vx_rd_what(&in);
    if (rh->crc != vex_crc32c(p, 28))
        return "record header checksum mismatch";
    if (rh->len > WAL_MAX_PAYLOAD || rh->pad >= WAL_SECTOR ||
        (uint64_t)WAL_REC_HDR + rh->len + rh->pad > avail)
        return "record extends past the end of the file";
    return NULL;
}

/* The sync mark of an intact record header: every record before it was
 * durable when it was written (rule 5); 0 when unknown. */
static uint64_t wal_rec_mark(const wal_rec_hdr *rh)
{
    return rh->n_unsynced == UINT32_MAX || rh->n_unsynced >= rh->seq
               ? 0
               : rh->seq - rh->n_unsynced;
}

/* Is there an intact record at p[0..n)? On 1, *rh is its header. */
static int wal_rec_ok(const unsigned char *p, uint64_t n, wal_rec_hdr *rh)
{
    if (wal_read_rec(p, n, rh) != NULL)
        return 0;
    return vex_crc32c(p + WAL_REC_HDR, rh->len) == rh->pcrc;
}

/* ---- the reader --------------------------------------------------------- */

typedef struct scan_state {
    const vex_mem *mem;
    vex_vfs *vfs;
    const char *dir;
    uint64_t from_seq;
    wal_replay_fn fn;
    void *ctx;
    vex_err *err;
    wal_replay_stats st;
    name_list files;
    uint64_t last_good_end; /* in the last file: where the next record goes */
    int last_torn_header;   /* the last file's header is torn (rule 2) */
    unsigned char *buf;
    size_t cap;
    /* vx_wal_replay_tail: files all of whose records are below from_seq
     * are not opened */
    int skip_old;
    size_t first_idx; /* the first file scanned */
    wal_pos *pos;     /* vx_wal_replay_at: where the reader is, or NULL */
} scan_state;

static int scan_reserve(scan_state *s, size_t n)
{
    unsigned char *p;
    if (n <= s->cap)
        return VEX_OK;
    p = vx_mem_realloc(s->mem, s->buf, n);
    if (p == NULL)
        return vx_err_set(s->err, VEX_NOMEM, "wal: out of memory (%zu bytes)",
                          n);
    s->buf = p;
    s->cap = n;
    return VEX_OK;
}

/* A bad record at `off` of the last file: VEX_OK (torn tail) unless an
 * intact record starts at some later offset (rule 5). */
static int scan_after_bad(scan_state *s, vex_file *f, const char *name,
                          uint64_t off, uint64_t size, const char *why)
{
    uint64_t n = size - off, i;
    wal_rec_hdr rh;
    int rc;
    if (n > SIZE_MAX)
        return vx_err_set(s->err, VEX_NOMEM, "wal: %s too large", name);
    rc = scan_reserve(s, (size_t)n);
    if (rc == VEX_OK)
        rc = vx_file_read_exact(f, s->buf, (size_t)n, off, s->err);
    if (rc != VEX_OK)
        return rc;
    for (i = 1; i + WAL_REC_HDR <= n; i++) {
        if (wal_rec_ok(s->buf + i, n - i, &rh) &&
            wal_rec_mark(&rh) > s->st.next_seq)
            return VX_CORRUPT(
                s->err,
                "%s: bad record at offset %llu (%s) followed by an intact "
                "record written after it was synced, at offset %llu",
                name, (unsigned long long)off, why,
                (unsigned long long)(off + i));
    }
    s->st.bytes_ignored = n;
    s->last_good_end = off;
    return VEX_OK;
}

static int scan_file(scan_state *s, size_t idx)
{
    char path[WAL_PATH_MAX], name[WAL_NAME_LEN + 1];
    unsigned char h[WAL_HDR_SIZE];
    wal_file_hdr fh;
    wal_rec_hdr rh;
    uint64_t first = s->files.v[idx], size = 0, off, end;
    int last = idx + 1 == s->files.n;
    vex_file *f = NULL;
    const char *why = NULL;
    int rc;

    wal_name(name, first);
    if (s->pos) {
        s->pos->file_first = first;
        s->pos->offset = 0;
        s->pos->file_size = 0;
    }
    rc = wal_path(path, s->dir, first, s->err);
    if (rc == VEX_OK)
        rc = vex_vfs_open(s->vfs, path, VX_FILE_READONLY, &f, s->err);
    if (rc == VEX_OK)
        rc = vex_file_size(f, &size, s->err);
    if (rc != VEX_OK)
        goto cleanup;
    if (s->pos)
        s->pos->file_size = size;
    s->st.n_files++;
    if (idx > s->first_idx && first != s->st.next_seq) {
        rc = VX_CORRUPT(s->err,
                        "%s: sequence gap: expected a file starting at %llu",
                        name, (unsigned long long)s->st.next_seq);
        goto cleanup;
    }
    if (idx == s->first_idx) {
        s->st.first_seq = first;
        s->st.next_seq = first;
    }
    /* the header */
    if (size >= WAL_HDR_SIZE) {
        rc = vx_file_read_exact(f, h, WAL_HDR_SIZE, 0, s->err);
        if (rc != VEX_OK)
            goto cleanup;
        wal_read_header(h, &fh);
        if (memcmp(fh.magic, wal_magic, 8) != 0)
            why = "bad magic";
        else if (fh.crc != vex_crc32c(h, 28))
            why = "header checksum mismatch";
        else if (fh.version > WAL_VERSION) {
            rc = vx_err_set(s->err, VEX_UNSUPPORTED,
                            "%s: format version %u is newer than %u", name,
                            fh.version, WAL_VERSION);
            goto cleanup;
        } else if (fh.version != WAL_VERSION)
            why = "bad format version";
        else if (fh.hdr_size != WAL_HDR_SIZE)
            why = "bad header size";
        else if (fh.first != first)
            why = "first sequence number differs from the file name";
    } else {
        why = "truncated header";
    }
    if (why) {
        if (last && size <= WAL_HDR_SIZE) { /* an interrupted rotation */
            s->last_torn_header = 1;
            s->st.bytes_ignored = size;
            s->last_good_end = 0;
            rc = VEX_OK;
        } else {
            rc = VX_CORRUPT(s->err, "%s: offset 0: %s", name, why);
        }
        goto cleanup;
    }
    /* the records */
    for (off = WAL_HDR_SIZE; off < size; off += end) {
        uint64_t avail = size - off, seq;
        uint32_t len;
        size_t want = avail < WAL_REC_HDR ? (size_t)avail : WAL_REC_HDR;
        rc = scan_reserve(s, WAL_REC_HDR);
        if (rc == VEX_OK)
            rc = vx_file_read_exact(f, s->buf, want, off, s->err);
        if (rc != VEX_OK)
            goto cleanup;
        why = wal_read_rec(s->buf, avail, &rh);
        len = rh.len;
        if (why == NULL) {
            end = (uint64_t)WAL_REC_HDR + len + rh.pad;
            rc = scan_reserve(s, WAL_REC_HDR + (size_t)len);
            if (rc == VEX_OK && len)
                rc = vx_file_read_exact(f, s->buf + WAL_REC_HDR, len,
                                        off + WAL_REC_HDR, s->err);
            if (rc != VEX_OK)
                goto cleanup;
            if (vex_crc32c(s->buf + WAL_REC_HDR, len) != rh.pcrc)
                why = "payload checksum mismatch";
        }
        if (why) {
            if (last)
                rc = scan_after_bad(s, f, name, off, size, why);
            else
                rc = VX_CORRUPT(s->err,
                                "%s: offset %llu: %s (not the last file)", name,
                                (unsigned long long)off, why);
            goto cleanup;
        }
        seq = rh.seq;
        if (seq != s->st.next_seq) {
            rc = VX_CORRUPT(
                s->err,
                "%s: offset %llu: sequence gap: expected %llu, found %llu",
                name, (unsigned long long)off,
                (unsigned long long)s->st.next_seq, (unsigned long long)seq);
            goto cleanup;
        }
        s->st.n_records++;
        s->st.next_seq++;
        if (s->pos)
            s->pos->offset = off;
        if (s->fn && seq >= s->from_seq) {
            s->st.n_delivered++;
            rc = s->fn(s->ctx, seq, s->buf + WAL_REC_HDR, len);
            if (rc != 0)
                goto cleanup;
        }
    }
    s->last_good_end = size;
cleanup:
    vex_file_close(f, NULL);
    return rc;
}

/* Run the reader over `dir`; s->files holds the file list afterwards. */
static int scan_dir(scan_state *s)
{
    size_t i;
    int rc;
    memset(&s->st, 0, sizeof s->st);
    s->files.mem = s->mem;
    rc = vex_vfs_list(s->vfs, s->dir, list_cb, &s->files, s->err);
    if (rc == VEX_NOMEM)
        vx_err_set(s->err, rc, "%s: out of memory listing", s->dir);
    if (rc != VEX_OK)
        return rc;
    if (s->files.n)
        qsort(s->files.v, s->files.n, sizeof *s->files.v, wal_cmp_u64);
    s->first_idx = 0;
    if (s->skip_old) /* file i holds records below the next file's first */
        while (s->first_idx + 1 < s->files.n &&
               s->files.v[s->first_idx + 1] <= s->from_seq)
            s->first_idx++;
    for (i = s->first_idx; i < s->files.n && rc == VEX_OK; i++)
        rc = scan_file(s, i);
    return rc;
}

static int replay(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                  wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                  vex_err *err, wal_replay_stats *stats, int skip_old,
                  wal_pos *pos)
{
    vex_mem mem;
    scan_state s;
    int rc;
    memset(&s, 0, sizeof s);
    s.skip_old = skip_old;
    s.pos = pos;
    if (pos)
        memset(pos, 0, sizeof *pos);
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (vfs == NULL || dir == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_wal_replay: NULL argument");
    rc = vx_mem_init(&mem, alloc);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "vx_wal_replay: bad allocator");
    s.mem = &mem;
    s.vfs = vfs;
    s.dir = dir;
    s.from_seq = from_seq;
    s.fn = fn;
    s.ctx = ctx;
    s.err = err;
    rc = scan_dir(&s);
    if (stats)
        *stats = s.st;
    vx_mem_free(&mem, s.buf);
    vx_mem_free(&mem, s.files.v);
    return rc;
}

int vx_wal_replay(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                  wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                  vex_err *err, wal_replay_stats *stats)
{
    return replay(vfs, dir, from_seq, fn, ctx, alloc, err, stats, 0, NULL);
}

int vx_wal_replay_at(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                     wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                     vex_err *err, wal_replay_stats *stats, wal_pos *pos)
{
    return replay(vfs, dir, from_seq, fn, ctx, alloc, err, stats, 0, pos);
}

int vx_wal_replay_tail(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                       wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                       vex_err *err, wal_replay_stats *stats)
{
    return replay(vfs, dir, from_seq, fn, ctx, alloc, err, stats, 1, NULL);
}

/* ---- the writer --------------------------------------------------------- */

/* Enter the ERROR state (rule 7); returns rc. */
static int wal_fail(wal *w, int rc, vex_err *err)
{
    w->sticky = rc;
    if (err)
        vx_err_copy(err, w->sticky_msg, sizeof w->sticky_msg);
    else
        snprintf(w->sticky_msg, sizeof w->sticky_msg, "%s",
                 vex_status_name(rc));
    return rc;
}

static int wal_refuse(wal *w, vex_err *err)
{
    return vx_err_set(err, w->sticky,
                      "wal: refusing to write after an earlier failure "
                      "(reopen to recover): %s",
                      w->sticky_msg);
}

/* Create file `first` (or rewrite a torn one), header durable (rule 2),
 * and make it current. The old current file must be synced already. */
static int wal_start_file(wal *w, uint64_t first, int rewrite, vex_err *err)
{
    char path[WAL_PATH_MAX];
    unsigned char h[WAL_HDR_SIZE];
    vex_file *f = NULL;
    uint64_t *p;
    int rc = wal_path(path, w->dir, first, err);
    if (rc != VEX_OK)
        goto cleanup;
    if (!rewrite && w->n_files == w->cap_files) {
        size_t cap = w->cap_files ? w->cap_files * 2 : 16;
        p = vx_mem_realloc(&w->mem, w->firsts, cap * sizeof *p);
        if (p == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "wal: out of memory");
            goto cleanup;
        }
        w->firsts = p;
        w->cap_files = cap;
    }
    wal_encode_header(h, first);
    rc = vex_vfs_open(w->vfs, path,
                      VX_FILE_READWRITE | VX_FILE_CREATE |
                          (rewrite ? VX_FILE_TRUNCATE : VX_FILE_EXCL),
                      &f, err);
    if (rc == VEX_OK)
        rc = vex_file_write(f, h, WAL_HDR_SIZE, 0, err);
    if (rc == VEX_OK)
        rc = vex_file_sync(f, VEX_SYNC_FULL, err);
    if (rc == VEX_OK)
        rc = vex_vfs_sync_dir(w->vfs, w->dir, err);
    if (rc != VEX_OK)
        goto cleanup;
    rc = vex_file_close(w->file, err);
    w->file = f;
    f = NULL;
    w->file_first = first;
    w->file_size = WAL_HDR_SIZE;
    if (!rewrite)
        w->firsts[w->n_files++] = first;
cleanup:
    vex_file_close(f, NULL);
    return rc;
}

/* Rule 3: sync the full file, then start the next one. Under w->mu;
 * waits for a running group sync first (rule 8). */
static int wal_rotate(wal *w, vex_err *err)
{
    int rc;
    while (w->syncing)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->sticky != VEX_OK)
        return wal_refuse(w, err);
    rc = vex_file_sync(w->file, VEX_SYNC_DATA, err);
    if (rc != VEX_OK)
        return rc;
    w->synced_seq = w->next_seq - 1;
    return wal_start_file(w, w->next_seq, 0, err);
}

/* Rule 8: return once every record <= seq is durable, syncing for the
 * group when no other thread is. Under w->mu. */
static int wal_wait_durable(wal *w, uint64_t seq, vex_err *err)
{
    while (w->synced_seq < seq) {
        uint64_t target;
        vex_file *f;
        int rc;
        if (w->sticky != VEX_OK)
            return wal_refuse(w, err);
        if (w->syncing) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        w->syncing = 1;
        target = w->next_seq - 1;
        f = w->file;
        pthread_mutex_unlock(&w->mu);
        rc = vex_file_sync(f, VEX_SYNC_DATA, err);
        pthread_mutex_lock(&w->mu);
        w->syncing = 0;
        if (rc != VEX_OK)
            wal_fail(w, rc, err);
        else if (target > w->synced_seq)
            w->synced_seq = target;
        pthread_cond_broadcast(&w->cv);
        if (rc != VEX_OK)
            return rc;
    }
    return VEX_OK;
}

int vx_wal_open(vex_vfs *vfs, const char *dir, const wal_options *opts,
                const vex_allocator *alloc, vex_err *err, wal **out)
{
    wal *w = NULL;
    vex_mem mem;
    scan_state s;
    char path[WAL_PATH_MAX];
    uint64_t last;
    int rc;

    memset(&s, 0, sizeof s);
    if (out)
        *out = NULL;
    if (vfs == NULL || dir == NULL || opts == NULL || out == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_wal_open: NULL argument");
    if (opts->max_file_bytes < 4096 || opts->max_file_bytes > (1ull << 40))
        return vx_err_set(err, VEX_INVALID,
                          "vx_wal_open: max_file_bytes %llu not in 4096..2^40",
                          (unsigned long long)opts->max_file_bytes);
    if (opts->first_seq == 0 || opts->first_seq == UINT64_MAX)
        return vx_err_set(err, VEX_INVALID,
                          "vx_wal_open: first_seq must be 1 .. 2^64 - 2");
    if (opts->durability != WAL_DURABILITY_FULL &&
        opts->durability != WAL_DURABILITY_NONE)
        return vx_err_set(err, VEX_INVALID, "vx_wal_open: bad durability %d",
                          opts->durability);
    rc = vx_mem_init(&mem, alloc);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "vx_wal_open: bad allocator");
    w = vx_mem_calloc(&mem, 1, sizeof *w);
    if (w == NULL)
        return vx_err_set(err, VEX_NOMEM, "vx_wal_open: out of memory");
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        vx_mem_free(&mem, w);
        return vx_err_set(err, VEX_NOMEM, "vx_wal_open: mutex");
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        vx_mem_free(&mem, w);
        return vx_err_set(err, VEX_NOMEM, "vx_wal_open: condition variable");
    }
    w->vfs = vfs;
    w->mem = mem;
    w->opts = *opts;
    w->dir = vx_vfs_strdup(&w->mem, dir);
    if (w->dir == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "vx_wal_open: out of memory");
        goto cleanup;
    }
    s.mem = &w->mem;
    s.vfs = vfs;
    s.dir = w->dir;
    s.err = err;
    rc = scan_dir(&s);
    if (rc != VEX_OK)
        goto cleanup;
    w->firsts = s.files.v;
    w->n_files = w->cap_files = s.files.n;
    w->cap_files = s.files.cap;
    s.files.v = NULL;
    w->next_seq = s.st.n_files ? s.st.next_seq : opts->first_seq;
    w->synced_seq = w->next_seq - 1;
    if (w->n_files == 0) {
        rc = wal_start_file(w, opts->first_seq, 0, err);
        goto cleanup;
    }
    last = w->firsts[w->n_files - 1];
    if (s.last_torn_header) { /* rule 2: redo the interrupted rotation */
        rc = wal_start_file(w, last, 1, err);
        goto cleanup;
    }
    rc = wal_path(path, w->dir, last, err);
    if (rc == VEX_OK)
        rc = vex_vfs_open(vfs, path, VX_FILE_READWRITE, &w->file, err);
    if (rc == VEX_OK && s.st.bytes_ignored) /* rule 6 */
        rc = vex_file_truncate(w->file, s.last_good_end, err);
    if (rc ==
        VEX_OK) /* rule 6: what we found is durable before we build on it */
        rc = vex_file_sync(w->file, VEX_SYNC_FULL, err);
    w->file_first = last;
    w->file_size = s.last_good_end;
cleanup:
    vx_mem_free(&w->mem, s.buf);
    vx_mem_free(&w->mem, s.files.v);
    if (rc != VEX_OK) {
        vx_wal_close(w, NULL);
        w = NULL;
    }
    *out = w;
    return rc;
}

/* The body of vx_wal_append, under w->mu: write the record, return its
 * sequence number in *seq. */
static int wal_write_rec(wal *w, const void *payload, size_t n, uint64_t *seq,
                         vex_err *err)
{
    size_t pad = 0, total;
    uint64_t unsynced;
    unsigned char *p;
    int rc;
    if (w->sticky != VEX_OK)
        return wal_refuse(w, err);
    if (w->next_seq == UINT64_MAX)
        return vx_err_set(err, VEX_FULL,
                          "vx_wal_append: sequence numbers exhausted");
    if (w->file_size >= w->opts.max_file_bytes && w->file_size > WAL_HDR_SIZE) {
        rc = wal_rotate(w, err);
        if (rc != VEX_OK)
            return w->sticky != VEX_OK ? rc : wal_fail(w, rc, err);
    }
    total = WAL_REC_HDR + n;
    if (w->opts.durability == WAL_DURABILITY_FULL)
        pad = (size_t)((WAL_SECTOR - (w->file_size + total) % WAL_SECTOR) %
                       WAL_SECTOR);
    total += pad;
    if (total > w->buf_cap) {
        p = vx_mem_realloc(&w->mem, w->buf, total);
        if (p == NULL)
            return vx_err_set(err, VEX_NOMEM, "vx_wal_append: out of memory");
        w->buf = p;
        w->buf_cap = total;
    }
    unsynced = w->next_seq - 1 - w->synced_seq;
    wal_encode_rec(w->buf, (uint32_t)n, (uint32_t)pad, w->next_seq,
                   unsynced > UINT32_MAX ? UINT32_MAX : (uint32_t)unsynced,
                   vex_crc32c(payload ? payload : "", n));
    if (n)
        memcpy(w->buf + WAL_REC_HDR, payload, n);
    if (pad)
        memset(w->buf + WAL_REC_HDR + n, 0, pad);
    rc = vex_file_write(w->file, w->buf, total, w->file_size, err);
    if (rc != VEX_OK)
        return wal_fail(w, rc, err);
    w->file_size += total;
    *seq = w->next_seq++;
    return VEX_OK;
}

int vx_wal_append(wal *w, const void *payload, size_t n, uint64_t *seq,
                  vex_err *err)
{
    uint64_t s = 0;
    int rc;
    if (w == NULL || (payload == NULL && n))
        return vx_err_set(err, VEX_INVALID, "vx_wal_append: NULL argument");
    if (n > WAL_MAX_PAYLOAD)
        return vx_err_set(err, VEX_INVALID,
                          "vx_wal_append: %zu bytes is more than %u", n,
                          WAL_MAX_PAYLOAD);
    pthread_mutex_lock(&w->mu);
    rc = wal_write_rec(w, payload, n, &s, err);
    if (rc == VEX_OK && w->opts.durability == WAL_DURABILITY_FULL)
        rc = wal_wait_durable(w, s, err);
    pthread_mutex_unlock(&w->mu);
    if (rc == VEX_OK && seq)
        *seq = s;
    return rc;
}

int vx_wal_sync(wal *w, vex_err *err)
{
    int rc;
    if (w == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_wal_sync: NULL argument");
    pthread_mutex_lock(&w->mu);
    if (w->sticky != VEX_OK)
        rc = wal_refuse(w, err);
    else
        rc = wal_wait_durable(w, w->next_seq - 1, err);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t vx_wal_next_seq(wal *w)
{
    uint64_t s;
    pthread_mutex_lock(&w->mu);
    s = w->next_seq;
    pthread_mutex_unlock(&w->mu);
    return s;
}

int vx_wal_new_file(wal *w, vex_err *err)
{
    int rc = VEX_OK;
    if (w == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_wal_new_file: NULL");
    pthread_mutex_lock(&w->mu);
    if (w->sticky != VEX_OK)
        rc = wal_refuse(w, err);
    else if (w->file_size > WAL_HDR_SIZE) {
        rc = wal_rotate(w, err);
        if (rc != VEX_OK && w->sticky == VEX_OK)
            rc = wal_fail(w, rc, err);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int vx_wal_drop_before(wal *w, uint64_t seq, vex_err *err)
{
    char path[WAL_PATH_MAX];
    size_t k = 0, i;
    int rc = VEX_OK;
    if (w == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_wal_drop_before: NULL");
    pthread_mutex_lock(&w->mu);
    if (w->sticky != VEX_OK) {
        rc = wal_refuse(w, err);
        goto cleanup;
    }
    /* file i holds firsts[i] .. firsts[i+1]-1: all < seq iff
     * firsts[i+1] <= seq; the last (current) file is kept */
    while (k + 1 < w->n_files && w->firsts[k + 1] <= seq) {
        rc = wal_path(path, w->dir, w->firsts[k], err);
        if (rc == VEX_OK)
            rc = vex_vfs_remove(w->vfs, path, err);
        if (rc != VEX_OK && rc != VEX_NOTFOUND)
            break;
        rc = VEX_OK;
        k++;
    }
    if (k) {
        for (i = k; i < w->n_files; i++)
            w->firsts[i - k] = w->firsts[i];
        w->n_files -= k;
        if (rc == VEX_OK)
            rc = vex_vfs_sync_dir(w->vfs, w->dir, err);
    }
cleanup:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int vx_wal_close(wal *w, vex_err *err)
{
    vex_mem mem;
    int rc;
    if (w == NULL)
        return VEX_OK;
    mem = w->mem;
    rc = vex_file_close(w->file, err);
    vx_mem_free(&mem, w->buf);
    vx_mem_free(&mem, w->firsts);
    vx_mem_free(&mem, w->dir);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    vx_mem_free(&mem, w);
    return rc;
}
