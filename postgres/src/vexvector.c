/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexvector.c - the PostgreSQL type vexvector: a float32 vector with text
 * input '[1,2,3]', binary send/receive, a typmod for the dimension, casts
 * from and to real[] (and from double precision[] and integer[]), and the
 * distance functions behind the operators <-> (L2), <#> (negative inner
 * product) and <=> (cosine distance).
 *
 * The distances are VexDB's SIMD kernels (src/simd/simd.h, the table the
 * process chose once), the same ones the vexhnsw index computes, so the
 * value an operator returns and the value the index orders by are the same
 * bits. The on-disk form is a varlena: int16 dimension, int16 zero, then
 * the floats (the layout pgvector's vector uses, so dumps of either read
 * alike as text); every component is finite, checked on input and receive.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "vexpg.h"

#include "simd/simd.h"

PG_MODULE_MAGIC;

/* A new zeroed vector of `dim` components. */
VexVector *vexvector_new(int dim)
{
    Size size = VEXVECTOR_SIZE(dim);
    VexVector *v = palloc0(size);
    SET_VARSIZE(v, size);
    v->dim = (int16)dim;
    return v;
}

static void vexvector_check_dim(int dim)
{
    if (dim < 1)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("vexvector must have at least 1 dimension")));
    if (dim > VEXVECTOR_MAX_DIM)
        ereport(ERROR,
                (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                 errmsg("vexvector cannot have more than %d dimensions, got %d",
                        VEXVECTOR_MAX_DIM, dim)));
}

static void vexvector_check_typmod(int dim, int32 typmod)
{
    if (typmod != -1 && dim != typmod)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("expected %d dimensions, not %d", typmod, dim)));
}

static void vexvector_check_elem(float f)
{
    if (isnan(f))
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("NaN not allowed in vexvector")));
    if (isinf(f))
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("infinite value not allowed in vexvector")));
}

/* Both operands of a distance have the same dimension. */
static void vexvector_check_same(const VexVector *a, const VexVector *b)
{
    if (a->dim != b->dim)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("different vexvector dimensions %d and %d",
                               a->dim, b->dim)));
}

static inline bool vexvector_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* '[1, 2.5, -3e2]': brackets, comma-separated floats, spaces anywhere
 * between tokens. */
PG_FUNCTION_INFO_V1(vexvector_in);
Datum vexvector_in(PG_FUNCTION_ARGS)
{
    char *s = PG_GETARG_CSTRING(0);
    int32 typmod = PG_GETARG_INT32(2);
    const char *p = s;
    float *x = palloc(sizeof(float) * VEXVECTOR_MAX_DIM);
    int dim = 0;
    VexVector *v;

    while (vexvector_space(*p))
        p++;
    if (*p != '[')
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                 errmsg("invalid input syntax for type vexvector: \"%s\"", s),
                 errdetail("Vector contents must start with \"[\".")));
    p++;
    for (;;) {
        char *end;
        float f;
        while (vexvector_space(*p))
            p++;
        if (*p == ']' && dim == 0)
            break; /* "[]": reported as too few dimensions below */
        if (dim == VEXVECTOR_MAX_DIM)
            vexvector_check_dim(dim + 1);
        errno = 0;
        f = strtof(p, &end);
        if (end == p)
            ereport(
                ERROR,
                (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                 errmsg("invalid input syntax for type vexvector: \"%s\"", s)));
        if (errno == ERANGE && isinf(f))
            ereport(ERROR,
                    (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                     errmsg("\"%.*s\" is out of range for type vexvector",
                            (int)(end - p), p)));
        vexvector_check_elem(f);
        x[dim++] = f;
        p = end;
        while (vexvector_space(*p))
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']')
            break;
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                 errmsg("invalid input syntax for type vexvector: \"%s\"", s)));
    }
    p++;
    while (vexvector_space(*p))
        p++;
    if (*p != '\0')
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                 errmsg("invalid input syntax for type vexvector: \"%s\"", s),
                 errdetail("Junk after closing right bracket.")));
    vexvector_check_dim(dim);
    vexvector_check_typmod(dim, typmod);
    v = vexvector_new(dim);
    memcpy(v->x, x, sizeof(float) * dim);
    pfree(x);
    PG_RETURN_POINTER(v);
}

