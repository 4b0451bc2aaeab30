/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_missing_files.c - a collection that lost a file it needs does not
 * open as if nothing happened (issue 26, findings 1, 2, 3 and 5).
 *
 * Each case writes a collection through the public API, closes it
 * cleanly, damages one file from outside (as a user, a backup tool or a
 * disk might), and reopens:
 *   - the oldest log file deleted: the records it held are neither in
 *     segments nor in the log, so the open is VEX_CORRUPT naming the
 *     missing records (before: VEX_OK with those records gone);
 *   - the newest log file deleted, or cut to its first 512 bytes: the
 *     clean close published how far the log reaches, so VEX_CORRUPT
 *     (before: VEX_OK with its commits gone);
 *   - one flipped byte in a record written under VEX_DURABILITY_NONE and
 *     synced by the close: VEX_CORRUPT, not a torn tail that drops that
 *     record and every later one;
 *   - a segment file the manifest lists, or the log directory, deleted:
 *     VEX_CORRUPT, not VEX_NOTFOUND ("no such collection");
 * and, as the control, the same collection undamaged reopens with every
 * record, also after a close that had nothing new to record.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "vexdb.h"

#define DIM 64
#define N   600

static char tmp_root[256];

static vex_db *open_db(const char *name, vex_durability dur, int flush_close)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = dur;
    o.wal_file_bytes = 64 << 10; /* many log files */
    o.flush_on_close = flush_close;
    o.background_threads = 1;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

/* A database `name` with collection "c" holding ids 1..N, closed cleanly
 * with its rows in the log only (flush_on_close 0). */
static void make(const char *name, vex_durability dur)
{
    vex_db *db = open_db(name, dur, 0);
    vex_collection_config cfg;
    vex_collection *c = NULL;
    float v[DIM];
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    for (uint64_t id = 1; c && id <= N; id++) {
        for (int d = 0; d < DIM; d++)
            v[d] = (float)(id % 13) + (float)d * 0.01f;
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
    }
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* Open `name` again; the status of opening collection "c" (and its count
 * into *count when it opens). */
static int reopen(const char *name, uint64_t *count, char *msg, size_t size)
{
    vex_db *db = open_db(name, VEX_DURABILITY_GROUP, 0);
    vex_collection *c = NULL;
    int rc;
    if (db == NULL)
        return -1;
    rc = vex_collection_open(db, "c", &c);
    snprintf(msg, size, "%s", vex_db_errmsg(db));
    if (rc == VEX_OK && count)
        *count = vex_collection_count(c);
    vex_db_close(db);
    return rc;
}

/* The log files of `name`'s collection, sorted (names are fixed-width
 * hex, so string order is sequence order). Returns how many. */
static int log_files(const char *name, char files[][1024], int max)
{
    char dir[512];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof dir, "%s/%s/collections/c/wal", tmp_root, name);
    d = opendir(dir);
    CHECK(d != NULL);
    while (d && (e = readdir(d)) != NULL && n < max)
        if (strncmp(e->d_name, "wal-", 4) == 0)
            snprintf(files[n++], 1024, "%s/%s", dir, e->d_name);
    if (d)
        closedir(d);
    qsort(files, (size_t)n, 1024, (int (*)(const void *, const void *))strcmp);
    return n;
}

static int has(const char *msg, const char *frag)
{
    if (strstr(msg, frag))
        return 1;
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, frag);
    return 0;
}

static void test_control(void)
{
    char msg[512];
    uint64_t count = 0;
    make("control", VEX_DURABILITY_FULL);
    CHECK_RC(reopen("control", &count, msg, sizeof msg), VEX_OK);
    CHECK_EQ_INT(count, N);
    /* a second clean close with nothing new, then again */
    CHECK_RC(reopen("control", &count, msg, sizeof msg), VEX_OK);
    CHECK_EQ_INT(count, N);
}

