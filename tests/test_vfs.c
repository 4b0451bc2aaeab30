/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vfs.c - the io layer: one conformance suite run against the posix
 * vfs (in a mkdtemp directory), the in-memory vfs and the two wrappers
 * over it; flock exclusivity across fork(); the fault wrapper (each kind,
 * transient and persistent, masks, counters, an N-sweep over a small
 * publish operation); the crash wrapper (each mode against the numbered
 * rules in vfs_crash.c); and the in-memory vfs used by several threads.
 */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/batch.h"
#include "io/vfs.h"
#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

static vex_err g_err;

static char *join(char *buf, size_t size, const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    if (dl + nl + 2 > size) {
        buf[0] = '\0';
        return buf;
    }
    memcpy(buf, dir, dl);
    buf[dl] = '/';
    memcpy(buf + dl + 1, name, nl + 1);
    return buf;
}

static int write_file(vex_vfs *v, const char *path, const void *data, size_t n)
{
    vex_file *f = NULL;
    int rc = vex_vfs_open(v, path,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                          &f, &g_err);
    if (rc == VEX_OK && n)
        rc = vex_file_write(f, data, n, 0, &g_err);
    if (f)
        vex_file_close(f, NULL);
    return rc;
}

/* Read a whole file into buf (size cap); returns its length or -1. */
static long read_file(vex_vfs *v, const char *path, void *buf, size_t cap)
{
    vex_file *f = NULL;
    size_t got = 0;
    if (vex_vfs_open(v, path, VX_FILE_READONLY, &f, NULL) != VEX_OK)
        return -1;
    if (vex_file_read(f, buf, cap, 0, &got, NULL) != VEX_OK)
        got = (size_t)-1;
    vex_file_close(f, NULL);
    return (long)got;
}

static int kind_of(vex_vfs *v, const char *path)
{
    int k = -1;
    if (vex_vfs_exists(v, path, &k, NULL) != VEX_OK)
        return -1;
    return k;
}

typedef struct listing {
    char names[16][32];
    int kinds[16];
    int n;
} listing;

static int collect(void *ctx, const char *name, int kind)
{
    listing *l = ctx;
    if (l->n < 16) {
        snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
        l->kinds[l->n++] = kind;
    }
    return 0;
}

static int has_name(const listing *l, const char *name, int kind)
{
    int i;
    for (i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0 && l->kinds[i] == kind)
            return 1;
    return 0;
}

static int stop_at_first(void *ctx, const char *name, int kind)
{
    (void)ctx;
    (void)name;
    (void)kind;
    return 42;
}