/* '[1,2.5,-300]': each component in the shortest form that reads back to
 * the same float. */
PG_FUNCTION_INFO_V1(vexvector_out);
Datum vexvector_out(PG_FUNCTION_ARGS)
{
    VexVector *v = PG_GETARG_VEXVECTOR_P(0);
    char *buf = palloc((FLOAT_SHORTEST_DECIMAL_LEN + 1) * v->dim + 3);
    char *p = buf;
    *p++ = '[';
    for (int i = 0; i < v->dim; i++) {
        if (i > 0)
            *p++ = ',';
        p += float_to_shortest_decimal_bufn(v->x[i], p);
    }
    *p++ = ']';
    *p = '\0';
    PG_FREE_IF_COPY(v, 0);
    PG_RETURN_CSTRING(buf);
}

/* vexvector(n): 1..VEXVECTOR_MAX_DIM. */
PG_FUNCTION_INFO_V1(vexvector_typmod_in);
Datum vexvector_typmod_in(PG_FUNCTION_ARGS)
{
    ArrayType *ta = PG_GETARG_ARRAYTYPE_P(0);
    int32 *tl;
    int n;
    tl = ArrayGetIntegerTypmods(ta, &n);
    if (n != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid type modifier for vexvector: one "
                               "dimension expected")));
    vexvector_check_dim(tl[0]);
    PG_RETURN_INT32(tl[0]);
}

/* Binary form: int16 dim, int16 zero, dim float4s (network order). */
PG_FUNCTION_INFO_V1(vexvector_recv);
Datum vexvector_recv(PG_FUNCTION_ARGS)
{
    StringInfo buf = (StringInfo)PG_GETARG_POINTER(0);
    int32 typmod = PG_GETARG_INT32(2);
    int dim = pq_getmsgint(buf, sizeof(int16));
    int unused = pq_getmsgint(buf, sizeof(int16));
    VexVector *v;
    vexvector_check_dim(dim);
    vexvector_check_typmod(dim, typmod);
    if (unused != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                        errmsg("vexvector: reserved field must be zero, got %d",
                               unused)));
    v = vexvector_new(dim);
    for (int i = 0; i < dim; i++) {
        v->x[i] = pq_getmsgfloat4(buf);
        vexvector_check_elem(v->x[i]);
    }
    PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(vexvector_send);
Datum vexvector_send(PG_FUNCTION_ARGS)
{
    VexVector *v = PG_GETARG_VEXVECTOR_P(0);
    StringInfoData buf;
    pq_begintypsend(&buf);
    pq_sendint16(&buf, v->dim);
    pq_sendint16(&buf, 0);
    for (int i = 0; i < v->dim; i++)
        pq_sendfloat4(&buf, v->x[i]);
    PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* The length coercion vexvector -> vexvector(n). */
PG_FUNCTION_INFO_V1(vexvector_typmod_cast);
Datum vexvector_typmod_cast(PG_FUNCTION_ARGS)
{
    VexVector *v = PG_GETARG_VEXVECTOR_P(0);
    vexvector_check_typmod(v->dim, PG_GETARG_INT32(1));
    PG_RETURN_POINTER(v);
}

/* real[], double precision[], integer[] -> vexvector(typmod): a
 * one-dimensional array without NULLs. */
PG_FUNCTION_INFO_V1(vexvector_from_array);
Datum vexvector_from_array(PG_FUNCTION_ARGS)
{
    ArrayType *a = PG_GETARG_ARRAYTYPE_P(0);
    int32 typmod = PG_GETARG_INT32(1);
    Oid et = ARR_ELEMTYPE(a);
    int16 typlen;
    bool typbyval;
    char typalign;
    Datum *elems;
    bool *nulls;
    int n;
    VexVector *v;

    if (ARR_NDIM(a) > 1)
        ereport(ERROR,
                (errcode(ERRCODE_DATA_EXCEPTION), errmsg("array must be 1-D")));
    if (et != FLOAT4OID && et != FLOAT8OID && et != INT4OID)
        ereport(ERROR,
                (errcode(ERRCODE_DATA_EXCEPTION),
                 errmsg("unsupported array element type %s for vexvector",
                        format_type_be(et))));
    get_typlenbyvalalign(et, &typlen, &typbyval, &typalign);
    deconstruct_array(a, et, typlen, typbyval, typalign, &elems, &nulls, &n);
    vexvector_check_dim(n);
    vexvector_check_typmod(n, typmod);
    v = vexvector_new(n);
    for (int i = 0; i < n; i++) {
        if (nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("array must not contain nulls")));
        if (et == FLOAT4OID)
            v->x[i] = DatumGetFloat4(elems[i]);
        else if (et == FLOAT8OID)
            v->x[i] = (float)DatumGetFloat8(elems[i]);
        else
            v->x[i] = (float)DatumGetInt32(elems[i]);
        vexvector_check_elem(v->x[i]);
    }
    PG_RETURN_POINTER(v);
}

