/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_wal.c - the write-ahead log (src/storage/wal.h): round trips of
 * records from 0 bytes to 100 KB across rotations on the in-memory and
 * the posix vfs, replay from a middle sequence number, reopen-and-append,
 * dropping old files; a torn tail cut at every byte of the last record
 * and a torn file header; damage in the middle (flipped bytes, a missing
 * file, a bad header) reported as VEX_CORRUPT with file and offset; an
 * I/O fault sweep (every call, every fault kind) with sticky errors and a
 * replay that keeps every acknowledged record; and power losses from the
 * crash vfs (dropped and garbled unsynced data) at many points; group
 * commit: threads appending at once share syncs, and a failed sync under
 * them followed by a power loss keeps every acknowledged record.
 */
#include <pthread.h>
#include <unistd.h>

#include "io/vfs.h"
#include "storage/wal.h"
/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "util/crc32c.h"
#include "vexdb.h"

static vex_err g_err;

/* ---- the records: contents are a function of the sequence number ---- */

static size_t rec_size(uint64_t seq)
{
    if (seq % 7 == 0)
        return 0;
    if (seq % 23 == 0)
        return 100 * 1024;
    return (size_t)((seq * 7919) % 3000);
}

static void rec_fill(unsigned char *p, uint64_t seq, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(seq * 31 + i * 7 + (i >> 8));
}

static unsigned char g_buf[100 * 1024];

static int append_rec(wal *w, uint64_t want_seq, vex_err *err)
{
    uint64_t seq = 0;
    size_t n = rec_size(want_seq);
    int rc;
    rec_fill(g_buf, want_seq, n);
    rc = vx_wal_append(w, g_buf, n, &seq, err);
    if (rc == VEX_OK)
        CHECK_EQ_INT(seq, want_seq);
    return rc;
}

typedef struct collect {
    uint64_t next; /* expected next seq; 0 = take the first one */
    uint64_t first, n;
    int bad;
} collect;

static int collect_cb(void *ctx, uint64_t seq, const void *p, size_t n)
{
    collect *c = ctx;
    static unsigned char want[100 * 1024];
    if (c->next == 0)
        c->first = c->next = seq;
    if (seq != c->next || n != rec_size(seq)) {
        c->bad = 1;
    } else {
        rec_fill(want, seq, n);
        if (n && memcmp(want, p, n) != 0)
            c->bad = 1;
    }
    c->next = seq + 1;
    c->n++;
    return 0;
}

static int replay(vex_vfs *v, const char *dir, uint64_t from, collect *c,
                  wal_replay_stats *st)
{
    memset(c, 0, sizeof *c);
    return vx_wal_replay(v, dir, from, collect_cb, c, NULL, &g_err, st);
}

static wal *open_wal(vex_vfs *v, const char *dir, uint64_t max, int dur)
{
    wal_options o;
    wal *w = NULL;
    vx_wal_options_init(&o);
    o.max_file_bytes = max;
    o.durability = dur;
    CHECK_RC(vx_wal_open(v, dir, &o, NULL, &g_err, &w), VEX_OK);
    return w;
}

static void path_of(char *out, size_t size, const char *dir, uint64_t first)
{
    snprintf(out, size, "%s/wal-%016llx.log", dir, (unsigned long long)first);
}

static uint64_t file_size(vex_vfs *v, const char *path)
{
    vex_file *f = NULL;
    uint64_t s = 0;
    if (vex_vfs_open(v, path, VX_FILE_READONLY, &f, &g_err) == VEX_OK)
        vex_file_size(f, &s, &g_err);
    vex_file_close(f, NULL);
    return s;
}

static long read_all(vex_vfs *v, const char *path, unsigned char *buf,
                     size_t cap)
{
    vex_file *f = NULL;
    size_t got = 0;
    if (vex_vfs_open(v, path, VX_FILE_READONLY, &f, NULL) != VEX_OK)
        return -1;
    if (vex_file_read(f, buf, cap, 0, &got, NULL) != VEX_OK)
        got = 0;
    vex_file_close(f, NULL);
    return (long)got;
}

static void write_all(vex_vfs *v, const char *path, const unsigned char *buf,
                      size_t n)
{
    vex_file *f = NULL;
    CHECK_RC(vex_vfs_open(v, path,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                          &f, &g_err),
             VEX_OK);
    if (f && n)
        CHECK_RC(vex_file_write(f, buf, n, 0, &g_err), VEX_OK);
    vex_file_close(f, NULL);
}

static int err_has(const char *s)
{
    char msg[VEX_ERRMSG_MAX];
    vx_err_copy(&g_err, msg, sizeof msg);
    if (strstr(msg, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, s);
        return 0;
    }
    return 1;
}