/* The conformance suite: `dir` is an existing, empty directory. */
static void conformance(vex_vfs *v, const char *dir)
{
    char p1[512], p2[512], p3[512], sub[512], msg[VEX_ERRMSG_MAX];
    unsigned char buf[16384];
    vex_file *f = NULL, *g = NULL;
    const void *map;
    size_t len, got;
    uint64_t size;
    listing l;
    int i;

    join(p1, sizeof p1, dir, "a.dat");
    join(p2, sizeof p2, dir, "b.dat");
    join(p3, sizeof p3, dir, "c.dat");
    join(sub, sizeof sub, dir, "sub");

    /* error codes and messages that name the path */
    CHECK_RC(vex_vfs_open(v, p1, VX_FILE_READONLY, &f, &g_err), VEX_NOTFOUND);
    CHECK(f == NULL);
    vx_err_copy(&g_err, msg, sizeof msg);
    CHECK_MSG(strstr(msg, "a.dat") != NULL, "%s", msg);
    CHECK_RC(vex_vfs_open(v, p1, VX_FILE_READONLY | VX_FILE_CREATE, &f, NULL),
             VEX_INVALID);
    CHECK_RC(vex_vfs_open(v, p1,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_EXCL, &f,
                          &g_err),
             VEX_OK);
    CHECK_RC(vex_vfs_open(v, p1,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_EXCL, &g,
                          &g_err),
             VEX_EXISTS);
    CHECK(g == NULL);
    CHECK_EQ_INT(kind_of(v, p1), VEX_VFS_FILE);

    /* round trips at offsets, a hole that reads as zeros */
    CHECK_RC(vex_file_write(f, "hello", 5, 0, &g_err), VEX_OK);
    CHECK_RC(vex_file_write(f, "world", 5, 10000, &g_err), VEX_OK);
    CHECK_RC(vex_file_size(f, &size, &g_err), VEX_OK);
    CHECK_EQ_INT(size, 10005);
    memset(buf, 0xee, sizeof buf);
    CHECK_RC(vex_file_read(f, buf, sizeof buf, 0, &got, &g_err), VEX_OK);
    CHECK_EQ_INT(got, 10005);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(memcmp(buf + 10000, "world", 5) == 0);
    for (i = 5; i < 10000; i++)
        if (buf[i] != 0)
            break;
    CHECK_EQ_INT(i, 10000);
    CHECK_RC(vex_file_read(f, buf, 10, 20000, &got, &g_err), VEX_OK);
    CHECK_EQ_INT(got, 0);
    CHECK_RC(vx_file_read_exact(f, buf, 10, 10000, &g_err), VEX_CORRUPT);
    vx_err_copy(&g_err, msg, sizeof msg);
    CHECK_MSG(strstr(msg, "a.dat") && strstr(msg, "offset 10000"), "%s", msg);
    CHECK_RC(vx_file_read_exact(f, buf, 5, 10000, &g_err), VEX_OK);
    /* append = write at the size */
    CHECK_RC(vex_file_write(f, "!", 1, size, &g_err), VEX_OK);
    CHECK_RC(vex_file_sync(f, VEX_SYNC_DATA, &g_err), VEX_OK);
    CHECK_RC(vex_file_sync(f, VEX_SYNC_FULL, &g_err), VEX_OK);

    /* mmap equals the content */
    CHECK_RC(vex_file_mmap(f, &map, &len, &g_err), VEX_OK);
    CHECK_EQ_INT(len, 10006);
    CHECK_RC(vex_file_read(f, buf, sizeof buf, 0, &got, &g_err), VEX_OK);
    CHECK(map != NULL && memcmp(map, buf, len) == 0);
    /* cold advice on a range with partial pages at both ends changes
     * nothing the mapping reads (posix drops the pages, others ignore it) */
    if (map != NULL) {
        vex_file_advise(f, (const unsigned char *)map + 100, 9000,
                        VEX_ADVICE_COLD);
        CHECK(memcmp(map, buf, len) == 0);
    }
    CHECK_RC(vex_file_munmap(f, map, len, &g_err), VEX_OK);

    /* truncate down and up */
    CHECK_RC(vex_file_truncate(f, 3, &g_err), VEX_OK);
    CHECK_RC(vex_file_size(f, &size, &g_err), VEX_OK);
    CHECK_EQ_INT(size, 3);
    CHECK_RC(vex_file_truncate(f, 100, &g_err), VEX_OK);
    CHECK_RC(vex_file_read(f, buf, sizeof buf, 0, &got, &g_err), VEX_OK);
    CHECK_EQ_INT(got, 100);
    CHECK(memcmp(buf, "hel\0\0", 5) == 0 && buf[99] == 0);
    CHECK_RC(vex_file_truncate(f, 0, &g_err), VEX_OK);
    CHECK_RC(vex_file_mmap(f, &map, &len, &g_err), VEX_OK);
    CHECK(map == NULL && len == 0);
    CHECK_RC(vex_file_munmap(f, map, len, &g_err), VEX_OK);

    /* locks are per handle: a second handle on the same path is busy */
    CHECK_RC(vex_vfs_open(v, p1, VX_FILE_READWRITE, &g, &g_err), VEX_OK);
    CHECK_RC(vex_file_lock(f, &g_err), VEX_OK);
    CHECK_RC(vex_file_lock(g, &g_err), VEX_BUSY);
    CHECK_RC(vex_file_unlock(f, &g_err), VEX_OK);
    CHECK_RC(vex_file_lock(g, &g_err), VEX_OK);
    CHECK_RC(vex_file_lock(f, &g_err), VEX_BUSY);
    CHECK_RC(vex_file_close(g, &g_err), VEX_OK); /* close releases */
    g = NULL;
    CHECK_RC(vex_file_lock(f, &g_err), VEX_OK);
    CHECK_RC(vex_file_write(f, "AAAA", 4, 0, &g_err), VEX_OK);
    CHECK_RC(vex_file_close(f, &g_err), VEX_OK);
    f = NULL;

    /* rename replaces an existing file atomically */
    CHECK_RC(write_file(v, p2, "BB", 2), VEX_OK);
    CHECK_RC(vex_vfs_rename(v, p1, p2, &g_err), VEX_OK);
    CHECK_EQ_INT(kind_of(v, p1), VEX_VFS_NONE);
    CHECK_EQ_INT(read_file(v, p2, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "AAAA", 4) == 0);
    CHECK_RC(vex_vfs_rename(v, p1, p3, &g_err), VEX_NOTFOUND);

    /* a removed file stays usable through an open handle */
    CHECK_RC(vex_vfs_open(v, p2, VX_FILE_READWRITE, &f, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, p2, &g_err), VEX_OK);
    CHECK_EQ_INT(kind_of(v, p2), VEX_VFS_NONE);
    CHECK_RC(vx_file_read_exact(f, buf, 4, 0, &g_err), VEX_OK);
    CHECK(memcmp(buf, "AAAA", 4) == 0);
    CHECK_RC(vex_file_close(f, &g_err), VEX_OK);
    f = NULL;
    CHECK_RC(vex_vfs_remove(v, p2, &g_err), VEX_NOTFOUND);

    /* directories and listings */
    CHECK_RC(vex_vfs_mkdir(v, sub, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, sub, &g_err), VEX_EXISTS);
    CHECK_EQ_INT(kind_of(v, sub), VEX_VFS_DIR);
    CHECK_RC(write_file(v, p3, "c", 1), VEX_OK);
    join(p1, sizeof p1, sub, "inner");
    CHECK_RC(write_file(v, p1, "i", 1), VEX_OK);
    CHECK_RC(vex_vfs_sync_dir(v, dir, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_sync_dir(v, sub, &g_err), VEX_OK);
    memset(&l, 0, sizeof l);
    CHECK_RC(vex_vfs_list(v, dir, collect, &l, &g_err), VEX_OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK(has_name(&l, "c.dat", VEX_VFS_FILE));
    CHECK(has_name(&l, "sub", VEX_VFS_DIR));
    CHECK_RC(vex_vfs_list(v, dir, stop_at_first, NULL, &g_err), 42);
    join(p2, sizeof p2, dir, "missing");
    CHECK_RC(vex_vfs_list(v, p2, collect, &l, &g_err), VEX_NOTFOUND);
    join(p2, sizeof p2, dir, "missing/x");
    CHECK_RC(vex_vfs_mkdir(v, p2, &g_err), VEX_NOTFOUND);
    CHECK_RC(write_file(v, p2, "x", 1), VEX_NOTFOUND);
    CHECK_RC(vex_vfs_remove(v, sub, &g_err), VEX_EXISTS); /* not empty */
    CHECK_RC(vex_vfs_remove(v, p1, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, sub, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, p3, &g_err), VEX_OK);
    memset(&l, 0, sizeof l);
    CHECK_RC(vex_vfs_list(v, dir, collect, &l, &g_err), VEX_OK);
    CHECK_EQ_INT(l.n, 0);
}

static void test_posix_conformance(void)
{
    char dir[] = "/tmp/vex_test_vfs_XXXXXX";
    vex_vfs *v = NULL;
    CHECK_RC(vx_vfs_posix_create(NULL, &v), VEX_OK);
    if (v == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    conformance(v, dir);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(v);
}

static void test_mem_conformance(void)
{
    vex_vfs *v = NULL;
    uint64_t n_open, n_maps;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "/db", &g_err), VEX_OK);
    conformance(v, "/db");
    conformance(v, "db//"); /* the same directory, another spelling */
    vx_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    vex_vfs_destroy(v);
}

/* The wrappers, disarmed and before any crash, behave like what they
 * wrap. */
static void test_wrapper_conformance(void)
{
    vex_vfs *m = NULL, *f = NULL, *c = NULL;
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(m, NULL, &f), VEX_OK);
    CHECK_RC(vx_vfs_crash_create(m, NULL, 7, &c), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "d1", &g_err), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "d2", &g_err), VEX_OK);
    conformance(f, "d1");
    conformance(c, "d2");
    CHECK_RC(vx_vfs_crash_now(c, VEX_CRASH_KEEP_ALL, &g_err), VEX_OK);
    vex_vfs_destroy(c);
    vex_vfs_destroy(f);
    vex_vfs_destroy(m);
}