/* vexvector -> real[]. */
PG_FUNCTION_INFO_V1(vexvector_to_float4);
Datum vexvector_to_float4(PG_FUNCTION_ARGS)
{
    VexVector *v = PG_GETARG_VEXVECTOR_P(0);
    Datum *d = palloc(sizeof(Datum) * v->dim);
    for (int i = 0; i < v->dim; i++)
        d[i] = Float4GetDatum(v->x[i]);
    PG_RETURN_POINTER(construct_array(d, v->dim, FLOAT4OID, sizeof(float4),
                                      true, TYPALIGN_INT));
}

/* ---- distances: one definition shared with the index (vexpg.h) ---- */

double vexpg_distance(int metric, const float *a, const float *b, int dim)
{
    const vex_simd_table *s = vx_simd();
    switch (metric) {
    case VEXPG_L2:
        return sqrt((double)s->l2sq_f32(a, b, (size_t)dim));
    case VEXPG_IP:
        return -(double)s->dot_f32(a, b, (size_t)dim);
    default:
        return (double)s->cosine_f32(a, b, (size_t)dim);
    }
}

static double vexvector_metric(FunctionCallInfo fcinfo, int metric)
{
    VexVector *a = PG_GETARG_VEXVECTOR_P(0);
    VexVector *b = PG_GETARG_VEXVECTOR_P(1);
    vexvector_check_same(a, b);
    return vexpg_distance(metric, a->x, b->x, a->dim);
}

PG_FUNCTION_INFO_V1(vexvector_l2_distance);
Datum vexvector_l2_distance(PG_FUNCTION_ARGS)
{
    PG_RETURN_FLOAT8(vexvector_metric(fcinfo, VEXPG_L2));
}

PG_FUNCTION_INFO_V1(vexvector_negative_inner_product);
Datum vexvector_negative_inner_product(PG_FUNCTION_ARGS)
{
    PG_RETURN_FLOAT8(vexvector_metric(fcinfo, VEXPG_IP));
}

PG_FUNCTION_INFO_V1(vexvector_inner_product);
Datum vexvector_inner_product(PG_FUNCTION_ARGS)
{
    PG_RETURN_FLOAT8(-vexvector_metric(fcinfo, VEXPG_IP));
}

PG_FUNCTION_INFO_V1(vexvector_cosine_distance);
Datum vexvector_cosine_distance(PG_FUNCTION_ARGS)
{
    PG_RETURN_FLOAT8(vexvector_metric(fcinfo, VEXPG_COSINE));
}

PG_FUNCTION_INFO_V1(vexvector_dims);
Datum vexvector_dims(PG_FUNCTION_ARGS)
{
    VexVector *v = PG_GETARG_VEXVECTOR_P(0);
    PG_RETURN_INT32(v->dim);
}

PG_FUNCTION_INFO_V1(vexvector_norm);
Datum vexvector_norm(PG_FUNCTION_ARGS)
{
    VexVector *v = PG_GETARG_VEXVECTOR_P(0);
    PG_RETURN_FLOAT8(sqrt((double)vx_simd()->norm2_f32(v->x, (size_t)v->dim)));
}

/* Which kernel set the process uses ("avx512", "avx2", "neon", "scalar"). */
PG_FUNCTION_INFO_V1(vexdb_simd);
Datum vexdb_simd(PG_FUNCTION_ARGS)
{
    (void)fcinfo;
    PG_RETURN_TEXT_P(cstring_to_text(vx_simd()->name));
}