static void test_oldest_log_missing(void)
{
    char files[64][1024], msg[512];
    int n;
    make("oldest", VEX_DURABILITY_FULL);
    n = log_files("oldest", files, 64);
    CHECK(n >= 3);
    if (n < 3)
        return;
    CHECK(unlink(files[0]) == 0);
    CHECK_RC(reopen("oldest", NULL, msg, sizeof msg), VEX_CORRUPT);
    CHECK(has(msg, "log files holding records 1.."));
    CHECK(has(msg, "are missing"));
}

static void test_newest_log_missing(void)
{
    char files[64][1024], msg[512];
    int n;
    make("newest", VEX_DURABILITY_FULL);
    n = log_files("newest", files, 64);
    CHECK(n >= 3);
    if (n < 3)
        return;
    CHECK(unlink(files[n - 1]) == 0);
    CHECK_RC(reopen("newest", NULL, msg, sizeof msg), VEX_CORRUPT);
    CHECK(has(msg, "was published after record 600"));
}

static void test_newest_log_truncated(void)
{
    char files[64][1024], msg[512];
    int n;
    make("cut", VEX_DURABILITY_FULL);
    n = log_files("cut", files, 64);
    CHECK(n >= 2);
    if (n < 2)
        return;
    CHECK(truncate(files[n - 1], 512) == 0);
    CHECK_RC(reopen("cut", NULL, msg, sizeof msg), VEX_CORRUPT);
    CHECK(has(msg, "are missing"));
}

/* Under NONE, a flipped byte in a record the close synced. */
static void test_none_flipped_byte(void)
{
    char files[64][1024], msg[512];
    struct stat st;
    unsigned char b;
    int n, fd;
    make("flip", VEX_DURABILITY_NONE);
    n = log_files("flip", files, 64);
    CHECK(n >= 1);
    if (n < 1 || stat(files[n - 1], &st) != 0 || st.st_size < 2048)
        return;
    fd = open(files[n - 1], O_RDWR);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    /* a byte in the middle of the file: inside some record */
    CHECK(pread(fd, &b, 1, st.st_size / 2) == 1);
    b ^= 0x40;
    CHECK(pwrite(fd, &b, 1, st.st_size / 2) == 1);
    close(fd);
    CHECK_RC(reopen("flip", NULL, msg, sizeof msg), VEX_CORRUPT);
}

static void test_segment_missing(void)
{
    char dir[512], path[1024], msg[512];
    vex_db *db = open_db("seg", VEX_DURABILITY_GROUP, 1);
    vex_collection_config cfg;
    vex_collection *c = NULL;
    float v[DIM] = {0};
    DIR *d;
    struct dirent *e;
    int removed = 0;
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    for (uint64_t id = 1; c && id <= 50; id++) {
        v[0] = (float)id;
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
    }
    CHECK_RC(vex_db_close(db), VEX_OK); /* flushes: one segment */
    snprintf(dir, sizeof dir, "%s/seg/collections/c", tmp_root);
    d = opendir(dir);
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "seg-", 4) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            removed += unlink(path) == 0;
        }
    if (d)
        closedir(d);
    CHECK_EQ_INT(removed, 1);
    CHECK_RC(reopen("seg", NULL, msg, sizeof msg), VEX_CORRUPT);
    CHECK(has(msg, "a segment file the manifest lists is missing"));
}

static void test_log_dir_missing(void)
{
    char files[64][1024], dir[512], msg[512];
    int n;
    make("nowal", VEX_DURABILITY_FULL);
    n = log_files("nowal", files, 64);
    for (int i = 0; i < n; i++)
        CHECK(unlink(files[i]) == 0);
    snprintf(dir, sizeof dir, "%s/nowal/collections/c/wal", tmp_root);
    CHECK(rmdir(dir) == 0);
    CHECK_RC(reopen("nowal", NULL, msg, sizeof msg), VEX_CORRUPT);
    CHECK(has(msg, "the log directory is missing"));
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_missing_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_control);
    TEST_RUN(test_oldest_log_missing);
    TEST_RUN(test_newest_log_missing);
    TEST_RUN(test_newest_log_truncated);
    TEST_RUN(test_none_flipped_byte);
    TEST_RUN(test_segment_missing);
    TEST_RUN(test_log_dir_missing);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
