/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_meta.c - the metadata module (src/meta): values and records
 * (validation, deep copy, encode/decode round trips, every truncation and
 * bit flip of encodings rejected or re-encoded identically, named damage
 * cases); schemas (record validation messages, blob round trip and
 * damage); the filter parser (a table of valid filters with their
 * canonical print, a table of invalid ones with the error offset and a
 * message fragment, precedence, escapes, limits including 100000 '(');
 * schema type checking; evaluation against an independent three-valued
 * oracle on seeded random records and filters, which also checks that the
 * builder gives the same filter as the text and that parse(print(f)) ==
 * f; and out-of-memory sweeps of every allocating entry point.
 */
#include <float.h>
#include <locale.h>

#include "meta/column.h"
#include "meta/filter.h"
#include "meta/schema.h"
#include "meta/value.h"
#include "test.h"
#include "test_alloc.h"
#include "util/endian.h"
#include "util/rng.h"
#include "vexdb.h"

static vex_mem g_mem;
static vex_err g_err;

static vm_field fld(const char *name, vm_value v)
{
    vm_field f;
    f.name.p = name;
    f.name.len = (uint32_t)strlen(name);
    f.v = v;
    return f;
}

static vm_str S(const char *s)
{
    vm_str r;
    r.p = s;
    r.len = (uint32_t)strlen(s);
    return r;
}

static int msg_has(const char *frag)
{
    return strstr(g_err.msg, frag) != NULL;
}

/* ---- values and records ------------------------------------------------ */

static void test_utf8(void)
{
    CHECK(vx_vm_utf8_valid("", 0));
    CHECK(vx_vm_utf8_valid("abc", 3));
    CHECK(vx_vm_utf8_valid("\xc3\xa9", 2));
    CHECK(vx_vm_utf8_valid("\xf0\x9f\x98\x80", 4));
    CHECK(!vx_vm_utf8_valid("\xc3", 1));             /* truncated */
    CHECK(!vx_vm_utf8_valid("\xc0\x80", 2));         /* overlong */
    CHECK(!vx_vm_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!vx_vm_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!vx_vm_utf8_valid("\xff", 1));
    CHECK_EQ_INT(vx_vm_utf8_prefix("ab\xffz", 4), 2);
    CHECK(vx_vm_name_valid("year", 4));
    CHECK(vx_vm_name_valid("with space", 10));
    CHECK(!vx_vm_name_valid("", 0));
    CHECK(!vx_vm_name_valid("a\nb", 3));
    CHECK(!vx_vm_name_valid("a\x7f", 2));
}

static void test_record_basic(void)
{
    vm_str tags[3] = {{"red", 3}, {"", 0}, {"bl\0ue", 5}};
    vm_field f[6];
    vm_record *r = NULL, *c = NULL, *d = NULL;
    unsigned char buf[256];
    size_t n;
    const vm_value *v;

    f[0] = fld("year", vx_vm_int(2021));
    f[1] = fld("score", vx_vm_double(-0.0));
    f[2] = fld("lang", vx_vm_cstring("de"));
    f[3] = fld("draft", vx_vm_bool(1));
    f[4] = fld("tags", vx_vm_tags(tags, 3));
    f[5] = fld("gone", vx_vm_null());
    CHECK_RC(vx_vm_record_new(f, 6, &g_mem, &g_err, &r), VEX_OK);
    CHECK_EQ_INT(vx_vm_record_n_fields(r), 6);
    /* sorted by name */
    CHECK(memcmp(vx_vm_record_fields(r)[0].name.p, "draft", 5) == 0);
    CHECK(memcmp(vx_vm_record_fields(r)[5].name.p, "year", 4) == 0);
    v = vx_vm_record_get(r, "year", 4);
    CHECK(v && v->type == VM_INT && v->u.i == 2021);
    v = vx_vm_record_get(r, "tags", 4);
    CHECK(v && v->type == VM_TAGS && v->u.tags.n == 3 &&
          v->u.tags.v[2].len == 5 &&
          memcmp(v->u.tags.v[2].p, "bl\0ue", 5) == 0);
    CHECK(v && v->u.tags.v != tags); /* deep copy */
    CHECK(vx_vm_record_get(r, "yea", 3) == NULL);
    CHECK(vx_vm_record_get(NULL, "year", 4) == NULL);

    CHECK_RC(vx_vm_record_copy(r, &g_mem, &c), VEX_OK);
    CHECK(vx_vm_record_equal(r, c));
    n = vx_vm_record_encoded_size(r);
    CHECK(n <= sizeof buf);
    CHECK_EQ_INT(vx_vm_record_encode(r, buf), n);
    CHECK_RC(vx_vm_record_decode(buf, n, &g_mem, &g_err, &d), VEX_OK);
    CHECK(vx_vm_record_equal(r, d));
    v = vx_vm_record_get(d, "score", 5);
    CHECK(v && v->type == VM_DOUBLE && signbit(v->u.d));
    vx_vm_record_free(r, &g_mem);
    vx_vm_record_free(c, &g_mem);
    vx_vm_record_free(d, &g_mem);

    /* empty record */
    CHECK_RC(vx_vm_record_new(NULL, 0, &g_mem, &g_err, &r), VEX_OK);
    CHECK_EQ_INT(vx_vm_record_encoded_size(r), 8);
    n = vx_vm_record_encode(r, buf);
    CHECK_RC(vx_vm_record_decode(buf, n, &g_mem, &g_err, &d), VEX_OK);
    CHECK_EQ_INT(vx_vm_record_n_fields(d), 0);
    vx_vm_record_free(r, &g_mem);
    vx_vm_record_free(d, &g_mem);
}

static void test_record_invalid(void)
{
    vm_field f[2];
    vm_record *r = (vm_record *)1;
    static vm_field many[VM_MAX_FIELDS + 1];
    static char names[VM_MAX_FIELDS + 1][8];
    static vm_str tags[VM_MAX_TAGS + 1];
    static char big[VM_MAX_STRING + 1];
    size_t i;

    f[0] = fld("a", vx_vm_int(1));
    f[1] = fld("a", vx_vm_int(2));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(r == NULL);
    CHECK(msg_has("field \"a\" given twice"));
    f[1] = fld("b", vx_vm_double(NAN));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("field \"b\": double is NaN"));
    f[1] = fld("b", vx_vm_string("\xc3(", 2));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("not valid UTF-8"));
    f[1] = fld("", vx_vm_int(1));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("field 1: name"));
    f[1] = fld("b", vx_vm_int(0));
    f[1].v.type = (vm_type)9;
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    memset(big, 'x', sizeof big);
    f[1] = fld("b", vx_vm_string(big, VM_MAX_STRING + 1));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("at most 65536"));
    f[1] = fld("b", vx_vm_string(big, VM_MAX_STRING));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_OK);
    vx_vm_record_free(r, &g_mem);
    for (i = 0; i <= VM_MAX_TAGS; i++)
        tags[i] = S("t");
    f[1] = fld("b", vx_vm_tags(tags, VM_MAX_TAGS + 1));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    f[1] = fld("b", vx_vm_tags(tags, VM_MAX_TAGS));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_OK);
    vx_vm_record_free(r, &g_mem);
    /* the tag limit counts every tag field of the record */
    f[0] = fld("a", vx_vm_tags(tags, 1));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("more than 1024 tags"));
    tags[0].len = VM_MAX_TAG + 1;
    tags[0].p = big;
    f[0] = fld("a", vx_vm_tags(tags, 1));
    CHECK_RC(vx_vm_record_new(f, 1, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("tag 0 has 257 bytes"));
    for (i = 0; i <= VM_MAX_FIELDS; i++) {
        snprintf(names[i], sizeof names[i], "f%03u", (unsigned)i);
        many[i] = fld(names[i], vx_vm_int((int64_t)i));
    }
    CHECK_RC(vx_vm_record_new(many, VM_MAX_FIELDS + 1, &g_mem, &g_err, &r),
             VEX_INVALID);
    CHECK_RC(vx_vm_record_new(many, VM_MAX_FIELDS, &g_mem, &g_err, &r), VEX_OK);
    vx_vm_record_free(r, &g_mem);
    /* total encoded size: 20 strings of 64 KiB > 1 MiB */
    for (i = 0; i < 20; i++)
        many[i] = fld(names[i], vx_vm_string(big, VM_MAX_STRING));
    CHECK_RC(vx_vm_record_new(many, 20, &g_mem, &g_err, &r), VEX_INVALID);
    CHECK(msg_has("encoding longer than"));
}

static const char *const str_pool[] = {
    "", "a", "b", "ab", "\xc3\xa9", "it's", "back\\slash", "x\ny"};
#define N_STR (sizeof str_pool / sizeof str_pool[0])

static vm_record *random_record(vex_rng *rng, int n_max, vm_str *tagbuf)
{
    static const char *const names[] = {"i", "d", "s", "b", "t", "x y"};
    vm_field f[6];
    vm_record *r = NULL;
    int n = 0, k;
    size_t nt = 0;
    for (k = 0; k < 6 && n < n_max; k++) {
        int want = k, roll = (int)vex_rng_below(rng, 10);
        vm_value v;
        if (roll < 2)
            continue; /* missing */
        if (roll == 2) {
            v = vx_vm_null();
        } else {
            if (roll == 3 || k == 5)
                want = (int)vex_rng_below(rng, 5);
            switch (want) {
            case 0: {
                static const int64_t iv[] = {
                    -3,        -1,        0,
                    1,         2,         3,
                    INT64_MIN, INT64_MAX, 9007199254740993LL};
                v = vx_vm_int(iv[vex_rng_below(rng, 9)]);
                break;
            }
            case 1: {
                static const double dv[] = {
                    -1.5, 0.0, -0.0, 1.0, 2.5, 3.0, 9007199254740992.0, 1e300};
                v = vx_vm_double(dv[vex_rng_below(rng, 8)]);
                break;
            }
            case 2:
                v = vx_vm_cstring(str_pool[vex_rng_below(rng, N_STR)]);
                break;
            case 3:
                v = vx_vm_bool((int)vex_rng_below(rng, 2));
                break;
            default: {
                size_t m = vex_rng_below(rng, 4), j;
                for (j = 0; j < m; j++)
                    tagbuf[nt + j] = S(str_pool[vex_rng_below(rng, N_STR)]);
                v = vx_vm_tags(tagbuf + nt, m);
                nt += m;
                break;
            }
            }
        }
        f[n++] = fld(names[k], v);
    }
    if (vx_vm_record_new(f, (size_t)n, &g_mem, &g_err, &r) != VEX_OK)
        return NULL;
    return r;
}