static void test_posix_lock_fork(void)
{
    char dir[] = "/tmp/vex_test_lock_XXXXXX", path[512];
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    int status = 0;
    pid_t pid;
    if (vx_vfs_posix_create(NULL, &v) != VEX_OK || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    join(path, sizeof path, dir, "LOCK");
    CHECK_RC(
        vex_vfs_open(v, path, VX_FILE_READWRITE | VX_FILE_CREATE, &f, &g_err),
        VEX_OK);
    CHECK_RC(vex_file_lock(f, &g_err), VEX_OK);
    fflush(NULL);
    pid = fork();
    if (pid == 0) { /* the second writer process */
        vex_file *g = NULL;
        int rc = vex_vfs_open(v, path, VX_FILE_READWRITE, &g, NULL);
        if (rc == VEX_OK)
            rc = vex_file_lock(g, NULL);
        _exit(rc == VEX_BUSY ? 0 : 1);
    }
    CHECK(pid > 0);
    if (pid > 0) {
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* after unlock the child gets it */
    CHECK_RC(vex_file_unlock(f, &g_err), VEX_OK);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        vex_file *g = NULL;
        int rc = vex_vfs_open(v, path, VX_FILE_READWRITE, &g, NULL);
        if (rc == VEX_OK)
            rc = vex_file_lock(g, NULL);
        _exit(rc == VEX_OK ? 0 : 1);
    }
    if (pid > 0) {
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_RC(vex_file_close(f, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, path, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(v);
}

/* ---- fault wrapper ------------------------------------------------------ */

static void test_fault_kinds(void)
{
    static const int kinds[] = {VEX_FAULT_IOERR, VEX_FAULT_FULL,
                                VEX_FAULT_SHORT_WRITE, VEX_FAULT_SYNC};
    static const int want[] = {VEX_IOERR, VEX_FULL, VEX_FULL, VEX_IOERR};
    char msg[VEX_ERRMSG_MAX];
    unsigned char buf[64];
    size_t k;
    for (k = 0; k < 4; k++) {
        vex_vfs *m = NULL, *v = NULL;
        vex_file *f = NULL;
        vex_fault_config cfg = {0};
        vex_fault_stats st;
        int persistent;
        for (persistent = 0; persistent < 2; persistent++) {
            CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
            CHECK_RC(vx_vfs_fault_create(m, NULL, &v), VEX_OK);
            CHECK_RC(vex_vfs_open(v, "f", VX_FILE_READWRITE | VX_FILE_CREATE,
                                  &f, &g_err),
                     VEX_OK);
            cfg.mask = VEX_FAULT_BIT(VEX_FAULT_M_WRITE) |
                       VEX_FAULT_BIT(VEX_FAULT_M_SYNC);
            cfg.fail_at = 3;
            cfg.persistent = persistent;
            cfg.kind = kinds[k];
            vx_vfs_fault_set(v, &cfg);
            /* selected calls 1, 2 succeed; reads are not selected */
            CHECK_RC(vex_file_write(f, "0123456789", 10, 0, &g_err), VEX_OK);
            CHECK_RC(vx_file_read_exact(f, buf, 10, 0, &g_err), VEX_OK);
            CHECK_RC(vex_file_write(f, "abcdefghij", 10, 10, &g_err), VEX_OK);
            if (kinds[k] == VEX_FAULT_SYNC) { /* call 3 is a sync */
                CHECK_RC(vex_file_sync(f, VEX_SYNC_FULL, &g_err), want[k]);
            } else {
                CHECK_RC(vex_file_write(f, "ABCDEFGHIJ", 10, 20, &g_err),
                         want[k]);
                vx_err_copy(&g_err, msg, sizeof msg);
                CHECK_MSG(strstr(msg, "injected") && strstr(msg, "offset"),
                          "%s", msg);
            }
            /* what reached the file */
            CHECK_EQ_INT(read_file(m, "f", buf, sizeof buf),
                         kinds[k] == VEX_FAULT_SHORT_WRITE ? 25 : 20);
            if (kinds[k] == VEX_FAULT_SHORT_WRITE)
                CHECK(memcmp(buf + 20, "ABCDE", 5) == 0);
            /* call 4 */
            CHECK_RC(vex_file_write(f, "x", 1, 0, &g_err),
                     persistent ? (kinds[k] == VEX_FAULT_FULL ||
                                           kinds[k] == VEX_FAULT_SHORT_WRITE
                                       ? VEX_FULL
                                       : VEX_IOERR)
                                : VEX_OK);
            vx_vfs_fault_stats(v, &st);
            CHECK_EQ_INT(st.n_selected, 4);
            CHECK_EQ_INT(st.n_faults, persistent ? 2 : 1);
            CHECK_EQ_INT(st.n_calls[VEX_FAULT_M_READ], 1);
            CHECK_EQ_INT(st.n_calls[VEX_FAULT_M_OPEN], 1);
            /* disarm: everything works again, counters restart */
            cfg.fail_at = 0;
            vx_vfs_fault_set(v, &cfg);
            CHECK_RC(vex_file_write(f, "y", 1, 0, &g_err), VEX_OK);
            vx_vfs_fault_stats(v, &st);
            CHECK_EQ_INT(st.n_selected, 1);
            CHECK_EQ_INT(st.n_faults, 0);
            CHECK_RC(vex_file_close(f, &g_err), VEX_OK);
            vex_vfs_destroy(v);
            vex_vfs_destroy(m);
        }
    }
}

static void test_fault_masks(void)
{
    vex_vfs *m = NULL, *v = NULL;
    vex_file *f = NULL;
    vex_fault_config cfg = {0};
    vex_fault_stats st;
    uint64_t n_open, n_maps;
    int k, i;
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(m, NULL, &v), VEX_OK);
    /* a persistent fault on every directory method leaves files alone */
    cfg.mask =
        VEX_FAULT_BIT(VEX_FAULT_M_RENAME) |
        VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR) | VEX_FAULT_BIT(VEX_FAULT_M_MKDIR) |
        VEX_FAULT_BIT(VEX_FAULT_M_LIST) | VEX_FAULT_BIT(VEX_FAULT_M_REMOVE) |
        VEX_FAULT_BIT(VEX_FAULT_M_EXISTS);
    cfg.fail_at = 1;
    cfg.persistent = 1;
    cfg.kind = VEX_FAULT_IOERR;
    vx_vfs_fault_set(v, &cfg);
    CHECK_RC(write_file(v, "a", "1", 1), VEX_OK);
    CHECK_RC(vex_vfs_rename(v, "a", "b", &g_err), VEX_IOERR);
    CHECK_RC(vex_vfs_sync_dir(v, "/", &g_err), VEX_IOERR);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_IOERR);
    CHECK_RC(vex_vfs_list(v, "/", collect, NULL, &g_err), VEX_IOERR);
    CHECK_RC(vex_vfs_remove(v, "a", &g_err), VEX_IOERR);
    CHECK_RC(vex_vfs_exists(v, "a", &k, &g_err), VEX_IOERR);
    CHECK_EQ_INT(kind_of(m, "a"), VEX_VFS_FILE); /* nothing happened */
    vx_vfs_fault_stats(v, &st);
    CHECK_EQ_INT(st.n_faults, 6);
    /* close, munmap and unlock release first, then report */
    cfg.mask = VEX_FAULT_BIT(VEX_FAULT_M_CLOSE) |
               VEX_FAULT_BIT(VEX_FAULT_M_MUNMAP) |
               VEX_FAULT_BIT(VEX_FAULT_M_UNLOCK);
    vx_vfs_fault_set(v, &cfg);
    CHECK_RC(vex_vfs_open(v, "a", VX_FILE_READWRITE, &f, &g_err), VEX_OK);
    {
        const void *p;
        size_t len;
        CHECK_RC(vex_file_mmap(f, &p, &len, &g_err), VEX_OK);
        CHECK_RC(vex_file_munmap(f, p, len, &g_err), VEX_IOERR);
    }
    CHECK_RC(vex_file_lock(f, &g_err), VEX_OK);
    CHECK_RC(vex_file_unlock(f, &g_err), VEX_IOERR);
    CHECK_RC(vex_file_close(f, &g_err), VEX_IOERR);
    vx_vfs_mem_counts(m, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    /* the whole mask: the Nth call of any method */
    for (i = 1; i <= 3; i++) {
        cfg.mask = VEX_FAULT_ALL;
        cfg.fail_at = (uint64_t)i;
        cfg.persistent = 0;
        vx_vfs_fault_set(v, &cfg);
        CHECK_EQ_INT(kind_of(v, "a") == VEX_VFS_FILE, i != 1);
        CHECK_EQ_INT(kind_of(v, "a") == VEX_VFS_FILE, i != 2);
        CHECK_EQ_INT(kind_of(v, "a") == VEX_VFS_FILE, i != 3);
    }
    vex_vfs_destroy(v);
    vex_vfs_destroy(m);
}

/* A small multi-step operation: publish "final" atomically through a
 * temporary file (header, body, fsync, rename, directory fsync). */
static int publish(vex_vfs *v, const unsigned char *body, size_t n)
{
    vex_file *f = NULL;
    unsigned char hdr[16];
    int rc;
    memset(hdr, 'H', sizeof hdr);
    rc = vex_vfs_open(v, "db/tmp",
                      VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE, &f,
                      &g_err);
    if (rc != VEX_OK)
        goto cleanup;
    if ((rc = vex_file_write(f, hdr, sizeof hdr, 0, &g_err)) != VEX_OK)
        goto cleanup;
    if ((rc = vex_file_write(f, body, n, sizeof hdr, &g_err)) != VEX_OK)
        goto cleanup;
    if ((rc = vex_file_sync(f, VEX_SYNC_FULL, &g_err)) != VEX_OK)
        goto cleanup;
    rc = vex_file_close(f, &g_err);
    f = NULL;
    if (rc != VEX_OK)
        goto cleanup;
    if ((rc = vex_vfs_rename(v, "db/tmp", "db/final", &g_err)) != VEX_OK)
        goto cleanup;
    rc = vex_vfs_sync_dir(v, "db", &g_err);
cleanup:
    if (f)
        vex_file_close(f, NULL);
    return rc;
}

static void test_fault_sweep(void)
{
    static const int kinds[] = {VEX_FAULT_IOERR, VEX_FAULT_FULL,
                                VEX_FAULT_SHORT_WRITE, VEX_FAULT_SYNC};
    unsigned char body[1000], buf[2048];
    size_t k, i;
    for (i = 0; i < sizeof body; i++)
        body[i] = (unsigned char)(i * 7);
    for (k = 0; k < 4; k++) {
        vex_vfs *m = NULL, *v = NULL;
        vex_fault_config cfg = {0};
        vex_fault_stats st;
        uint64_t n, n_open, n_maps;
        int done = 0;
        CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
        CHECK_RC(vx_vfs_fault_create(m, NULL, &v), VEX_OK);
        CHECK_RC(vex_vfs_mkdir(m, "db", &g_err), VEX_OK);
        for (n = 1; n < 100 && !done; n++) {
            int rc, want;
            long len;
            vex_vfs_remove(m, "db/final", NULL);
            vex_vfs_remove(m, "db/tmp", NULL);
            cfg.mask = VEX_FAULT_ALL;
            cfg.fail_at = n;
            cfg.kind = kinds[k];
            vx_vfs_fault_set(v, &cfg);
            rc = publish(v, body, sizeof body);
            vx_vfs_fault_stats(v, &st);
            if (st.n_faults == 0) {
                CHECK_RC(rc, VEX_OK);
                CHECK_EQ_INT(n, 8); /* open, 2 writes, sync, close, ... */
                done = 1;
            } else {
                /* which call failed decides the code */
                want = kinds[k] == VEX_FAULT_FULL ? VEX_FULL : VEX_IOERR;
                if (kinds[k] == VEX_FAULT_SHORT_WRITE && (n == 2 || n == 3))
                    want = VEX_FULL;
                CHECK_MSG(rc == want, "kind %zu call %llu: rc %d want %d", k,
                          (unsigned long long)n, rc, want);
            }
            /* never a half-published file: absent or complete */
            len = read_file(m, "db/final", buf, sizeof buf);
            CHECK_MSG(len == -1 || (len == 1016 &&
                                    memcmp(buf + 16, body, sizeof body) == 0),
                      "kind %zu call %llu: final has %ld bytes", k,
                      (unsigned long long)n, len);
            vx_vfs_mem_counts(m, &n_open, &n_maps);
            CHECK_EQ_INT(n_open, 0);
        }
        CHECK(done);
        vex_vfs_destroy(v);
        vex_vfs_destroy(m);
    }
}

/* ---- crash wrapper ------------------------------------------------------ */

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 13);
}