/* ---- round trips ---------------------------------------------------- */

static void roundtrip(vex_vfs *v, const char *dir, int dur)
{
    wal *w;
    collect c;
    wal_replay_stats st;
    uint64_t s;

    CHECK_RC(replay(v, dir, 1, &c, &st), VEX_OK); /* nothing yet */
    CHECK_EQ_INT(st.n_files, 0);
    w = open_wal(v, dir, 64 * 1024, dur);
    if (w == NULL)
        return;
    for (s = 1; s <= 200; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    CHECK_RC(vx_wal_sync(w, &g_err), VEX_OK);
    CHECK_RC(vx_wal_close(w, &g_err), VEX_OK);

    CHECK_RC(replay(v, dir, 1, &c, &st), VEX_OK);
    CHECK(!c.bad);
    CHECK_EQ_INT(c.n, 200);
    CHECK_EQ_INT(c.first, 1);
    CHECK(st.n_files > 3);
    CHECK_EQ_INT(st.next_seq, 201);
    CHECK_EQ_INT(st.bytes_ignored, 0);

    CHECK_RC(replay(v, dir, 77, &c, &st), VEX_OK);
    CHECK(!c.bad);
    CHECK_EQ_INT(c.first, 77);
    CHECK_EQ_INT(c.n, 124);
    CHECK_EQ_INT(st.n_delivered, 124);
    CHECK_EQ_INT(st.n_records, 200);
    CHECK_RC(replay(v, dir, 1000, &c, &st), VEX_OK);
    CHECK_EQ_INT(c.n, 0);

    /* reopen: the sequence continues */
    w = open_wal(v, dir, 64 * 1024, dur);
    if (w == NULL)
        return;
    CHECK_EQ_INT(vx_wal_next_seq(w), 201);
    for (s = 201; s <= 250; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    CHECK_RC(vx_wal_sync(w, &g_err), VEX_OK);
    CHECK_RC(replay(v, dir, 1, &c, &st), VEX_OK);
    CHECK(!c.bad);
    CHECK_EQ_INT(c.n, 250);

    /* dropping old files keeps every record >= the bound */
    CHECK_RC(vx_wal_drop_before(w, 150, &g_err), VEX_OK);
    CHECK_RC(replay(v, dir, 1, &c, &st), VEX_OK);
    CHECK(!c.bad);
    CHECK(st.first_seq > 1 && st.first_seq <= 150);
    CHECK_EQ_INT(c.first, st.first_seq);
    CHECK_EQ_INT(c.next, 251);
    CHECK_RC(vx_wal_drop_before(w, 1000, &g_err), VEX_OK); /* keeps current */
    CHECK_RC(append_rec(w, 251, &g_err), VEX_OK);
    CHECK_RC(vx_wal_close(w, &g_err), VEX_OK);
    CHECK_RC(replay(v, dir, 1, &c, &st), VEX_OK);
    CHECK(!c.bad);
    CHECK_EQ_INT(st.n_files, 1);
    CHECK_EQ_INT(c.next, 252);
}

static void test_roundtrip_mem(void)
{
    vex_vfs *v = NULL;
    uint64_t n_open, n_maps;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "full", &g_err), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "none", &g_err), VEX_OK);
    roundtrip(v, "full", WAL_DURABILITY_FULL);
    roundtrip(v, "none", WAL_DURABILITY_NONE);
    vx_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    vex_vfs_destroy(v);
}

static int rm_cb(void *ctx, const char *name, int kind)
{
    char p[1024];
    (void)kind;
    snprintf(p, sizeof p, "%s/%s", (const char *)ctx, name);
    return unlink(p) == 0 ? 0 : VEX_IOERR;
}