static void test_record_encoding_damage(void)
{
    vex_rng rng;
    vm_str tagbuf[32];
    int round;
    vex_rng_seed(&rng, test_seed(11));
    for (round = 0; round < 40; round++) {
        vm_record *r = random_record(&rng, 6, tagbuf), *d = NULL;
        unsigned char buf[512], dam[512], re[512];
        size_t n, cut, bit;
        CHECK(r != NULL);
        if (!r)
            continue;
        n = vx_vm_record_encode(r, buf);
        CHECK_RC(vx_vm_record_decode(buf, n, &g_mem, &g_err, &d), VEX_OK);
        CHECK(d && vx_vm_record_equal(r, d));
        if (d) {
            CHECK_EQ_INT(vx_vm_record_encode(d, re), n);
            CHECK(memcmp(re, buf, n) == 0);
        }
        vx_vm_record_free(d, &g_mem);
        /* every truncation is damage */
        for (cut = 0; cut < n; cut++) {
            d = (vm_record *)1;
            CHECK_RC(vx_vm_record_decode(buf, cut, &g_mem, &g_err, &d),
                     VEX_CORRUPT);
            CHECK(d == NULL);
        }
        /* every bit flip: damage, or a canonical encoding of something */
        for (bit = 0; bit < n * 8; bit++) {
            int rc;
            memcpy(dam, buf, n);
            dam[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            rc = vx_vm_record_decode(dam, n, &g_mem, &g_err, &d);
            CHECK(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
            if (rc == VEX_OK) {
                CHECK_EQ_INT(vx_vm_record_encoded_size(d), n);
                vx_vm_record_encode(d, re);
                CHECK(memcmp(re, dam, n) == 0);
                vx_vm_record_free(d, &g_mem);
            } else {
                CHECK(d == NULL);
                CHECK(rc != VEX_CORRUPT || msg_has("at offset"));
            }
        }
        vx_vm_record_free(r, &g_mem);
    }
}

static void test_record_decode_cases(void)
{
    /* version 1, 2 fields: "a" int 5, "b" bool 1 */
    unsigned char ok[] = {1, 0, 2, 0, 30, 0, 0, 0, 1,   'a', 2, 5,
                          0, 0, 0, 0, 0,  0, 0, 1, 'b', 1,   1};
    unsigned char b[64];
    vm_record *r = NULL;
    ok[4] = sizeof ok;
    CHECK_RC(vx_vm_record_decode(ok, sizeof ok, &g_mem, &g_err, &r), VEX_OK);
    CHECK(r && vx_vm_record_get(r, "a", 1)->u.i == 5);
    vx_vm_record_free(r, &g_mem);

#define DAMAGE(off, val, rc_, frag)                                            \
    do {                                                                       \
        memcpy(b, ok, sizeof ok);                                              \
        b[off] = val;                                                          \
        CHECK_RC(vx_vm_record_decode(b, sizeof ok, &g_mem, &g_err, &r), rc_);  \
        CHECK_MSG(msg_has(frag), "%s", g_err.msg);                             \
    } while (0)
    DAMAGE(0, 2, VEX_UNSUPPORTED, "version 2 is newer");
    DAMAGE(0, 0, VEX_CORRUPT, "bad version at offset 0");
    DAMAGE(1, 1, VEX_CORRUPT, "reserved byte not zero at offset 1");
    DAMAGE(4, 24, VEX_CORRUPT, "length does not match the buffer at offset 4");
    DAMAGE(22, 2, VEX_CORRUPT, "bool not 0 or 1 at offset 22");
    DAMAGE(21, 6, VEX_CORRUPT, "unknown value type at offset 21");
    DAMAGE(20, 'a', VEX_CORRUPT, "not in ascending order at offset 19");
    DAMAGE(9, '\n', VEX_CORRUPT, "invalid field name at offset 8");
    DAMAGE(2, 1, VEX_CORRUPT, "bytes after the last field at offset 19");
    DAMAGE(2, 3, VEX_CORRUPT, "truncated field name length at offset 23");
    /* NaN */
    memcpy(b, ok, sizeof ok);
    b[10] = VM_DOUBLE;
    memset(b + 11, 0xff, 8);
    CHECK_RC(vx_vm_record_decode(b, sizeof ok, &g_mem, &g_err, &r),
             VEX_CORRUPT);
    CHECK(msg_has("double is NaN at offset 11"));
#undef DAMAGE
}

/* ---- schema ------------------------------------------------------------ */

static vm_schema *make_schema(int closed)
{
    vm_schema_field f[5];
    vm_schema *s = NULL;
    f[0].name = S("year");
    f[0].type = VM_INT;
    f[0].nullable = 0;
    f[1].name = S("score");
    f[1].type = VM_DOUBLE;
    f[1].nullable = 1;
    f[2].name = S("lang");
    f[2].type = VM_STRING;
    f[2].nullable = 1;
    f[3].name = S("tags");
    f[3].type = VM_TAGS;
    f[3].nullable = 1;
    f[4].name = S("draft");
    f[4].type = VM_BOOL;
    f[4].nullable = 1;
    if (vx_vm_schema_new(f, 5, closed, &g_mem, &g_err, &s) != VEX_OK)
        return NULL;
    return s;
}

static void test_schema(void)
{
    vm_schema *s = make_schema(1), *o = make_schema(0), *d = NULL;
    vm_schema_field bad[2];
    vm_field f[3];
    vm_record *r = NULL;
    unsigned char buf[256], dam[256];
    size_t n, i, bit;

    CHECK(s != NULL && o != NULL);
    if (!s || !o)
        return;
    f[0] = fld("year", vx_vm_int(2020));
    f[1] = fld("lang", vx_vm_cstring("en"));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_OK);
    CHECK_RC(vx_vm_schema_check(s, r, &g_err), VEX_OK);
    vx_vm_record_free(r, &g_mem);

    f[0] = fld("year", vx_vm_cstring("2020"));
    CHECK_RC(vx_vm_record_new(f, 2, &g_mem, &g_err, &r), VEX_OK);
    CHECK_RC(vx_vm_schema_check(s, r, &g_err), VEX_INVALID);
    CHECK_MSG(msg_has("field \"year\": expected int64, got string"), "%s",
              g_err.msg);
    vx_vm_record_free(r, &g_mem);

    f[0] = fld("lang", vx_vm_null());
    CHECK_RC(vx_vm_record_new(f, 1, &g_mem, &g_err, &r), VEX_OK);
    CHECK_RC(vx_vm_schema_check(s, r, &g_err), VEX_INVALID);
    CHECK(msg_has("field \"year\": required but missing"));
    vx_vm_record_free(r, &g_mem);

    f[0] = fld("year", vx_vm_null());
    CHECK_RC(vx_vm_record_new(f, 1, &g_mem, &g_err, &r), VEX_OK);
    CHECK_RC(vx_vm_schema_check(s, r, &g_err), VEX_INVALID);
    CHECK(msg_has("field \"year\": required but null"));
    vx_vm_record_free(r, &g_mem);

    f[0] = fld("year", vx_vm_int(1));
    f[1] = fld("extra", vx_vm_int(1));
    f[2] = fld("score", vx_vm_int(1));
    CHECK_RC(vx_vm_record_new(f, 3, &g_mem, &g_err, &r), VEX_OK);
    CHECK_RC(vx_vm_schema_check(s, r, &g_err), VEX_INVALID);
    CHECK(msg_has("field \"extra\" is not in the schema"));
    CHECK_RC(vx_vm_schema_check(o, r, &g_err), VEX_INVALID);
    CHECK(msg_has("field \"score\": expected double, got int64"));
    vx_vm_record_free(r, &g_mem);

    bad[0].name = S("a");
    bad[0].type = VM_INT;
    bad[0].nullable = 0;
    bad[1] = bad[0];
    CHECK_RC(vx_vm_schema_new(bad, 2, 1, &g_mem, &g_err, &d), VEX_INVALID);
    CHECK(msg_has("declared twice"));
    bad[1].name = S("b");
    bad[1].type = VM_NULL;
    CHECK_RC(vx_vm_schema_new(bad, 2, 1, &g_mem, &g_err, &d), VEX_INVALID);
    CHECK(msg_has("unknown type"));

    /* blob */
    n = vx_vm_schema_encoded_size(s);
    CHECK(n <= sizeof buf);
    CHECK_EQ_INT(vx_vm_schema_encode(s, buf), n);
    CHECK_RC(vx_vm_schema_decode(buf, n, &g_mem, &g_err, &d), VEX_OK);
    CHECK(d && vx_vm_schema_equal(s, d));
    CHECK(d && vx_vm_schema_closed(d));
    vx_vm_schema_free(d, &g_mem);
    for (i = 0; i < n; i++)
        CHECK_RC(vx_vm_schema_decode(buf, i, &g_mem, &g_err, &d), VEX_CORRUPT);
    for (bit = 0; bit < n * 8; bit++) {
        int rc;
        memcpy(dam, buf, n);
        dam[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        rc = vx_vm_schema_decode(dam, n, &g_mem, &g_err, &d);
        CHECK(rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
        CHECK(d == NULL);
    }
    memcpy(dam, buf, n);
    vex_put_u32le(dam + 4, 2);
    CHECK_RC(vx_vm_schema_decode(dam, n, &g_mem, &g_err, &d), VEX_UNSUPPORTED);
    dam[n - 1] ^= 1;
    vex_put_u32le(dam + 4, 1);
    CHECK_RC(vx_vm_schema_decode(dam, n, &g_mem, &g_err, &d), VEX_CORRUPT);
    CHECK(msg_has("checksum mismatch"));
    vx_vm_schema_free(s, &g_mem);
    vx_vm_schema_free(o, &g_mem);
}

/* ---- parser tables ------------------------------------------------------- */

static char *print_alloc(const vmf_filter *f)
{
    size_t n = vx_vmf_print(f, NULL, 0);
    char *s = malloc(n + 1);
    if (s)
        vx_vmf_print(f, s, n + 1);
    return s;
}

/* parse `in`, expect canonical `out`, and parse(out) equal and printing
 * the same */
static void check_canon(const char *in, const char *out)
{
    vmf_filter *f = NULL, *g = NULL;
    char *p = NULL, *q = NULL;
    int rc = vx_vmf_parse(in, strlen(in), NULL, &g_mem, &g_err, &f);
    CHECK_MSG(rc == VEX_OK, "parse \"%s\": %s", in, g_err.msg);
    if (rc != VEX_OK)
        return;
    p = print_alloc(f);
    CHECK_MSG(p && strcmp(p, out) == 0, "\"%s\" printed \"%s\", wanted \"%s\"",
              in, p ? p : "(null)", out);
    rc = vx_vmf_parse(p, strlen(p), NULL, &g_mem, &g_err, &g);
    CHECK_MSG(rc == VEX_OK, "reparse \"%s\": %s", p, g_err.msg);
    if (rc == VEX_OK) {
        CHECK_MSG(vx_vmf_equal(f, g), "reparse of \"%s\" differs", p);
        q = print_alloc(g);
        CHECK(q && strcmp(p, q) == 0);
    }
    free(p);
    free(q);
    vx_vmf_free(f, &g_mem);
    vx_vmf_free(g, &g_mem);
}

static void test_parse_valid(void)
{
    static const char *const t[][2] = {
        {"year >= 2020", "year >= 2020"},
        {"  year>=2020  ", "year >= 2020"},
        {"x = 1", "x = 1"},
        {"x != 1", "x != 1"},
        {"x <> 1", "x != 1"},
        {"x < -5", "x < -5"},
        {"x <= 1.5", "x <= 1.5"},
        {"x > 1e3", "x > 1000.0"},
        {"x > 1E-3", "x > 0.001"},
        {"x > 2.5e+300", "x > 2.5e+300"},
        {"x = 0.1", "x = 0.1"},
        {"x = -0.0", "x = -0.0"},
        {"x = 007", "x = 7"},
        {"x = 9223372036854775807", "x = 9223372036854775807"},
        {"x = -9223372036854775808", "x = -9223372036854775808"},
        {"x = 9007199254740993.0", "x = 9007199254740992.0"},
        {"lang = 'de'", "lang = 'de'"},
        {"flag = true", "flag = TRUE"},
        {"flag != FaLsE", "flag != FALSE"},
        {"a = 1 and b = 2", "a = 1 AND b = 2"},
        {"a = 1 OR b = 2 AND c = 3", "a = 1 OR b = 2 AND c = 3"},
        {"(a = 1 OR b = 2) AND c = 3", "(a = 1 OR b = 2) AND c = 3"},
        {"a = 1 AND (b = 2 AND c = 3)", "a = 1 AND b = 2 AND c = 3"},
        {"((a = 1))", "a = 1"},
        {"(a = 1 OR (b = 2 OR c = 3)) OR d = 4",
         "a = 1 OR b = 2 OR c = 3 OR d = 4"},
        {"NOT a = 1", "a != 1"},
        {"not not a = 1", "a = 1"},
        {"NOT a < 1", "a >= 1"},
        {"NOT a <= 1", "a > 1"},
        {"NOT a > 1", "a <= 1"},
        {"NOT a >= 1", "a < 1"},
        {"NOT a != 1", "a = 1"},
        {"NOT (a = 1 AND b = 2)", "a != 1 OR b != 2"},
        {"NOT (a = 1 OR b = 2)", "a != 1 AND b != 2"},
        {"NOT a = 1 AND b = 2", "a != 1 AND b = 2"},
        {"NOT (a = 1 OR NOT (b = 2 AND c = 3))", "a != 1 AND b = 2 AND c = 3"},
        {"x IN (3, 1, 2, 1)", "x IN (1, 2, 3)"},
        {"x IN (2.0, 2, 1.5)", "x IN (1.5, 2, 2.0)"},
        {"x in ('b','a')", "x IN ('a', 'b')"},
        {"x NOT IN (1)", "x NOT IN (1)"},
        {"NOT x IN (1, 2)", "x NOT IN (1, 2)"},
        {"NOT x NOT IN (1, 2)", "x IN (1, 2)"},
        {"x IN (true, false)", "x IN (FALSE, TRUE)"},
        {"x BETWEEN 1 AND 5", "x BETWEEN 1 AND 5"},
        {"x BETWEEN 1 AND 5 AND y = 2", "x BETWEEN 1 AND 5 AND y = 2"},
        {"x BETWEEN 'a' AND 'b'", "x BETWEEN 'a' AND 'b'"},
        {"x NOT BETWEEN 1 AND 2.5", "NOT x BETWEEN 1 AND 2.5"},
        {"NOT x BETWEEN 1 AND 2", "NOT x BETWEEN 1 AND 2"},
        {"NOT NOT x BETWEEN 1 AND 2", "x BETWEEN 1 AND 2"},
        {"NOT (x BETWEEN 1 AND 2 OR y = 1)",
         "NOT x BETWEEN 1 AND 2 AND y != 1"},
        {"tags CONTAINS 'draft'", "tags CONTAINS 'draft'"},
        {"NOT tags CONTAINS 'draft'", "NOT tags CONTAINS 'draft'"},
        {"tags contains any ('b', 'a', 'b')", "tags CONTAINS ANY ('a', 'b')"},
        {"tags CONTAINS ALL ('x')", "tags CONTAINS ALL ('x')"},
        {"x IS NULL", "x IS NULL"},
        {"x is not null", "x IS NOT NULL"},
        {"NOT x IS NULL", "x IS NOT NULL"},
        {"NOT x IS NOT NULL", "x IS NULL"},
        {"\"my field\" = 1", "\"my field\" = 1"},
        {"\"and\" = 1", "\"and\" = 1"},
        {"\"a\"\"b\" = 1", "\"a\"\"b\" = 1"},
        {"\"plain\" = 1", "plain = 1"},
        {"_x9 = 1", "_x9 = 1"},
        {"\"9x\" = 1", "\"9x\" = 1"},
        {"s = 'it''s'", "s = 'it\\'s'"},
        {"s = 'it\\'s'", "s = 'it\\'s'"},
        {"s = 'a\\\\b'", "s = 'a\\\\b'"},
        {"s = 'a\\nb\\tc\\rd'", "s = 'a\\nb\\tc\\rd'"},
        {"s = '\\\"'", "s = '\"'"},
        {"s = '\\u00e9'", "s = '\xc3\xa9'"},
        {"s = '\\U0001F600'", "s = '\xf0\x9f\x98\x80'"},
        {"s = '\xc3\xa9'", "s = '\xc3\xa9'"},
        {"s = '\\u0001'", "s = '\\u0001'"},
        {"s = ''", "s = ''"},
        {"s = 'multi\nline'", "s = 'multi\\nline'"},
        {"year >= 2020 AND lang IN ('en','de') AND NOT tags CONTAINS 'draft'",
         "year >= 2020 AND lang IN ('de', 'en') AND NOT tags CONTAINS "
         "'draft'"},
        {"not (a = 1 or b <> 2)", "a != 1 AND b = 2"},
        {"x in (3, 1, 2.0, 1)", "x IN (1, 2.0, 3)"},
        {"(a=1 or b=2) and (c=3 or d=4) or e=5",
         "(a = 1 OR b = 2) AND (c = 3 OR d = 4) OR e = 5"},
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++)
        check_canon(t[i][0], t[i][1]);
}

static void check_bad(const char *in, size_t len, long off, const char *frag)
{
    vmf_filter *f = (vmf_filter *)1;
    char want[64];
    int rc = vx_vmf_parse(in, len, NULL, &g_mem, &g_err, &f);
    CHECK_MSG(rc == VEX_INVALID, "\"%s\" gave %d", in, rc);
    CHECK(f == NULL);
    if (off >= 0) {
        snprintf(want, sizeof want, "filter: at offset %ld: ", off);
        CHECK_MSG(strncmp(g_err.msg, want, strlen(want)) == 0,
                  "\"%s\": \"%s\" does not start with \"%s\"", in, g_err.msg,
                  want);
    }
    CHECK_MSG(strstr(g_err.msg, frag) != NULL, "\"%s\": \"%s\" lacks \"%s\"",
              in, g_err.msg, frag);
    CHECK(vx_vm_utf8_valid(g_err.msg, strlen(g_err.msg)));
}

static void test_parse_invalid(void)
{
    static const struct {
        const char *in;
        long off;
        const char *frag;
    } t[] = {
        {"year >= )", 8, "expected a value after '>=', found ')'"},
        {"year >=", 7, "expected a value after '>=', found end of input"},
        {"", 0, "expected a condition"},
        {"   ", 3, "found end of input"},
        {"year", 4, "expected an operator after field \"year\""},
        {"year 5", 5, "found '5'"},
        {"= 5", 0,
         "expected a condition (a field name, '(' or NOT), found "
         "'='"},
        {"5 < x", 0, "found '5'"},
        {"a = 1 b = 2", 6, "expected AND, OR or end of input, found 'b'"},
        {"a = 1)", 5, "expected AND, OR or end of input, found ')'"},
        {"(a = 1", 6, "expected AND, OR or ')' to close '(' at offset 0"},
        {"a = 1 AND", 9, "expected a condition"},
        {"a = 1 AND OR b = 1", 10, "found 'OR'"},
        {"a == 1", 3, "expected a value after '=', found '='"},
        {"a ! 1", 2, "unexpected character '!'"},
        {"a = 1 # x", 6, "unexpected character '#'"},
        {"a = 1 \xc3\xa9", 6, "unexpected character '\xc3\xa9'"},
        {"a = 1 \x01", 6, "unexpected character 0x01"},
        {"a = 'x\xff'", 6, "invalid UTF-8"},
        {"a = 'abc", 4, "unterminated string literal"},
        {"a = 'abc\\", 4, "unterminated string literal"},
        {"a = 'a\\qb'", 6, "unknown escape"},
        {"a = '\\u12'", 5, "\\u needs 4 hex digits"},
        {"a = '\\ud800'", 5, "not a Unicode scalar value"},
        {"a = '\\U00110000'", 5, "not a Unicode scalar value"},
        {"\"abc = 1", 0, "unterminated quoted field name"},
        {"\"\" = 1", 0, "invalid field name"},
        {"a = \"en\"", 4, "(string literals take single quotes)"},
        {"a = NULL", 4, "use IS NULL or IS NOT NULL"},
        {"a = 99999999999999999999", 4, "out of the int64 range"},
        {"a = 9223372036854775808", 4, "out of the int64 range"},
        {"a = -9223372036854775809", 4, "out of the int64 range"},
        {"a = 1e999", 4, "double literal out of range"},
        {"a = 1.", 4, "a digit must follow '.'"},
        {"a = 1e", 4, "digits must follow the exponent"},
        {"a = 12abc", 4, "malformed number"},
        {"a = 1.2.3", 4, "malformed number"},
        {"a = -", 4, "unexpected character '-'"},
        {"a < true", 4, "'<' cannot order bools"},
        {"a >= false", 5, "'>=' cannot order bools"},
        {"a IN 1", 5, "expected '(' after IN"},
        {"a IN ()", 6, "expected a value in the IN list, found ')'"},
        {"a IN (1 2)", 8, "expected ',' or ')' in the IN list"},
        {"a IN (1, 'x')", 9, "the IN list takes numbers, found a string"},
        {"a IN ('x', 1.5)", 11, "takes strings, found a number"},
        {"a NOT IN (1,)", 12, "expected a value in the NOT IN list"},
        {"a NOT = 1", 6, "expected IN or BETWEEN after NOT"},
        {"a BETWEEN 1 OR 2", 12, "expected AND after the lower bound"},
        {"a BETWEEN 1 AND 'z'", 16, "two numbers or two strings"},
        {"a BETWEEN true AND false", 10, "two numbers or two strings"},
        {"a BETWEEN 1 AND", 15, "expected a value after BETWEEN ... AND"},
        {"t CONTAINS 5", 11, "expected a string, ANY or ALL after CONTAINS"},
        {"t CONTAINS ANY (1)", 16, "takes strings, found a number"},
        {"t CONTAINS ALL 'x'", 15, "expected '(' after CONTAINS ALL"},
        {"a IS 5", 5, "expected NULL or NOT NULL after IS"},
        {"a IS NOT 5", 9, "expected NULL after IS NOT"},
        {"AND = 1", 0, "expected a condition"},
        {"a = 1 AND NOT", 13, "found end of input"},
        {"a = 'a very long string literal that goes on and on' x", 53,
         "found 'x'"},
        {"a = 1 'a very long string literal that go\xc3\xa9 on'", 6,
         "found 'a very long string literal that go..."},
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++)
        check_bad(t[i].in, strlen(t[i].in), t[i].off, t[i].frag);
    /* a NUL byte is a character like any other */
    check_bad("a = 1\0", 6, 5, "unexpected character 0x00");
    /* text NULL with a length */
    check_bad(NULL, 3, -1, "text is NULL");
}

static void test_parse_limits(void)
{
    size_t n = 100000, i, len;
    char *s = malloc(n * 8 + 64), *p;
    vmf_filter *f = NULL;
    if (!s)
        return;
    /* 100000 '(' */
    memset(s, '(', n);
    check_bad(s, n, VMF_MAX_DEPTH, "nesting deeper than 64 levels");
    /* 100000 NOT */
    for (i = 0, p = s; i < n; i++, p += 4)
        memcpy(p, "NOT ", 4);
    memcpy(p, "a = 1", 5);
    check_bad(s, (size_t)(p - s) + 5, -1, "nesting deeper than 64");
    /* 64 levels are fine */
    len = 0;
    for (i = 0; i < 63; i++)
        s[len++] = '(';
    memcpy(s + len, "a = 1", 5);
    len += 5;
    for (i = 0; i < 63; i++)
        s[len++] = ')';
    CHECK_RC(vx_vmf_parse(s, len, NULL, &g_mem, &g_err, &f), VEX_OK);
    vx_vmf_free(f, &g_mem);
    /* alternating AND/OR nesting past the depth limit */
    len = 0;
    for (i = 0; i < 70; i++) {
        memcpy(s + len, i % 2 ? "a = 1 OR (" : "a = 1 AND (", i % 2 ? 10 : 11);
        len += i % 2 ? 10 : 11;
    }
    memcpy(s + len, "a = 1", 5);
    len += 5;
    for (i = 0; i < 70; i++)
        s[len++] = ')';
    check_bad(s, len, -1, "nesting deeper than 64");
    /* node limit: 4096 conditions joined by OR is over (4097 nodes) */
    for (len = 0, i = 0; i < VMF_MAX_NODES; i++) {
        memcpy(s + len, i ? " OR a = 1" : "a = 1", i ? 9 : 5);
        len += i ? 9 : 5;
    }
    check_bad(s, len, -1, "more than 4096 conditions");
    len -= 9; /* 4095 conditions + OR */
    CHECK_RC(vx_vmf_parse(s, len, NULL, &g_mem, &g_err, &f), VEX_OK);
    vx_vmf_free(f, &g_mem);
    /* list limit */
    memcpy(s, "a IN (0", 7);
    len = 7;
    for (i = 1; i <= VMF_MAX_LIST; i++)
        len += (size_t)sprintf(s + len, ",%u", (unsigned)i);
    s[len++] = ')';
    check_bad(s, len, -1, "more than 1024 values in one list");
    free(s);
    /* string literal limit (after unescaping) */
    s = malloc(VM_MAX_STRING + 16);
    if (!s)
        return;
    memcpy(s, "a = '", 5);
    memset(s + 5, 'x', VM_MAX_STRING + 1);
    s[VM_MAX_STRING + 6] = '\'';
    check_bad(s, VM_MAX_STRING + 7, 4, "string literal longer than 65536");
    s[VM_MAX_STRING + 5] = '\'';
    CHECK_RC(vx_vmf_parse(s, VM_MAX_STRING + 6, NULL, &g_mem, &g_err, &f),
             VEX_OK);
    vx_vmf_free(f, &g_mem);
    free(s);
    /* long field names */
    check_bad(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
        "= 1",
        67, 0, "field name longer than 64 bytes");
}

static void test_locale(void)
{
    /* A host program may switch LC_NUMERIC to a comma locale; numbers must
     * still parse and print with '.'. Skipped when no such locale. */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8"};
    size_t i;
    int found = 0;
    for (i = 0; i < 3 && !found; i++)
        found = setlocale(LC_NUMERIC, names[i]) != NULL;
    if (!found)
        fprintf(stderr, "     (no comma locale installed: checked in C)\n");
    check_canon("x > 1.5 AND y < -2.25e-5", "x > 1.5 AND y < -2.25e-05");
    setlocale(LC_NUMERIC, "C");
}

/* ---- schema type checking ---------------------------------------------- */

static void test_typecheck(void)
{
    vm_schema *s = make_schema(1), *o = make_schema(0);
    static const struct {
        const char *in;
        long off;
        const char *frag;
    } bad[] = {
        {"year = 'x'", 7,
         "field \"year\" is int64, cannot compare it with a "
         "string"},
        {"lang > 5", 7,
         "field \"lang\" is string, cannot compare it with a "
         "number"},
        {"draft = 1", 8, "is bool, cannot compare it with a number"},
        {"year IN ('a', 'b')", 9, "is int64, cannot compare"},
        {"year = 1 AND lang BETWEEN 1 AND 2", 26, "is string"},
        {"lang CONTAINS 'x'", 0,
         "field \"lang\" is string; CONTAINS needs a "
         "tags field"},
        {"tags = 'x'", 0, "field \"tags\" is tags; use CONTAINS"},
        {"yeer = 1", 0, "field \"yeer\" is not in the schema"},
        {"NOT (year = 1 OR score != 'x')", 26, "is double"},
    };
    static const char *const good[] = {"year = 1.5",
                                       "score < 3",
                                       "score IN (1, 2.5)",
                                       "lang = 'de'",
                                       "draft = TRUE",
                                       "tags CONTAINS ANY ('a')",
                                       "year IS NULL",
                                       "tags IS NOT NULL",
                                       "year BETWEEN 1 AND 2.5",
                                       "lang BETWEEN 'a' AND 'b'"};
    vmf_filter *f = NULL;
    size_t i;
    if (!s || !o)
        return;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        CHECK_RC(
            vx_vmf_parse(bad[i].in, strlen(bad[i].in), s, &g_mem, &g_err, &f),
            VEX_INVALID);
        snprintf(want, sizeof want, "filter: at offset %ld: ", bad[i].off);
        CHECK_MSG(strncmp(g_err.msg, want, strlen(want)) == 0 &&
                      msg_has(bad[i].frag),
                  "\"%s\": \"%s\"", bad[i].in, g_err.msg);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_MSG(vx_vmf_parse(good[i], strlen(good[i]), s, &g_mem, &g_err,
                               &f) == VEX_OK,
                  "\"%s\": %s", good[i], g_err.msg);
        vx_vmf_free(f, &g_mem);
    }
    /* open schema: unknown fields are untyped, known ones still checked */
    CHECK_RC(vx_vmf_parse("other = 'x'", 11, o, &g_mem, &g_err, &f), VEX_OK);
    vx_vmf_free(f, &g_mem);
    CHECK_RC(vx_vmf_parse("year = 'x'", 10, o, &g_mem, &g_err, &f),
             VEX_INVALID);
    /* builder nodes have no position */
    {
        vmf_builder *b = NULL;
        CHECK_RC(vx_vmf_builder_new(&g_mem, &b), VEX_OK);
        CHECK_RC(vx_vmf_build(b, vx_vmf_eq(b, "year", vx_vm_cstring("x")), s,
                              &g_mem, &g_err, &f),
                 VEX_INVALID);
        CHECK(strcmp(g_err.msg, "filter: field \"year\" is int64, cannot "
                                "compare it with a string") == 0);
        /* the builder stays usable after a type error */
        CHECK_RC(vx_vmf_build(b, vx_vmf_eq(b, "year", vx_vm_int(1)), s, &g_mem,
                              &g_err, &f),
                 VEX_OK);
        vx_vmf_free(f, &g_mem);
        vx_vmf_builder_free(b);
    }
    vx_vm_schema_free(s, &g_mem);
    vx_vm_schema_free(o, &g_mem);
}

/* ---- builder ------------------------------------------------------------ */

static void test_builder(void)
{
    vmf_builder *b = NULL;
    vmf_filter *f = NULL, *g = NULL;
    vm_value in[3], tg[2];
    vmf_expr *e, *k[3];
    const char *text = "year >= 2020 AND lang IN ('en', 'de') AND NOT tags "
                       "CONTAINS 'draft' AND (x IS NULL OR y BETWEEN 1.5 AND "
                       "2) AND t CONTAINS ALL ('b', 'a')";
    CHECK_RC(vx_vmf_builder_new(&g_mem, &b), VEX_OK);
    in[0] = vx_vm_cstring("en");
    in[1] = vx_vm_cstring("de");
    tg[0] = vx_vm_cstring("b");
    tg[1] = vx_vm_cstring("a");
    k[0] = vx_vmf_and(b, vx_vmf_ge(b, "year", vx_vm_int(2020)),
                      vx_vmf_in(b, "lang", in, 2));
    k[1] = vx_vmf_not(b, vx_vmf_contains(b, "tags", vx_vm_cstring("draft")));
    k[2] = vx_vmf_or(b, vx_vmf_is_null(b, "x"),
                     vx_vmf_between(b, "y", vx_vm_double(1.5), vx_vm_int(2)));
    e = vx_vmf_and(b, vx_vmf_and_n(b, k, 3),
                   vx_vmf_contains_all(b, "t", tg, 2));
    CHECK_RC(vx_vmf_build(b, e, NULL, &g_mem, &g_err, &f), VEX_OK);
    CHECK_RC(vx_vmf_parse(text, strlen(text), NULL, &g_mem, &g_err, &g),
             VEX_OK);
    CHECK(f && g && vx_vmf_equal(f, g));
    vx_vmf_free(f, &g_mem);
    vx_vmf_free(g, &g_mem);
    /* a shared subexpression */
    e = vx_vmf_eq(b, "a", vx_vm_int(1));
    CHECK_RC(vx_vmf_build(b, vx_vmf_or(b, e, vx_vmf_not(b, e)), NULL, &g_mem,
                          &g_err, &f),
             VEX_OK);
    {
        char buf[64];
        vx_vmf_print(f, buf, sizeof buf);
        CHECK(strcmp(buf, "a = 1 OR a != 1") == 0);
        /* truncated print */
        CHECK_EQ_INT(vx_vmf_print(f, buf, 5), 15);
        CHECK(strcmp(buf, "a = ") == 0);
    }
    vx_vmf_free(f, &g_mem);
    /* errors are sticky and reported by vx_vmf_build */
    e = vx_vmf_lt(b, "flag", vx_vm_bool(1));
    CHECK(e == NULL);
    CHECK(vx_vmf_and(b, vx_vmf_eq(b, "a", vx_vm_int(1)), e) == NULL);
    CHECK_RC(vx_vmf_build(b, e, NULL, &g_mem, &g_err, &f), VEX_INVALID);
    CHECK(strcmp(g_err.msg, "filter: '<' cannot order bools; use = or !=") ==
          0);
    vx_vmf_builder_free(b);

#define BAD_BUILD(expr, frag)                                                  \
    do {                                                                       \
        CHECK_RC(vx_vmf_builder_new(&g_mem, &b), VEX_OK);                      \
        CHECK_RC(vx_vmf_build(b, (expr), NULL, &g_mem, &g_err, &f),            \
                 VEX_INVALID);                                                 \
        CHECK_MSG(msg_has(frag), "%s", g_err.msg);                             \
        vx_vmf_builder_free(b);                                                \
    } while (0)
    BAD_BUILD(vx_vmf_eq(b, "a", vx_vm_null()), "NULL is not a value");
    BAD_BUILD(vx_vmf_eq(b, "a", vx_vm_double(INFINITY)), "not finite");
    BAD_BUILD(vx_vmf_eq(b, "a", vx_vm_tags(NULL, 0)),
              "a tags cannot be a literal");
    BAD_BUILD(vx_vmf_eq(b, "", vx_vm_int(1)), "invalid field name");
    BAD_BUILD(vx_vmf_eq(b, NULL, vx_vm_int(1)), "invalid field name");
    BAD_BUILD(vx_vmf_in(b, "a", in, 0), "IN takes 1 value");
    in[2] = vx_vm_int(3);
    BAD_BUILD(vx_vmf_in(b, "a", in, 3), "IN mixes a string and a number");
    BAD_BUILD(vx_vmf_between(b, "a", vx_vm_int(1), vx_vm_cstring("x")),
              "BETWEEN mixes");
    BAD_BUILD(vx_vmf_contains(b, "a", vx_vm_int(1)), "CONTAINS takes strings");
    BAD_BUILD(vx_vmf_and_n(b, NULL, 0), "AND needs operands");
    BAD_BUILD(vx_vmf_cmp(b, "a", (vmf_op)17, vx_vm_int(1)), "unknown operator");
    BAD_BUILD(NULL, "no expression");
    {
        /* deep builder nesting is refused at the 65th level */
        int i;
        CHECK_RC(vx_vmf_builder_new(&g_mem, &b), VEX_OK);
        e = vx_vmf_eq(b, "a", vx_vm_int(1));
        for (i = 0; i < 100000 && e; i++)
            e = vx_vmf_not(b, e);
        CHECK(e == NULL && i == 64);
        CHECK_RC(vx_vmf_build(b, e, NULL, &g_mem, &g_err, &f), VEX_INVALID);
        CHECK(msg_has("nesting deeper than 64"));
        vx_vmf_builder_free(b);
        /* doubling a shared subtree hits the node limit, not 2^n */
        CHECK_RC(vx_vmf_builder_new(&g_mem, &b), VEX_OK);
        e = vx_vmf_eq(b, "a", vx_vm_int(1));
        for (i = 0; i < 40 && e; i++)
            e = vx_vmf_and(b, e, vx_vmf_or(b, e, e));
        CHECK(e == NULL);
        CHECK_RC(vx_vmf_build(b, e, NULL, &g_mem, &g_err, &f), VEX_INVALID);
        CHECK(msg_has("more than 4096"));
        vx_vmf_builder_free(b);
    }
#undef BAD_BUILD
}

/* ---- evaluation: fixed cases -------------------------------------------- */

static void test_eval_cases(void)
{
    vm_str tags[2] = {{"red", 3}, {"big", 3}};
    vm_field fs[6];
    vm_record *r = NULL;
    static const struct {
        const char *f;
        int want; /* VMF_TRUE / FALSE / UNKNOWN */
    } t[] = {
        {"i = 5", VMF_TRUE},
        {"i = 5.0", VMF_TRUE},
        {"i != 5", VMF_FALSE},
        {"i < 5.5", VMF_TRUE},
        {"i > 4.999999", VMF_TRUE},
        {"big = 9007199254740993", VMF_TRUE},
        {"big = 9007199254740992.0", VMF_FALSE}, /* exact, not rounded */
        {"big > 9007199254740992.0", VMF_TRUE},
        {"big < 1e300", VMF_TRUE},
        {"d = 2", VMF_FALSE},
        {"d BETWEEN 2 AND 3", VMF_TRUE},
        {"d BETWEEN 3 AND 2", VMF_FALSE},
        {"s = 'de'", VMF_TRUE},
        {"s < 'df'", VMF_TRUE},
        {"s < 'd'", VMF_FALSE},
        {"s = 5", VMF_UNKNOWN},
        {"s != 5", VMF_UNKNOWN},
        {"missing = 1", VMF_UNKNOWN},
        {"missing != 1", VMF_UNKNOWN},
        {"NOT missing = 1", VMF_UNKNOWN},
        {"missing IS NULL", VMF_TRUE},
        {"missing IS NOT NULL", VMF_FALSE},
        {"n IS NULL", VMF_TRUE},
        {"n = 1", VMF_UNKNOWN},
        {"missing = 1 OR i = 5", VMF_TRUE},
        {"missing = 1 AND i = 5", VMF_UNKNOWN},
        {"missing = 1 AND i = 6", VMF_FALSE},
        {"missing = 1 OR i = 6", VMF_UNKNOWN},
        {"i IN (1, 5.0)", VMF_TRUE},
        {"i NOT IN (1, 2)", VMF_TRUE},
        {"i NOT IN ('a')", VMF_UNKNOWN},
        {"t CONTAINS 'red'", VMF_TRUE},
        {"t CONTAINS 're'", VMF_FALSE},
        {"t CONTAINS ANY ('x', 'big')", VMF_TRUE},
        {"t CONTAINS ANY ('x', 'y')", VMF_FALSE},
        {"t CONTAINS ALL ('big', 'red')", VMF_TRUE},
        {"t CONTAINS ALL ('big', 'x')", VMF_FALSE},
        {"NOT t CONTAINS 'x'", VMF_TRUE},
        {"s CONTAINS 'de'", VMF_UNKNOWN},
        {"t = 'red'", VMF_UNKNOWN},
        {"NOT t CONTAINS 'red' OR s = 'de'", VMF_TRUE},
    };
    size_t i;
    fs[0] = fld("i", vx_vm_int(5));
    fs[1] = fld("d", vx_vm_double(2.5));
    fs[2] = fld("s", vx_vm_cstring("de"));
    fs[3] = fld("t", vx_vm_tags(tags, 2));
    fs[4] = fld("n", vx_vm_null());
    fs[5] = fld("big", vx_vm_int(9007199254740993LL));
    CHECK_RC(vx_vm_record_new(fs, 6, &g_mem, &g_err, &r), VEX_OK);
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        vmf_filter *f = NULL;
        int rc = vx_vmf_parse(t[i].f, strlen(t[i].f), NULL, &g_mem, &g_err, &f);
        CHECK_MSG(rc == VEX_OK, "%s: %s", t[i].f, g_err.msg);
        if (rc != VEX_OK)
            continue;
        CHECK_MSG(vx_vmf_eval3(f, r) == t[i].want, "%s: got %d, wanted %d",
                  t[i].f, vx_vmf_eval3(f, r), t[i].want);
        CHECK(vx_vmf_eval(f, r) == (t[i].want == VMF_TRUE));
        vx_vmf_free(f, &g_mem);
    }
    vx_vm_record_free(r, &g_mem);
}

/* ---- evaluation against an independent oracle -----------------------------
 */

/* The test's own expression tree: no normalization, no sorting. */
typedef struct tnode {
    int kind, op, field, n;
    vm_value lits[4];
    struct tnode *kids[3];
} tnode;

static const char *const t_fields[] = {"i", "d", "s", "b", "t", "x y"};

enum { C_NUM = 1, C_STR, C_BOOL }; /* literal classes */

static tnode g_pool[4096];
static size_t g_used;

static vm_value rand_lit(vex_rng *rng, int cls)
{
    static const int64_t iv[] = {
        -3, -1, 0, 1, 2, 3, INT64_MIN, INT64_MAX, 9007199254740993LL};
    static const double dv[] = {
        -1.5, 0.0, -0.0, 1.0, 2.5, 3.0, 9007199254740992.0, 1e300, 0.1};
    if (cls == C_NUM)
        return vex_rng_below(rng, 2) ? vx_vm_int(iv[vex_rng_below(rng, 9)])
                                     : vx_vm_double(dv[vex_rng_below(rng, 9)]);
    if (cls == C_STR)
        return vx_vm_cstring(str_pool[vex_rng_below(rng, N_STR)]);
    return vx_vm_bool((int)vex_rng_below(rng, 2));
}

static tnode *rand_tree(vex_rng *rng, int depth)
{
    tnode *t = &g_pool[g_used++];
    int roll = (int)vex_rng_below(rng, depth > 0 ? 14 : 10), i, cls;
    memset(t, 0, sizeof *t);
    t->field = (int)vex_rng_below(rng, 6);
    cls = 1 + (int)vex_rng_below(rng, 3);
    switch (roll) {
    case 0:
    case 1:
    case 2:
        t->kind = VMF_CMP;
        t->op = (int)vex_rng_below(rng, cls == C_BOOL ? 2 : 6);
        t->n = 1;
        t->lits[0] = rand_lit(rng, cls);
        break;
    case 3:
    case 4:
        t->kind = vex_rng_below(rng, 2) ? VMF_IN : VMF_NOT_IN;
        t->n = 1 + (int)vex_rng_below(rng, 4);
        for (i = 0; i < t->n; i++)
            t->lits[i] = rand_lit(rng, cls);
        break;
    case 5:
        t->kind = VMF_BETWEEN;
        t->n = 2;
        if (cls == C_BOOL)
            cls = C_NUM;
        t->lits[0] = rand_lit(rng, cls);
        t->lits[1] = rand_lit(rng, cls);
        break;
    case 6:
        t->kind = VMF_CONTAINS;
        t->n = 1;
        t->lits[0] = rand_lit(rng, C_STR);
        break;
    case 7:
        t->kind = vex_rng_below(rng, 2) ? VMF_CONTAINS_ANY : VMF_CONTAINS_ALL;
        t->n = 1 + (int)vex_rng_below(rng, 3);
        for (i = 0; i < t->n; i++)
            t->lits[i] = rand_lit(rng, C_STR);
        break;
    case 8:
    case 9:
        t->kind = vex_rng_below(rng, 2) ? VMF_IS_NULL : VMF_IS_NOT_NULL;
        break;
    case 10:
    case 11:
        t->kind = VMF_NOT;
        t->n = 1;
        t->kids[0] = rand_tree(rng, depth - 1);
        break;
    default:
        t->kind = roll == 12 ? VMF_AND : VMF_OR;
        t->n = 2 + (int)vex_rng_below(rng, 2);
        for (i = 0; i < t->n; i++)
            t->kids[i] = rand_tree(rng, depth - 1);
        break;
    }
    return t;
}

/* Text with random spelling: keyword case, spacing, parentheses, string
 * escapes, quoted names. */
typedef struct sbuf {
    char s[8192];
    size_t n;
} sbuf;

static void sb_put(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->n + n < sizeof b->s) {
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = '\0';
    }
}