static void test_crash_rules(void)
{
    static const int modes[] = {VEX_CRASH_KEEP_ALL, VEX_CRASH_DROP_UNSYNCED};
    unsigned char a[2048], b[2048], buf[4096];
    size_t mi;
    fill(a, sizeof a, 1);
    fill(b, sizeof b, 2);
    for (mi = 0; mi < 2; mi++) {
        int mode = modes[mi], keep = mode == VEX_CRASH_KEEP_ALL;
        vex_vfs *m = NULL, *c = NULL;
        vex_file *f = NULL;
        listing l;
        CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
        CHECK_RC(vex_vfs_mkdir(m, "db", &g_err), VEX_OK);
        CHECK_RC(write_file(m, "db/old", "OLD", 3), VEX_OK);
        CHECK_RC(vx_vfs_crash_create(m, NULL, 1, &c), VEX_OK);

        /* synced data in a synced name: always survives (rules 3, 4) */
        CHECK_RC(write_file(c, "db/s", a, sizeof a), VEX_OK);
        CHECK_RC(vex_vfs_open(c, "db/s", VX_FILE_READWRITE, &f, &g_err),
                 VEX_OK);
        CHECK_RC(vex_file_sync(f, VEX_SYNC_DATA, &g_err), VEX_OK);
        /* then an unsynced overwrite and append (rule 2) */
        CHECK_RC(vex_file_write(f, b, 100, 1000, &g_err), VEX_OK);
        CHECK_RC(vex_file_write(f, b, 100, 2048, &g_err), VEX_OK);
        /* a new file synced but its directory not (rule 4) */
        CHECK_RC(vex_vfs_sync_dir(c, "db", &g_err), VEX_OK);
        CHECK_RC(write_file(c, "db/nodir", a, 10), VEX_OK);
        {
            vex_file *g = NULL;
            CHECK_RC(vex_vfs_open(c, "db/nodir", VX_FILE_READWRITE, &g, &g_err),
                     VEX_OK);
            CHECK_RC(vex_file_sync(g, VEX_SYNC_FULL, &g_err), VEX_OK);
            vex_file_close(g, NULL);
        }
        /* a synced file renamed over "old" without a directory sync */
        CHECK_RC(write_file(c, "db/tmp", "NEW", 3), VEX_OK);
        CHECK_RC(vex_vfs_rename(c, "db/tmp", "db/old", &g_err), VEX_OK);
        /* a directory made but its parent not synced */
        CHECK_RC(vex_vfs_mkdir(c, "db/sub", &g_err), VEX_OK);
        /* the wrapper shows the current state (rule 1); the disk not yet
         * (rule 9) */
        CHECK_EQ_INT(read_file(c, "db/old", buf, sizeof buf), 3);
        CHECK(memcmp(buf, "NEW", 3) == 0);
        CHECK_EQ_INT(read_file(m, "db/old", buf, sizeof buf), 3);
        CHECK(memcmp(buf, "OLD", 3) == 0);
        CHECK_EQ_INT(kind_of(m, "db/s"), VEX_VFS_NONE);

        CHECK_RC(vx_vfs_crash_now(c, mode, &g_err), VEX_OK);
        /* rule 8: the open handle is dead but can be closed */
        CHECK_RC(vx_file_read_exact(f, buf, 1, 0, &g_err), VEX_IOERR);
        CHECK_RC(vex_file_close(f, &g_err), VEX_OK);

        CHECK_EQ_INT(read_file(m, "db/s", buf, sizeof buf), keep ? 2148 : 2048);
        CHECK(memcmp(buf, a, 1000) == 0);
        CHECK(memcmp(buf + 1000, keep ? b : a + 1000, 100) == 0);
        CHECK(memcmp(buf + 1100, a + 1100, 948) == 0);
        CHECK_EQ_INT(kind_of(m, "db/nodir"),
                     keep ? VEX_VFS_FILE : VEX_VFS_NONE);
        CHECK_EQ_INT(read_file(m, "db/old", buf, sizeof buf), 3);
        CHECK(memcmp(buf, keep ? "NEW" : "OLD", 3) == 0);
        CHECK_EQ_INT(kind_of(m, "db/tmp"), VEX_VFS_NONE);
        CHECK_EQ_INT(kind_of(m, "db/sub"), keep ? VEX_VFS_DIR : VEX_VFS_NONE);
        /* the wrapper starts afresh from the disk */
        CHECK_EQ_INT(kind_of(c, "db/nodir"), kind_of(m, "db/nodir"));
        memset(&l, 0, sizeof l);
        CHECK_RC(vex_vfs_list(c, "db", collect, &l, &g_err), VEX_OK);
        CHECK_EQ_INT(l.n, keep ? 4 : 2);

        /* the durable way: rename then directory sync survives DROP */
        CHECK_RC(write_file(c, "db/tmp", "NEWER", 5), VEX_OK);
        CHECK_RC(vex_vfs_open(c, "db/tmp", VX_FILE_READWRITE, &f, &g_err),
                 VEX_OK);
        CHECK_RC(vex_file_sync(f, VEX_SYNC_FULL, &g_err), VEX_OK);
        CHECK_RC(vex_file_close(f, &g_err), VEX_OK);
        CHECK_RC(vex_vfs_rename(c, "db/tmp", "db/old", &g_err), VEX_OK);
        CHECK_RC(vex_vfs_sync_dir(c, "db", &g_err), VEX_OK);
        /* an unlink without a directory sync comes back under DROP */
        CHECK_RC(vex_vfs_remove(c, "db/s", &g_err), VEX_OK);
        CHECK_RC(vx_vfs_crash_now(c, mode, &g_err), VEX_OK);
        CHECK_EQ_INT(read_file(m, "db/old", buf, sizeof buf), 5);
        CHECK(memcmp(buf, "NEWER", 5) == 0);
        CHECK_EQ_INT(kind_of(m, "db/s"), keep ? VEX_VFS_NONE : VEX_VFS_FILE);
        CHECK_EQ_INT(kind_of(m, "db/tmp"), VEX_VFS_NONE);
        vex_vfs_destroy(c);
        vex_vfs_destroy(m);
    }
}

