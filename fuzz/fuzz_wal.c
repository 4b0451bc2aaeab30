/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_wal.c - fuzz target for the write-ahead log reader (src/storage/
 * wal.c). An input is up to four log files on an in-memory vfs: byte 0
 * gives the count (1 + b % 4), then each file is a 2-byte little-endian
 * length and that many bytes, named after the first sequence number at
 * bytes 16..23 of its own header when it has one (so the fuzzer can build
 * consistent logs), else after its position. Checked: replay never
 * crashes, delivers consecutive sequence numbers, and agrees with the
 * writer: when replay succeeds, vx_wal_open succeeds, and an append after it
 * replays as one more record; when replay reports damage, so does open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/vfs.h"
#include "storage/wal.h"
#include "util/endian.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

typedef struct seen {
    uint64_t next, n;
    volatile unsigned sum;
} seen;

static int cb(void *ctx, uint64_t seq, const void *p, size_t n)
{
    seen *s = ctx;
    const unsigned char *b = p;
    size_t i;
    check(s->n == 0 || seq == s->next);
    s->next = seq + 1;
    s->n++;
    for (i = 0; i < n; i++)
        s->sum += b[i];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    wal *w = NULL;
    wal_options o;
    wal_replay_stats st, st2;
    seen s1, s2;
    char path[64];
    size_t pos = 1, k, n_files;
    int rc, rc2;

    if (size < 1 || vx_vfs_mem_create(NULL, &v) != VEX_OK)
        return 0;
    if (vex_vfs_mkdir(v, "d", NULL) != VEX_OK)
        goto cleanup;
    n_files = 1 + data[0] % 4;
    for (k = 0; k < n_files && pos + 2 <= size; k++) {
        size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        uint64_t first = k + 1;
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        if (len >= 24)
            first = vex_get_u64le(data + pos + 16);
        snprintf(path, sizeof path, "d/wal-%016llx.log",
                 (unsigned long long)first);
        if (vex_vfs_open(v, path, VX_FILE_READWRITE | VX_FILE_CREATE, &f,
                         NULL) != VEX_OK)
            goto cleanup;
        if (len)
            check(vex_file_write(f, data + pos, len, 0, NULL) == VEX_OK);
        vex_file_close(f, NULL);
        f = NULL;
        pos += len;
    }
    memset(&s1, 0, sizeof s1);
    rc = vx_wal_replay(v, "d", 0, cb, &s1, NULL, NULL, &st);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    check(s1.n == st.n_delivered && st.n_delivered == st.n_records);
    vx_wal_options_init(&o);
    o.max_file_bytes = 4096;
    rc2 = vx_wal_open(v, "d", &o, NULL, NULL, &w);
    if (rc != VEX_OK) {
        check(rc2 == rc && w == NULL);
        goto cleanup;
    }
    check(rc2 == VEX_OK && w != NULL);
    check(vx_wal_next_seq(w) == (st.n_files ? st.next_seq : 1));
    rc = vx_wal_append(w, "x", 1, NULL, NULL);
    check(vx_wal_close(w, NULL) == VEX_OK);
    w = NULL;
    if (rc == VEX_FULL) /* sequence numbers exhausted */
        goto cleanup;
    check(rc == VEX_OK);
    memset(&s2, 0, sizeof s2);
    check(vx_wal_replay(v, "d", 0, cb, &s2, NULL, NULL, &st2) == VEX_OK);
    check(s2.n == s1.n + 1 && st2.bytes_ignored == 0);
cleanup:
    vex_vfs_destroy(v);
    return 0;
}