static void sb_kw(sbuf *b, vex_rng *rng, const char *kw)
{
    char tmp[32];
    size_t i;
    sb_put(b, vex_rng_below(rng, 3) ? " " : "  ");
    for (i = 0; kw[i] && i < sizeof tmp - 1; i++)
        tmp[i] = vex_rng_below(rng, 4) ? kw[i] : (char)(kw[i] | 0x20);
    tmp[i] = '\0';
    sb_put(b, tmp);
    sb_put(b, " ");
}

static void sb_lit(sbuf *b, vex_rng *rng, const vm_value *v)
{
    char tmp[64];
    uint32_t i;
    switch (v->type) {
    case VM_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i);
        sb_put(b, tmp);
        break;
    case VM_DOUBLE:
        snprintf(tmp, sizeof tmp, "%.17g", v->u.d);
        if (!strpbrk(tmp, ".e"))
            strcat(tmp, vex_rng_below(rng, 2) ? ".0" : "e0");
        sb_put(b, tmp);
        break;
    case VM_BOOL:
        sb_put(b, v->u.b ? "true" : "FALSE");
        break;
    default:
        sb_put(b, "'");
        for (i = 0; i < v->u.s.len; i++) {
            char c = v->u.s.p[i];
            if (c == '\'')
                sb_put(b, vex_rng_below(rng, 2) ? "''" : "\\'");
            else if (c == '\\')
                sb_put(b, "\\\\");
            else if (c == '\n')
                sb_put(b, vex_rng_below(rng, 2) ? "\\n" : "\\u000A");
            else if ((unsigned char)c == 0xc3 && vex_rng_below(rng, 2)) {
                sb_put(b, "\\u00e9");
                i++;
            } else {
                tmp[0] = c;
                tmp[1] = '\0';
                sb_put(b, tmp);
            }
        }
        sb_put(b, "'");
    }
}

