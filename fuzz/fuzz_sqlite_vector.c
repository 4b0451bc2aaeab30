/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_sqlite_vector.c - fuzz target for the SQLite extension's vector
 * parser (sqlite/vexdb_sqlite.c: JSON arrays and float32 blobs), through
 * its SQL functions on an in-memory SQLite database with the extension
 * compiled in. The first byte picks the path, the rest is the argument:
 *   0  vex_vector(text)          1  vex_vector(blob)
 *   2  vex_vector_to_json(blob)  3  vex_distance_l2(text, text) split at
 *                                   the first 0xff byte
 * A failure must be an error whose message starts "vexdb: "; a success
 * must give a blob of finite float32 whose JSON form reads back as the
 * same bytes (the round trip is exact), or a finite distance.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fuzz.h"

int sqlite3_vexdbsqlite_init(sqlite3 *db, char **err,
                             const sqlite3_api_routines *api);

static void check(int ok)
{
    if (!ok)
        abort();
}

static sqlite3 *fsv_db;

static void fsv_open(void)
{
    if (fsv_db)
        return;
    check(sqlite3_auto_extension((void (*)(void))sqlite3_vexdbsqlite_init) ==
          SQLITE_OK);
    check(sqlite3_open(":memory:", &fsv_db) == SQLITE_OK);
}

/* Run `sql` with one or two arguments; returns the step's result code
 * and leaves the statement for the caller to read (or NULL). */
static int fsv_run(const char *sql, const void *a, int na, int a_blob,
                   const void *b, int nb, sqlite3_stmt **out)
{
    sqlite3_stmt *st = NULL;
    check(sqlite3_prepare_v2(fsv_db, sql, -1, &st, NULL) == SQLITE_OK);
    if (a_blob)
        sqlite3_bind_blob(st, 1, a, na, SQLITE_TRANSIENT);
    else
        sqlite3_bind_text(st, 1, a, na, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, nb, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        check(rc != SQLITE_DONE);
        check(strncmp(sqlite3_errmsg(fsv_db), "vexdb: ", 7) == 0);
        sqlite3_finalize(st);
        *out = NULL;
        return rc;
    }
    *out = st;
    return rc;
}

/* A blob result: finite float32s whose JSON reads back exactly. */
static void fsv_check_blob(const void *p, int n)
{
    sqlite3_stmt *st, *st2;
    check(n > 0 && n % 4 == 0);
    for (int i = 0; i < n / 4; i++) {
        float f;
        memcpy(&f, (const char *)p + 4 * i, 4);
        check(isfinite(f));
    }
    check(fsv_run("SELECT vex_vector_to_json(?)", p, n, 1, NULL, 0, &st) ==
          SQLITE_ROW);
    const unsigned char *json = sqlite3_column_text(st, 0);
    int jn = sqlite3_column_bytes(st, 0);
    check(fsv_run("SELECT vex_vector(?)", json, jn, 0, NULL, 0, &st2) ==
          SQLITE_ROW);
    check(sqlite3_column_bytes(st2, 0) == n);
    check(memcmp(sqlite3_column_blob(st2, 0), p, (size_t)n) == 0);
    sqlite3_finalize(st2);
    sqlite3_finalize(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sqlite3_stmt *st;
    if (size < 1 || size > 65536)
        return 0;
    fsv_open();
    const void *arg = data + 1;
    int n = (int)(size - 1);
    switch (data[0] & 3) {
    case 0:
    case 1:
        if (fsv_run("SELECT vex_vector(?)", arg, n, data[0] & 1, NULL, 0,
                    &st) == SQLITE_ROW) {
            int bytes = sqlite3_column_bytes(st, 0);
            void *copy = malloc(bytes > 0 ? (size_t)bytes : 1);
            check(copy != NULL);
            memcpy(copy, sqlite3_column_blob(st, 0), (size_t)bytes);
            sqlite3_finalize(st);
            fsv_check_blob(copy, bytes);
            free(copy);
        }
        break;
    case 2:
        if (fsv_run("SELECT vex_vector_to_json(?)", arg, n, 1, NULL, 0, &st) ==
            SQLITE_ROW) {
            sqlite3_finalize(st);
            fsv_check_blob(arg, n);
        }
        break;
    default: {
        const uint8_t *sep = memchr(arg, 0xff, (size_t)n);
        int na = sep ? (int)(sep - (const uint8_t *)arg) : n;
        const void *b = sep ? (const void *)(sep + 1) : "";
        int nb = sep ? n - na - 1 : 0;
        if (fsv_run("SELECT vex_distance_l2(?, ?)", arg, na, 0, b, nb, &st) ==
            SQLITE_ROW) {
            check(sqlite3_column_type(st, 0) == SQLITE_FLOAT);
            check(isfinite(sqlite3_column_double(st, 0)) ||
                  isinf(sqlite3_column_double(st, 0)));
            sqlite3_finalize(st);
        }
    }
    }
    return 0;
}