/* GARBLE: bytes outside unsynced sectors are the synced ones; inside they
 * are old, new or garbage; a same-directory rename is all or nothing; the
 * same seed gives the same bytes. */
static void test_crash_garble(void)
{
    unsigned char a[4096], b[4096], buf[8192], first[8192];
    int seen_old = 0, seen_new = 0, seen_garbage = 0, seen_rename[2] = {0};
    long first_len = -1;
    uint64_t seed, base_seed = test_seed(12345);
    fill(a, sizeof a, 3);
    fill(b, sizeof b, 4);
    for (seed = 0; seed < 40; seed++) {
        vex_vfs *m = NULL, *c = NULL;
        vex_file *f = NULL;
        long len;
        size_t s;
        int repeat;
        for (repeat = 0; repeat < (seed == 0 ? 2 : 1); repeat++) {
            CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
            CHECK_RC(vx_vfs_crash_create(m, NULL, base_seed + seed, &c),
                     VEX_OK);
            CHECK_RC(vex_vfs_open(c, "g", VX_FILE_READWRITE | VX_FILE_CREATE,
                                  &f, &g_err),
                     VEX_OK);
            CHECK_RC(vex_file_write(f, a, sizeof a, 0, &g_err), VEX_OK);
            CHECK_RC(vex_file_sync(f, VEX_SYNC_FULL, &g_err), VEX_OK);
            CHECK_RC(vex_vfs_sync_dir(c, ".", &g_err), VEX_OK);
            /* unsynced: sectors 2 and 3, and an append of sector 8 */
            CHECK_RC(vex_file_write(f, b + 1024, 1024, 1024, &g_err), VEX_OK);
            CHECK_RC(vex_file_write(f, b, 512, 4096, &g_err), VEX_OK);
            CHECK_RC(write_file(c, "r.tmp", "R", 1), VEX_OK);
            CHECK_RC(vex_vfs_rename(c, "r.tmp", "r", &g_err), VEX_OK);
            CHECK_RC(vx_vfs_crash_now(c, VEX_CRASH_GARBLE_UNSYNCED, &g_err),
                     VEX_OK);
            vex_file_close(f, NULL);
            len = read_file(m, "g", buf, sizeof buf);
            CHECK_MSG(len == 4096 || len == 4608, "len %ld", len);
            CHECK(memcmp(buf, a, 1024) == 0);
            CHECK(memcmp(buf + 2048, a + 2048, 2048) == 0);
            for (s = 1024; s < 2048 && len >= 2048; s += 512) {
                if (memcmp(buf + s, a + s, 512) == 0)
                    seen_old++;
                else if (memcmp(buf + s, b + s, 512) == 0)
                    seen_new++;
                else
                    seen_garbage++;
            }
            /* rule 6: the rename is atomic in its directory */
            CHECK_EQ_INT((kind_of(m, "r") == VEX_VFS_FILE) +
                             (kind_of(m, "r.tmp") == VEX_VFS_FILE),
                         kind_of(m, "r") == VEX_VFS_FILE ? 1 : 0);
            seen_rename[kind_of(m, "r") == VEX_VFS_FILE]++;
            if (seed == 0 && repeat == 0) {
                first_len = len;
                memcpy(first, buf, (size_t)len);
            } else if (seed == 0) {
                CHECK(len == first_len && memcmp(first, buf, (size_t)len) == 0);
            }
            vex_vfs_destroy(c);
            vex_vfs_destroy(m);
        }
    }
    CHECK(seen_old > 0 && seen_new > 0 && seen_garbage > 0);
    CHECK(seen_rename[0] > 0 && seen_rename[1] > 0);
}