static void sb_tree(sbuf *b, vex_rng *rng, const tnode *t)
{
    static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">="};
    int i;
    int paren = vex_rng_below(rng, 8) == 0;
    if (t->kind == VMF_AND || t->kind == VMF_OR || t->kind == VMF_NOT)
        paren = 1; /* always safe; the printer decides the canonical ones */
    if (paren)
        sb_put(b, "(");
    switch (t->kind) {
    case VMF_AND:
    case VMF_OR:
        for (i = 0; i < t->n; i++) {
            if (i)
                sb_kw(b, rng, t->kind == VMF_AND ? "AND" : "OR");
            sb_tree(b, rng, t->kids[i]);
        }
        break;
    case VMF_NOT:
        sb_kw(b, rng, "NOT");
        sb_tree(b, rng, t->kids[0]);
        break;
    default:
        if (t->field == 5)
            sb_put(b, "\"x y\"");
        else if (vex_rng_below(rng, 4) == 0) {
            sb_put(b, "\"");
            sb_put(b, t_fields[t->field]);
            sb_put(b, "\"");
        } else
            sb_put(b, t_fields[t->field]);
        switch (t->kind) {
        case VMF_CMP:
            sb_put(b, vex_rng_below(rng, 2) ? " " : "");
            sb_put(b, t->op == VMF_NE && vex_rng_below(rng, 2) ? "<>"
                                                               : ops[t->op]);
            sb_put(b, vex_rng_below(rng, 2) ? " " : "");
            sb_lit(b, rng, &t->lits[0]);
            break;
        case VMF_IN:
        case VMF_NOT_IN:
        case VMF_CONTAINS_ANY:
        case VMF_CONTAINS_ALL:
            sb_kw(b, rng,
                  t->kind == VMF_IN             ? "IN"
                  : t->kind == VMF_NOT_IN       ? "NOT IN"
                  : t->kind == VMF_CONTAINS_ANY ? "CONTAINS ANY"
                                                : "CONTAINS ALL");
            sb_put(b, "(");
            for (i = 0; i < t->n; i++) {
                if (i)
                    sb_put(b, vex_rng_below(rng, 2) ? ", " : ",");
                sb_lit(b, rng, &t->lits[i]);
            }
            sb_put(b, ")");
            break;
        case VMF_BETWEEN:
            sb_kw(b, rng, "BETWEEN");
            sb_lit(b, rng, &t->lits[0]);
            sb_kw(b, rng, "AND");
            sb_lit(b, rng, &t->lits[1]);
            break;
        case VMF_CONTAINS:
            sb_kw(b, rng, "CONTAINS");
            sb_lit(b, rng, &t->lits[0]);
            break;
        case VMF_IS_NULL:
            sb_kw(b, rng, "IS");
            sb_put(b, "NULL");
            break;
        default:
            sb_kw(b, rng, "IS NOT");
            sb_put(b, "null");
            break;
        }
    }
    if (paren)
        sb_put(b, ")");
}

