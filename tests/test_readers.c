/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_readers.c - the vex tool's dataset readers and writers
 * (tools/vex/readers.h): round trips through files and memory, the limit,
 * every npy dtype and version, and each kind of malformed input, which must
 * fail with a message naming the file and the byte offset.
 */
#include <stdint.h>
#include <unistd.h>

#include "readers.h"
#include "test.h"
#include "vexdb.h"

/* ---- byte builders ---------------------------------------------------- */

typedef struct bbuf {
    uint8_t b[8192];
    size_t n;
} bbuf;

static void put_bytes(bbuf *b, const void *p, size_t n)
{
    if (b->n + n <= sizeof b->b) {
        memcpy(b->b + b->n, p, n);
        b->n += n;
    }
}

static void put_u32(bbuf *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    put_bytes(b, p, 4);
}

static void put_f32(bbuf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(b, u);
}

/* an npy file: version major, header dict text, then `data` */
static void make_npy(bbuf *b, int major, const char *dict, const void *data,
                     size_t n_data)
{
    size_t hl = strlen(dict);
    b->n = 0;
    put_bytes(b, "\x93NUMPY", 6);
    put_bytes(b, (uint8_t[]){(uint8_t)major, 0}, 2);
    if (major == 1) {
        put_bytes(b, (uint8_t[]){(uint8_t)hl, (uint8_t)(hl >> 8)}, 2);
    } else {
        put_u32(b, (uint32_t)hl);
    }
    put_bytes(b, dict, hl);
    put_bytes(b, data, n_data);
}

static int msg_has(const vexio_error *e, const char *s)
{
    return strstr(e->msg, s) != NULL;
}

/* ---- cases -------------------------------------------------------------- */

static void test_fvecs_roundtrip_file(void)
{
    char path[] = "/tmp/vex_test_readersXXXXXX";
    char file[64];
    float data[3 * 5];
    int64_t ids[3 * 2] = {0, 1, 2, 3, 2147483647, -7};
    vexio_vectors v = {0};
    vexio_ids g = {0};
    vexio_info info;
    vexio_error err;
    int i;
    CHECK(mkdtemp(path) != NULL);
    for (i = 0; i < 15; i++)
        data[i] = (float)i * 0.5f - 3.0f;
    snprintf(file, sizeof file, "%s/a.fvecs", path);
    CHECK_RC(vexio_write_fvecs(file, 5, 3, data, &err), VEX_OK);
    CHECK_RC(vexio_read_vectors(file, VEXIO_AUTO, 0, &v, &err), VEX_OK);
    CHECK(v.n == 3 && v.dim == 5 && v.data);
    CHECK(v.data && memcmp(v.data, data, sizeof data) == 0);
    vexio_vectors_free(&v);
    CHECK_RC(vexio_read_vectors(file, VEXIO_AUTO, 2, &v, &err), VEX_OK);
    CHECK(v.n == 2 && v.dim == 5);
    vexio_vectors_free(&v);
    CHECK_RC(vexio_probe(file, VEXIO_AUTO, &info, &err), VEX_OK);
    CHECK(info.format == VEXIO_FVECS && info.n == 3 && info.dim == 5);
    CHECK(strcmp(info.dtype, "float32") == 0 && info.file_size == 3 * 24);
    /* wrong kind of file for the request */
    CHECK_RC(vexio_read_ids(file, VEXIO_AUTO, 0, &g, &err), VEX_INVALID);
    CHECK(msg_has(&err, file));
    remove(file);

    snprintf(file, sizeof file, "%s/g.ivecs", path);
    CHECK_RC(vexio_write_ivecs(file, 2, 3, ids, &err), VEX_OK);
    CHECK_RC(vexio_read_ids(file, VEXIO_AUTO, 0, &g, &err), VEX_OK);
    CHECK(g.n == 3 && g.k == 2 && g.ids && memcmp(g.ids, ids, sizeof ids) == 0);
    vexio_ids_free(&g);
    CHECK_RC(vexio_read_vectors(file, VEXIO_AUTO, 0, &v, &err), VEX_INVALID);
    CHECK(v.data == NULL && v.n == 0);
    ids[5] = (int64_t)1 << 40;
    CHECK_RC(vexio_write_ivecs(file, 2, 3, ids, &err), VEX_INVALID);
    CHECK(access(file, F_OK) != 0); /* partial file removed */

    CHECK_RC(vexio_read_vectors(path, VEXIO_FVECS, 0, &v, &err), VEX_INVALID);
    CHECK(msg_has(&err, "not a regular file"));
    snprintf(file, sizeof file, "%s/missing.fvecs", path);
    CHECK_RC(vexio_read_vectors(file, VEXIO_AUTO, 0, &v, &err), VEX_IOERR);
    CHECK(msg_has(&err, "missing.fvecs"));
    rmdir(path);
}