static void test_roundtrip_posix(void)
{
    char dir[] = "/tmp/vex_test_wal_XXXXXX";
    vex_vfs *v = NULL;
    CHECK_RC(vx_vfs_posix_create(NULL, &v), VEX_OK);
    if (v == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    roundtrip(v, dir, WAL_DURABILITY_FULL);
    CHECK_RC(vex_vfs_list(v, dir, rm_cb, dir, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(v);
}

static void test_bad_args(void)
{
    vex_vfs *v = NULL;
    wal_options o;
    wal *w = NULL;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    vx_wal_options_init(&o);
    o.max_file_bytes = 100;
    CHECK_RC(vx_wal_open(v, "d", &o, NULL, &g_err, &w), VEX_INVALID);
    CHECK(w == NULL);
    vx_wal_options_init(&o);
    o.durability = 7;
    CHECK_RC(vx_wal_open(v, "d", &o, NULL, &g_err, &w), VEX_INVALID);
    CHECK_RC(vx_wal_open(v, "nodir", NULL, NULL, &g_err, &w), VEX_INVALID);
    w = open_wal(v, "d", 4096, WAL_DURABILITY_FULL);
    if (w) {
        CHECK_RC(vx_wal_append(w, NULL, 5, NULL, &g_err), VEX_INVALID);
        CHECK_RC(
            vx_wal_append(w, g_buf, (size_t)WAL_MAX_PAYLOAD + 1, NULL, &g_err),
            VEX_INVALID);
        CHECK_RC(vx_wal_append(w, NULL, 0, NULL, &g_err),
                 VEX_OK); /* not sticky */
        vx_wal_close(w, NULL);
    }
    vex_vfs_destroy(v);
}

/* ---- torn tails ----------------------------------------------------- */

static void torn_tail(int dur)
{
    static unsigned char full[64 * 1024];
    char path[256];
    vex_vfs *v = NULL;
    wal *w;
    collect c;
    wal_replay_stats st;
    uint64_t off, end, cut, s;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    path_of(path, sizeof path, "d", 1);
    w = open_wal(v, "d", 1 << 20, dur);
    for (s = 1; w && s <= 5; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    off = file_size(v, path);
    w = open_wal(v, "d", 1 << 20, dur);
    if (w)
        CHECK_RC(append_rec(w, 6, &g_err), VEX_OK); /* 2955 bytes */
    vx_wal_close(w, NULL);
    end = file_size(v, path);
    CHECK(end > off + 1000 && end <= sizeof full);
    CHECK_EQ_INT(read_all(v, path, full, sizeof full), end);
    for (cut = off; cut < end; cut++) {
        write_all(v, path, full, cut);
        CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
        CHECK(!c.bad);
        CHECK_EQ_INT(c.n, 5);
        CHECK_EQ_INT(st.bytes_ignored, cut - off);
        w = open_wal(v, "d", 1 << 20, dur);
        if (w == NULL)
            break;
        CHECK_EQ_INT(vx_wal_next_seq(w), 6);
        CHECK_EQ_INT(file_size(v, path), off); /* the tail was cut */
        CHECK_RC(append_rec(w, 6, &g_err), VEX_OK);
        CHECK_RC(vx_wal_close(w, &g_err), VEX_OK);
        CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
        CHECK(!c.bad);
        CHECK_EQ_INT(c.n, 6);
        CHECK_EQ_INT(st.bytes_ignored, 0);
    }
    vex_vfs_destroy(v);
}

static void test_torn_tail(void)
{
    torn_tail(WAL_DURABILITY_FULL);
    torn_tail(WAL_DURABILITY_NONE);
}

/* A rotation interrupted before the new file's header was durable. */
static void test_torn_header(void)
{
    static unsigned char hdr[512];
    char path[256];
    vex_vfs *v = NULL;
    wal *w;
    collect c;
    wal_replay_stats st;
    uint64_t s, last = 0, cut;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    w = open_wal(v, "d", 4096, WAL_DURABILITY_FULL);
    for (s = 1; w && s <= 10; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
    CHECK(st.n_files > 1);
    /* the last file's name: its records end at 10, find where it starts */
    for (s = 10; s >= 1; s--) {
        path_of(path, sizeof path, "d", s);
        if (file_size(v, path) > 0) {
            last = s;
            break;
        }
    }
    CHECK(last > 1);
    /* make it a fresh file with a torn header */
    path_of(path, sizeof path, "d", 11);
    CHECK_EQ_INT(read_all(v, path, hdr, sizeof hdr), -1);
    for (cut = 0; cut <= 512; cut += 64) {
        memset(hdr, 0xA5, sizeof hdr);
        write_all(v, path, hdr, cut);
        CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
        CHECK_EQ_INT(c.n, 10);
        CHECK_EQ_INT(st.bytes_ignored, cut);
        w = open_wal(v, "d", 4096, WAL_DURABILITY_FULL);
        if (w == NULL)
            break;
        CHECK_EQ_INT(vx_wal_next_seq(w), 11);
        CHECK_RC(append_rec(w, 11, &g_err), VEX_OK);
        vx_wal_close(w, NULL);
        CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
        CHECK(!c.bad);
        CHECK_EQ_INT(c.n, 11);
        write_all(v, path, hdr, 0); /* back to a torn header */
    }
    vex_vfs_destroy(v);
}

/* ---- damage in the middle ------------------------------------------- */

static void test_corrupt_middle(void)
{
    static unsigned char full[64 * 1024], copy[64 * 1024];
    uint64_t offs[12];
    char path[256], want[64];
    vex_vfs *v = NULL;
    wal *w = NULL, *w2 = NULL;
    collect c;
    wal_replay_stats st;
    wal_options o;
    uint64_t s;
    long n;
    size_t k, delta[] = {0, 3, 8, 17, 20, 24, 28, 33, 40};
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    path_of(path, sizeof path, "d", 1);
    /* FULL: records 7.. were written after 6 was synced, so they prove
     * damage to 6 is not a torn write */
    w = open_wal(v, "d", 1 << 20, WAL_DURABILITY_FULL);
    for (s = 1; w && s <= 11; s++) {
        offs[s] = file_size(v, path);
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    }
    vx_wal_close(w, NULL);
    n = read_all(v, path, full, sizeof full);
    CHECK(n > 0);
    /* a flipped byte in record 6's header or payload (seq 7 is empty: use
     * 6, whose payload is long) */
    for (k = 0; k < sizeof delta / sizeof *delta; k++) {
        memcpy(copy, full, (size_t)n);
        copy[offs[6] + delta[k]] ^= 0x10;
        write_all(v, path, copy, (size_t)n);
        CHECK_RC(replay(v, "d", 1, &c, &st), VEX_CORRUPT);
        CHECK_EQ_INT(c.n, 5);
        CHECK(err_has("wal-0000000000000001.log"));
        snprintf(want, sizeof want, "offset %llu", (unsigned long long)offs[6]);
        CHECK(err_has(want));
        vx_wal_options_init(&o);
        CHECK_RC(vx_wal_open(v, "d", &o, NULL, &g_err, &w2), VEX_CORRUPT);
        CHECK(w2 == NULL);
    }
    /* a bad file header */
    memcpy(copy, full, (size_t)n);
    copy[17] ^= 1;
    write_all(v, path, copy, (size_t)n);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_CORRUPT);
    CHECK(err_has("offset 0"));
    /* a newer format version */
    memcpy(copy, full, (size_t)n);
    copy[8] = 2;
    {
        /* re-seal the header checksum so only the version differs */
        uint32_t crc = vex_crc32c(copy, 28);
        copy[28] = (unsigned char)crc;
        copy[29] = (unsigned char)(crc >> 8);
        copy[30] = (unsigned char)(crc >> 16);
        copy[31] = (unsigned char)(crc >> 24);
    }
    write_all(v, path, copy, (size_t)n);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_UNSUPPORTED);
    write_all(v, path, full, (size_t)n);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
    vex_vfs_destroy(v);
}

/* Damage in a file that is not the last, and a missing file. */
/* vx_wal_replay_tail opens only the files it needs: a damaged or missing
 * file below from_seq does not matter to it (a reader beside a writer
 * that deletes such files), while vx_wal_replay checks every file. */
static void test_replay_tail(void)
{
    char path[256];
    uint64_t firsts[64], s;
    size_t n_files = 0;
    vex_vfs *v = NULL;
    wal *w;
    collect c;
    wal_replay_stats st;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    w = open_wal(v, "d", 4096, WAL_DURABILITY_NONE);
    for (s = 1; w && s <= 30; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    for (s = 1; s <= 31 && n_files < 64; s++) {
        path_of(path, sizeof path, "d", s);
        if (file_size(v, path) > 0)
            firsts[n_files++] = s;
    }
    CHECK(n_files >= 3);
    if (n_files < 3)
        goto cleanup;
    /* the same records as vx_wal_replay while nothing is wrong */
    memset(&c, 0, sizeof c);
    CHECK_RC(vx_wal_replay_tail(v, "d", firsts[1], collect_cb, &c, NULL, &g_err,
                                &st),
             VEX_OK);
    CHECK(!c.bad);
    CHECK_EQ_INT(c.first, firsts[1]);
    CHECK_EQ_INT(st.first_seq, firsts[1]);
    CHECK_EQ_INT(st.next_seq, 31);
    CHECK_EQ_INT(st.n_files, n_files - 1);
    /* the first file damaged, then gone */
    path_of(path, sizeof path, "d", firsts[0]);
    write_all(v, path, (const unsigned char *)"garbage", 7);
    CHECK_RC(replay(v, "d", firsts[1], &c, &st), VEX_CORRUPT);
    memset(&c, 0, sizeof c);
    CHECK_RC(vx_wal_replay_tail(v, "d", firsts[1] + 1, collect_cb, &c, NULL,
                                &g_err, &st),
             VEX_OK);
    CHECK(!c.bad);
    CHECK_EQ_INT(c.first, firsts[1] + 1);
    CHECK_EQ_INT(c.n, 30 - firsts[1]);
    CHECK_RC(vex_vfs_remove(v, path, &g_err), VEX_OK);
    memset(&c, 0, sizeof c);
    CHECK_RC(vx_wal_replay_tail(v, "d", firsts[1], collect_cb, &c, NULL, &g_err,
                                &st),
             VEX_OK);
    CHECK_EQ_INT(c.n, 31 - firsts[1]);
    /* a record it needs in an older file: that file is read */
    memset(&c, 0, sizeof c);
    CHECK_RC(vx_wal_replay_tail(v, "d", firsts[1] - 1, collect_cb, &c, NULL,
                                &g_err, &st),
             VEX_OK);
    CHECK_EQ_INT(st.first_seq, firsts[1]); /* starts after the bound */
cleanup:
    v->methods->destroy(v);
}

static void test_corrupt_files(void)
{
    static unsigned char full[64 * 1024];
    char path[256], name[64];
    uint64_t firsts[64], s;
    size_t n_files = 0, i;
    long n;
    vex_vfs *v = NULL;
    wal *w;
    collect c;
    wal_replay_stats st;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    w = open_wal(v, "d", 4096, WAL_DURABILITY_NONE);
    for (s = 1; w && s <= 30; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    for (s = 1; s <= 31 && n_files < 64; s++) {
        path_of(path, sizeof path, "d", s);
        if (file_size(v, path) > 0)
            firsts[n_files++] = s;
    }
    CHECK(n_files >= 3);
    if (n_files < 3)
        goto cleanup;
    /* cut the tail of the first file: torn, but not the last file */
    path_of(path, sizeof path, "d", firsts[0]);
    n = read_all(v, path, full, sizeof full);
    write_all(v, path, full, (size_t)n - 5);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_CORRUPT);
    snprintf(name, sizeof name, "wal-%016llx.log",
             (unsigned long long)firsts[0]);
    CHECK(err_has(name));
    CHECK(err_has("not the last file"));
    write_all(v, path, full, (size_t)n);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
    /* a missing middle file is a gap */
    path_of(path, sizeof path, "d", firsts[1]);
    n = read_all(v, path, full, sizeof full);
    CHECK_RC(vex_vfs_remove(v, path, &g_err), VEX_OK);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_CORRUPT);
    CHECK(err_has("sequence gap"));
    write_all(v, path, full, (size_t)n);
    CHECK_RC(replay(v, "d", 1, &c, &st), VEX_OK);
    CHECK_EQ_INT(c.n, 30);
    for (i = 0; i < n_files; i++)
        CHECK(firsts[i] >= 1);
cleanup:
    vex_vfs_destroy(v);
}

/* ---- I/O faults ------------------------------------------------------ */

static void fault_sweep(int kind, int persistent)
{
    uint64_t nth;
    int done = 0;
    for (nth = 1; !done && nth < 2000; nth++) {
        vex_vfs *m = NULL, *f = NULL;
        vex_fault_config cfg = {VEX_FAULT_ALL, nth, persistent, kind};
        vex_fault_stats fs;
        wal_options o;
        wal *w = NULL;
        collect c;
        wal_replay_stats st;
        uint64_t acked = 0, s;
        int rc = VEX_OK, want;
        CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
        CHECK_RC(vex_vfs_mkdir(m, "d", &g_err), VEX_OK);
        CHECK_RC(vx_vfs_fault_create(m, NULL, &f), VEX_OK);
        vx_wal_options_init(&o);
        o.max_file_bytes = 4096;
        /* a first session, then a second one that reopens */
        vx_vfs_fault_set(f, &cfg);
        for (s = 1; s <= 8 && rc == VEX_OK; s++) {
            if (s == 1 || s == 5) {
                vx_wal_close(w, NULL);
                w = NULL;
                rc = vx_wal_open(f, "d", &o, NULL, &g_err, &w);
                if (rc != VEX_OK) {
                    CHECK(w == NULL);
                    break;
                }
            }
            rc = append_rec(w, acked + 1, &g_err);
            if (rc == VEX_OK)
                acked++;
        }
        if (rc == VEX_OK && w)
            rc = vx_wal_sync(w, &g_err);
        vx_vfs_fault_stats(f, &fs);
        if (fs.n_faults == 0) {
            done = 1;
            CHECK_RC(rc, VEX_OK);
        } else if (rc != VEX_OK) {
            want = kind == VEX_FAULT_FULL ? VEX_FULL : VEX_IOERR;
            if (kind == VEX_FAULT_SHORT_WRITE && rc == VEX_FULL)
                want = VEX_FULL;
            CHECK_MSG(rc == want, "nth %llu kind %d rc %d",
                      (unsigned long long)nth, kind, rc);
            if (w) { /* sticky, though the fault was transient */
                cfg.fail_at = 0;
                vx_vfs_fault_set(f, &cfg);
                CHECK_RC(append_rec(w, acked + 1, &g_err), rc);
                CHECK_RC(vx_wal_sync(w, &g_err), rc);
                CHECK(err_has("earlier failure"));
            }
        }
        vx_wal_close(w, NULL);
        /* the disk holds a prefix including every acknowledged record */
        CHECK_RC(replay(m, "d", 1, &c, &st), VEX_OK);
        CHECK(!c.bad);
        CHECK_MSG(c.n >= acked, "nth %llu: %llu records, %llu acked",
                  (unsigned long long)nth, (unsigned long long)c.n,
                  (unsigned long long)acked);
        CHECK(c.n <= acked + 1);
        w = open_wal(m, "d", 4096, WAL_DURABILITY_FULL);
        if (w) {
            CHECK_EQ_INT(vx_wal_next_seq(w), c.n + 1);
            CHECK_RC(append_rec(w, c.n + 1, &g_err), VEX_OK);
            vx_wal_close(w, NULL);
        }
        vex_vfs_destroy(f);
        vex_vfs_destroy(m);
    }
    CHECK(done);
}

static void test_fault_sweep(void)
{
    int kind;
    for (kind = VEX_FAULT_IOERR; kind <= VEX_FAULT_SYNC; kind++)
        fault_sweep(kind, 0);
    fault_sweep(VEX_FAULT_IOERR, 1);
}

/* ---- power loss ------------------------------------------------------ */

/* Fail the nth sync (not forwarded: the data is written but not durable)
 * so a power loss catches an append half-way, then crash and recover. */
static void crash_case(int mode, uint64_t seed, uint64_t nth_sync)
{
    vex_vfs *m = NULL, *c = NULL, *f = NULL;
    vex_fault_config cfg = {VEX_FAULT_BIT(VEX_FAULT_M_SYNC) |
                                VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR),
                            nth_sync, 0, VEX_FAULT_SYNC};
    wal_options o;
    wal *w = NULL;
    collect col;
    wal_replay_stats st;
    uint64_t acked = 0, s;
    int rc;
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "d", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_create(m, NULL, seed, &c), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(c, NULL, &f), VEX_OK);
    vx_wal_options_init(&o);
    o.max_file_bytes = 4096;
    vx_vfs_fault_set(f, &cfg);
    rc = vx_wal_open(f, "d", &o, NULL, &g_err, &w);
    for (s = 1; rc == VEX_OK && s <= 12; s++) {
        rc = append_rec(w, s, &g_err);
        if (rc == VEX_OK)
            acked++;
    }
    CHECK_RC(vx_vfs_crash_now(c, mode, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    rc = replay(m, "d", 1, &col, &st);
    CHECK_MSG(rc == VEX_OK, "mode %d seed %llu sync %llu: rc %d", mode,
              (unsigned long long)seed, (unsigned long long)nth_sync, rc);
    CHECK(!col.bad);
    CHECK_MSG(col.n >= acked, "mode %d seed %llu sync %llu: %llu < %llu", mode,
              (unsigned long long)seed, (unsigned long long)nth_sync,
              (unsigned long long)col.n, (unsigned long long)acked);
    w = open_wal(m, "d", 4096, WAL_DURABILITY_FULL);
    if (w) {
        CHECK_RC(append_rec(w, col.n + 1, &g_err), VEX_OK);
        vx_wal_close(w, NULL);
        CHECK_RC(replay(m, "d", 1, &col, &st), VEX_OK);
        CHECK(!col.bad);
    }
    vex_vfs_destroy(f);
    vex_vfs_destroy(c);
    vex_vfs_destroy(m);
}

/* Under NONE nothing is promised for unsynced records, but a crash that
 * drops or garbles them must still leave a log that replays (rule 3: a
 * rotation syncs the old file first; rule 5: unsynced records garbled in
 * any order are a torn tail). */
static void crash_none(uint64_t n_recs, int mode, uint64_t seed)
{
    vex_vfs *m = NULL, *c = NULL;
    wal *w;
    collect col;
    wal_replay_stats st;
    uint64_t s;
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "d", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_create(m, NULL, seed, &c), VEX_OK);
    w = open_wal(c, "d", 4096, WAL_DURABILITY_NONE);
    for (s = 1; w && s <= n_recs; s++)
        CHECK_RC(append_rec(w, s, &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_now(c, mode, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    CHECK_MSG(replay(m, "d", 1, &col, &st) == VEX_OK,
              "mode %d seed %llu n %llu", mode, (unsigned long long)seed,
              (unsigned long long)n_recs);
    CHECK(!col.bad);
    CHECK(col.n <= n_recs);
    vex_vfs_destroy(c);
    vex_vfs_destroy(m);
}

static void test_crash(void)
{
    uint64_t nth, seed;
    for (nth = 1; nth <= 20; nth++) {
        crash_case(VEX_CRASH_DROP_UNSYNCED, 1, nth);
        for (seed = 1; seed <= 8; seed++)
            crash_case(VEX_CRASH_GARBLE_UNSYNCED, seed * 1000 + nth, nth);
    }
    crash_case(VEX_CRASH_DROP_UNSYNCED, 1, 0);
    crash_case(VEX_CRASH_GARBLE_UNSYNCED, 5, 0);
    for (nth = 1; nth <= 16; nth++) {
        crash_none(nth, VEX_CRASH_DROP_UNSYNCED, nth);
        for (seed = 1; seed <= 4; seed++)
            crash_none(nth, VEX_CRASH_GARBLE_UNSYNCED, seed * 77 + nth);
    }
}

/* ---- group commit ---------------------------------------------------- */

#define GC_THREADS 4
#define GC_RECS    150

typedef struct gc_thread {
    wal *w;
    int id;
    int n_ok;     /* appends that returned VEX_OK: 0 .. n_ok-1 */
    int first_rc; /* the first failure */
    int after_ok; /* an append succeeded after a failure (must not) */
    vex_err err;
} gc_thread;

static void gc_payload(unsigned char *p, int id, int i, size_t *n)
{
    size_t k;
    *n = 8 + (size_t)((i * 37 + id * 11) % 500);
    p[0] = (unsigned char)id;
    p[1] = (unsigned char)(i & 0xff);
    p[2] = (unsigned char)(i >> 8);
    for (k = 3; k < *n; k++)
        p[k] = (unsigned char)(id + i + k);
}

static void *gc_run(void *arg)
{
    gc_thread *t = arg;
    unsigned char buf[512];
    size_t n;
    int i, rc;
    for (i = 0; i < GC_RECS; i++) {
        gc_payload(buf, t->id, i, &n);
        rc = vx_wal_append(t->w, buf, n, NULL, &t->err);
        if (rc == VEX_OK && t->first_rc == VEX_OK)
            t->n_ok = i + 1;
        else if (rc == VEX_OK)
            t->after_ok = 1;
        else if (t->first_rc == VEX_OK)
            t->first_rc = rc;
    }
    return NULL;
}

typedef struct gc_seen {
    int next[GC_THREADS]; /* next index expected from each thread */
    int bad;
} gc_seen;

static int gc_cb(void *ctx, uint64_t seq, const void *p, size_t n)
{
    gc_seen *g = ctx;
    const unsigned char *b = p;
    unsigned char want[512];
    size_t wn;
    int id, i;
    (void)seq;
    if (n < 8 || b[0] >= GC_THREADS) {
        g->bad = 1;
        return 0;
    }
    id = b[0];
    i = b[1] | b[2] << 8;
    gc_payload(want, id, i, &wn);
    if (i != g->next[id] || wn != n || memcmp(want, b, n) != 0)
        g->bad = 1;
    g->next[id] = i + 1;
    return 0;
}

/* Run GC_THREADS appenders on `w`; their results in t[]. */
static void gc_threads(wal *w, gc_thread *t)
{
    pthread_t th[GC_THREADS];
    int i;
    for (i = 0; i < GC_THREADS; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].w = w;
        t[i].id = i;
        vx_err_init(&t[i].err);
        CHECK(pthread_create(&th[i], NULL, gc_run, &t[i]) == 0);
    }
    for (i = 0; i < GC_THREADS; i++) {
        pthread_join(th[i], NULL);
        vx_err_destroy(&t[i].err);
    }
}

/* Concurrent FULL appends on the posix vfs (real fdatasync): every record
 * replays, each thread's in its order, and syncs are shared. */
static void test_group_commit(void)
{
    char dir[] = "/tmp/vex_test_wal_gc_XXXXXX";
    vex_vfs *p = NULL, *f = NULL;
    vex_fault_stats fs;
    gc_thread t[GC_THREADS];
    gc_seen g;
    wal_replay_stats st;
    wal *w;
    int i;
    CHECK_RC(vx_vfs_posix_create(NULL, &p), VEX_OK);
    if (p == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(p);
        return;
    }
    CHECK_RC(vx_vfs_fault_create(p, NULL, &f), VEX_OK);
    w = open_wal(f, dir, 64 * 1024, WAL_DURABILITY_FULL);
    if (w) {
        gc_threads(w, t);
        for (i = 0; i < GC_THREADS; i++) {
            CHECK_EQ_INT(t[i].n_ok, GC_RECS);
            CHECK_RC(t[i].first_rc, VEX_OK);
        }
        CHECK_EQ_INT(vx_wal_next_seq(w), GC_THREADS * GC_RECS + 1);
        vx_wal_close(w, NULL);
    }
    vx_vfs_fault_stats(f, &fs);
    fprintf(stderr, "  group commit: %d appends, %llu syncs\n",
            GC_THREADS * GC_RECS,
            (unsigned long long)fs.n_calls[VEX_FAULT_M_SYNC]);
    CHECK(fs.n_calls[VEX_FAULT_M_SYNC] <= GC_THREADS * GC_RECS + 64);
    memset(&g, 0, sizeof g);
    CHECK_RC(vx_wal_replay(p, dir, 1, gc_cb, &g, NULL, &g_err, &st), VEX_OK);
    CHECK(!g.bad);
    for (i = 0; i < GC_THREADS; i++)
        CHECK_EQ_INT(g.next[i], GC_RECS);
    CHECK_RC(vex_vfs_list(p, dir, rm_cb, dir, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(p, dir, &g_err), VEX_OK);
    vex_vfs_destroy(f);
    vex_vfs_destroy(p);
}

/* Concurrent FULL appends, a sync that fails at call `nth` (not
 * forwarded), then a power loss: every acknowledged record survives,
 * nothing succeeds after a failure, and replay is clean. */
static void gc_crash(int mode, uint64_t seed, uint64_t nth)
{
    vex_vfs *m = NULL, *c = NULL, *f = NULL;
    vex_fault_config cfg = {VEX_FAULT_BIT(VEX_FAULT_M_SYNC) |
                                VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR),
                            nth, 0, VEX_FAULT_SYNC};
    gc_thread t[GC_THREADS];
    gc_seen g;
    wal_replay_stats st;
    wal *w;
    int i, rc;
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "d", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_create(m, NULL, seed, &c), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(c, NULL, &f), VEX_OK);
    w = open_wal(f, "d", 8192, WAL_DURABILITY_FULL);
    if (w == NULL)
        goto cleanup;
    vx_vfs_fault_set(f, &cfg);
    gc_threads(w, t);
    CHECK_RC(vx_vfs_crash_now(c, mode, &g_err), VEX_OK);
    vx_wal_close(w, NULL);
    memset(&g, 0, sizeof g);
    rc = vx_wal_replay(m, "d", 1, gc_cb, &g, NULL, &g_err, &st);
    CHECK_MSG(rc == VEX_OK, "mode %d seed %llu nth %llu: rc %d", mode,
              (unsigned long long)seed, (unsigned long long)nth, rc);
    CHECK(!g.bad);
    for (i = 0; i < GC_THREADS; i++) {
        CHECK(!t[i].after_ok);
        CHECK_MSG(g.next[i] >= t[i].n_ok, "thread %d: %d replayed, %d acked", i,
                  g.next[i], t[i].n_ok);
        if (nth > 0 && nth < 40)
            CHECK(t[i].first_rc == VEX_IOERR);
    }
cleanup:
    vex_vfs_destroy(f);
    vex_vfs_destroy(c);
    vex_vfs_destroy(m);
}

static void test_group_commit_crash(void)
{
    uint64_t nth;
    for (nth = 1; nth <= 60; nth += 7) {
        gc_crash(VEX_CRASH_DROP_UNSYNCED, nth, nth);
        gc_crash(VEX_CRASH_GARBLE_UNSYNCED, nth + 100, nth);
        gc_crash(VEX_CRASH_GARBLE_UNSYNCED, nth + 200, nth);
    }
}

int main(void)
{
    vx_err_init(&g_err);
    TEST_RUN(test_roundtrip_mem);
    TEST_RUN(test_roundtrip_posix);
    TEST_RUN(test_bad_args);
    TEST_RUN(test_torn_tail);
    TEST_RUN(test_torn_header);
    TEST_RUN(test_corrupt_middle);
    TEST_RUN(test_corrupt_files);
    TEST_RUN(test_replay_tail);
    TEST_RUN(test_fault_sweep);
    TEST_RUN(test_crash);
    TEST_RUN(test_group_commit);
    TEST_RUN(test_group_commit_crash);
    vx_err_destroy(&g_err);
    return TEST_EXIT();
}