static vmf_expr *build_tree(vmf_builder *b, const tnode *t)
{
    const char *f = t_fields[t->field];
    vmf_expr *k[3];
    int i;
    switch (t->kind) {
    case VMF_AND:
    case VMF_OR:
        for (i = 0; i < t->n; i++)
            k[i] = build_tree(b, t->kids[i]);
        if (t->n == 2)
            return t->kind == VMF_AND ? vx_vmf_and(b, k[0], k[1])
                                      : vx_vmf_or(b, k[0], k[1]);
        return t->kind == VMF_AND ? vx_vmf_and_n(b, k, 3)
                                  : vx_vmf_or_n(b, k, 3);
    case VMF_NOT:
        return vx_vmf_not(b, build_tree(b, t->kids[0]));
    case VMF_CMP:
        return vx_vmf_cmp(b, f, (vmf_op)t->op, t->lits[0]);
    case VMF_IN:
        return vx_vmf_in(b, f, t->lits, (size_t)t->n);
    case VMF_NOT_IN:
        return vx_vmf_not_in(b, f, t->lits, (size_t)t->n);
    case VMF_BETWEEN:
        return vx_vmf_between(b, f, t->lits[0], t->lits[1]);
    case VMF_CONTAINS:
        return vx_vmf_contains(b, f, t->lits[0]);
    case VMF_CONTAINS_ANY:
        return vx_vmf_contains_any(b, f, t->lits, (size_t)t->n);
    case VMF_CONTAINS_ALL:
        return vx_vmf_contains_all(b, f, t->lits, (size_t)t->n);
    case VMF_IS_NULL:
        return vx_vmf_is_null(b, f);
    default:
        return vx_vmf_is_not_null(b, f);
    }
}