static void test_bvecs_and_chunks(void)
{
    /* more records than one 4 MiB chunk holds, through a real file */
    enum { N = 40000, D = 200 };
    char path[] = "/tmp/vex_test_bvecsXXXXXX";
    int fd = mkstemp(path);
    char file[64];
    FILE *fp;
    uint8_t rec[4 + D];
    vexio_vectors v = {0};
    vexio_error err;
    uint64_t i, bad = 0;
    CHECK(fd >= 0);
    close(fd);
    remove(path);
    snprintf(file, sizeof file, "%s.bvecs", path);
    fp = fopen(file, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    for (i = 0; i < N; i++) {
        int j;
        rec[0] = D;
        rec[1] = rec[2] = rec[3] = 0;
        for (j = 0; j < D; j++)
            rec[4 + j] = (uint8_t)(i * 7 + (uint64_t)j);
        fwrite(rec, 1, sizeof rec, fp);
    }
    fclose(fp);
    CHECK_RC(vexio_read_vectors(file, VEXIO_AUTO, 0, &v, &err), VEX_OK);
    CHECK(v.n == N && v.dim == D);
    for (i = 0; v.data && i < N; i++)
        if (v.data[i * D + 3] != (float)(uint8_t)(i * 7 + 3))
            bad++;
    CHECK_EQ_INT(bad, 0);
    vexio_vectors_free(&v);
    remove(file);
}

static void test_texmex_malformed(void)
{
    bbuf b;
    vexio_vectors v = {0};
    vexio_info info;
    vexio_error err;
    int i;

    CHECK_RC(
        vexio_read_vectors_mem(NULL, 0, "e.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "e.fvecs") && msg_has(&err, "empty"));

    b.n = 0;
    put_bytes(&b, "\x02\x00", 2);
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "h.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "h.fvecs: truncated: file ends at byte 2"));

    b.n = 0;
    put_u32(&b, (uint32_t)-5);
    put_f32(&b, 1);
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "neg.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "neg.fvecs: record 0 at byte 0: dimension -5"));

    b.n = 0;
    put_u32(&b, 0);
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "z.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "dimension 0 is out of range"));

    b.n = 0;
    put_u32(&b, VEX_MAX_DIM + 1);
    put_f32(&b, 1);
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "big.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "out of range"));

    /* dim mismatch at record 2 (byte 24) of dim-2 records */
    b.n = 0;
    for (i = 0; i < 4; i++) {
        put_u32(&b, i == 2 ? 3 : 2);
        put_f32(&b, 1);
        put_f32(&b, 2);
    }
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "m.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK_MSG(msg_has(&err, "m.fvecs: record 2 at byte 24: dimension 3 "
                            "differs from 2 of record 0"),
              "%s", err.msg);
    CHECK(v.data == NULL && v.n == 0);
    /* with a limit, the bad record is never reached */
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "m.fvecs", VEXIO_AUTO, 2, &v, &err),
        VEX_OK);
    CHECK(v.n == 2 && v.data && v.data[3] == 2.0f);
    vexio_vectors_free(&v);

    /* truncated inside the data of record 1 */
    b.n = 0;
    put_u32(&b, 2);
    put_f32(&b, 1);
    put_f32(&b, 2);
    put_u32(&b, 2);
    put_f32(&b, 1);
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "t.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK_MSG(msg_has(&err, "t.fvecs: truncated: file ends at byte 20 inside "
                            "record 1 (at byte 12"),
              "%s", err.msg);
    CHECK_RC(vexio_probe_mem(b.b, b.n, "t.fvecs", VEXIO_AUTO, &info, &err),
             VEX_CORRUPT);
    /* truncated inside the dimension field of record 1 */
    b.n = 14;
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "t.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "inside the dimension field of record 1"));
    /* a file shorter than its first record */
    b.n = 8;
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "t.fvecs", VEXIO_AUTO, 0, &v, &err),
        VEX_CORRUPT);
    CHECK(msg_has(&err, "inside record 0"));

    /* unknown extension, no npy magic */
    CHECK_RC(
        vexio_read_vectors_mem(b.b, b.n, "data.bin", VEXIO_AUTO, 0, &v, &err),
        VEX_INVALID);
    CHECK(msg_has(&err, "data.bin"));
}