/* Truncation and directory removal are unsynced changes too. */
static void test_crash_truncate_remove(void)
{
    unsigned char a[3000], buf[4096];
    vex_vfs *m = NULL, *c = NULL;
    vex_file *f = NULL;
    fill(a, sizeof a, 9);
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "d", &g_err), VEX_OK);
    CHECK_RC(write_file(m, "d/f", a, sizeof a), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "e", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_create(m, NULL, 5, &c), VEX_OK);
    CHECK_RC(vex_vfs_open(c, "d/f", VX_FILE_READWRITE, &f, &g_err), VEX_OK);
    CHECK_RC(vex_file_truncate(f, 10, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(c, "e", &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(c, "d", &g_err), VEX_EXISTS);
    CHECK_RC(vx_vfs_crash_now(c, VEX_CRASH_DROP_UNSYNCED, &g_err), VEX_OK);
    vex_file_close(f, NULL);
    CHECK_EQ_INT(read_file(m, "d/f", buf, sizeof buf), 3000);
    CHECK(memcmp(buf, a, sizeof a) == 0);
    CHECK_EQ_INT(kind_of(m, "e"), VEX_VFS_DIR);
    /* now synced: the truncation and the removal stick */
    CHECK_RC(vex_vfs_open(c, "d/f", VX_FILE_READWRITE, &f, &g_err), VEX_OK);
    CHECK_RC(vex_file_truncate(f, 10, &g_err), VEX_OK);
    CHECK_RC(vex_file_sync(f, VEX_SYNC_FULL, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(c, "e", &g_err), VEX_OK);
    CHECK_RC(vex_vfs_sync_dir(c, ".", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_now(c, VEX_CRASH_DROP_UNSYNCED, &g_err), VEX_OK);
    vex_file_close(f, NULL);
    CHECK_EQ_INT(read_file(m, "d/f", buf, sizeof buf), 10);
    CHECK_EQ_INT(kind_of(m, "e"), VEX_VFS_NONE);
    CHECK_RC(vx_vfs_crash_now(c, 99, &g_err), VEX_INVALID);
    vex_vfs_destroy(c);
    vex_vfs_destroy(m);
}

/* The crash wrapper over the real file system. */
static void test_crash_over_posix(void)
{
    char dir[] = "/tmp/vex_test_crash_XXXXXX", p[512], q[512];
    unsigned char buf[16];
    vex_vfs *v = NULL, *c = NULL;
    if (vx_vfs_posix_create(NULL, &v) != VEX_OK || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    CHECK_RC(vx_vfs_crash_create(v, NULL, 3, &c), VEX_OK);
    join(p, sizeof p, dir, "kept");
    join(q, sizeof q, dir, "lost");
    CHECK_RC(write_file(c, p, "K", 1), VEX_OK);
    CHECK_RC(vex_vfs_sync_dir(c, dir, &g_err), VEX_OK);
    CHECK_RC(write_file(c, q, "L", 1), VEX_OK);
    CHECK_RC(vx_vfs_crash_now(c, VEX_CRASH_DROP_UNSYNCED, &g_err), VEX_OK);
    CHECK_EQ_INT(read_file(v, p, buf, sizeof buf), 0); /* data unsynced */
    CHECK_EQ_INT(kind_of(v, q), VEX_VFS_NONE);
    CHECK_RC(vex_vfs_remove(v, p, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(c);
    vex_vfs_destroy(v);
}

/* ---- threads --------------------------------------------------------------
 */

typedef struct thread_arg {
    vex_vfs *v;
    int id;
    int failures;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *t = p;
    unsigned char mine[256], got[256];
    char name[32];
    vex_file *shared = NULL, *own = NULL;
    vex_rng rng;
    int i, k;
    vex_rng_seed(&rng, 1000 + (uint64_t)t->id);
    snprintf(name, sizeof name, "t/own%d", t->id);
    if (vex_vfs_open(t->v, "t/shared", VX_FILE_READWRITE, &shared, NULL) ||
        vex_vfs_open(t->v, name, VX_FILE_READWRITE | VX_FILE_CREATE, &own,
                     NULL)) {
        t->failures++;
        goto cleanup;
    }
    for (i = 0; i < 300; i++) {
        uint64_t off =
            (uint64_t)t->id * 256 * 64 + vex_rng_below(&rng, 64) * 256;
        for (k = 0; k < 256; k++)
            mine[k] = (unsigned char)vex_rng_next(&rng);
        if (vex_file_write(shared, mine, 256, off, NULL) ||
            vx_file_read_exact(shared, got, 256, off, NULL) ||
            memcmp(mine, got, 256) != 0)
            t->failures++;
        if (vex_file_write(own, mine, 256, (uint64_t)i * 256, NULL) ||
            vex_file_sync(own, VEX_SYNC_DATA, NULL))
            t->failures++;
        if (kind_of(t->v, "t/shared") != VEX_VFS_FILE ||
            vex_vfs_list(t->v, "t", collect, &(listing){0}, NULL) != VEX_OK)
            t->failures++;
        if (i % 50 == 0) {
            const void *map;
            size_t len;
            if (vex_file_mmap(shared, &map, &len, NULL) ||
                vex_file_munmap(shared, map, len, NULL))
                t->failures++;
        }
    }
cleanup:
    vex_file_close(shared, NULL);
    vex_file_close(own, NULL);
    return NULL;
}

static void test_mem_threads(void)
{
    enum { T = 4 };
    pthread_t th[T];
    thread_arg args[T];
    vex_vfs *v = NULL;
    uint64_t n_open, n_maps;
    int i;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "t", &g_err), VEX_OK);
    CHECK_RC(write_file(v, "t/shared", "", 0), VEX_OK);
    for (i = 0; i < T; i++) {
        args[i].v = v;
        args[i].id = i;
        args[i].failures = 0;
        CHECK(pthread_create(&th[i], NULL, thread_main, &args[i]) == 0);
    }
    for (i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    vx_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    vex_vfs_destroy(v);
}

/* Batched reads (io/batch.h) over one vfs: scattered reads of a file
 * whose bytes are a function of the offset, in batches smaller and larger
 * than the reader's depth, come back exact; a read past the end is
 * VEX_CORRUPT with the vfs's message, and the reader still works. */
static void batch_case(vex_vfs *v, const char *path, const char *want_kind)
{
    enum { SIZE = 1 << 20, N = 40 };
    vex_mem mem;
    vex_file *f = NULL;
    vx_batch_reader *br = NULL;
    unsigned char *data = malloc(SIZE), *bufs = malloc(N * 4096);
    vx_read_req reqs[N];
    vex_rng r;
    vex_err err;
    vx_mem_init(&mem, NULL);
    vx_err_init(&err);
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 12));
    CHECK_RC(
        vex_vfs_open(v, path, VX_FILE_READWRITE | VX_FILE_CREATE, &f, NULL),
        VEX_OK);
    CHECK_RC(vex_file_write(f, data, SIZE, 0, NULL), VEX_OK);
    CHECK_RC(vx_batch_reader_create(&mem, f, 8, &br), VEX_OK);
    fprintf(stderr, "  %s: batches through %s\n", v->name,
            vx_batch_reader_kind(br));
    if (want_kind)
        CHECK(strcmp(vx_batch_reader_kind(br), want_kind) == 0);
    vex_rng_seed(&r, 5);
    for (int round = 0; round < 20; round++) {
        unsigned n = 1 + (unsigned)vex_rng_below(&r, N);
        for (unsigned i = 0; i < n; i++) {
            reqs[i].n = 1 + (size_t)vex_rng_below(&r, 4096);
            reqs[i].off = vex_rng_below(&r, SIZE - reqs[i].n);
            reqs[i].buf = bufs + i * 4096;
        }
        CHECK_RC(vx_batch_read(br, reqs, n, &err), VEX_OK);
        for (unsigned i = 0; i < n; i++)
            CHECK(memcmp(reqs[i].buf, data + reqs[i].off, reqs[i].n) == 0);
    }
    reqs[0].off = SIZE - 100; /* 100 bytes there, 4096 asked */
    reqs[0].n = 4096;
    reqs[0].buf = bufs;
    reqs[1].off = 0;
    reqs[1].n = 10;
    reqs[1].buf = bufs + 4096;
    CHECK_RC(vx_batch_read(br, reqs, 2, &err), VEX_CORRUPT);
    CHECK(strstr(err.msg, "short read") != NULL);
    CHECK_RC(vx_batch_read(br, reqs + 1, 1, &err), VEX_OK);
    CHECK(memcmp(bufs + 4096, data, 10) == 0);
    vx_batch_reader_free(br);
    CHECK_RC(vx_batch_reader_create(&mem, f, 0, &br), VEX_INVALID);
    CHECK(br == NULL);
    vex_file_close(f, NULL);
    vx_err_destroy(&err);
    free(data);
    free(bufs);
}

static void test_batch_reads(void)
{
    vex_vfs *v = NULL;
    char dir[] = "/tmp/vex_test_batch_XXXXXX", path[64];
    CHECK_RC(vx_vfs_posix_create(NULL, &v), VEX_OK);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/f", dir);
#ifdef VEX_HAVE_URING
    /* io_uring where the kernel gives a ring (a container may not) */
    batch_case(v, path, NULL);
#else
    fprintf(stderr, "  io_uring: not in this build (liburing-dev missing): "
                    "the pread path only\n");
    batch_case(v, path, "pread");
#endif
    unlink(path);
    rmdir(dir);
    vex_vfs_destroy(v);
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    batch_case(v, "/f", "pread"); /* no OS descriptor */
    vex_vfs_destroy(v);
}

int main(void)
{
    vx_err_init(&g_err);
    TEST_RUN(test_batch_reads);
    TEST_RUN(test_posix_conformance);
    TEST_RUN(test_mem_conformance);
    TEST_RUN(test_wrapper_conformance);
    TEST_RUN(test_posix_lock_fork);
    TEST_RUN(test_fault_kinds);
    TEST_RUN(test_fault_masks);
    TEST_RUN(test_fault_sweep);
    TEST_RUN(test_crash_rules);
    TEST_RUN(test_crash_garble);
    TEST_RUN(test_crash_truncate_remove);
    TEST_RUN(test_crash_over_posix);
    TEST_RUN(test_mem_threads);
    vx_err_destroy(&g_err);
    return TEST_EXIT();
}