/* The oracle: a direct reading of docs/FILTERS.md "Semantics". Numbers are
 * compared as long double, which holds every int64 and double exactly. */
static int o_cls(const vm_value *v)
{
    return v->type == VM_INT || v->type == VM_DOUBLE ? 1
           : v->type == VM_STRING                    ? 2
           : v->type == VM_BOOL                      ? 3
                                                     : 0;
}

static long double o_num(const vm_value *v)
{
    return v->type == VM_INT ? (long double)v->u.i : (long double)v->u.d;
}

static int o_cmp(const vm_value *a, const vm_value *b)
{
    if (o_cls(a) == 1) {
        long double x = o_num(a), y = o_num(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (o_cls(a) == 2) {
        uint32_t i;
        for (i = 0; i < a->u.s.len && i < b->u.s.len; i++)
            if (a->u.s.p[i] != b->u.s.p[i])
                return (unsigned char)a->u.s.p[i] < (unsigned char)b->u.s.p[i]
                           ? -1
                           : 1;
        return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len ? 1 : 0;
    }
    return a->u.b - b->u.b;
}

static int o_has_tag(const vm_value *v, const vm_value *lit)
{
    uint32_t i;
    for (i = 0; i < v->u.tags.n; i++)
        if (v->u.tags.v[i].len == lit->u.s.len &&
            memcmp(v->u.tags.v[i].p, lit->u.s.p, lit->u.s.len) == 0)
            return 1;
    return 0;
}

static int oracle(const tnode *t, const vm_record *r)
{
    const vm_value *v = NULL;
    size_t i, nf = vx_vm_record_n_fields(r);
    int k, res, c;
    if (t->kind == VMF_AND || t->kind == VMF_OR) {
        int saw_u = 0, saw_f = 0, saw_t = 0;
        for (k = 0; k < t->n; k++) {
            res = oracle(t->kids[k], r);
            saw_u |= res == 2;
            saw_f |= res == 0;
            saw_t |= res == 1;
        }
        if (t->kind == VMF_AND)
            return saw_f ? 0 : saw_u ? 2 : 1;
        return saw_t ? 1 : saw_u ? 2 : 0;
    }
    if (t->kind == VMF_NOT) {
        res = oracle(t->kids[0], r);
        return res == 2 ? 2 : 1 - res;
    }
    for (i = 0; i < nf; i++)
        if (strlen(t_fields[t->field]) == vx_vm_record_fields(r)[i].name.len &&
            memcmp(vx_vm_record_fields(r)[i].name.p, t_fields[t->field],
                   vx_vm_record_fields(r)[i].name.len) == 0)
            v = &vx_vm_record_fields(r)[i].v;
    if (t->kind == VMF_IS_NULL)
        return v == NULL || v->type == VM_NULL;
    if (t->kind == VMF_IS_NOT_NULL)
        return !(v == NULL || v->type == VM_NULL);
    if (v == NULL || v->type == VM_NULL)
        return 2;
    switch (t->kind) {
    case VMF_CMP:
        if (o_cls(v) != o_cls(&t->lits[0]))
            return 2;
        c = o_cmp(v, &t->lits[0]);
        switch (t->op) {
        case VMF_EQ:
            return c == 0;
        case VMF_NE:
            return c != 0;
        case VMF_LT:
            return c < 0;
        case VMF_LE:
            return c <= 0;
        case VMF_GT:
            return c > 0;
        default:
            return c >= 0;
        }
    case VMF_IN:
    case VMF_NOT_IN:
        if (o_cls(v) != o_cls(&t->lits[0]))
            return 2;
        res = 0;
        for (k = 0; k < t->n; k++)
            res |= o_cmp(v, &t->lits[k]) == 0;
        return t->kind == VMF_IN ? res : !res;
    case VMF_BETWEEN:
        if (o_cls(v) != o_cls(&t->lits[0]))
            return 2;
        return o_cmp(&t->lits[0], v) <= 0 && o_cmp(v, &t->lits[1]) <= 0;
    case VMF_CONTAINS:
        return v->type != VM_TAGS ? 2 : o_has_tag(v, &t->lits[0]);
    case VMF_CONTAINS_ANY:
    case VMF_CONTAINS_ALL:
        if (v->type != VM_TAGS)
            return 2;
        res = t->kind == VMF_CONTAINS_ALL;
        for (k = 0; k < t->n; k++) {
            if (t->kind == VMF_CONTAINS_ANY)
                res |= o_has_tag(v, &t->lits[k]);
            else
                res &= o_has_tag(v, &t->lits[k]);
        }
        return res;
    default:
        return 2;
    }
}

static void test_eval_oracle(void)
{
    vex_rng rng;
    vm_record *recs[64];
    vm_str tagbuf[64][32];
    int round, i, n_rec = 64;
    long n_true = 0, n_false = 0, n_unknown = 0;
    vex_rng_seed(&rng, test_seed(7));
    for (i = 0; i < n_rec; i++) {
        recs[i] = random_record(&rng, 6, tagbuf[i]);
        CHECK(recs[i] != NULL);
    }
    for (round = 0; round < 3000; round++) {
        sbuf sb;
        tnode *t;
        vmf_filter *fp = NULL, *fb = NULL, *fr = NULL;
        vmf_builder *b = NULL;
        char *p1 = NULL, *p2 = NULL;
        int rc;
        g_used = 0;
        t = rand_tree(&rng, 4);
        sb.n = 0;
        sb.s[0] = '\0';
        sb_tree(&sb, &rng, t);
        rc = vx_vmf_parse(sb.s, sb.n, NULL, &g_mem, &g_err, &fp);
        CHECK_MSG(rc == VEX_OK, "\"%s\": %s", sb.s, g_err.msg);
        if (rc != VEX_OK)
            continue;
        CHECK_RC(vx_vmf_builder_new(&g_mem, &b), VEX_OK);
        rc = vx_vmf_build(b, build_tree(b, t), NULL, &g_mem, &g_err, &fb);
        CHECK_MSG(rc == VEX_OK, "build \"%s\": %s", sb.s, g_err.msg);
        vx_vmf_builder_free(b);
        p1 = print_alloc(fp);
        if (fb) {
            p2 = print_alloc(fb);
            CHECK_MSG(vx_vmf_equal(fp, fb), "builder != parser for \"%s\"",
                      sb.s);
            CHECK_MSG(p1 && p2 && strcmp(p1, p2) == 0,
                      "\"%s\": prints \"%s\" vs \"%s\"", sb.s, p1, p2);
        }
        rc = vx_vmf_parse(p1, strlen(p1), NULL, &g_mem, &g_err, &fr);
        CHECK_MSG(rc == VEX_OK && vx_vmf_equal(fp, fr),
                  "print round trip of \"%s\" (\"%s\"): %s", sb.s, p1,
                  g_err.msg);
        for (i = 0; i < n_rec; i++) {
            int want = oracle(t, recs[i]), got = vx_vmf_eval3(fp, recs[i]);
            CHECK_MSG(got == want,
                      "\"%s\" (as \"%s\") on record %d: %d vs "
                      "oracle %d",
                      sb.s, p1, i, got, want);
            if (fb)
                CHECK(vx_vmf_eval3(fb, recs[i]) == want);
            CHECK(vx_vmf_eval(fp, recs[i]) == (want == 1));
            n_true += want == 1;
            n_false += want == 0;
            n_unknown += want == 2;
        }
        free(p1);
        free(p2);
        vx_vmf_free(fp, &g_mem);
        vx_vmf_free(fb, &g_mem);
        vx_vmf_free(fr, &g_mem);
        if (test_case_failed_)
            break;
    }
    /* the generator exercises all three outcomes */
    CHECK(n_true > 1000 && n_false > 1000 && n_unknown > 1000);
    for (i = 0; i < n_rec; i++)
        vx_vm_record_free(recs[i], &g_mem);
}

/* ---- metadata columns ---------------------------------------------------
 */

/* Rows whose values run in order, so zone maps decide whole blocks, and
 * runs of strings and bools (run-length and dictionary encodings). */
static vm_record *sorted_record(uint32_t row)
{
    vm_field f[5];
    vm_record *r = NULL;
    size_t n = 0;
    f[n++] = fld("b", vx_vm_bool(row % 3 == 0));
    if (row % 5 != 1)
        f[n++] = fld("d", vx_vm_double((double)row * 0.25 - 100.0));
    f[n++] = fld("i", vx_vm_int((int64_t)(row / 16) - 50));
    f[n++] = fld("s", vx_vm_cstring(str_pool[(row / 300) % N_STR]));
    if (row % 7 == 0)
        f[n++] = fld("x y", vx_vm_null());
    if (vx_vm_record_new(f, n, &g_mem, &g_err, &r) != VEX_OK)
        return NULL;
    return r;
}

/* Columns rebuild every record exactly, and evaluating random filters on
 * them gives, row for row, what vx_vmf_eval gives on the records: on random
 * records (every type, nulls, mixed types under one name, extreme values)
 * and on ordered ones (zone maps and dictionaries decide). */
static void test_columns_oracle(void)
{
    enum { N = 2600 }; /* three zone blocks, the last one partial */
    static vm_record *recs[N];
    static vm_str tagbuf[32];
    static uint64_t bits[(N + 63) / 64];
    vex_rng rng;
    vex_rng_seed(&rng, test_seed(2026));
    for (int set = 0; set < 2; set++) {
        unsigned char *blob = NULL;
        size_t len = 0;
        vm_colset *cs = NULL;
        int encs[8] = {0}, n_zstd = 0;
        long n_match = 0;
        for (uint32_t i = 0; i < N; i++) {
            recs[i] =
                set == 0 ? random_record(&rng, 6, tagbuf) : sorted_record(i);
            if (set == 0 && i % 11 == 0) { /* rows without metadata */
                vx_vm_record_free(recs[i], &g_mem);
                recs[i] = NULL;
            }
        }
        CHECK_RC(vx_vm_colset_build((const vm_record *const *)recs, N,
                                    vx_vm_colset_zstd() ? VM_BUILD_ZSTD : 0,
                                    &g_mem, &g_err, &blob, &len),
                 VEX_OK);
        CHECK_RC(vx_vm_colset_open(blob, len, N, &g_mem, &g_err, &cs), VEX_OK);
        if (cs == NULL) {
            vx_mem_free(&g_mem, blob);
            return;
        }
        for (uint32_t i = 0; i < vx_vm_colset_columns(cs); i++) {
            vm_str name;
            int type, enc;
            uint32_t np;
            vx_vm_colset_column(cs, i, &name, &type, &enc, &np);
            encs[enc & ~VM_ENC_ZSTD]++;
            n_zstd += (enc & VM_ENC_ZSTD) != 0;
        }
        /* with zstd, the ordered doubles' byte streams compress */
        if (set == 1 && vx_vm_colset_zstd())
            CHECK(n_zstd >= 1);
        if (set == 1 && !vx_vm_colset_zstd())
            fprintf(stderr, "  (zstd not built in: no column compressed, "
                            "the compressed path is not exercised)\n");
        if (!vx_vm_colset_zstd())
            CHECK_EQ_INT(n_zstd, 0);
        if (set == 1) /* ordered data gets the compact encodings */
            CHECK(encs[VM_ENC_BITPACK] >= 1 && encs[VM_ENC_RLE] >= 1 &&
                  encs[VM_ENC_DICT] >= 1 && encs[VM_ENC_BSS] >= 1);
        else
            CHECK(encs[VM_ENC_DICT] >= 1);
        for (uint32_t i = 0; i < N; i++) {
            vm_record *back = NULL;
            CHECK_RC(vx_vm_colset_record(cs, i, &g_mem, &g_err, &back), VEX_OK);
            CHECK_MSG(vx_vm_record_n_fields(recs[i]) == 0
                          ? back == NULL
                          : vx_vm_record_equal(back, recs[i]),
                      "set %d row %u comes back different", set, i);
            vx_vm_record_free(back, &g_mem);
            if (test_case_failed_)
                break;
        }
        for (int round = 0; round < 400 && !test_case_failed_; round++) {
            sbuf sb;
            vmf_filter *f = NULL;
            uint64_t cnt = 0, want = 0;
            tnode *t = rand_tree(&rng, 4);
            g_used = 0;
            sb.n = 0;
            sb.s[0] = '\0';
            sb_tree(&sb, &rng, t);
            if (vx_vmf_parse(sb.s, sb.n, NULL, &g_mem, &g_err, &f) != VEX_OK)
                continue;
            memset(bits, 0xa5, sizeof bits);
            CHECK_RC(vx_vm_colset_eval(cs, f, bits, &cnt, &g_err), VEX_OK);
            for (uint32_t i = 0; i < N; i++) {
                int got = (int)(bits[i / 64] >> (i % 64)) & 1;
                int exp = vx_vmf_eval(f, recs[i]);
                want += (uint64_t)exp;
                if (got != exp) {
                    CHECK_MSG(0, "set %d \"%s\" row %u: columns %d, records %d",
                              set, sb.s, i, got, exp);
                    break;
                }
            }
            CHECK_EQ_INT(cnt, want);
            n_match += (long)cnt;
            vx_vmf_free(f, &g_mem);
        }
        CHECK(n_match > 0);
        vx_vm_colset_close(cs);
        vx_mem_free(&g_mem, blob);
        for (uint32_t i = 0; i < N; i++)
            vx_vm_record_free(recs[i], &g_mem);
    }
}

/* The numeric leaves the columns decide a word at a time (int64, double
 * and bool columns against literals of their own type: every comparison,
 * BETWEEN, IN and NOT IN), on unordered values so that no zone map
 * decides a block: row for row what vx_vmf_eval says on the records, with
 * columns dense (every row has the field) and sparse, a row count that
 * is not a multiple of 64, and literals inside, at and outside the
 * values' range, plus mixed int/double literals (the generic path). */
static void test_columns_numeric(void)
{
    enum { N = 3000 };
    static vm_record *recs[N];
    static uint64_t bits[(N + 63) / 64 + 1];
    static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">="};
    static const char *const fields[] = {"i", "d", "b", "si", "sd"};
    vex_rng rng;
    long checked = 0, matched = 0;
    unsigned char *blob = NULL;
    size_t len = 0;
    vm_colset *cs = NULL;
    vex_rng_seed(&rng, test_seed(7));
    for (uint32_t r = 0; r < N; r++) {
        vm_field f[5];
        size_t n = 0;
        f[n++] = fld("b", vx_vm_bool(vex_rng_below(&rng, 2)));
        f[n++] =
            fld("d", vx_vm_double((double)vex_rng_below(&rng, 200) / 4 - 20));
        f[n++] = fld("i", vx_vm_int((int64_t)vex_rng_below(&rng, 100) - 50));
        if (vex_rng_below(&rng, 3)) /* sparse: about two rows in three */
            f[n++] = fld("sd", vx_vm_double((double)vex_rng_below(&rng, 40)));
        if (vex_rng_below(&rng, 3))
            f[n++] = fld("si", vx_vm_int((int64_t)vex_rng_below(&rng, 40)));
        CHECK_RC(vx_vm_record_new(f, n, &g_mem, &g_err, &recs[r]), VEX_OK);
    }
    CHECK_RC(vx_vm_colset_build((const vm_record *const *)recs, N, 0, &g_mem,
                                &g_err, &blob, &len),
             VEX_OK);
    CHECK_RC(vx_vm_colset_open(blob, len, N, &g_mem, &g_err, &cs), VEX_OK);
    for (int round = 0; round < 600 && cs && !test_case_failed_; round++) {
        char text[160];
        const char *fd = fields[vex_rng_below(&rng, 5)];
        int is_bool = fd[0] == 'b';
        int dbl = fd[0] == 'd' || fd[1] == 'd';
        /* literals of the field's type, now and then of the other one */
        int mixed = !is_bool && vex_rng_below(&rng, 6) == 0;
        long a = (long)vex_rng_below(&rng, 140) - 70;
        long z = (long)vex_rng_below(&rng, 140) - 70;
        const char *frac = (dbl != mixed) ? ".5" : "";
        vmf_filter *f = NULL;
        uint64_t cnt = 0, want = 0;
        switch (is_bool ? 0 : vex_rng_below(&rng, 4)) {
        case 0:
            if (is_bool)
                snprintf(text, sizeof text, "%s %s %s", fd,
                         vex_rng_below(&rng, 2) ? "=" : "!=",
                         vex_rng_below(&rng, 2) ? "true" : "false");
            else
                snprintf(text, sizeof text, "%s %s %ld%s", fd,
                         ops[vex_rng_below(&rng, 6)], a, frac);
            break;
        case 1:
            snprintf(text, sizeof text, "%s%s BETWEEN %ld%s AND %ld%s", fd,
                     vex_rng_below(&rng, 2) ? " NOT" : "", a, frac, z, frac);
            break;
        default:
            snprintf(text, sizeof text, "%s %s (%ld%s, %ld, %ld%s)", fd,
                     vex_rng_below(&rng, 2) ? "IN" : "NOT IN", a, frac, z,
                     a / 2, frac);
            break;
        }
        CHECK_RC(vx_vmf_parse(text, strlen(text), NULL, &g_mem, &g_err, &f),
                 VEX_OK);
        if (f == NULL)
            break;
        memset(bits, 0xa5, sizeof bits);
        CHECK_RC(vx_vm_colset_eval(cs, f, bits, &cnt, &g_err), VEX_OK);
        for (uint32_t r = 0; r < N; r++) {
            int got = (int)(bits[r / 64] >> (r % 64)) & 1;
            int exp = vx_vmf_eval(f, recs[r]);
            want += (uint64_t)exp;
            if (got != exp) {
                CHECK_MSG(0, "\"%s\" row %u: columns %d, records %d", text, r,
                          got, exp);
                break;
            }
        }
        CHECK_EQ_INT(cnt, want);
        checked++;
        matched += cnt > 0 && cnt < N;
        vx_vmf_free(f, &g_mem);
    }
    /* most filters split the rows: the verdicts were not all alike */
    CHECK(matched > checked / 2);
    vx_vm_colset_close(cs);
    vx_mem_free(&g_mem, blob);
    for (uint32_t r = 0; r < N; r++)
        vx_vm_record_free(recs[r], &g_mem);
}

/* Column blobs are untrusted: every truncation is refused, and every
 * single-byte change is refused or opens to a set that still evaluates
 * and rebuilds without reading out of bounds (ASan checks that part);
 * named damage gives its message. */
/* Compression is asked for, never implied: without VM_BUILD_ZSTD no value
 * stream is compressed (so every build reads the blob), and asking for it
 * in a library without zstd is refused by name. */
static void test_columns_zstd_opt_in(void)
{
    enum { N = 3000 };
    vm_record *recs[N];
    for (uint32_t i = 0; i < N; i++) {
        vm_field f = fld("z", vx_vm_double((double)i * 0.5));
        CHECK_RC(vx_vm_record_new(&f, 1, &g_mem, &g_err, &recs[i]), VEX_OK);
    }
    for (int ask = 0; ask < 2; ask++) {
        unsigned char *blob = NULL;
        size_t len = 0;
        vm_colset *cs = NULL;
        int rc = vx_vm_colset_build((const vm_record *const *)recs, N,
                                    ask ? VM_BUILD_ZSTD : 0, &g_mem, &g_err,
                                    &blob, &len);
        if (ask && !vx_vm_colset_zstd()) {
            CHECK_RC(rc, VEX_UNSUPPORTED);
            CHECK(msg_has("built without zstd"));
            CHECK(blob == NULL);
            continue;
        }
        CHECK_RC(rc, VEX_OK);
        CHECK_RC(vx_vm_colset_open(blob, len, N, &g_mem, &g_err, &cs), VEX_OK);
        for (uint32_t i = 0; cs && i < vx_vm_colset_columns(cs); i++) {
            vm_str name;
            int type, enc;
            uint32_t np;
            vx_vm_colset_column(cs, i, &name, &type, &enc, &np);
            /* the ordered doubles compress well: with the flag they are
             * compressed, without it they are not */
            CHECK_EQ_INT((enc & VM_ENC_ZSTD) != 0, ask);
        }
        vx_vm_colset_close(cs);
        vx_mem_free(&g_mem, blob);
    }
    for (uint32_t i = 0; i < N; i++)
        vx_vm_record_free(recs[i], &g_mem);
}

static void test_columns_damage(void)
{
    enum { N = 70 };
    vm_record *recs[N];
    vm_str tagbuf[32];
    unsigned char *blob = NULL, *copy;
    size_t len = 0;
    vex_rng rng;
    vmf_filter *f = NULL;
    uint64_t bits[2];
    const char *text = "i > 0 OR s IN ('a', 'b') OR t CONTAINS 'a' OR d <= 1";
    vex_rng_seed(&rng, test_seed(77));
    for (uint32_t i = 0; i < N; i++) {
        /* random fields plus an ordered double, whose byte streams zstd
         * compresses (when built in), so the damage reaches that path */
        vm_record *r = random_record(&rng, 6, tagbuf);
        vm_field fs[8];
        size_t nf = vx_vm_record_n_fields(r);
        memcpy(fs, vx_vm_record_fields(r), nf * sizeof *fs);
        fs[nf++] = fld("z", vx_vm_double((double)i * 0.5));
        CHECK_RC(vx_vm_record_new(fs, nf, &g_mem, &g_err, &recs[i]), VEX_OK);
        vx_vm_record_free(r, &g_mem);
    }
    CHECK_RC(vx_vm_colset_build((const vm_record *const *)recs, N,
                                vx_vm_colset_zstd() ? VM_BUILD_ZSTD : 0, &g_mem,
                                &g_err, &blob, &len),
             VEX_OK);
    if (vx_vm_colset_zstd()) {
        vm_colset *cs = NULL;
        int zc = 0;
        CHECK_RC(vx_vm_colset_open(blob, len, N, &g_mem, &g_err, &cs), VEX_OK);
        for (uint32_t i = 0; cs && i < vx_vm_colset_columns(cs); i++) {
            vm_str name;
            int type, enc;
            uint32_t np;
            vx_vm_colset_column(cs, i, &name, &type, &enc, &np);
            zc += (enc & VM_ENC_ZSTD) != 0;
        }
        CHECK(zc >= 1);
        vx_vm_colset_close(cs);
    }
    CHECK_RC(vx_vmf_parse(text, strlen(text), NULL, &g_mem, &g_err, &f),
             VEX_OK);
    copy = malloc(len);
    for (size_t cut = 0; cut < len; cut++) {
        vm_colset *cs = NULL;
        memcpy(copy, blob, cut); /* a copy of exactly `cut` bytes */
        int rc = vx_vm_colset_open(copy, cut, N, &g_mem, &g_err, &cs);
        CHECK_MSG(rc == VEX_CORRUPT, "truncated to %zu: %s", cut,
                  vex_status_name(rc));
        vx_vm_colset_close(cs);
    }
    for (size_t at = 0; at < len && !test_case_failed_; at++) {
        for (int flip = 1; flip < 256; flip <<= 2) {
            vm_colset *cs = NULL;
            uint64_t cnt;
            int rc;
            memcpy(copy, blob, len);
            copy[at] ^= (unsigned char)flip;
            rc = vx_vm_colset_open(copy, len, N, &g_mem, &g_err, &cs);
            CHECK_MSG(rc == VEX_OK || rc == VEX_CORRUPT ||
                          rc == VEX_UNSUPPORTED,
                      "byte %zu ^ %d: %s", at, flip, vex_status_name(rc));
            if (rc != VEX_OK)
                continue;
            CHECK_RC(vx_vm_colset_eval(cs, f, bits, &cnt, &g_err), VEX_OK);
            for (uint32_t i = 0; i < N; i++) {
                vm_record *r = NULL;
                rc = vx_vm_colset_record(cs, i, &g_mem, &g_err, &r);
                CHECK(rc == VEX_OK || rc == VEX_CORRUPT);
                vx_vm_record_free(r, &g_mem);
            }
            vx_vm_colset_close(cs);
        }
    }
    /* named cases */
    {
        vm_colset *cs = NULL;
        memcpy(copy, blob, len);
        copy[0] = 9;
        CHECK_RC(vx_vm_colset_open(copy, len, N, &g_mem, &g_err, &cs),
                 VEX_UNSUPPORTED);
        CHECK(msg_has("version 9"));
        CHECK_RC(vx_vm_colset_open(blob, len, N + 1, &g_mem, &g_err, &cs),
                 VEX_CORRUPT);
        CHECK(msg_has("the segment has"));
        /* a value stream flagged as zstd-compressed: a library without
         * zstd refuses it as unsupported; one with zstd finds that the
         * bytes are no compressed stream of the stated length */
        memcpy(copy, blob, len);
        for (uint32_t i = 0; i < vex_get_u32le(copy + 8); i++)
            if (!(copy[12 + 12 * i + 9] & VM_ENC_ZSTD)) {
                copy[12 + 12 * i + 9] |= VM_ENC_ZSTD;
                break;
            }
        CHECK_RC(vx_vm_colset_open(copy, len, N, &g_mem, &g_err, &cs),
                 vx_vm_colset_zstd() ? VEX_CORRUPT : VEX_UNSUPPORTED);
        CHECK_MSG(vx_vm_colset_zstd() || msg_has("built without zstd"), "%s",
                  g_err.msg);
    }
    free(copy);
    vx_vmf_free(f, &g_mem);
    vx_mem_free(&g_mem, blob);
    for (uint32_t i = 0; i < N; i++)
        vx_vm_record_free(recs[i], &g_mem);
}

/* ---- out of memory ---------------------------------------------------------
 */

static void test_oom(void)
{
    fail_alloc fa;
    vex_allocator a;
    vex_mem m;
    long budget;
    int done_parse = 0, done_rec = 0, done_dec = 0, done_sch = 0;
    const char *text = "year >= 2020 AND lang IN ('en', 'de', 'fr') AND NOT "
                       "tags CONTAINS 'draft' OR (x BETWEEN 1 AND 2 AND y IS "
                       "NULL)";
    vm_str tags[2] = {{"a", 1}, {"b", 1}};
    vm_field fs[3];
    unsigned char enc[256], senc[256];
    size_t n_enc, n_senc;
    vm_record *r0 = NULL;
    vm_schema *s0 = make_schema(0);

    fs[0] = fld("a", vx_vm_int(1));
    fs[1] = fld("b", vx_vm_cstring("xyz"));
    fs[2] = fld("c", vx_vm_tags(tags, 2));
    CHECK_RC(vx_vm_record_new(fs, 3, &g_mem, &g_err, &r0), VEX_OK);
    n_enc = vx_vm_record_encode(r0, enc);
    n_senc = vx_vm_schema_encode(s0, senc);

    pthread_mutex_init(&fa.lock, NULL);
    a.alloc = fa_alloc;
    a.realloc = fa_realloc;
    a.free = fa_free;
    a.user = &fa;
    vx_mem_init(&m, &a);
    for (budget = 0; budget < 10000; budget++) {
        vmf_filter *f = NULL;
        vm_record *r = NULL;
        vm_schema *s = NULL;
        int rc;
        fa.budget = budget;
        fa.live = 0;
        if (!done_parse) {
            rc = vx_vmf_parse(text, strlen(text), s0, &m, &g_err, &f);
            CHECK(rc == VEX_OK || rc == VEX_NOMEM);
            CHECK(rc != VEX_NOMEM || (f == NULL && fa.live == 0));
            done_parse = rc == VEX_OK;
            vx_vmf_free(f, &m);
        }
        fa.budget = budget;
        if (!done_rec) {
            rc = vx_vm_record_new(fs, 3, &m, &g_err, &r);
            CHECK(rc == VEX_OK || rc == VEX_NOMEM);
            done_rec = rc == VEX_OK;
            vx_vm_record_free(r, &m);
            r = NULL;
        }
        fa.budget = budget;
        if (!done_dec) {
            rc = vx_vm_record_decode(enc, n_enc, &m, &g_err, &r);
            CHECK(rc == VEX_OK || rc == VEX_NOMEM);
            done_dec = rc == VEX_OK;
            vx_vm_record_free(r, &m);
        }
        fa.budget = budget;
        if (!done_sch) {
            rc = vx_vm_schema_decode(senc, n_senc, &m, &g_err, &s);
            CHECK(rc == VEX_OK || rc == VEX_NOMEM);
            done_sch = rc == VEX_OK;
            vx_vm_schema_free(s, &m);
        }
        CHECK_EQ_INT(fa.live, 0);
        if (done_parse && done_rec && done_dec && done_sch)
            break;
    }
    CHECK(done_parse && done_rec && done_dec && done_sch);
    /* a builder whose arena cannot grow reports VEX_NOMEM from build */
    fa.budget = 1;
    fa.live = 0;
    {
        vmf_builder *b = NULL;
        vmf_filter *f = NULL;
        CHECK_RC(vx_vmf_builder_new(&m, &b), VEX_OK);
        CHECK(vx_vmf_eq(b, "a", vx_vm_int(1)) == NULL);
        CHECK_RC(vx_vmf_build(b, NULL, NULL, &m, &g_err, &f), VEX_NOMEM);
        vx_vmf_builder_free(b);
        CHECK_EQ_INT(fa.live, 0);
    }
    pthread_mutex_destroy(&fa.lock);
    vx_vm_record_free(r0, &g_mem);
    vx_vm_schema_free(s0, &g_mem);
}

int main(void)
{
    vx_mem_init(&g_mem, NULL);
    vx_err_init(&g_err);
    TEST_RUN(test_utf8);
    TEST_RUN(test_record_basic);
    TEST_RUN(test_record_invalid);
    TEST_RUN(test_record_encoding_damage);
    TEST_RUN(test_record_decode_cases);
    TEST_RUN(test_schema);
    TEST_RUN(test_parse_valid);
    TEST_RUN(test_parse_invalid);
    TEST_RUN(test_parse_limits);
    TEST_RUN(test_locale);
    TEST_RUN(test_typecheck);
    TEST_RUN(test_builder);
    TEST_RUN(test_eval_cases);
    TEST_RUN(test_eval_oracle);
    TEST_RUN(test_columns_oracle);
    TEST_RUN(test_columns_numeric);
    TEST_RUN(test_columns_zstd_opt_in);
    TEST_RUN(test_columns_damage);
    TEST_RUN(test_oom);
    vx_err_destroy(&g_err);
    return TEST_EXIT();
}