static void test_npy_ok(void)
{
    bbuf b;
    vexio_vectors v = {0};
    vexio_ids g = {0};
    vexio_info info;
    vexio_error err;
    float f[6] = {1, 2, 3, 4, 5, 6};
    double d[6] = {1.5, -2, 3, 4, 5, 1e300};
    int64_t i8[4] = {7, -1, (int64_t)1 << 40, 3};
    int32_t i4[4] = {7, -1, 9, 3};
    uint8_t u1[6] = {0, 1, 2, 253, 254, 255};
    int major;

    for (major = 1; major <= 3; major++) {
        make_npy(&b, major,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "
                 "}       \n",
                 f, sizeof f);
        CHECK_RC(
            vexio_read_vectors_mem(b.b, b.n, "a.npy", VEXIO_AUTO, 0, &v, &err),
            VEX_OK);
        CHECK(v.n == 2 && v.dim == 3 && v.data &&
              memcmp(v.data, f, sizeof f) == 0);
        vexio_vectors_free(&v);
    }
    /* key order, double quotes, no trailing comma, 1-D = one row, limit */
    make_npy(&b, 1,
             "{\"shape\":(6,),\"fortran_order\":False,\"descr\":\"<f4\"}", f,
             sizeof f);
    CHECK_RC(vexio_read_vectors_mem(b.b, b.n, "x", VEXIO_NPY, 0, &v, &err),
             VEX_OK);
    CHECK(v.n == 1 && v.dim == 6);
    vexio_vectors_free(&v);
    make_npy(&b, 1, "{'descr':'<f8','fortran_order':False,'shape':(3L,2L)}", d,
             sizeof d);
    CHECK_RC(vexio_read_vectors_mem(b.b, b.n, "no-extension", VEXIO_AUTO, 1, &v,
                                    &err),
             VEX_OK);
    CHECK(v.n == 1 && v.dim == 2 && v.data && v.data[0] == 1.5f &&
          v.data[1] == -2.0f);
    vexio_vectors_free(&v);
    CHECK_RC(vexio_read_vectors_mem(b.b, b.n, "d.npy", VEXIO_AUTO, 0, &v, &err),
             VEX_OK);
    CHECK(v.data && isinf(v.data[5])); /* out of float range: infinity */
    vexio_vectors_free(&v);
    make_npy(&b, 1, "{'descr':'|u1','fortran_order':False,'shape':(2,3)}", u1,
             sizeof u1);
    CHECK_RC(vexio_read_vectors_mem(b.b, b.n, "u.npy", VEXIO_AUTO, 0, &v, &err),
             VEX_OK);
    CHECK(v.data && v.data[5] == 255.0f);
    vexio_vectors_free(&v);
    make_npy(&b, 1, "{'descr':'|i1','fortran_order':False,'shape':(2,3)}", u1,
             sizeof u1);
    CHECK_RC(vexio_read_vectors_mem(b.b, b.n, "i.npy", VEXIO_AUTO, 0, &v, &err),
             VEX_OK);
    CHECK(v.data && v.data[5] == -1.0f);
    vexio_vectors_free(&v);
    make_npy(&b, 1, "{'descr':'<i8','fortran_order':False,'shape':(2,2)}", i8,
             sizeof i8);
    CHECK_RC(vexio_read_ids_mem(b.b, b.n, "g.npy", VEXIO_AUTO, 0, &g, &err),
             VEX_OK);
    CHECK(g.n == 2 && g.k == 2 && g.ids && g.ids[2] == (int64_t)1 << 40);
    vexio_ids_free(&g);
    CHECK_RC(vexio_read_vectors_mem(b.b, b.n, "g.npy", VEXIO_AUTO, 0, &v, &err),
             VEX_INVALID);
    make_npy(&b, 2, "{'descr':'<i4','fortran_order':False,'shape':(2,2)}", i4,
             sizeof i4);
    CHECK_RC(vexio_read_ids_mem(b.b, b.n, "g.npy", VEXIO_AUTO, 0, &g, &err),
             VEX_OK);
    CHECK(g.ids && g.ids[1] == -1 && g.ids[2] == 9);
    vexio_ids_free(&g);
    CHECK_RC(vexio_probe_mem(b.b, b.n, "g.npy", VEXIO_AUTO, &info, &err),
             VEX_OK);
    CHECK(info.format == VEXIO_NPY && strcmp(info.dtype, "int32") == 0 &&
          info.n == 2 && info.dim == 2);
}

