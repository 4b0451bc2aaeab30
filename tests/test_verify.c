/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_verify.c - vex_db_verify, vex_dump_file and vex_backup.
 *
 * Verify: a clean database (HNSW and flat collections, metadata,
 * payloads, deletes, segments and a log after them) verifies with no
 * finding; then each kind of damage, made on a fresh copy, must be
 * reported as an ERROR naming the right file and byte offset: a flipped
 * byte in the marker, CURRENT, a manifest, a segment's ids and index
 * sections and a log file header, a truncated segment, a bad graph edge
 * and a bad log operation (both with every checksum recomputed, so only
 * the structural checks can find them); a torn log tail is a WARNING.
 * Dump: every file kind lists, damage gives VEX_CORRUPT and a "damage:"
 * line, never a crash. Backup: while a writer thread keeps inserting ids
 * 0, 1, 2, ... (each its own commit) and flushing, a backup must open,
 * verify clean and hold exactly ids 0 .. m-1 for some m; verify runs
 * beside that writer without errors too. The same with a writer PROCESS
 * (fork) and read-only handles here, then the writer killed with SIGKILL:
 * the database still verifies and opens.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "util/crc32c.h"
#include "vexdb.h"

#define DIM 8

static char tmp_root[256];

/* ---- helpers ---------------------------------------------------------- */

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_verify_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp_root, name);
}

static void vec_of(uint64_t id, float *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] =
            (float)((id * 2654435761u + (uint64_t)d * 40503u) % 1000) / 100.0f +
            1.0f;
}

static vex_db *open_db(const char *path, int create, int read_only)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    vex_db_options_init(&o);
    o.create_if_missing = create;
    o.read_only = read_only;
    o.n_threads = 2;
    o.background_threads = 1;
    o.memtable_bytes = 1u << 20;
    o.flush_on_close = 0;
    rc = vex_db_open(path, &o, &db);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex_db_open(%s): %s: %s\n", path, vex_status_name(rc),
                vex_db_errmsg(db));
        vex_db_close(db);
        return NULL;
    }
    return db;
}

/* A database "clean": collection "h" (HNSW, metadata and payloads, 400
 * rows flushed, then deletes, then 50 more rows only in the log) and "f"
 * (flat, 100 rows flushed). */
static int make_db(const char *path)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_meta *m = NULL;
    vex_db *db;
    float v[DIM];
    int rc = VEX_OK;
    rm_rf(path);
    if ((db = open_db(path, 1, 0)) == NULL)
        return VEX_IOERR;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    rc = vex_collection_create(db, "h", &cfg, &c);
    if (rc == VEX_OK)
        rc = vex_meta_create(NULL, &m);
    for (uint64_t id = 0; id < 400 && rc == VEX_OK; id++) {
        vex_record r;
        char pay[32];
        vec_of(id, v);
        vex_meta_clear(m);
        vex_meta_set_int(m, "year", 2000 + (int64_t)(id % 30));
        vex_meta_set_string(m, "lang", id % 2 ? "en" : "de", 2);
        vex_record_init(&r);
        r.id = id;
        r.vector = v;
        r.meta = m;
        snprintf(pay, sizeof pay, "payload %llu", (unsigned long long)id);
        r.payload = pay;
        r.payload_len = strlen(pay);
        rc = vex_insert_record(c, &r);
    }
    if (rc == VEX_OK)
        rc = vex_flush(c);
    for (uint64_t id = 0; id < 40 && rc == VEX_OK; id += 4)
        rc = vex_delete(c, id);
    for (uint64_t id = 1000; id < 1050 && rc == VEX_OK; id++) {
        vec_of(id, v);
        rc = vex_insert(c, id, v);
    }
    vex_collection_close(c);
    c = NULL;
    vex_meta_free(m);
    cfg.index_kind = VEX_INDEX_FLAT;
    if (rc == VEX_OK)
        rc = vex_collection_create(db, "f", &cfg, &c);
    for (uint64_t id = 0; id < 100 && rc == VEX_OK; id++) {
        vec_of(id + 7, v);
        rc = vex_insert(c, id, v);
    }
    if (rc == VEX_OK)
        rc = vex_flush(c);
    vex_collection_close(c);
    if (rc != VEX_OK)
        fprintf(stderr, "make_db: %s: %s\n", vex_status_name(rc),
                vex_db_errmsg(db));
    vex_db_close(db);
    return rc;
}