static void expect_npy_error(const bbuf *b, int want_rc, const char *want)
{
    vexio_vectors v = {0};
    vexio_error err;
    CHECK_RC(
        vexio_read_vectors_mem(b->b, b->n, "bad.npy", VEXIO_AUTO, 0, &v, &err),
        want_rc);
    CHECK_MSG(msg_has(&err, "bad.npy: ") && msg_has(&err, want), "'%s' in '%s'",
              want, err.msg);
    CHECK(v.data == NULL);
}

static void test_npy_malformed(void)
{
    bbuf b;
    float f[6] = {0};

    b.n = 0;
    put_bytes(&b, "\x93NUMPX\x01\x00\x10\x00", 10);
    expect_npy_error(&b, VEX_CORRUPT, "bad magic at byte 0");
    b.n = 0;
    put_bytes(&b, "\x93NUM", 4);
    expect_npy_error(&b, VEX_CORRUPT, "truncated: file ends at byte 4");
    b.n = 0;
    put_bytes(&b, "\x93NUMPY\x01\x00\x10", 9);
    expect_npy_error(&b, VEX_CORRUPT, "inside the npy header length");
    b.n = 0;
    put_bytes(&b, "\x93NUMPY\x04\x00\x10\x00", 10);
    expect_npy_error(&b, VEX_UNSUPPORTED, "version 4.0");
    b.n = 0;
    put_bytes(&b, "\x93NUMPY\x01\x00\xff\x00{}", 12);
    expect_npy_error(&b, VEX_CORRUPT, "header length 255 at byte 8 runs past");
    b.n = 0;
    put_bytes(&b, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    expect_npy_error(&b, VEX_CORRUPT, "header length 4294967295");

    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False}", f, sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "missing key 'shape'");
    make_npy(&b, 1, "{'descr':'<f4' 'fortran_order':False,'shape':(2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "npy header at byte 25: expected ','");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':Maybe,'shape':(2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "must be True or False");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(2,3)", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "expected ',' or '}'");
    make_npy(&b, 1, "{'descr':'<f4,'fortran_order':False,'shape':(2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "npy header at byte");
    make_npy(&b, 1, "{'descr':'<f4','descr':'<f4','shape':(2,3)}", f, sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "key given twice");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(2,3),'x':1}",
             f, sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "unknown key");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(2,-3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "non-negative integer");
    make_npy(&b, 1,
             "{'descr':'<f4','fortran_order':False,'shape':"
             "(99999999999999999999,3)}",
             f, sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "too large");
    make_npy(&b, 1,
             "{'descr':[('a','<f4')],'fortran_order':False,'shape':(2,)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "structured");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(2,3)} x", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "after the dict");

    make_npy(&b, 1, "{'descr':'>f4','fortran_order':False,'shape':(2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_UNSUPPORTED, "big-endian");
    make_npy(&b, 1, "{'descr':'<f2','fortran_order':False,'shape':(2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_UNSUPPORTED, "dtype '<f2' is not supported");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':True,'shape':(2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_UNSUPPORTED, "Fortran");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(1,2,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_UNSUPPORTED, "3 dimensions");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':()}", f, 4);
    expect_npy_error(&b, VEX_UNSUPPORTED, "0 dimensions");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(0,3)}", f,
             0);
    expect_npy_error(&b, VEX_CORRUPT, "no rows");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(3,0)}", f,
             0);
    expect_npy_error(&b, VEX_CORRUPT, "row length 0");
    /* shape vs size, both directions */
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(3,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "needs 36 bytes, the file has 24");
    make_npy(&b, 1, "{'descr':'<f4','fortran_order':False,'shape':(1,3)}", f,
             sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "at byte 61: shape (1, 3)");
    make_npy(&b, 1,
             "{'descr':'<f4','fortran_order':False,'shape':"
             "(4611686018427387904,2)}",
             f, sizeof f);
    expect_npy_error(&b, VEX_CORRUPT, "too large");
}

int main(void)
{
    TEST_RUN(test_fvecs_roundtrip_file);
    TEST_RUN(test_bvecs_and_chunks);
    TEST_RUN(test_texmex_malformed);
    TEST_RUN(test_npy_ok);
    TEST_RUN(test_npy_malformed);
    return TEST_EXIT();
}