/* The first file of `dir` whose name starts with `prefix` (full path). */
static int find_file(const char *dir, const char *prefix, char *out, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
            (best[0] == '\0' || strcmp(e->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    if (best[0] == '\0')
        return 0;
    snprintf(out, n, "%s/%s", dir, best);
    return 1;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int write_all(const char *path, const unsigned char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL)
        return 0;
    ok = fwrite(p, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static void flip(const char *path, uint64_t off)
{
    size_t len;
    unsigned char *p = read_all(path, &len);
    CHECK(p != NULL && off < len);
    if (p && off < len) {
        p[off] ^= 0x5a;
        CHECK(write_all(path, p, len));
    }
    free(p);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* ---- findings --------------------------------------------------------- */

#define MAX_FOUND 64
typedef struct found {
    int n, errors, warnings;
    int sev[MAX_FOUND], status[MAX_FOUND];
    char file[MAX_FOUND][160], coll[MAX_FOUND][80];
    uint64_t off[MAX_FOUND];
    char msg[MAX_FOUND][600];
} found;

static int on_finding(void *ctx, const vex_finding *f)
{
    found *fd = ctx;
    if (f->severity == VEX_SEVERITY_ERROR)
        fd->errors++;
    if (f->severity == VEX_SEVERITY_WARNING)
        fd->warnings++;
    if (fd->n < MAX_FOUND) {
        int i = fd->n++;
        fd->sev[i] = f->severity;
        fd->status[i] = f->status;
        snprintf(fd->file[i], sizeof fd->file[i], "%s", f->file);
        snprintf(fd->coll[i], sizeof fd->coll[i], "%s", f->collection);
        fd->off[i] = f->offset;
        snprintf(fd->msg[i], sizeof fd->msg[i], "%s", f->message);
    }
    if (getenv("VEX_TEST_VERBOSE"))
        fprintf(stderr, "  finding %d %s %s @%llu: %s\n", f->severity,
                f->collection, f->file, (unsigned long long)f->offset,
                f->message);
    return 0;
}

static int verify(const char *path, found *fd, vex_verify_report *rep)
{
    vex_verify_options o;
    memset(fd, 0, sizeof *fd);
    vex_verify_options_init(&o);
    o.on_finding = on_finding;
    o.ctx = fd;
    if (rep)
        vex_verify_report_init(rep);
    return vex_db_verify(path, &o, rep);
}

/* The index of an ERROR finding about a file whose name ends with `file`
 * (after the last '/'; "" any) and whose message contains `what` (NULL:
 * any), or -1. */
static int has_error(const found *fd, const char *file, const char *what)
{
    for (int i = 0; i < fd->n; i++) {
        const char *base = strrchr(fd->file[i], '/');
        base = base ? base + 1 : fd->file[i];
        if (fd->sev[i] == VEX_SEVERITY_ERROR &&
            (file[0] == '\0' || strcmp(base, file) == 0) &&
            (what == NULL || strstr(fd->msg[i], what) != NULL))
            return i;
    }
    return -1;
}

static void dump_found(const found *fd)
{
    for (int i = 0; i < fd->n; i++)
        fprintf(stderr, "    [%d] %s %s @%llu: %s\n", fd->sev[i], fd->coll[i],
                fd->file[i], (unsigned long long)fd->off[i], fd->msg[i]);
}

/* ---- verify: clean ---------------------------------------------------- */

static char clean[300];

static void test_clean(void)
{
    found fd;
    vex_verify_report rep;
    vex_verify_options o;
    int rc;
    path_of(clean, sizeof clean, "clean");
    CHECK_RC(make_db(clean), VEX_OK);
    rc = verify(clean, &fd, &rep);
    CHECK_EQ_INT(rc, VEX_OK);
    CHECK_EQ_INT(fd.n, 0);
    if (fd.n)
        dump_found(&fd);
    CHECK_EQ_INT((int)rep.errors, 0);
    CHECK_EQ_INT((int)rep.warnings, 0);
    CHECK_EQ_INT((int)rep.collections, 2);
    CHECK_EQ_INT((int)rep.segments, 2);
    CHECK(rep.log_records >= 60); /* 10 deletes + 50 inserts after flush */
    CHECK(rep.log_files >= 2);
    CHECK_EQ_INT((int)rep.rows, 500);
    CHECK(rep.graph_nodes >= 400 && rep.graph_links > 400);
    CHECK(rep.files >= 8 && rep.bytes > 8192);
    /* INFO findings on request: one per file at least */
    vex_verify_options_init(&o);
    o.on_finding = on_finding;
    o.ctx = &fd;
    o.report_info = 1;
    memset(&fd, 0, sizeof fd);
    CHECK_RC(vex_db_verify(clean, &o, NULL), VEX_OK);
    CHECK(fd.n >= 6 && fd.errors == 0 && fd.warnings == 0);
    /* one collection only; an unknown one */
    memset(&fd, 0, sizeof fd);
    o.report_info = 0;
    o.collection = "f";
    vex_verify_report_init(&rep);
    CHECK_RC(vex_db_verify(clean, &o, &rep), VEX_OK);
    CHECK_EQ_INT((int)rep.collections, 1);
    o.collection = "nope";
    CHECK_RC(vex_db_verify(clean, &o, NULL), VEX_NOTFOUND);
    CHECK(has_error(&fd, "", "no collection \"nope\"") >= 0);
    /* not a database */
    CHECK_RC(verify("/nonexistent/vex", &fd, NULL), VEX_NOTFOUND);
    CHECK_EQ_INT(fd.errors, 1);
    CHECK_RC(vex_db_verify(NULL, NULL, NULL), VEX_MISUSE);
    /* the database opens after all this (verify wrote nothing) */
    {
        vex_db *db = open_db(clean, 0, 0);
        vex_collection *c = NULL;
        CHECK(db != NULL);
        if (db) {
            CHECK_RC(vex_collection_open(db, "h", &c), VEX_OK);
            if (c)
                CHECK_EQ_INT((int)vex_collection_count(c), 440);
            vex_collection_close(c);
            vex_db_close(db);
        }
        CHECK_RC(verify(clean, &fd, NULL), VEX_OK);
    }
}

/* ---- verify: damage --------------------------------------------------- */

static char work[300];

/* A fresh copy of the clean database in `work`. */
static void fresh(void)
{
    char cmd[800];
    if (clean[0] == '\0') { /* test_clean was not selected */
        path_of(clean, sizeof clean, "clean");
        CHECK_RC(make_db(clean), VEX_OK);
    }
    path_of(work, sizeof work, "work");
    rm_rf(work);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", clean, work);
    CHECK(system(cmd) == 0);
}

static void coll_file(const char *coll, const char *prefix, char *out, size_t n)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/collections/%s", work, coll);
    CHECK(find_file(dir, prefix, out, n));
}

/* Expect an ERROR about file `base` (a bare name, "" any) containing
 * `what`, at offset `off` (VEX_NO_OFFSET: any offset but that one is
 * fine only if want_off is 0). */
static void expect_damage(const char *base, const char *what, uint64_t lo,
                          uint64_t hi)
{
    found fd;
    int rc = verify(work, &fd, NULL), i;
    CHECK(rc != VEX_OK);
    i = has_error(&fd, base, what);
    CHECK_MSG(i >= 0, "no error about %s (%s)", base, what ? what : "");
    if (i >= 0)
        CHECK_MSG(fd.off[i] >= lo && fd.off[i] <= hi,
                  "offset %llu not in %llu..%llu: %s",
                  (unsigned long long)fd.off[i], (unsigned long long)lo,
                  (unsigned long long)hi, fd.msg[i]);
    if (i < 0 || getenv("VEX_TEST_VERBOSE"))
        dump_found(&fd);
}

static void test_damage_marker_current_manifest(void)
{
    char p[600];
    fresh();
    snprintf(p, sizeof p, "%s/VEXDB", work);
    flip(p, 17);
    expect_damage("VEXDB", "checksum", 28, 28);

    fresh();
    coll_file("h", "CURRENT", p, sizeof p);
    flip(p, 30);
    expect_damage("CURRENT", NULL, 25, 34);

    fresh();
    coll_file("h", "MANIFEST-", p, sizeof p);
    flip(p, 150); /* inside the configuration */
    {
        /* the CRC field: the last 4 bytes (the clean close published a
         * manifest that lists the 10 deletes of segment rows) */
        struct stat st;
        CHECK(stat(p, &st) == 0);
        expect_damage("", "checksum mismatch", (uint64_t)st.st_size - 4,
                      (uint64_t)st.st_size - 4);
    }
    {
        /* the finding is about the manifest file */
        found fd;
        verify(work, &fd, NULL);
        CHECK(fd.n > 0 && strstr(fd.file[0], "MANIFEST-") != NULL &&
              strcmp(fd.coll[0], "h") == 0);
    }
}

/* The segment file of collection `coll`, its bytes, and its index
 * section's offset and length (0 when none). */
static unsigned char *load_seg(const char *coll, char *p, size_t n, size_t *len,
                               uint64_t *ioff, uint64_t *ilen, int *isec)
{
    unsigned char *s;
    coll_file(coll, "seg-", p, n);
    s = read_all(p, len);
    *ioff = *ilen = 0;
    for (int i = 0; s && i < 16; i++) {
        const unsigned char *e = s + 88 + 24 * i;
        if (rd32(e) == 2) {
            *ioff = rd64(e + 8);
            *ilen = rd64(e + 16);
            *isec = i;
        }
    }
    return s;
}

static void test_damage_segment(void)
{
    char p[600], name[64];
    size_t len;
    uint64_t ioff, ilen;
    int isec = -1;
    unsigned char *s;

    fresh(); /* the ids section (the first, at 4096) */
    s = load_seg("h", p, sizeof p, &len, &ioff, &ilen, &isec);
    snprintf(name, sizeof name, "%s", strrchr(p, '/') + 1);
    free(s);
    flip(p, 4096 + 3);
    expect_damage(name, "checksum", 4096, 4096 + 8 * 400);

    fresh(); /* the index section: its checksum */
    s = load_seg("h", p, sizeof p, &len, &ioff, &ilen, &isec);
    free(s);
    CHECK(ioff >= 4096 && ilen > 384);
    flip(p, ioff + ilen / 2);
    expect_damage(name, "index section checksum", ioff, ioff);

    fresh(); /* truncated */
    coll_file("h", "seg-", p, sizeof p);
    CHECK(truncate(p, 4096 + 100) == 0);
    expect_damage(name, NULL, 0, 4096 + 100);

    fresh(); /* the flat collection's segment, a vector in its index */
    s = load_seg("f", p, sizeof p, &len, &ioff, &ilen, &isec);
    snprintf(name, sizeof name, "%s", strrchr(p, '/') + 1);
    free(s);
    flip(p, ioff + 384 + 3);
    expect_damage(name, NULL, ioff, ioff + ilen);
}

/* A level-0 link of HNSW slot 0 pointing out of range, with the blob's
 * section and header CRCs and the segment's section and header CRCs all
 * recomputed: only the graph check can see it. */
static void test_damage_graph_edge(void)
{
    char p[600], name[64];
    size_t len;
    uint64_t ioff, ilen, soff = 0, slen = 0, slot_bytes, want;
    int isec = -1, ssec = -1;
    unsigned char *s, *b;
    fresh();
    s = load_seg("h", p, sizeof p, &len, &ioff, &ilen, &isec);
    snprintf(name, sizeof name, "%s", strrchr(p, '/') + 1);
    CHECK(s != NULL && isec >= 0);
    if (s == NULL || isec < 0)
        return;
    b = s + ioff;
    CHECK(memcmp(b, "VEXINDEX", 8) == 0 && rd32(b + 16) == 2);
    slot_bytes = rd64(b + 80);
    for (int i = 0; i < (int)rd32(b + 60); i++) {
        const unsigned char *e = b + 112 + 24 * i;
        if (rd32(e) == 4) {
            soff = rd64(e + 8);
            slen = rd64(e + 16);
            ssec = i;
        }
    }
    CHECK(ssec >= 0 && slen >= slot_bytes);
    /* float32 dim 8: a = 32; count at a + 4, links from a + 8 */
    CHECK(rd32(b + soff + 36) >= 1);
    wr32(b + soff + 40, 0x7fffff);
    want = ioff + soff + 40;
    wr32(b + 112 + 24 * ssec + 4, vex_crc32c(b + soff, (size_t)slen));
    wr32(b + 380, vex_crc32c(b, 380));
    wr32(s + 88 + 24 * isec + 4, vex_crc32c(b, (size_t)ilen));
    wr32(s + 508, vex_crc32c(s, 508));
    CHECK(write_all(p, s, len));
    free(s);
    expect_damage(name, "out of range", want, want);
}

/* Log damage: a file header byte (an error in a file that is not a torn
 * tail), a bad operation kind with both record CRCs recomputed, and a
 * truncated last record (a warning). */
static void test_damage_log(void)
{
    char dir[600], p[700], name[64];
    size_t len;
    unsigned char *w;
    uint32_t plen;
    found fd;
    int rc;

    fresh();
    snprintf(dir, sizeof dir, "%s/collections/h/wal", work);
    CHECK(find_file(dir, "wal-", p, sizeof p));
    snprintf(name, sizeof name, "%s", strrchr(p, '/') + 1);
    flip(p, 16);
    expect_damage(name, NULL, 0, 0);

    fresh(); /* the last log file holds the 10 deletes and 50 inserts */
    snprintf(dir, sizeof dir, "%s/collections/h/wal", work);
    {
        DIR *d = opendir(dir);
        struct dirent *e;
        char last[256] = "";
        while (d && (e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "wal-", 4) == 0 &&
                strcmp(e->d_name, last) > 0)
                snprintf(last, sizeof last, "%s", e->d_name);
        if (d)
            closedir(d);
        /* checked, so that gcc's truncation warning (-O0) stays quiet */
        CHECK(snprintf(p, sizeof p, "%s/%s", dir, last) < (int)sizeof p);
        CHECK(snprintf(name, sizeof name, "%s", last) < (int)sizeof name);
    }
    w = read_all(p, &len);
    CHECK(w != NULL && len > 512 + 32 + 24);
    if (w == NULL)
        return;
    plen = rd32(w + 512);
    CHECK(memcmp(w + 512 + 32, "VOP1", 4) == 0);
    w[512 + 32 + 8] = 9; /* the first operation's kind */
    wr32(w + 512 + 24, vex_crc32c(w + 512 + 32, plen));
    wr32(w + 512 + 28, vex_crc32c(w + 512, 28));
    CHECK(write_all(p, w, len));
    expect_damage(name, "log record", 512 + 32 + 8, 512 + 32 + 8);
    free(w);

    /* A torn tail: the clean close published a manifest saying how far
     * the log reaches (as_of_seq), so records cut from the end of the
     * last log file are missing, which an open refuses (VEX_CORRUPT):
     * damage. (Without such a manifest, as after a crash, a torn tail is
     * the interrupted last write and only a warning.) */
    fresh();
    snprintf(p + strlen(p) - strlen(name), sizeof p - strlen(p) + strlen(name),
             "%s", name);
    {
        struct stat st;
        char q[700];
        snprintf(q, sizeof q, "%s/collections/h/wal/%s", work, name);
        CHECK(stat(q, &st) == 0);
        CHECK(truncate(q, st.st_size - 5) == 0);
        rc = verify(work, &fd, NULL);
        CHECK(rc != VEX_OK);
        CHECK(fd.errors >= 1);
        CHECK(has_error(&fd, "wal", "records are missing") >= 0);
    }
}

/* Every damage above at once: one run reports each file. */
static void test_damage_many(void)
{
    char p[600];
    found fd;
    fresh();
    coll_file("h", "seg-", p, sizeof p);
    flip(p, 4096 + 3);
    coll_file("f", "seg-", p, sizeof p);
    flip(p, 4096 + 3);
    coll_file("f", "MANIFEST-", p, sizeof p);
    flip(p, 150);
    CHECK(verify(work, &fd, NULL) == VEX_CORRUPT);
    CHECK(fd.errors >= 2);
    {
        int i = has_error(&fd, "", "checksum mismatch");
        CHECK(i >= 0 && strstr(fd.file[i], "collections/f/MANIFEST-") != NULL);
    }
    {
        int h = 0;
        for (int i = 0; i < fd.n; i++)
            if (strcmp(fd.coll[i], "h") == 0 && strstr(fd.file[i], "seg-"))
                h = 1;
        CHECK(h);
    }
}

/* ---- backup ----------------------------------------------------------- */

typedef struct writer {
    vex_collection *c;
    _Atomic uint64_t acked; /* ids 0 .. acked-1 are acknowledged */
    _Atomic int stop;
    int rc;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    float v[DIM];
    for (uint64_t id = 0; !atomic_load(&w->stop); id++) {
        vec_of(id, v);
        w->rc = vex_insert(w->c, id, v);
        if (w->rc != VEX_OK)
            break;
        atomic_store(&w->acked, id + 1);
        if (id % 400 == 399 && (w->rc = vex_flush(w->c)) != VEX_OK)
            break;
    }
    return NULL;
}

/* The backup at `dest` verifies clean, opens, and holds exactly ids
 * 0 .. n-1 of collection "w", lo <= n <= hi. */
static void check_backup(const char *dest, uint64_t lo, uint64_t hi)
{
    found fd;
    vex_db *db;
    vex_collection *c = NULL;
    float v[DIM], want[DIM];
    uint64_t n;
    CHECK_RC(verify(dest, &fd, NULL), VEX_OK);
    CHECK_EQ_INT(fd.errors, 0);
    if (fd.n)
        dump_found(&fd);
    db = open_db(dest, 0, 0); /* writable: recovery runs on the copy */
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(vex_collection_open(db, "w", &c), VEX_OK);
    if (c) {
        n = vex_collection_count(c);
        CHECK_MSG(n >= lo && n <= hi, "backup holds %llu rows, not %llu..%llu",
                  (unsigned long long)n, (unsigned long long)lo,
                  (unsigned long long)hi);
        for (uint64_t id = 0; id < n; id++) {
            int rc = vex_get(c, id, v);
            vec_of(id, want);
            if (rc != VEX_OK || memcmp(v, want, sizeof v) != 0) {
                CHECK_MSG(0, "id %llu of a prefix of %llu: %s",
                          (unsigned long long)id, (unsigned long long)n,
                          vex_status_name(rc));
                break;
            }
        }
        CHECK_RC(vex_get(c, n, v), VEX_NOTFOUND);
        /* the copy takes writes */
        vec_of(n, v);
        CHECK_RC(vex_insert(c, n, v), VEX_OK);
    }
    vex_collection_close(c);
    vex_db_close(db);
    CHECK_RC(verify(dest, &fd, NULL), VEX_OK);
}

static void test_backup_beside_writer(void)
{
    char src[300], dest[320], p[400];
    vex_collection_config cfg;
    vex_backup_options bo;
    vex_backup_report rep;
    vex_db *db, *ro;
    pthread_t th;
    writer w;
    found fd;
    int rc;

    path_of(src, sizeof src, "live");
    rm_rf(src);
    db = open_db(src, 1, 0);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    memset(&w, 0, sizeof w);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    CHECK_RC(vex_collection_create(db, "w", &cfg, &w.c), VEX_OK);
    if (w.c == NULL) {
        vex_db_close(db);
        return;
    }
    pthread_create(&th, NULL, writer_main, &w);
    while (atomic_load(&w.acked) < 600 && w.rc == VEX_OK)
        usleep(1000);
    for (int i = 0; i < 4; i++) {
        uint64_t lo = atomic_load(&w.acked), hi;
        snprintf(dest, sizeof dest, "%s/backup%d", tmp_root, i);
        rm_rf(dest);
        vex_backup_options_init(&bo);
        bo.hard_link = i % 2;
        vex_backup_report_init(&rep);
        if (i == 3) { /* from a read-only handle of another "process" */
            ro = open_db(src, 0, 1);
            CHECK(ro != NULL);
            rc = ro ? vex_backup(ro, dest, &bo, &rep) : VEX_IOERR;
            if (rc != VEX_OK)
                fprintf(stderr, "backup: %s\n", vex_db_errmsg(ro));
            vex_db_close(ro);
        } else {
            rc = vex_backup(db, dest, &bo, &rep);
            if (rc != VEX_OK)
                fprintf(stderr, "backup: %s\n", vex_db_errmsg(db));
        }
        hi = atomic_load(&w.acked) + 1; /* one insert may be in flight */
        if (getenv("VEX_TEST_VERBOSE"))
            fprintf(stderr,
                    "  backup %d: acked %llu..%llu, %llu segments (%llu "
                    "linked), %llu log records, %llu bytes\n",
                    i, (unsigned long long)lo, (unsigned long long)hi,
                    (unsigned long long)rep.segments,
                    (unsigned long long)rep.linked,
                    (unsigned long long)rep.log_records,
                    (unsigned long long)rep.bytes);
        CHECK_RC(rc, VEX_OK);
        CHECK_EQ_INT((int)rep.collections, 1);
        if (bo.hard_link)
            CHECK(rep.linked == rep.segments);
        else
            CHECK_EQ_INT((int)rep.linked, 0);
        /* verify beside the writer: nothing it does is damage */
        CHECK_RC(verify(src, &fd, NULL), VEX_OK);
        CHECK_EQ_INT(fd.errors, 0);
        if (fd.errors)
            dump_found(&fd);
        check_backup(dest, lo, hi);
        while (atomic_load(&w.acked) < lo + 500 && w.rc == VEX_OK)
            usleep(1000);
    }
    /* refusals: dest exists, its parent does not, a partial one is left */
    CHECK_RC(vex_backup(db, dest, NULL, NULL), VEX_EXISTS);
    CHECK(strstr(vex_db_errmsg(db), "exists") != NULL);
    snprintf(p, sizeof p, "%s/no/such/dir", tmp_root);
    CHECK_RC(vex_backup(db, p, NULL, NULL), VEX_NOTFOUND);
    snprintf(p, sizeof p, "%s/b5.partial", tmp_root);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/b5", tmp_root);
    CHECK_RC(vex_backup(db, p, NULL, NULL), VEX_EXISTS);
    CHECK(strstr(vex_db_errmsg(db), "remove it") != NULL);
    CHECK_RC(vex_backup(db, NULL, NULL, NULL), VEX_MISUSE);
    /* a trailing slash names the same new directory */
    snprintf(p, sizeof p, "%s/b6//", tmp_root);
    CHECK_RC(vex_backup(db, p, NULL, NULL), VEX_OK);
    snprintf(p, sizeof p, "%s/b6", tmp_root);
    CHECK_RC(verify(p, &fd, NULL), VEX_OK);
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    CHECK_RC(w.rc, VEX_OK);
    vex_collection_close(w.c);
    CHECK_RC(vex_db_close(db), VEX_OK);
    CHECK_RC(verify(src, &fd, NULL), VEX_OK);
}

typedef struct progress_log {
    int calls, stop_at;
    uint64_t last_done, last_total;
    int monotonic;
} progress_log;

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress_log *p = ctx;
    if (done < p->last_done || total < done)
        p->monotonic = 0;
    p->last_done = done;
    p->last_total = total;
    return ++p->calls == p->stop_at ? 77 : 0;
}

/* The progress callback: called with growing counts, the last call with
 * done = total; a non-zero return stops the backup, is returned, and
 * leaves nothing behind. */
static void test_backup_progress(void)
{
    char dest[400];
    progress_log pl;
    vex_backup_options bo;
    vex_db *db;
    struct stat st;
    fresh();
    db = open_db(work, 0, 1);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    vex_backup_options_init(&bo);
    bo.progress = on_progress;
    bo.progress_ctx = &pl;
    memset(&pl, 0, sizeof pl);
    pl.monotonic = 1;
    snprintf(dest, sizeof dest, "%s/progress_backup", tmp_root);
    rm_rf(dest);
    CHECK_RC(vex_backup(db, dest, &bo, NULL), VEX_OK);
    CHECK(pl.calls >= 1 && pl.monotonic);
    CHECK(pl.last_done == pl.last_total && pl.last_done > 100000);
    rm_rf(dest);
    memset(&pl, 0, sizeof pl);
    pl.monotonic = 1;
    pl.stop_at = 1;
    CHECK_RC(vex_backup(db, dest, &bo, NULL), 77);
    CHECK(strstr(vex_db_errmsg(db), "progress callback") != NULL);
    CHECK(stat(dest, &st) != 0);
    snprintf(dest + strlen(dest), sizeof dest - strlen(dest), ".partial");
    CHECK(stat(dest, &st) != 0);
    vex_db_close(db);
}

/* A damaged source: the copy does not verify, nothing is left at dest. */
static void test_backup_damaged(void)
{
    char p[600], dest[400];
    vex_db *db;
    int kind;
    struct stat st;
    fresh();
    coll_file("h", "seg-", p, sizeof p);
    flip(p, 4096 + 3);
    db = open_db(work, 0, 1);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    snprintf(dest, sizeof dest, "%s/bad_backup", tmp_root);
    CHECK_RC(vex_backup(db, dest, NULL, NULL), VEX_CORRUPT);
    CHECK(strstr(vex_db_errmsg(db), "does not verify") != NULL &&
          strstr(vex_db_errmsg(db), "seg-") != NULL);
    kind = stat(dest, &st);
    CHECK(kind != 0);
    snprintf(p, sizeof p, "%s.partial", dest);
    CHECK(stat(p, &st) != 0);
    vex_db_close(db);
}

/* ---- dump ------------------------------------------------------------- */

typedef struct lines {
    int n, damage, error;
    char all[65536];
    size_t used;
} lines;

static int on_line(void *ctx, const char *line)
{
    lines *l = ctx;
    size_t n = strlen(line);
    l->n++;
    if (strncmp(line, "damage: ", 8) == 0)
        l->damage++;
    if (strncmp(line, "error: ", 7) == 0)
        l->error++;
    if (l->used + n + 2 < sizeof l->all) {
        memcpy(l->all + l->used, line, n);
        l->all[l->used + n] = '\n';
        l->used += n + 1;
        l->all[l->used] = '\0';
    }
    if (getenv("VEX_TEST_VERBOSE"))
        fprintf(stderr, "  | %s\n", line);
    return 0;
}

static int dump(const char *path, lines *l, uint64_t max_items)
{
    vex_dump_options o;
    memset(l, 0, sizeof *l);
    vex_dump_options_init(&o);
    o.max_items = max_items;
    return vex_dump_file(path, &o, on_line, l);
}

static void test_dump_kinds(void)
{
    char p[600], dir[400];
    lines l;
    fresh();
    snprintf(p, sizeof p, "%s/VEXDB", work);
    CHECK_RC(dump(p, &l, 16), VEX_OK);
    CHECK(strstr(l.all, "database marker") && strstr(l.all, "checksum"));
    coll_file("h", "CURRENT", p, sizeof p);
    CHECK_RC(dump(p, &l, 16), VEX_OK);
    CHECK(strstr(l.all, "names MANIFEST-") && strstr(l.all, ": ok"));
    coll_file("h", "MANIFEST-", p, sizeof p);
    CHECK_RC(dump(p, &l, 16), VEX_OK);
    CHECK(strstr(l.all, "collection \"h\": dim 8") && strstr(l.all, "seg-") &&
          strstr(l.all, "1..400, 10 deleted") &&
          strstr(l.all, "flushed_seq 400"));
    coll_file("h", "seg-", p, sizeof p);
    CHECK_RC(dump(p, &l, 5), VEX_OK);
    CHECK(strstr(l.all, "400 rows, 400 keys") &&
          strstr(l.all, "ids (kind 1)") && strstr(l.all, "id 4 -> key") &&
          strstr(l.all, "... 395 more rows") && strstr(l.all, "year: int") &&
          strstr(l.all, "graph: 400 nodes") && l.damage == 0);
    CHECK_RC(dump(p, &l, 0), VEX_OK);
    CHECK(strstr(l.all, "id 399 -> key") != NULL);
    snprintf(dir, sizeof dir, "%s/collections/h/wal", work);
    CHECK(find_file(dir, "wal-", p, sizeof p));
    CHECK_RC(dump(p, &l, 0), VEX_OK);
    CHECK(strstr(l.all, "record 401 at offset 512") &&
          strstr(l.all, "delete id 0") && strstr(l.all, "record 460") &&
          strstr(l.all, "insert id 1049 with a vector"));
    /* damage: a flipped segment id, a truncated log, not ours, missing */
    coll_file("h", "seg-", p, sizeof p);
    flip(p, 4096 + 3);
    CHECK_RC(dump(p, &l, 16), VEX_CORRUPT);
    CHECK(l.damage == 1 && strstr(l.all, "MISMATCH") &&
          strstr(l.all, "at offset 4096"));
    CHECK(find_file(dir, "wal-", p, sizeof p));
    flip(p, 512 + 40);
    CHECK_RC(dump(p, &l, 4), VEX_CORRUPT);
    CHECK(strstr(l.all, "bad record at offset 512") != NULL);
    snprintf(p, sizeof p, "%s/notours", tmp_root);
    CHECK(write_all(p, (const unsigned char *)"hello, world\n", 13));
    CHECK_RC(dump(p, &l, 16), VEX_UNSUPPORTED);
    CHECK(l.error == 1 && strstr(l.all, "not a VexDB file"));
    snprintf(p, sizeof p, "%s/missing", tmp_root);
    CHECK_RC(dump(p, &l, 16), VEX_NOTFOUND);
    CHECK_EQ_INT(l.error, 1);
    CHECK_RC(vex_dump_file(NULL, NULL, on_line, &l), VEX_MISUSE);
    CHECK_RC(vex_dump_file(p, NULL, NULL, NULL), VEX_MISUSE);
}

/* Every file of the clean database, truncated at many lengths and with
 * bytes flipped at seeded positions: dump never crashes (ASan watches)
 * and says OK, CORRUPT or UNSUPPORTED. */
static void test_dump_mutated(void)
{
    const char *files[8];
    char paths[8][600], dir[400], tmp[400];
    int nf = 0;
    uint64_t seed = test_seed(12345);
    lines *l = malloc(sizeof *l);
    CHECK(l != NULL);
    if (l == NULL)
        return;
    fresh();
    snprintf(paths[nf], sizeof paths[nf], "%s/VEXDB", work);
    files[nf] = paths[nf];
    nf++;
    coll_file("h", "CURRENT", paths[nf], sizeof paths[nf]);
    files[nf] = paths[nf];
    nf++;
    coll_file("h", "MANIFEST-", paths[nf], sizeof paths[nf]);
    files[nf] = paths[nf];
    nf++;
    coll_file("h", "seg-", paths[nf], sizeof paths[nf]);
    files[nf] = paths[nf];
    nf++;
    coll_file("f", "seg-", paths[nf], sizeof paths[nf]);
    files[nf] = paths[nf];
    nf++;
    snprintf(dir, sizeof dir, "%s/collections/h/wal", work);
    CHECK(find_file(dir, "wal-", paths[nf], sizeof paths[nf]));
    files[nf] = paths[nf];
    nf++;
    for (int f = 0; f < nf; f++) {
        size_t len;
        unsigned char *orig = read_all(files[f], &len), *m;
        const char *base = strrchr(files[f], '/') + 1;
        CHECK(orig != NULL);
        if (orig == NULL)
            continue;
        /* a mutated copy next to the original, so a log finds its
         * manifest two directories up */
        snprintf(tmp, sizeof tmp, "%.*s/x%s", (int)(base - files[f] - 1),
                 files[f], base);
        m = malloc(len);
        for (int round = 0; round < 40 && m; round++) {
            size_t n = len;
            int rc;
            memcpy(m, orig, len);
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            if (round % 2 == 0)
                n = (size_t)((seed >> 33) % (len + 1));
            else
                for (int k = 0; k < 4; k++) {
                    seed = seed * 6364136223846793005ull + 1;
                    m[(seed >> 33) % len] ^= (unsigned char)(1u << (k + 1));
                }
            CHECK(write_all(tmp, m, n));
            rc = dump(tmp, l, 4);
            CHECK_MSG(rc == VEX_OK || rc == VEX_CORRUPT ||
                          rc == VEX_UNSUPPORTED,
                      "%s round %d: %s", base, round, vex_status_name(rc));
        }
        unlink(tmp);
        free(m);
        free(orig);
    }
    free(l);
}

/* A writer PROCESS (fork) inserting ids 0, 1, 2, ... and flushing, while
 * this process verifies the database and backs it up from a read-only
 * handle; then the writer is killed with SIGKILL and the database must
 * still verify (a torn log tail is a warning) and open. */
static void test_beside_writer_process(void)
{
    char src[300], dest[320];
    vex_collection_config cfg;
    _Atomic uint64_t *acked;
    vex_db *db;
    found fd;
    pid_t pid;
    int status;

    path_of(src, sizeof src, "proc");
    rm_rf(src);
    db = open_db(src, 1, 0);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    CHECK_RC(vex_collection_create(db, "w", &cfg, NULL), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    acked = mmap(NULL, sizeof *acked, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(acked != MAP_FAILED);
    if (acked == MAP_FAILED)
        return;
    atomic_store(acked, 0);
    pid = fork();
    if (pid == 0) { /* the writer */
        vex_collection *c = NULL;
        float v[DIM];
        db = open_db(src, 0, 0);
        if (db == NULL || vex_collection_open(db, "w", &c) != VEX_OK)
            _exit(3);
        for (uint64_t id = 0;; id++) {
            vec_of(id, v);
            if (vex_insert(c, id, v) != VEX_OK)
                _exit(4);
            atomic_store(acked, id + 1);
            if (id % 300 == 299 && vex_flush(c) != VEX_OK)
                _exit(5);
        }
    }
    CHECK(pid > 0);
    if (pid < 0)
        return;
    while (atomic_load(acked) < 700)
        usleep(1000);
    for (int i = 0; i < 3; i++) {
        vex_db *ro = open_db(src, 0, 1);
        uint64_t lo = atomic_load(acked), hi;
        int rc;
        CHECK(ro != NULL);
        if (ro == NULL)
            break;
        snprintf(dest, sizeof dest, "%s/proc_backup%d", tmp_root, i);
        rm_rf(dest);
        rc = vex_backup(ro, dest, NULL, NULL);
        if (rc != VEX_OK)
            fprintf(stderr, "backup: %s\n", vex_db_errmsg(ro));
        CHECK_RC(rc, VEX_OK);
        vex_db_close(ro);
        hi = atomic_load(acked) + 1;
        CHECK_RC(verify(src, &fd, NULL), VEX_OK);
        CHECK_EQ_INT(fd.errors, 0);
        if (fd.errors)
            dump_found(&fd);
        if (rc == VEX_OK)
            check_backup(dest, lo, hi);
        while (atomic_load(acked) < lo + 400)
            usleep(1000);
    }
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_RC(verify(src, &fd, NULL), VEX_OK); /* a torn tail at most */
    CHECK_EQ_INT(fd.errors, 0);
    db = open_db(src, 0, 0);
    CHECK(db != NULL);
    vex_db_close(db);
    CHECK_RC(verify(src, &fd, NULL), VEX_OK);
    munmap((void *)acked, sizeof *acked);
}

int main(void)
{
    make_root();
    TEST_RUN(test_clean);
    TEST_RUN(test_damage_marker_current_manifest);
    TEST_RUN(test_damage_segment);
    TEST_RUN(test_damage_graph_edge);
    TEST_RUN(test_damage_log);
    TEST_RUN(test_damage_many);
    TEST_RUN(test_dump_kinds);
    TEST_RUN(test_dump_mutated);
    TEST_RUN(test_backup_beside_writer);
    TEST_RUN(test_backup_damaged);
    TEST_RUN(test_backup_progress);
    TEST_RUN(test_beside_writer_process);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
