/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexdb_sqlite.c - a SQLite loadable extension that shows a VexDB
 * collection as a virtual table (module "vexdb"), so that every language
 * with SQLite bindings can store, filter and search vectors in SQL. It sits
 * above the library and uses only include/vexdb.h; docs/sqlite.md is the
 * user's manual, this header the design.
 *
 * Table layout. `CREATE VIRTUAL TABLE t USING vexdb(dir='d', dim=N,
 * metric='cosine', year INTEGER, lang TEXT)` declares the columns
 *   embedding, year, lang, ..., distance HIDDEN, k HIDDEN, ef_search HIDDEN
 * where rowid is the record's VexDB id, `embedding` its vector (a float32
 * blob; writes and MATCH also take a JSON array), each declared column a
 * metadata field of the same name (INTEGER = int64, REAL = double, TEXT =
 * string; NULL = absent), `distance` the KNN distance and `k`/`ef_search`
 * the inputs of a KNN query. The collection is named by `collection=`, or
 * after the table.
 *
 * Rules of this file:
 *   S1  One vex_db per directory per process (vsq_db_acquire): SQLite
 *       connections of one process share it, because a second writable
 *       open of the directory would be refused by its lock.
 *   S2  A transaction's writes are buffered per table (vsq_op list plus a
 *       vex_batch kept in step) and committed as ONE vex_batch_commit in
 *       xSync, where a failure can still abort SQLite's COMMIT. So a
 *       ROLLBACK, a failed statement and ROLLBACK TO undo them exactly
 *       (savepoints truncate the list). Not atomic across tables: see
 *       docs/sqlite.md "Transactions".
 *   S3  Reads inside a transaction see its own buffered writes: every
 *       plan overlays the pending list (vsq_pending) on VexDB's committed
 *       state, dropping touched ids from VexDB's answer and adding the
 *       pending rows that pass the same conditions (vsq_cond_match), so
 *       UPDATE and DELETE after INSERT in one transaction do what SQL says.
 *   S4  Every metadata constraint that is pushed into the VexDB filter is
 *       omitted by SQLite, so the filter must give exactly SQL's answer:
 *       values are converted with SQLite's affinity rules (vsq_value_conv),
 *       a comparison that SQL would answer differently (text against an
 *       INTEGER column, a NOCASE collation) is an error or not pushed.
 *   S5  Errors carry VexDB's message, prefixed "vexdb: ".
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "vexdb.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------- */

static int vsq_code(int vrc)
{
    switch (vrc) {
    case VEX_OK:
        return SQLITE_OK;
    case VEX_NOMEM:
        return SQLITE_NOMEM;
    case VEX_EXISTS:
        return SQLITE_CONSTRAINT;
    case VEX_FULL:
        return SQLITE_FULL;
    case VEX_BUSY:
        return SQLITE_BUSY;
    case VEX_READONLY:
        return SQLITE_READONLY;
    case VEX_CORRUPT:
        return SQLITE_CORRUPT_VTAB;
    case VEX_IOERR:
        return SQLITE_IOERR;
    default:
        return SQLITE_ERROR;
    }
}

__attribute__((format(printf, 2, 3))) static void
vsq_seterr(sqlite3_vtab *vt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------
 * Vectors: float32 blobs and JSON arrays
 * ------------------------------------------------------------------- */

/* Parse a JSON array of numbers into a new float array (sqlite3_malloc)
 * of *n elements. On failure *err names the problem (sqlite3_mprintf). */
static float *vsq_json_parse(const char *s, size_t *n, char **err)
{
    size_t cap = 16, len = 0;
    float *v = sqlite3_malloc64(cap * sizeof *v);
    const char *p = s;
    if (!v) {
        *err = sqlite3_mprintf("out of memory");
        return NULL;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p != '[') {
        *err = sqlite3_mprintf("a vector is a float32 blob or a JSON array "
                               "of numbers, got text not starting with '['");
        goto fail;
    }
    p++;
    for (;;) {
        char *end;
        double d;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == ']' && len == 0) {
            p++;
            break;
        }
        errno = 0;
        d = strtod(p, &end);
        if (end == p || (*p != '-' && (*p < '0' || *p > '9'))) {
            *err = sqlite3_mprintf("JSON vector: expected a number at "
                                   "offset %d",
                                   (int)(p - s));
            goto fail;
        }
        if (!isfinite(d) || !isfinite((float)d)) {
            *err = sqlite3_mprintf("JSON vector: element %d is not a finite "
                                   "float32 (%.*s)",
                                   (int)len, (int)(end - p), p);
            goto fail;
        }
        if (len == cap) {
            float *nv;
            cap *= 2;
            nv = sqlite3_realloc64(v, cap * sizeof *v);
            if (!nv) {
                *err = sqlite3_mprintf("out of memory");
                goto fail;
            }
            v = nv;
        }
        v[len++] = (float)d;
        p = end;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') {
            p++;
            break;
        }
        *err = sqlite3_mprintf("JSON vector: expected ',' or ']' at offset %d",
                               (int)(p - s));
        goto fail;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p) {
        *err = sqlite3_mprintf("JSON vector: text after ']' at offset %d",
                               (int)(p - s));
        goto fail;
    }
    *n = len;
    return v;
fail:
    sqlite3_free(v);
    return NULL;
}

/* A vector from a SQL value: a blob of float32 (native byte order, which
 * is little-endian on every platform VexDB supports) or JSON text. `dim`
 * 0 accepts any length >= 1. Checks that every component is finite. */
static float *vsq_vector_from_value(sqlite3_value *v, uint32_t dim, size_t *n,
                                    char **err)
{
    float *out = NULL;
    size_t len = 0;
    int type = sqlite3_value_type(v);
    if (type == SQLITE_BLOB) {
        int bytes = sqlite3_value_bytes(v);
        const void *p = sqlite3_value_blob(v);
        if (bytes <= 0 || bytes % 4 != 0) {
            *err = sqlite3_mprintf("a vector blob holds float32 values: %d "
                                   "bytes is not a positive multiple of 4",
                                   bytes);
            return NULL;
        }
        len = (size_t)bytes / 4;
        if (dim && len != dim) {
            *err = sqlite3_mprintf("vector blob of %d bytes (%d floats), the "
                                   "table's dim is %u (%u bytes)",
                                   bytes, (int)len, dim, dim * 4);
            return NULL;
        }
        out = sqlite3_malloc64(len * sizeof *out);
        if (!out) {
            *err = sqlite3_mprintf("out of memory");
            return NULL;
        }
        memcpy(out, p, len * sizeof *out);
        for (size_t i = 0; i < len; i++) {
            if (!isfinite(out[i])) {
                *err = sqlite3_mprintf("vector component %d is %s", (int)i,
                                       isnan(out[i]) ? "NaN" : "infinite");
                sqlite3_free(out);
                return NULL;
            }
        }
    } else if (type == SQLITE_TEXT) {
        out = vsq_json_parse((const char *)sqlite3_value_text(v), &len, err);
        if (!out)
            return NULL;
        if (len == 0 || (dim && len != dim)) {
            *err = dim ? sqlite3_mprintf("JSON vector of %d elements, "
                                         "expected %u",
                                         (int)len, dim)
                       : sqlite3_mprintf("JSON vector of 0 elements");
            sqlite3_free(out);
            return NULL;
        }
    } else {
        *err = sqlite3_mprintf("a vector is a float32 blob or a JSON array, "
                               "got %s",
                               type == SQLITE_NULL      ? "NULL"
                               : type == SQLITE_INTEGER ? "an integer"
                                                        : "a real");
        return NULL;
    }
    *n = len;
    return out;
}

/* VexDB's distances (include/vexdb.h "Distances"), in double precision.
 * Returns 0 and sets *err for a zero vector under cosine. */
static int vsq_distance(vex_metric m, const float *a, const float *b, size_t n,
                        double *out, char **err)
{
    double s = 0, na = 0, nb = 0;
    switch (m) {
    case VEX_METRIC_L2:
        for (size_t i = 0; i < n; i++) {
            double d = (double)a[i] - (double)b[i];
            s += d * d;
        }
        *out = s;
        return 1;
    case VEX_METRIC_IP:
        for (size_t i = 0; i < n; i++)
            s += (double)a[i] * (double)b[i];
        *out = -s;
        return 1;
    case VEX_METRIC_COSINE:
        for (size_t i = 0; i < n; i++) {
            s += (double)a[i] * (double)b[i];
            na += (double)a[i] * (double)a[i];
            nb += (double)b[i] * (double)b[i];
        }
        if (na == 0 || nb == 0) {
            *err = sqlite3_mprintf("cosine distance of a zero vector is "
                                   "undefined");
            return 0;
        }
        *out = 1.0 - s / (sqrt(na) * sqrt(nb));
        return 1;
    default:
        *err = sqlite3_mprintf("metric %s is not supported here",
                               vex_metric_name(m));
        return 0;
    }
}

/* ---------------------------------------------------------------------
 * S1: the process-wide registry of open databases
 * ------------------------------------------------------------------- */

typedef struct vsq_shared_db {
    struct vsq_shared_db *next;
    char *path; /* realpath(3), malloc'd */
    vex_db *db;
    int refs;
} vsq_shared_db;

static pthread_mutex_t vsq_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static vsq_shared_db *vsq_registry;

static int vsq_db_acquire(const char *dir, int create, vsq_shared_db **out,
                          char **err)
{
    int rc = SQLITE_OK;
    char *real = NULL;
    vex_db *db = NULL;
    vsq_shared_db *s = NULL;
    vex_db_options o;

    pthread_mutex_lock(&vsq_registry_mu);
    real = realpath(dir, NULL);
    if (real) {
        for (s = vsq_registry; s; s = s->next) {
            if (strcmp(s->path, real) == 0) {
                s->refs++;
                *out = s;
                goto done;
            }
        }
    } else if (errno != ENOENT || !create) {
        *err = sqlite3_mprintf("vexdb: dir '%s': %s", dir, strerror(errno));
        rc = SQLITE_CANTOPEN;
        goto done;
    }
    vex_db_options_init(&o);
    o.create_if_missing = create;
    int vrc = vex_db_open(dir, &o, &db);
    if (vrc != VEX_OK) {
        char buf[512] = "";
        if (db)
            vex_db_errmsg_copy(db, buf, sizeof buf);
        *err = sqlite3_mprintf("vexdb: cannot open database '%s': %s", dir,
                               buf[0] ? buf : vex_errstr(vrc));
        rc = vsq_code(vrc);
        goto done;
    }
    if (!real && !(real = realpath(dir, NULL))) {
        *err = sqlite3_mprintf("vexdb: dir '%s': %s", dir, strerror(errno));
        rc = SQLITE_CANTOPEN;
        goto done;
    }
    s = sqlite3_malloc(sizeof *s);
    if (!s) {
        rc = SQLITE_NOMEM;
        goto done;
    }
    s->path = real;
    s->db = db;
    s->refs = 1;
    s->next = vsq_registry;
    vsq_registry = s;
    real = NULL;
    db = NULL;
    *out = s;
done:
    pthread_mutex_unlock(&vsq_registry_mu);
    if (db)
        vex_db_close(db);
    free(real);
    return rc;
}

static void vsq_db_release(vsq_shared_db *s)
{
    vex_db *close_db = NULL;
    if (!s)
        return;
    pthread_mutex_lock(&vsq_registry_mu);
    if (--s->refs == 0) {
        vsq_shared_db **pp = &vsq_registry;
        while (*pp != s)
            pp = &(*pp)->next;
        *pp = s->next;
        close_db = s->db;
        free(s->path);
        sqlite3_free(s);
    }
    pthread_mutex_unlock(&vsq_registry_mu);
    if (close_db)
        vex_db_close(close_db);
}

/* ---------------------------------------------------------------------
 * The virtual table
 * ------------------------------------------------------------------- */

enum { VSQ_INT = 1, VSQ_REAL = 2, VSQ_TEXT = 3 };
enum { VSQ_OP_INSERT = 1, VSQ_OP_UPSERT, VSQ_OP_DELETE, VSQ_OP_META };

typedef struct vsq_col {
    char *name;
    int kind; /* VSQ_INT, VSQ_REAL, VSQ_TEXT */
} vsq_col;

/* One buffered write (S2). */
typedef struct vsq_op {
    int kind;
    uint64_t id;
    float *vec;     /* INSERT, UPSERT */
    vex_meta *meta; /* INSERT, UPSERT, META (NULL: no metadata) */
} vsq_op;

typedef struct vsq_vtab {
    sqlite3_vtab base;
    sqlite3 *conn;
    vsq_shared_db *sdb;
    vex_collection *coll;
    char *coll_name;
    int named; /* collection= was given */
    uint32_t dim;
    vex_metric metric;
    size_t vsize;
    int n_cols;
    vsq_col *cols;
    /* S2: the open transaction's writes, in order */
    vsq_op *ops;
    size_t n_ops, cap_ops;
    vex_batch *batch;
    /* id -> index + 1 of its last op; open addressing, 0 = empty */
    uint64_t *map_ids;
    size_t *map_ops;
    size_t map_cap, map_n;
    /* savepoint i starts at op marks[i] */
    size_t *marks;
    int n_marks, cap_marks;
    float *scratch; /* one vector, for existence checks */
} vsq_vtab;

#define VSQ_COL_EMB     0
#define VSQ_COL_DIST(t) ((t)->n_cols + 1)
#define VSQ_COL_K(t)    ((t)->n_cols + 2)
#define VSQ_COL_EF(t)   ((t)->n_cols + 3)

static uint64_t vsq_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static size_t vsq_map_slot(const vsq_vtab *t, uint64_t id)
{
    size_t mask = t->map_cap - 1;
    size_t i = (size_t)vsq_hash(id) & mask;
    while (t->map_ops[i] && t->map_ids[i] != id)
        i = (i + 1) & mask;
    return i;
}

static int vsq_map_put(vsq_vtab *t, uint64_t id, size_t op)
{
    if ((t->map_n + 1) * 2 > t->map_cap) {
        size_t ncap = t->map_cap ? t->map_cap * 2 : 64;
        uint64_t *oid = t->map_ids;
        size_t *oop = t->map_ops, ocap = t->map_cap;
        uint64_t *nid = sqlite3_malloc64(ncap * sizeof *nid);
        size_t *nop = sqlite3_malloc64(ncap * sizeof *nop);
        if (!nid || !nop) {
            sqlite3_free(nid);
            sqlite3_free(nop);
            return SQLITE_NOMEM;
        }
        memset(nop, 0, ncap * sizeof *nop);
        t->map_ids = nid;
        t->map_ops = nop;
        t->map_cap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (oop[i]) {
                size_t s = vsq_map_slot(t, oid[i]);
                t->map_ids[s] = oid[i];
                t->map_ops[s] = oop[i];
            }
        }
        sqlite3_free(oid);
        sqlite3_free(oop);
    }
    size_t s = vsq_map_slot(t, id);
    if (!t->map_ops[s])
        t->map_n++;
    t->map_ids[s] = id;
    t->map_ops[s] = op + 1;
    return SQLITE_OK;
}

/* The last buffered op of `id`, or NULL (S3). */
static const vsq_op *vsq_pending(const vsq_vtab *t, uint64_t id)
{
    if (!t->map_n)
        return NULL;
    size_t s = vsq_map_slot(t, id);
    return t->map_ops[s] ? &t->ops[t->map_ops[s] - 1] : NULL;
}

static void vsq_op_free(vsq_op *op)
{
    sqlite3_free(op->vec);
    vex_meta_free(op->meta);
    memset(op, 0, sizeof *op);
}

static int vsq_batch_add(vex_batch *b, const vsq_op *op)
{
    switch (op->kind) {
    case VSQ_OP_INSERT:
        return vex_batch_insert_meta(b, op->id, op->vec, op->meta);
    case VSQ_OP_UPSERT:
        return vex_batch_upsert_meta(b, op->id, op->vec, op->meta);
    case VSQ_OP_DELETE:
        return vex_batch_delete(b, op->id);
    default:
        return vex_batch_update_meta(b, op->id, op->meta);
    }
}

/* Drop the ops from `keep` on and rebuild the batch and the map. */
static int vsq_truncate(vsq_vtab *t, size_t keep)
{
    int rc = SQLITE_OK;
    for (size_t i = keep; i < t->n_ops; i++)
        vsq_op_free(&t->ops[i]);
    t->n_ops = keep;
    if (t->batch)
        vex_batch_clear(t->batch);
    if (t->map_cap)
        memset(t->map_ops, 0, t->map_cap * sizeof *t->map_ops);
    t->map_n = 0;
    for (size_t i = 0; i < keep && rc == SQLITE_OK; i++) {
        int vrc = vsq_batch_add(t->batch, &t->ops[i]);
        rc = vrc == VEX_OK ? vsq_map_put(t, t->ops[i].id, i) : vsq_code(vrc);
    }
    return rc;
}

/* Queue one op (S2); takes ownership of op->vec and op->meta. */
static int vsq_queue(vsq_vtab *t, vsq_op *op)
{
    int vrc;
    if (!t->batch) {
        vrc = vex_batch_create(t->vsize, NULL, &t->batch);
        if (vrc != VEX_OK) {
            vsq_op_free(op);
            return vsq_code(vrc);
        }
    }
    if (t->n_ops == t->cap_ops) {
        size_t ncap = t->cap_ops ? t->cap_ops * 2 : 64;
        vsq_op *n = sqlite3_realloc64(t->ops, ncap * sizeof *n);
        if (!n) {
            vsq_op_free(op);
            return SQLITE_NOMEM;
        }
        t->ops = n;
        t->cap_ops = ncap;
    }
    vrc = vsq_batch_add(t->batch, op);
    if (vrc != VEX_OK) {
        if (vrc == VEX_FULL)
            vsq_seterr(&t->base,
                       "vexdb: the writes of this transaction to %s exceed "
                       "one VexDB batch (%d MiB): commit in smaller "
                       "transactions (%s)",
                       t->coll_name, VEX_BATCH_MAX_BYTES >> 20,
                       vex_batch_errmsg(t->batch));
        else
            vsq_seterr(&t->base, "vexdb: %s", vex_batch_errmsg(t->batch));
        vsq_op_free(op);
        /* a full batch fails the statement only (SQLITE_FULL would make
         * SQLite roll the whole transaction back): what is queued can
         * still be committed */
        return vrc == VEX_FULL ? SQLITE_ERROR : vsq_code(vrc);
    }
    t->ops[t->n_ops] = *op;
    memset(op, 0, sizeof *op);
    t->n_ops++;
    int rc = vsq_map_put(t, t->ops[t->n_ops - 1].id, t->n_ops - 1);
    if (rc != SQLITE_OK)
        vsq_truncate(t, t->n_ops - 1);
    return rc;
}

/* ---- table options and columns ---- */

static char *vsq_unquote(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '\n'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
        n--;
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        char q = s[0];
        char *out = sqlite3_malloc64(n);
        size_t j = 0;
        if (!out)
            return NULL;
        for (size_t i = 1; i + 1 < n; i++) {
            out[j++] = s[i];
            if (s[i] == q && i + 2 < n && s[i + 1] == q)
                i++;
        }
        out[j] = 0;
        return out;
    }
    return sqlite3_mprintf("%.*s", (int)n, s);
}

static int vsq_parse_u32(const char *key, const char *v, uint32_t *out,
                         char **err)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || x > UINT32_MAX || *v == '-') {
        *err = sqlite3_mprintf("vexdb: option %s: '%s' is not an unsigned "
                               "32-bit integer",
                               key, v);
        return SQLITE_ERROR;
    }
    *out = (uint32_t)x;
    return SQLITE_OK;
}

typedef struct vsq_args {
    char *dir, *coll;
    vex_collection_config cfg;
    /* which options were given, compared against an existing collection */
    int has_dim, has_metric, has_index, has_m, has_efc, has_efs, has_seed,
        has_quant, has_qm, has_qbits, has_qrefine;
} vsq_args;

static int vsq_set_option(vsq_args *a, const char *key, const char *val,
                          char **err)
{
    vex_collection_config *c = &a->cfg;
    if (!strcmp(key, "dir")) {
        sqlite3_free(a->dir);
        a->dir = sqlite3_mprintf("%s", val);
        return a->dir ? SQLITE_OK : SQLITE_NOMEM;
    }
    if (!strcmp(key, "collection")) {
        sqlite3_free(a->coll);
        a->coll = sqlite3_mprintf("%s", val);
        return a->coll ? SQLITE_OK : SQLITE_NOMEM;
    }
    if (!strcmp(key, "dim"))
        return a->has_dim = 1, vsq_parse_u32(key, val, &c->dim, err);
    if (!strcmp(key, "m"))
        return a->has_m = 1, vsq_parse_u32(key, val, &c->hnsw_m, err);
    if (!strcmp(key, "ef_construction"))
        return a->has_efc = 1,
               vsq_parse_u32(key, val, &c->hnsw_ef_construction, err);
    if (!strcmp(key, "ef_search"))
        return a->has_efs = 1, vsq_parse_u32(key, val, &c->hnsw_ef_search, err);
    if (!strcmp(key, "quant_m"))
        return a->has_qm = 1, vsq_parse_u32(key, val, &c->quant_m, err);
    if (!strcmp(key, "quant_bits"))
        return a->has_qbits = 1, vsq_parse_u32(key, val, &c->quant_bits, err);
    if (!strcmp(key, "seed")) {
        char *end;
        errno = 0;
        c->hnsw_seed = strtoull(val, &end, 10);
        if (!*val || *end || errno || *val == '-') {
            *err = sqlite3_mprintf("vexdb: option seed: '%s' is not an "
                                   "unsigned 64-bit integer",
                                   val);
            return SQLITE_ERROR;
        }
        a->has_seed = 1;
        return SQLITE_OK;
    }
    if (!strcmp(key, "quant_refine")) {
        char *end;
        double d = strtod(val, &end);
        if (!*val || *end || !isfinite(d)) {
            *err = sqlite3_mprintf("vexdb: option quant_refine: '%s' is not "
                                   "a number",
                                   val);
            return SQLITE_ERROR;
        }
        c->quant_refine = (float)d;
        a->has_qrefine = 1;
        return SQLITE_OK;
    }
    if (!strcmp(key, "metric")) {
        vex_metric m;
        if (vex_metric_parse(val, &m) != VEX_OK || m == VEX_METRIC_HAMMING ||
            m == VEX_METRIC_JACCARD) {
            *err = sqlite3_mprintf("vexdb: option metric: '%s' is not one of "
                                   "l2, ip, cosine",
                                   val);
            return SQLITE_ERROR;
        }
        c->metric = m;
        a->has_metric = 1;
        return SQLITE_OK;
    }
    if (!strcmp(key, "index")) {
        if (!strcmp(val, "hnsw"))
            c->index_kind = VEX_INDEX_HNSW;
        else if (!strcmp(val, "flat"))
            c->index_kind = VEX_INDEX_FLAT;
        else {
            *err = sqlite3_mprintf("vexdb: option index: '%s' is not hnsw or "
                                   "flat",
                                   val);
            return SQLITE_ERROR;
        }
        a->has_index = 1;
        return SQLITE_OK;
    }
    if (!strcmp(key, "quant")) {
        static const char *const names[] = {"none", "sq8", "bq", "pq", "opq"};
        for (int i = 0; i < 5; i++) {
            if (!strcmp(val, names[i])) {
                c->quant = (vex_quant)i;
                a->has_quant = 1;
                return SQLITE_OK;
            }
        }
        *err = sqlite3_mprintf("vexdb: option quant: '%s' is not one of none, "
                               "sq8, bq, pq, opq",
                               val);
        return SQLITE_ERROR;
    }
    *err = sqlite3_mprintf("vexdb: unknown option '%s' (options: dir, "
                           "collection, dim, metric, index, m, "
                           "ef_construction, ef_search, seed, quant, quant_m, "
                           "quant_bits, quant_refine)",
                           key);
    return SQLITE_ERROR;
}

static int vsq_col_kind(const char *type)
{
    if (!sqlite3_stricmp(type, "INTEGER") || !sqlite3_stricmp(type, "INT") ||
        !sqlite3_stricmp(type, "BIGINT"))
        return VSQ_INT;
    if (!sqlite3_stricmp(type, "REAL") || !sqlite3_stricmp(type, "FLOAT") ||
        !sqlite3_stricmp(type, "DOUBLE"))
        return VSQ_REAL;
    if (!sqlite3_stricmp(type, "TEXT"))
        return VSQ_TEXT;
    return 0;
}

static const char *vsq_kind_name(int kind)
{
    return kind == VSQ_INT ? "INTEGER" : kind == VSQ_REAL ? "REAL" : "TEXT";
}

static vex_type vsq_kind_type(int kind)
{
    return kind == VSQ_INT    ? VEX_TYPE_INT
           : kind == VSQ_REAL ? VEX_TYPE_DOUBLE
                              : VEX_TYPE_STRING;
}

/* A column declaration "name TYPE". */
static int vsq_add_column(vsq_vtab *t, const char *arg, char **err)
{
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    const char *name = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n')
        p++;
    size_t name_len = (size_t)(p - name);
    char *type = vsq_unquote(p, strlen(p));
    if (!type)
        return SQLITE_NOMEM;
    int kind = vsq_col_kind(type);
    if (!kind) {
        *err = sqlite3_mprintf("vexdb: column '%.*s': type '%s' is not "
                               "INTEGER, REAL or TEXT",
                               (int)name_len, name, type);
        sqlite3_free(type);
        return SQLITE_ERROR;
    }
    sqlite3_free(type);
    char *nm = vsq_unquote(name, name_len);
    if (!nm)
        return SQLITE_NOMEM;
    static const char *const reserved[] = {
        "embedding", "distance", "k", "ef_search", "rowid", "oid", "_rowid_"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
        if (!sqlite3_stricmp(nm, reserved[i])) {
            *err = sqlite3_mprintf("vexdb: column name '%s' is reserved", nm);
            sqlite3_free(nm);
            return SQLITE_ERROR;
        }
    }
    if (!nm[0] || strlen(nm) > VEX_FIELD_NAME_MAX) {
        *err = sqlite3_mprintf("vexdb: column name '%s': 1 to %d bytes", nm,
                               VEX_FIELD_NAME_MAX);
        sqlite3_free(nm);
        return SQLITE_ERROR;
    }
    for (int i = 0; i < t->n_cols; i++) {
        if (!sqlite3_stricmp(t->cols[i].name, nm)) {
            *err = sqlite3_mprintf("vexdb: column '%s' declared twice", nm);
            sqlite3_free(nm);
            return SQLITE_ERROR;
        }
    }
    vsq_col *nc =
        sqlite3_realloc64(t->cols, (size_t)(t->n_cols + 1) * sizeof *nc);
    if (!nc) {
        sqlite3_free(nm);
        return SQLITE_NOMEM;
    }
    t->cols = nc;
    t->cols[t->n_cols].name = nm;
    t->cols[t->n_cols].kind = kind;
    t->n_cols++;
    return SQLITE_OK;
}

static void vsq_vtab_free(vsq_vtab *t)
{
    if (!t)
        return;
    vsq_truncate(t, 0);
    sqlite3_free(t->ops);
    vex_batch_free(t->batch);
    sqlite3_free(t->map_ids);
    sqlite3_free(t->map_ops);
    sqlite3_free(t->marks);
    sqlite3_free(t->scratch);
    if (t->coll)
        vex_collection_close(t->coll);
    vsq_db_release(t->sdb);
    for (int i = 0; i < t->n_cols; i++)
        sqlite3_free(t->cols[i].name);
    sqlite3_free(t->cols);
    sqlite3_free(t->coll_name);
    sqlite3_free(t);
}

/* An existing collection against the options given and the columns. */
static int vsq_check_existing(vsq_vtab *t, const vsq_args *a, char **err)
{
    vex_collection_config c;
    vex_collection_get_config(t->coll, &c);
    const char *what = NULL;
    char buf[128];
    if (c.elem != VEX_ELEM_F32)
        what = "its vectors are not float32";
    else if (a->has_dim && c.dim != a->cfg.dim)
        snprintf(buf, sizeof buf, "dim %u, asked for %u", c.dim, a->cfg.dim),
            what = buf;
    else if (a->has_metric && c.metric != a->cfg.metric)
        snprintf(buf, sizeof buf, "metric %s, asked for %s",
                 vex_metric_name(c.metric), vex_metric_name(a->cfg.metric)),
            what = buf;
    else if (a->has_index && c.index_kind != a->cfg.index_kind)
        what = "another index kind";
    else if ((a->has_m && a->cfg.hnsw_m && c.hnsw_m != a->cfg.hnsw_m) ||
             (a->has_efc && a->cfg.hnsw_ef_construction &&
              c.hnsw_ef_construction != a->cfg.hnsw_ef_construction) ||
             (a->has_efs && a->cfg.hnsw_ef_search &&
              c.hnsw_ef_search != a->cfg.hnsw_ef_search) ||
             (a->has_seed && c.hnsw_seed != a->cfg.hnsw_seed))
        what = "other HNSW parameters (m, ef_construction, ef_search, seed)";
    else if ((a->has_quant && c.quant != a->cfg.quant) ||
             (a->has_qm && a->cfg.quant_m && c.quant_m != a->cfg.quant_m) ||
             (a->has_qbits && a->cfg.quant_bits &&
              c.quant_bits != a->cfg.quant_bits) ||
             (a->has_qrefine && a->cfg.quant_refine &&
              c.quant_refine != a->cfg.quant_refine))
        what = "other quantization parameters";
    if (what) {
        *err = sqlite3_mprintf("vexdb: collection '%s' in '%s' exists with "
                               "%s",
                               t->coll_name, a->dir, what);
        return SQLITE_ERROR;
    }
    t->dim = c.dim;
    t->metric = c.metric;
    t->vsize = vex_vector_size(VEX_ELEM_F32, c.dim);
    for (int i = 0; i < t->n_cols; i++) {
        uint32_t j;
        for (j = 0; j < c.n_schema_fields; j++)
            if (!strcmp(c.schema_fields[j].name, t->cols[i].name))
                break;
        if (j == c.n_schema_fields) {
            if (c.schema_closed) {
                *err = sqlite3_mprintf("vexdb: column '%s': collection '%s' "
                                       "has a closed schema without that "
                                       "field",
                                       t->cols[i].name, t->coll_name);
                return SQLITE_ERROR;
            }
            continue;
        }
        if (c.schema_fields[j].type != vsq_kind_type(t->cols[i].kind)) {
            *err =
                sqlite3_mprintf("vexdb: column '%s' is %s, the "
                                "collection's field is %s",
                                t->cols[i].name, vsq_kind_name(t->cols[i].kind),
                                vex_type_name(c.schema_fields[j].type));
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

static int vsq_init(sqlite3 *db, void *aux, int argc, const char *const *argv,
                    sqlite3_vtab **out, char **err, int create)
{
    int rc = SQLITE_OK;
    vsq_args a;
    vsq_vtab *t = NULL;
    vex_schema_field *fields = NULL;
    sqlite3_str *decl = NULL;
    (void)aux;

    memset(&a, 0, sizeof a);
    vex_collection_config_init(&a.cfg);
    t = sqlite3_malloc(sizeof *t);
    if (!t)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    t->conn = db;
    for (int i = 3; i < argc && rc == SQLITE_OK; i++) {
        const char *arg = argv[i];
        /* an option is an identifier followed by '=' */
        const char *k0 = arg, *k1, *eq;
        while (*k0 == ' ' || *k0 == '\t' || *k0 == '\n')
            k0++;
        for (k1 = k0; *k1 == '_' || (*k1 >= 'a' && *k1 <= 'z') ||
                      (*k1 >= 'A' && *k1 <= 'Z') || (*k1 >= '0' && *k1 <= '9');
             k1++)
            ;
        for (eq = k1; *eq == ' ' || *eq == '\t' || *eq == '\n'; eq++)
            ;
        if (k1 > k0 && *eq == '=') {
            char *key = sqlite3_mprintf("%.*s", (int)(k1 - k0), k0);
            char *val = vsq_unquote(eq + 1, strlen(eq + 1));
            if (!key || !val)
                rc = SQLITE_NOMEM;
            else
                rc = vsq_set_option(&a, key, val, err);
            sqlite3_free(key);
            sqlite3_free(val);
        } else {
            rc = vsq_add_column(t, arg, err);
        }
    }
    if (rc != SQLITE_OK)
        goto done;
    if (!a.dir) {
        *err = sqlite3_mprintf("vexdb: option dir='...' (the database "
                               "directory) is required");
        rc = SQLITE_ERROR;
        goto done;
    }
    t->named = a.coll != NULL;
    t->coll_name = sqlite3_mprintf("%s", a.coll ? a.coll : argv[2]);
    if (!t->coll_name) {
        rc = SQLITE_NOMEM;
        goto done;
    }
    rc = vsq_db_acquire(a.dir, create, &t->sdb, err);
    if (rc != SQLITE_OK)
        goto done;
    int vrc = vex_collection_open(t->sdb->db, t->coll_name, &t->coll);
    if (vrc == VEX_NOTFOUND && create) {
        if (!a.has_dim) {
            *err = sqlite3_mprintf("vexdb: collection '%s' does not exist in "
                                   "'%s': dim=N is needed to create it",
                                   t->coll_name, a.dir);
            rc = SQLITE_ERROR;
            goto done;
        }
        if (t->n_cols) {
            fields = sqlite3_malloc64((size_t)t->n_cols * sizeof *fields);
            if (!fields) {
                rc = SQLITE_NOMEM;
                goto done;
            }
            for (int i = 0; i < t->n_cols; i++) {
                fields[i].name = t->cols[i].name;
                fields[i].type = vsq_kind_type(t->cols[i].kind);
                fields[i].nullable = 1;
            }
            a.cfg.schema_fields = fields;
            a.cfg.n_schema_fields = (uint32_t)t->n_cols;
            a.cfg.schema_closed = 1;
        }
        if (a.cfg.index_kind == VEX_INDEX_FLAT && !a.has_index)
            a.cfg.index_kind = VEX_INDEX_HNSW;
        vrc = vex_collection_create(t->sdb->db, t->coll_name, &a.cfg, &t->coll);
    }
    if (vrc != VEX_OK) {
        char buf[512] = "";
        vex_db_errmsg_copy(t->sdb->db, buf, sizeof buf);
        *err =
            sqlite3_mprintf("vexdb: collection '%s' in '%s': %s", t->coll_name,
                            a.dir, buf[0] ? buf : vex_errstr(vrc));
        rc = vsq_code(vrc);
        t->coll = NULL;
        goto done;
    }
    rc = vsq_check_existing(t, &a, err);
    if (rc != SQLITE_OK)
        goto done;
    t->scratch = sqlite3_malloc64(t->vsize);
    if (!t->scratch) {
        rc = SQLITE_NOMEM;
        goto done;
    }

    decl = sqlite3_str_new(db);
    sqlite3_str_appendall(decl, "CREATE TABLE x(embedding BLOB");
    for (int i = 0; i < t->n_cols; i++)
        sqlite3_str_appendf(decl, ", \"%w\" %s", t->cols[i].name,
                            vsq_kind_name(t->cols[i].kind));
    sqlite3_str_appendall(decl, ", distance REAL HIDDEN, k INTEGER HIDDEN, "
                                "ef_search INTEGER HIDDEN)");
    char *sql = sqlite3_str_finish(decl);
    decl = NULL;
    if (!sql) {
        rc = SQLITE_NOMEM;
        goto done;
    }
    rc = sqlite3_declare_vtab(db, sql);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        *err = sqlite3_mprintf("vexdb: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
    *out = &t->base;
    t = NULL;
done:
    if (decl)
        sqlite3_free(sqlite3_str_finish(decl));
    sqlite3_free(fields);
    sqlite3_free(a.dir);
    sqlite3_free(a.coll);
    vsq_vtab_free(t);
    return rc;
}

static int vsq_create(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **err)
{
    return vsq_init(db, aux, argc, argv, out, err, 1);
}

static int vsq_connect(sqlite3 *db, void *aux, int argc,
                       const char *const *argv, sqlite3_vtab **out, char **err)
{
    return vsq_init(db, aux, argc, argv, out, err, 0);
}

/* DROP TABLE and closing the connection both only close the handles: the
 * collection stays in its directory (docs/sqlite.md "Dropping"). */
static int vsq_disconnect(sqlite3_vtab *vt)
{
    vsq_vtab_free((vsq_vtab *)vt);
    return SQLITE_OK;
}

static int vsq_rename(sqlite3_vtab *vt, const char *name)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    if (t->named)
        return SQLITE_OK;
    vsq_seterr(vt,
               "vexdb: cannot rename to %s: the table's collection is "
               "named after the table; create the table with "
               "collection='%s' to rename it",
               name, t->coll_name);
    return SQLITE_ERROR;
}

/* ---------------------------------------------------------------------
 * Values: SQL <-> metadata (S4)
 * ------------------------------------------------------------------- */

/* A SQL value converted for column `kind` with SQLite's affinity rules:
 * *is_null for NULL; else *out (strings point into `v`, valid until it
 * changes). Text that is not a number for an INTEGER or REAL column, a
 * non-integral real for an INTEGER column being written (`for_write`) and
 * any blob are errors (*err). */
static int vsq_value_conv(const vsq_col *col, sqlite3_value *v, int for_write,
                          vex_value *out, int *is_null, char **err)
{
    int type = sqlite3_value_type(v);
    memset(out, 0, sizeof *out);
    *is_null = 0;
    if (type == SQLITE_NULL) {
        *is_null = 1;
        return SQLITE_OK;
    }
    if (type == SQLITE_BLOB) {
        *err = sqlite3_mprintf("column %s is %s, got a blob", col->name,
                               vsq_kind_name(col->kind));
        return SQLITE_MISMATCH;
    }
    if (col->kind == VSQ_TEXT) {
        out->type = VEX_TYPE_STRING;
        out->s = (const char *)sqlite3_value_text(v);
        out->len = (size_t)sqlite3_value_bytes(v);
        if (!out->s)
            return SQLITE_NOMEM;
        return SQLITE_OK;
    }
    if (type == SQLITE_TEXT) {
        type = sqlite3_value_numeric_type(v);
        if (type != SQLITE_INTEGER && type != SQLITE_FLOAT) {
            *err = sqlite3_mprintf("column %s is %s, got the text '%s'",
                                   col->name, vsq_kind_name(col->kind),
                                   (const char *)sqlite3_value_text(v));
            return SQLITE_MISMATCH;
        }
    }
    if (type == SQLITE_INTEGER) {
        if (col->kind == VSQ_REAL) {
            out->type = VEX_TYPE_DOUBLE;
            out->d = (double)sqlite3_value_int64(v);
        } else {
            out->type = VEX_TYPE_INT;
            out->i = sqlite3_value_int64(v);
        }
        return SQLITE_OK;
    }
    double d = sqlite3_value_double(v);
    if (isnan(d)) {
        *err = sqlite3_mprintf("column %s: NaN is not a value", col->name);
        return SQLITE_MISMATCH;
    }
    if (col->kind == VSQ_INT && for_write) {
        if (d != floor(d) || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0) {
            *err = sqlite3_mprintf("column %s is INTEGER, got %!.17g",
                                   col->name, d);
            return SQLITE_MISMATCH;
        }
        out->type = VEX_TYPE_INT;
        out->i = (int64_t)d;
        return SQLITE_OK;
    }
    out->type = VEX_TYPE_DOUBLE;
    out->d = d;
    return SQLITE_OK;
}

static void vsq_result_field(sqlite3_context *ctx, const vex_meta *m,
                             const char *name)
{
    size_t i;
    vex_field f;
    if (!m || vex_meta_find(m, name, &i) != VEX_OK ||
        vex_meta_field(m, i, &f) != VEX_OK)
        return; /* NULL */
    switch (f.type) {
    case VEX_TYPE_BOOL:
        sqlite3_result_int(ctx, f.b);
        break;
    case VEX_TYPE_INT:
        sqlite3_result_int64(ctx, f.i);
        break;
    case VEX_TYPE_DOUBLE:
        sqlite3_result_double(ctx, f.d);
        break;
    case VEX_TYPE_STRING:
        sqlite3_result_text64(ctx, f.s, f.len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case VEX_TYPE_TAGS: {
        /* not a column type of this module; shown as a JSON array */
        sqlite3_str *s = sqlite3_str_new(NULL);
        sqlite3_str_appendchar(s, 1, '[');
        for (size_t j = 0; j < f.n_tags; j++) {
            const char *p;
            size_t len;
            if (vex_meta_tag(m, i, j, &p, &len) != VEX_OK)
                break;
            sqlite3_str_appendf(s, "%s\"", j ? "," : "");
            for (size_t b = 0; b < len; b++) {
                if (p[b] == '"' || p[b] == '\\')
                    sqlite3_str_appendchar(s, 1, '\\');
                sqlite3_str_appendchar(s, 1, p[b]);
            }
            sqlite3_str_appendchar(s, 1, '"');
        }
        sqlite3_str_appendchar(s, 1, ']');
        int len = sqlite3_str_length(s);
        sqlite3_result_text(ctx, sqlite3_str_finish(s), len, sqlite3_free);
        break;
    }
    default:
        break;
    }
}

/* ---------------------------------------------------------------------
 * Constraints (S4): what xBestIndex pushes, evaluated by VexDB or, for
 * buffered rows (S3), by vsq_cond_match
 * ------------------------------------------------------------------- */

enum {
    VSQ_C_EQ = 1,
    VSQ_C_NE,
    VSQ_C_LT,
    VSQ_C_LE,
    VSQ_C_GT,
    VSQ_C_GE,
    VSQ_C_IN,
    VSQ_C_ISNULL,
    VSQ_C_NOTNULL
};

typedef struct vsq_cond {
    int col; /* index into cols */
    int op;  /* VSQ_C_* */
    vex_value *vals;
    size_t n_vals;
} vsq_cond;

static const char vsq_op_chars[] = "?=!<{>}Inz";

/* Numbers by value (an int64 against a double exactly, via long double
 * where it is wide enough), strings bytewise; -2 = different classes. */
static int vsq_cmp_field(const vex_field *f, const vex_value *v)
{
    if (f->type == VEX_TYPE_STRING && v->type == VEX_TYPE_STRING) {
        size_t n = f->len < v->len ? f->len : v->len;
        int c = memcmp(f->s, v->s, n);
        if (c)
            return c < 0 ? -1 : 1;
        return f->len < v->len ? -1 : f->len > v->len ? 1 : 0;
    }
    if ((f->type == VEX_TYPE_INT || f->type == VEX_TYPE_DOUBLE) &&
        (v->type == VEX_TYPE_INT || v->type == VEX_TYPE_DOUBLE)) {
        if (f->type == VEX_TYPE_INT && v->type == VEX_TYPE_INT)
            return f->i < v->i ? -1 : f->i > v->i ? 1 : 0;
        long double a =
            f->type == VEX_TYPE_INT ? (long double)f->i : (long double)f->d;
        long double b =
            v->type == VEX_TYPE_INT ? (long double)v->i : (long double)v->d;
        return a < b ? -1 : a > b ? 1 : 0;
    }
    return -2;
}

static int vsq_cond_match(const vsq_vtab *t, const vsq_cond *c,
                          const vex_meta *m)
{
    size_t i;
    vex_field f;
    int present = m && vex_meta_find(m, t->cols[c->col].name, &i) == VEX_OK &&
                  vex_meta_field(m, i, &f) == VEX_OK && f.type != VEX_TYPE_NULL;
    if (c->op == VSQ_C_ISNULL)
        return !present;
    if (c->op == VSQ_C_NOTNULL)
        return present;
    if (!present)
        return 0;
    if (c->op == VSQ_C_IN) {
        for (size_t j = 0; j < c->n_vals; j++)
            if (vsq_cmp_field(&f, &c->vals[j]) == 0)
                return 1;
        return 0;
    }
    int r = vsq_cmp_field(&f, &c->vals[0]);
    if (r == -2)
        return 0;
    switch (c->op) {
    case VSQ_C_EQ:
        return r == 0;
    case VSQ_C_NE:
        return r != 0;
    case VSQ_C_LT:
        return r < 0;
    case VSQ_C_LE:
        return r <= 0;
    case VSQ_C_GT:
        return r > 0;
    default:
        return r >= 0;
    }
}

/* ---------------------------------------------------------------------
 * xBestIndex
 *
 * idxNum: VSQ_PLAN_* | VSQ_WANT_VEC when the embedding column is read.
 * idxStr: one token per argv value, in order: 'M' the query vector, 'K'
 * k, 'E' ef_search, 'L' LIMIT, 'O' OFFSET, 'R' rowid, and "c<col><op>" a
 * metadata condition (col in 3 decimal digits, op one of vsq_op_chars).
 * ------------------------------------------------------------------- */

#define VSQ_PLAN_SCAN  1
#define VSQ_PLAN_ROWID 2
#define VSQ_PLAN_KNN   3
#define VSQ_PLAN_MASK  0xff
#define VSQ_WANT_VEC   0x100

static int vsq_meta_op(const vsq_vtab *t, sqlite3_index_info *info, int i)
{
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (c->iColumn < 1 || c->iColumn > t->n_cols || !c->usable)
        return 0;
    if (t->cols[c->iColumn - 1].kind == VSQ_TEXT &&
        c->op != SQLITE_INDEX_CONSTRAINT_ISNULL &&
        c->op != SQLITE_INDEX_CONSTRAINT_ISNOTNULL) {
        const char *coll = sqlite3_vtab_collation(info, i);
        if (coll && sqlite3_stricmp(coll, "BINARY"))
            return 0; /* NOCASE, RTRIM: SQLite compares */
    }
    switch (c->op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
        return sqlite3_vtab_in(info, i, -1) ? VSQ_C_IN : VSQ_C_EQ;
    case SQLITE_INDEX_CONSTRAINT_NE:
        return VSQ_C_NE;
    case SQLITE_INDEX_CONSTRAINT_LT:
        return VSQ_C_LT;
    case SQLITE_INDEX_CONSTRAINT_LE:
        return VSQ_C_LE;
    case SQLITE_INDEX_CONSTRAINT_GT:
        return VSQ_C_GT;
    case SQLITE_INDEX_CONSTRAINT_GE:
        return VSQ_C_GE;
    case SQLITE_INDEX_CONSTRAINT_ISNULL:
        return VSQ_C_ISNULL;
    case SQLITE_INDEX_CONSTRAINT_ISNOTNULL:
        return VSQ_C_NOTNULL;
    default:
        return 0;
    }
}

static int vsq_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    int i_match = -1, i_k = -1, i_ef = -1, i_limit = -1, i_offset = -1,
        i_rowid = -1, unusable_match = 0, unusable_input = 0;
    int argv_n = 0, n_meta = 0;
    sqlite3_str *s;

    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->op == SQLITE_INDEX_CONSTRAINT_LIMIT) {
            if (c->usable)
                i_limit = i;
            continue;
        }
        if (c->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
            if (c->usable)
                i_offset = i;
            continue;
        }
        if (c->iColumn == VSQ_COL_EMB &&
            c->op == SQLITE_INDEX_CONSTRAINT_MATCH) {
            if (c->usable)
                i_match = i;
            else
                unusable_match = 1;
            continue;
        }
        if (!c->usable) {
            /* a KNN input or condition that depends on another table */
            if ((c->iColumn >= 1 && c->iColumn <= t->n_cols) ||
                c->iColumn == VSQ_COL_K(t) || c->iColumn == VSQ_COL_EF(t))
                unusable_input = 1;
            continue;
        }
        if (c->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (c->iColumn == VSQ_COL_K(t))
            i_k = i;
        else if (c->iColumn == VSQ_COL_EF(t))
            i_ef = i;
        else if (c->iColumn == -1)
            i_rowid = i;
    }
    /* a plan without the query vector is no plan for a KNN query */
    if (i_match < 0 && unusable_match)
        return SQLITE_CONSTRAINT;

    s = sqlite3_str_new(NULL);
    int plan;
    if (i_match >= 0 || i_k >= 0 || i_ef >= 0) {
        /* KNN; k or ef_search without MATCH is refused in xFilter */
        plan = VSQ_PLAN_KNN;
        if (i_match >= 0) {
            info->aConstraintUsage[i_match].argvIndex = ++argv_n;
            info->aConstraintUsage[i_match].omit = 1;
            sqlite3_str_appendchar(s, 1, 'M');
        }
        if (i_k >= 0) {
            info->aConstraintUsage[i_k].argvIndex = ++argv_n;
            info->aConstraintUsage[i_k].omit = 1;
            sqlite3_str_appendchar(s, 1, 'K');
        } else if (i_limit >= 0) {
            /* SQLite applies LIMIT/OFFSET again to what we return; an
             * OFFSET needs limit + offset rows from the search */
            info->aConstraintUsage[i_limit].argvIndex = ++argv_n;
            sqlite3_str_appendchar(s, 1, 'L');
            if (i_offset >= 0) {
                info->aConstraintUsage[i_offset].argvIndex = ++argv_n;
                sqlite3_str_appendchar(s, 1, 'O');
            }
        }
        if (i_ef >= 0) {
            info->aConstraintUsage[i_ef].argvIndex = ++argv_n;
            info->aConstraintUsage[i_ef].omit = 1;
            sqlite3_str_appendchar(s, 1, 'E');
        }
    } else if (i_rowid >= 0) {
        plan = VSQ_PLAN_ROWID;
        info->aConstraintUsage[i_rowid].argvIndex = ++argv_n;
        info->aConstraintUsage[i_rowid].omit = 1;
        sqlite3_str_appendchar(s, 1, 'R');
    } else {
        plan = VSQ_PLAN_SCAN;
    }
    if (plan != VSQ_PLAN_ROWID) {
        for (int i = 0; i < info->nConstraint; i++) {
            int op = vsq_meta_op(t, info, i);
            if (!op)
                continue;
            if (op == VSQ_C_IN)
                sqlite3_vtab_in(info, i, 1);
            info->aConstraintUsage[i].argvIndex = ++argv_n;
            info->aConstraintUsage[i].omit = 1;
            sqlite3_str_appendf(s, "c%03d%c", info->aConstraint[i].iColumn - 1,
                                vsq_op_chars[op]);
            n_meta++;
        }
    }
    if (sqlite3_str_errcode(s)) {
        sqlite3_free(sqlite3_str_finish(s));
        return SQLITE_NOMEM;
    }
    info->idxStr = sqlite3_str_finish(s);
    info->needToFreeIdxStr = 1;
    info->idxNum = plan | ((info->colUsed & 1) ? VSQ_WANT_VEC : 0);

    double n = (double)vex_collection_count(t->coll) + 1;
    if (plan == VSQ_PLAN_KNN) {
        /* A KNN plan without a condition, k or ef_search that another
         * table supplies (a join) answers another question: the k nearest
         * overall, filtered afterwards. Priced so that the planner takes
         * the order that hands them to the search whenever it can. */
        info->estimatedCost = unusable_input ? 1e12 : 10.0 + log(n);
        info->estimatedRows = 10;
        if (info->nOrderBy == 1 &&
            info->aOrderBy[0].iColumn == VSQ_COL_DIST(t) &&
            !info->aOrderBy[0].desc)
            info->orderByConsumed = 1;
    } else if (plan == VSQ_PLAN_ROWID) {
        info->estimatedCost = 1.0;
        info->estimatedRows = 1;
        info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
    } else {
        /* a filtered scan still reads every match set; cheaper than a
         * full scan by about what its conditions remove */
        info->estimatedCost = 1000.0 + n / (1.0 + 4.0 * n_meta);
        info->estimatedRows = (sqlite3_int64)(n / (1.0 + 4.0 * n_meta)) + 1;
    }
    return SQLITE_OK;
}

/* ---------------------------------------------------------------------
 * Cursors
 * ------------------------------------------------------------------- */

enum { VSQ_SRC_RES = 1, VSQ_SRC_OP, VSQ_SRC_GET };

typedef struct vsq_row {
    uint64_t id;
    double dist;
    int src;    /* VSQ_SRC_* */
    size_t idx; /* hit index (RES) or op index (OP) */
} vsq_row;

typedef struct vsq_cursor {
    sqlite3_vtab_cursor base;
    int knn;
    vsq_row *rows;
    size_t n_rows, cap_rows, pos;
    vex_results *res;
    vex_meta *meta;           /* the current GET row's metadata */
    const vex_meta *cur_meta; /* the current row's metadata */
    float *vec;               /* scratch for one vector */
    /* conditions of the current xFilter */
    vsq_cond *conds;
    int n_conds;
    char **strs; /* copies of the string values */
    size_t n_strs, cap_strs;
} vsq_cursor;

static int vsq_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    vsq_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->vec = sqlite3_malloc64(t->vsize);
    if (!c->vec || vex_meta_create(NULL, &c->meta) != VEX_OK) {
        sqlite3_free(c->vec);
        sqlite3_free(c);
        return SQLITE_NOMEM;
    }
    *out = &c->base;
    return SQLITE_OK;
}

static void vsq_cursor_reset(vsq_cursor *c)
{
    for (int i = 0; i < c->n_conds; i++)
        sqlite3_free(c->conds[i].vals);
    sqlite3_free(c->conds);
    c->conds = NULL;
    c->n_conds = 0;
    for (size_t i = 0; i < c->n_strs; i++)
        sqlite3_free(c->strs[i]);
    c->n_strs = 0;
    c->n_rows = c->pos = 0;
    c->knn = 0;
    c->cur_meta = NULL;
}

static int vsq_close(sqlite3_vtab_cursor *cur)
{
    vsq_cursor *c = (vsq_cursor *)cur;
    vsq_cursor_reset(c);
    sqlite3_free(c->strs);
    sqlite3_free(c->rows);
    vex_results_free(c->res);
    vex_meta_free(c->meta);
    sqlite3_free(c->vec);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int vsq_add_row(vsq_cursor *c, uint64_t id, double dist, int src,
                       size_t idx)
{
    if (c->n_rows == c->cap_rows) {
        size_t ncap = c->cap_rows ? c->cap_rows * 2 : 64;
        vsq_row *n = sqlite3_realloc64(c->rows, ncap * sizeof *n);
        if (!n)
            return SQLITE_NOMEM;
        c->rows = n;
        c->cap_rows = ncap;
    }
    c->rows[c->n_rows].id = id;
    c->rows[c->n_rows].dist = dist;
    c->rows[c->n_rows].src = src;
    c->rows[c->n_rows].idx = idx;
    c->n_rows++;
    return SQLITE_OK;
}

/* Own a copy of a string value (the builder copies too, but buffered rows
 * are matched against it after the sqlite3_value is gone). */
static int vsq_keep_string(vsq_cursor *c, vex_value *v)
{
    if (v->type != VEX_TYPE_STRING)
        return SQLITE_OK;
    if (c->n_strs == c->cap_strs) {
        size_t ncap = c->cap_strs ? c->cap_strs * 2 : 8;
        char **n = sqlite3_realloc64(c->strs, ncap * sizeof *n);
        if (!n)
            return SQLITE_NOMEM;
        c->strs = n;
        c->cap_strs = ncap;
    }
    char *s = sqlite3_malloc64(v->len + 1);
    if (!s)
        return SQLITE_NOMEM;
    memcpy(s, v->s, v->len);
    s[v->len] = 0;
    c->strs[c->n_strs++] = s;
    v->s = s;
    return SQLITE_OK;
}

/* The vector of a buffered row: its op's, or for a metadata-only op the
 * latest buffered or committed one. */
static int vsq_op_vector(vsq_vtab *t, size_t idx, float *out)
{
    for (size_t i = idx + 1; i-- > 0;) {
        if (t->ops[i].id != t->ops[idx].id)
            continue;
        if (t->ops[i].vec) {
            memcpy(out, t->ops[i].vec, t->vsize);
            return VEX_OK;
        }
        if (t->ops[i].kind == VSQ_OP_DELETE)
            break;
    }
    return vex_get(t->coll, t->ops[idx].id, out);
}

static int vsq_row_cmp(const void *pa, const void *pb)
{
    const vsq_row *a = pa, *b = pb;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

typedef struct vsq_scan_ctx {
    vsq_cursor *c;
    vsq_vtab *t;
    int rc;
} vsq_scan_ctx;

static int vsq_scan_cb(void *ctx, uint64_t id, const vex_meta *meta)
{
    vsq_scan_ctx *s = ctx;
    (void)meta;
    if (vsq_pending(s->t, id))
        return 0; /* S3: the buffered op decides */
    s->rc = vsq_add_row(s->c, id, 0, VSQ_SRC_GET, 0);
    return s->rc != SQLITE_OK;
}

/* Load row c->pos (skipping committed rows deleted meanwhile). */
static int vsq_load_row(vsq_cursor *c)
{
    vsq_vtab *t = (vsq_vtab *)c->base.pVtab;
    while (c->pos < c->n_rows) {
        const vsq_row *r = &c->rows[c->pos];
        if (r->src == VSQ_SRC_RES) {
            c->cur_meta = vex_results_meta(c->res, r->idx);
            return SQLITE_OK;
        }
        if (r->src == VSQ_SRC_OP) {
            c->cur_meta = t->ops[r->idx].meta;
            return SQLITE_OK;
        }
        int vrc = vex_get_meta(t->coll, r->id, c->meta);
        if (vrc == VEX_OK) {
            c->cur_meta = c->meta;
            return SQLITE_OK;
        }
        if (vrc != VEX_NOTFOUND) {
            char buf[512];
            vex_collection_errmsg_copy(t->coll, buf, sizeof buf);
            vsq_seterr(&t->base, "vexdb: %s", buf);
            return vsq_code(vrc);
        }
        c->pos++;
    }
    return SQLITE_OK;
}

/* The conditions of xFilter's "c" tokens into c->conds; *none when one
 * of them can match nothing (a NULL operand, an empty IN list). */
static int vsq_read_cond(vsq_cursor *c, vsq_vtab *t, int col, int op,
                         sqlite3_value *v, int *none)
{
    vsq_cond *cd = &c->conds[c->n_conds];
    char *err = NULL;
    int is_null, rc = SQLITE_OK;
    memset(cd, 0, sizeof *cd);
    cd->col = col;
    cd->op = op;
    if (op == VSQ_C_ISNULL || op == VSQ_C_NOTNULL) {
        c->n_conds++;
        return SQLITE_OK;
    }
    if (op == VSQ_C_IN) {
        sqlite3_value *x;
        size_t cap = 0;
        for (rc = sqlite3_vtab_in_first(v, &x); rc == SQLITE_OK;
             rc = sqlite3_vtab_in_next(v, &x)) {
            vex_value val;
            rc = vsq_value_conv(&t->cols[col], x, 0, &val, &is_null, &err);
            if (rc != SQLITE_OK)
                break;
            if (is_null)
                continue; /* x IN (NULL, ...): NULL never matches */
            if (cd->n_vals == cap) {
                cap = cap ? cap * 2 : 8;
                vex_value *n = sqlite3_realloc64(cd->vals, cap * sizeof *n);
                if (!n) {
                    rc = SQLITE_NOMEM;
                    break;
                }
                cd->vals = n;
            }
            rc = vsq_keep_string(c, &val);
            if (rc != SQLITE_OK)
                break;
            cd->vals[cd->n_vals++] = val;
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        c->n_conds++;
        if (rc == SQLITE_OK && cd->n_vals == 0)
            *none = 1;
    } else {
        vex_value val;
        cd->vals = sqlite3_malloc(sizeof *cd->vals);
        if (!cd->vals)
            return SQLITE_NOMEM;
        c->n_conds++;
        rc = vsq_value_conv(&t->cols[col], v, 0, &val, &is_null, &err);
        if (rc == SQLITE_OK && is_null)
            *none = 1;
        else if (rc == SQLITE_OK)
            rc = vsq_keep_string(c, &val);
        if (rc == SQLITE_OK) {
            cd->vals[0] = val;
            cd->n_vals = 1;
        }
    }
    if (err) {
        vsq_seterr(&t->base, "vexdb: %s", err);
        sqlite3_free(err);
    }
    return rc;
}

/* The VexDB filter of c->conds (*out NULL when there are none). */
static int vsq_build_filter(vsq_cursor *c, vsq_vtab *t, vex_filter **out)
{
    vex_filter_builder *b = NULL;
    vex_expr *root = NULL;
    int vrc, rc = SQLITE_OK;
    *out = NULL;
    if (!c->n_conds)
        return SQLITE_OK;
    vrc = vex_filter_builder_create(NULL, &b);
    if (vrc != VEX_OK)
        return vsq_code(vrc);
    for (int i = 0; i < c->n_conds; i++) {
        const vsq_cond *cd = &c->conds[i];
        const char *name = t->cols[cd->col].name;
        vex_expr *e = NULL;
        switch (cd->op) {
        case VSQ_C_ISNULL:
            e = vex_expr_is_null(b, name, 0);
            break;
        case VSQ_C_NOTNULL:
            e = vex_expr_is_null(b, name, 1);
            break;
        case VSQ_C_IN:
            /* the builder takes at most 1024 values per list */
            for (size_t j = 0; j < cd->n_vals; j += 1024) {
                size_t n = cd->n_vals - j < 1024 ? cd->n_vals - j : 1024;
                vex_expr *x = vex_expr_in(b, name, cd->vals + j, n, 0);
                e = e ? vex_expr_or(b, e, x) : x;
            }
            break;
        default: {
            static const vex_cmp_op ops[] = {
                [VSQ_C_EQ] = VEX_CMP_EQ, [VSQ_C_NE] = VEX_CMP_NE,
                [VSQ_C_LT] = VEX_CMP_LT, [VSQ_C_LE] = VEX_CMP_LE,
                [VSQ_C_GT] = VEX_CMP_GT, [VSQ_C_GE] = VEX_CMP_GE};
            e = vex_expr_cmp(b, name, ops[cd->op], cd->vals[0]);
        }
        }
        root = root ? vex_expr_and(b, root, e) : e;
    }
    vrc = vex_filter_build(t->coll, b, root, out);
    if (vrc != VEX_OK) {
        char buf[512];
        vex_collection_errmsg_copy(t->coll, buf, sizeof buf);
        vsq_seterr(&t->base, "vexdb: %s", buf);
        rc = vsq_code(vrc);
        *out = NULL;
    }
    vex_filter_builder_free(b);
    return rc;
}

/* The buffered rows (S3) that are live and pass the conditions; with a
 * query vector, their distances. */
static int vsq_add_pending_rows(vsq_cursor *c, vsq_vtab *t, const float *q)
{
    for (size_t s = 0; s < t->map_cap; s++) {
        if (!t->map_ops[s])
            continue;
        size_t idx = t->map_ops[s] - 1;
        const vsq_op *op = &t->ops[idx];
        double dist = 0;
        int ok = op->kind != VSQ_OP_DELETE;
        for (int i = 0; ok && i < c->n_conds; i++)
            ok = vsq_cond_match(t, &c->conds[i], op->meta);
        if (!ok)
            continue;
        if (q) {
            char *err = NULL;
            int vrc = vsq_op_vector(t, idx, c->vec);
            if (vrc != VEX_OK)
                continue; /* committed vector gone: the commit will fail */
            if (!vsq_distance(t->metric, q, c->vec, t->dim, &dist, &err)) {
                vsq_seterr(&t->base, "vexdb: %s", err);
                sqlite3_free(err);
                return SQLITE_ERROR;
            }
            dist = (float)dist;
        }
        int rc = vsq_add_row(c, op->id, dist, VSQ_SRC_OP, idx);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int vsq_filter(sqlite3_vtab_cursor *cur, int idx_num,
                      const char *idx_str, int argc, sqlite3_value **argv)
{
    vsq_cursor *c = (vsq_cursor *)cur;
    vsq_vtab *t = (vsq_vtab *)cur->pVtab;
    float *q = NULL;
    vex_filter *f = NULL;
    int rc = SQLITE_OK, none = 0, plan = idx_num & VSQ_PLAN_MASK;
    int64_t k = -1, limit = -1, offset = 0, ef = 0;
    sqlite3_value *rowid = NULL;
    const char *p = idx_str ? idx_str : "";
    int ai = 0;

    vsq_cursor_reset(c);
    c->conds = sqlite3_malloc64((size_t)(argc + 1) * sizeof *c->conds);
    if (!c->conds)
        return SQLITE_NOMEM;
    while (*p && rc == SQLITE_OK && ai < argc) {
        sqlite3_value *v = argv[ai++];
        switch (*p) {
        case 'M': {
            char *err = NULL;
            size_t n;
            q = vsq_vector_from_value(v, t->dim, &n, &err);
            if (!q) {
                vsq_seterr(&t->base, "vexdb: MATCH: %s", err ? err : "");
                sqlite3_free(err);
                rc = SQLITE_ERROR;
            }
            p++;
            break;
        }
        case 'K':
        case 'E':
        case 'L':
        case 'O': {
            const char *what = *p == 'K'   ? "k"
                               : *p == 'E' ? "ef_search"
                               : *p == 'L' ? "LIMIT"
                                           : "OFFSET";
            if (sqlite3_value_type(v) != SQLITE_INTEGER ||
                sqlite3_value_int64(v) < 0) {
                vsq_seterr(&t->base,
                           "vexdb: %s must be a non-negative "
                           "integer",
                           what);
                rc = SQLITE_ERROR;
            } else if (*p == 'K')
                k = sqlite3_value_int64(v);
            else if (*p == 'E')
                ef = sqlite3_value_int64(v);
            else if (*p == 'L')
                limit = sqlite3_value_int64(v);
            else
                offset = sqlite3_value_int64(v);
            p++;
            break;
        }
        case 'R':
            rowid = v;
            p++;
            break;
        case 'c': {
            int col = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
            const char *o = strchr(vsq_op_chars, p[4]);
            rc = vsq_read_cond(c, t, col, (int)(o - vsq_op_chars), v, &none);
            p += 5;
            break;
        }
        default:
            rc = SQLITE_INTERNAL;
        }
    }
    if (rc != SQLITE_OK)
        goto done;

    if (plan == VSQ_PLAN_ROWID) {
        if (sqlite3_value_type(rowid) != SQLITE_INTEGER ||
            sqlite3_value_int64(rowid) < 0)
            goto done; /* no such id */
        uint64_t id = (uint64_t)sqlite3_value_int64(rowid);
        const vsq_op *op = vsq_pending(t, id);
        if (op && op->kind == VSQ_OP_DELETE)
            goto done;
        rc = op ? vsq_add_row(c, id, 0, VSQ_SRC_OP, (size_t)(op - t->ops))
                : vsq_add_row(c, id, 0, VSQ_SRC_GET, 0);
        goto done;
    }
    if (plan == VSQ_PLAN_KNN) {
        c->knn = 1;
        if (!q) {
            vsq_seterr(&t->base, "vexdb: k and ef_search are inputs of a KNN "
                                 "query: add embedding MATCH <vector>");
            rc = SQLITE_ERROR;
            goto done;
        }
        if (k < 0 && limit >= 0)
            k = limit + offset;
        if (k < 0) {
            vsq_seterr(&t->base, "vexdb: a KNN query needs k = N or LIMIT N");
            rc = SQLITE_ERROR;
            goto done;
        }
        if (k > VEX_MAX_K) {
            vsq_seterr(&t->base, "vexdb: k = %lld is above %d", (long long)k,
                       VEX_MAX_K);
            rc = SQLITE_ERROR;
            goto done;
        }
    }
    if (none || (plan == VSQ_PLAN_KNN && k == 0))
        goto done;
    rc = vsq_build_filter(c, t, &f);
    if (rc != SQLITE_OK)
        goto done;
    if (plan == VSQ_PLAN_KNN) {
        /* S3: ask for as many more as there are buffered ids, which the
         * overlay drops, then add the buffered rows that qualify */
        size_t kk = (size_t)k + t->map_n;
        vex_search_params sp;
        if (kk > VEX_MAX_K) {
            vsq_seterr(&t->base,
                       "vexdb: k = %lld plus the %llu ids this transaction "
                       "wrote to %s is above %d: commit first",
                       (long long)k, (unsigned long long)t->map_n, t->coll_name,
                       VEX_MAX_K);
            rc = SQLITE_ERROR;
            goto done;
        }
        vex_search_params_init(&sp);
        sp.where = f;
        sp.ef_search = (uint32_t)(ef > VEX_MAX_K ? VEX_MAX_K + 1 : ef);
        if (!c->res) {
            int vrc = vex_results_create(NULL, &c->res);
            if (vrc != VEX_OK) {
                rc = vsq_code(vrc);
                goto done;
            }
        }
        int vrc = vex_search_results(
            t->coll, q, kk, &sp,
            VEX_WITH_META | ((idx_num & VSQ_WANT_VEC) ? VEX_WITH_VECTOR : 0),
            c->res);
        if (vrc != VEX_OK) {
            char buf[512];
            vex_collection_errmsg_copy(t->coll, buf, sizeof buf);
            vsq_seterr(&t->base, "vexdb: %s", buf);
            rc = vsq_code(vrc);
            goto done;
        }
        const vex_hit *h = vex_results_hits(c->res);
        size_t n = vex_results_count(c->res);
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
            if (!vsq_pending(t, h[i].id))
                rc = vsq_add_row(c, h[i].id, h[i].distance, VSQ_SRC_RES, i);
        if (rc == SQLITE_OK && t->map_n) {
            rc = vsq_add_pending_rows(c, t, q);
            if (rc == SQLITE_OK)
                qsort(c->rows, c->n_rows, sizeof *c->rows, vsq_row_cmp);
        }
        if (c->n_rows > (size_t)k)
            c->n_rows = (size_t)k;
    } else {
        vsq_scan_ctx sc = {c, t, SQLITE_OK};
        int vrc = vex_scan(t->coll, f, vsq_scan_cb, &sc);
        if (sc.rc != SQLITE_OK) {
            rc = sc.rc;
            goto done;
        }
        if (vrc != VEX_OK) {
            char buf[512];
            vex_collection_errmsg_copy(t->coll, buf, sizeof buf);
            vsq_seterr(&t->base, "vexdb: %s", buf);
            rc = vsq_code(vrc);
            goto done;
        }
        if (t->map_n)
            rc = vsq_add_pending_rows(c, t, NULL);
    }
done:
    vex_filter_free(f);
    sqlite3_free(q);
    if (rc == SQLITE_OK)
        rc = vsq_load_row(c);
    else
        c->n_rows = 0;
    return rc;
}

static int vsq_next(sqlite3_vtab_cursor *cur)
{
    vsq_cursor *c = (vsq_cursor *)cur;
    c->pos++;
    return vsq_load_row(c);
}

static int vsq_eof(sqlite3_vtab_cursor *cur)
{
    vsq_cursor *c = (vsq_cursor *)cur;
    return c->pos >= c->n_rows;
}

static int vsq_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out)
{
    vsq_cursor *c = (vsq_cursor *)cur;
    *out = (sqlite3_int64)c->rows[c->pos].id;
    return SQLITE_OK;
}

static int vsq_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    vsq_cursor *c = (vsq_cursor *)cur;
    vsq_vtab *t = (vsq_vtab *)cur->pVtab;
    const vsq_row *r = &c->rows[c->pos];
    if (col == VSQ_COL_EMB) {
        const void *v = NULL;
        int vrc = VEX_OK;
        if (sqlite3_vtab_nochange(ctx))
            return SQLITE_OK; /* an UPDATE that keeps the vector */
        if (r->src == VSQ_SRC_RES)
            v = vex_results_vector(c->res, r->idx);
        if (!v) {
            vrc = r->src == VSQ_SRC_OP ? vsq_op_vector(t, r->idx, c->vec)
                                       : vex_get(t->coll, r->id, c->vec);
            v = c->vec;
        }
        if (vrc != VEX_OK) {
            char buf[512];
            vex_collection_errmsg_copy(t->coll, buf, sizeof buf);
            sqlite3_result_error(ctx, buf, -1);
            return vsq_code(vrc);
        }
        sqlite3_result_blob(ctx, v, (int)t->vsize, SQLITE_TRANSIENT);
    } else if (col <= t->n_cols) {
        vsq_result_field(ctx, c->cur_meta, t->cols[col - 1].name);
    } else if (col == VSQ_COL_DIST(t) && c->knn &&
               !sqlite3_vtab_nochange(ctx)) {
        /* in an UPDATE driven by a KNN query, "unchanged" tells xUpdate
         * that the statement does not try to write it */
        sqlite3_result_double(ctx, r->dist);
    }
    return SQLITE_OK; /* k, ef_search: NULL, or unchanged in an UPDATE */
}

/* ---------------------------------------------------------------------
 * Writes (S2)
 * ------------------------------------------------------------------- */

static int vsq_coll_err(vsq_vtab *t, int vrc)
{
    char buf[512];
    vex_collection_errmsg_copy(t->coll, buf, sizeof buf);
    vsq_seterr(&t->base, "vexdb: %s", buf[0] ? buf : vex_errstr(vrc));
    return vsq_code(vrc);
}

/* Is `id` present, as this transaction sees it (S3)? */
static int vsq_exists(vsq_vtab *t, uint64_t id, int *exists)
{
    const vsq_op *op = vsq_pending(t, id);
    if (op) {
        *exists = op->kind != VSQ_OP_DELETE;
        return SQLITE_OK;
    }
    int vrc = vex_get(t->coll, id, t->scratch);
    if (vrc != VEX_OK && vrc != VEX_NOTFOUND)
        return vsq_coll_err(t, vrc);
    *exists = vrc == VEX_OK;
    return SQLITE_OK;
}

/* Copy every field of `src` into `dst` (vex_meta has no clone). */
static int vsq_meta_copy(vex_meta *dst, const vex_meta *src)
{
    int vrc = VEX_OK;
    size_t n = src ? vex_meta_count(src) : 0;
    for (size_t i = 0; i < n && vrc == VEX_OK; i++) {
        vex_field f;
        char name[VEX_FIELD_NAME_MAX + 1];
        if ((vrc = vex_meta_field(src, i, &f)) != VEX_OK)
            break;
        snprintf(name, sizeof name, "%.*s", (int)f.name_len, f.name);
        switch (f.type) {
        case VEX_TYPE_BOOL:
            vrc = vex_meta_set_bool(dst, name, f.b);
            break;
        case VEX_TYPE_INT:
            vrc = vex_meta_set_int(dst, name, f.i);
            break;
        case VEX_TYPE_DOUBLE:
            vrc = vex_meta_set_double(dst, name, f.d);
            break;
        case VEX_TYPE_STRING:
            vrc = vex_meta_set_string(dst, name, f.s, f.len);
            break;
        case VEX_TYPE_TAGS: {
            const char **tags = sqlite3_malloc64((f.n_tags + 1) * sizeof *tags);
            char **own = sqlite3_malloc64((f.n_tags + 1) * sizeof *own);
            size_t j = 0;
            vrc = tags && own ? VEX_OK : VEX_NOMEM;
            for (; j < f.n_tags && vrc == VEX_OK; j++) {
                const char *p;
                size_t len;
                vrc = vex_meta_tag(src, i, j, &p, &len);
                own[j] =
                    vrc == VEX_OK ? sqlite3_mprintf("%.*s", (int)len, p) : NULL;
                if (vrc == VEX_OK && !own[j])
                    vrc = VEX_NOMEM;
                tags[j] = own[j];
            }
            if (vrc == VEX_OK)
                vrc = vex_meta_set_tags(dst, name, tags, f.n_tags);
            for (size_t x = 0; own && x < j; x++)
                sqlite3_free(own[x]);
            sqlite3_free(own);
            sqlite3_free(tags);
            break;
        }
        default:
            vrc = vex_meta_set_null(dst, name);
            break;
        }
    }
    return vrc;
}

/* The metadata of a write: argv's columns into a new handle (NULL for an
 * insert whose columns are all NULL). An UPDATE (`base` = the old id, else
 * -1) starts from the record's current metadata, so that fields which are
 * not columns of this table survive it. */
static int vsq_meta_from_args(vsq_vtab *t, sqlite3_value **cols, int64_t base,
                              vex_meta **out)
{
    vex_meta *m = NULL;
    int rc = SQLITE_OK;
    *out = NULL;
    if (base >= 0) {
        const vsq_op *p = vsq_pending(t, (uint64_t)base);
        int vrc = vex_meta_create(NULL, &m);
        if (vrc == VEX_OK)
            vrc = p ? vsq_meta_copy(m, p->meta)
                    : vex_get_meta(t->coll, (uint64_t)base, m);
        if (vrc != VEX_OK && vrc != VEX_NOTFOUND) {
            rc = !m || p ? vsq_code(vrc) : vsq_coll_err(t, vrc);
            vex_meta_free(m);
            return rc;
        }
    }
    for (int i = 0; i < t->n_cols && rc == SQLITE_OK; i++) {
        vex_value v;
        int is_null, vrc;
        char *err = NULL;
        rc = vsq_value_conv(&t->cols[i], cols[i], 1, &v, &is_null, &err);
        if (rc != SQLITE_OK) {
            if (err)
                vsq_seterr(&t->base, "vexdb: %s", err);
            sqlite3_free(err);
            break;
        }
        const char *name = t->cols[i].name;
        if (is_null) {
            if (m)
                vex_meta_remove(m, name); /* VEX_NOTFOUND: was absent */
            continue;
        }
        if (!m && vex_meta_create(NULL, &m) != VEX_OK) {
            rc = SQLITE_NOMEM;
            break;
        }
        vrc = v.type == VEX_TYPE_INT ? vex_meta_set_int(m, name, v.i)
              : v.type == VEX_TYPE_DOUBLE
                  ? vex_meta_set_double(m, name, v.d)
                  : vex_meta_set_string(m, name, v.s, v.len);
        if (vrc != VEX_OK) {
            vsq_seterr(&t->base, "vexdb: %s", vex_meta_errmsg(m));
            rc = vsq_code(vrc);
        }
    }
    if (rc != SQLITE_OK)
        vex_meta_free(m);
    else
        *out = m;
    return rc;
}

/* The embedding of a write: checked as VexDB will check it, so that a
 * bad vector fails its statement rather than the COMMIT. */
static int vsq_embedding_arg(vsq_vtab *t, sqlite3_value *v, float **out)
{
    char *err = NULL;
    size_t n;
    double norm = 0;
    *out = NULL;
    if (sqlite3_value_type(v) == SQLITE_NULL) {
        vsq_seterr(&t->base,
                   "vexdb: embedding is required (a float32 blob "
                   "of %u bytes or a JSON array of %u numbers)",
                   t->dim * 4, t->dim);
        return SQLITE_CONSTRAINT;
    }
    float *vec = vsq_vector_from_value(v, t->dim, &n, &err);
    if (!vec) {
        vsq_seterr(&t->base, "vexdb: embedding: %s", err ? err : "");
        sqlite3_free(err);
        return SQLITE_ERROR;
    }
    for (size_t i = 0; i < n; i++)
        norm += (double)vec[i] * vec[i];
    if (norm > FLT_MAX || (t->metric == VEX_METRIC_COSINE && norm == 0)) {
        vsq_seterr(&t->base, "vexdb: embedding: %s",
                   norm == 0 ? "the zero vector has no direction (metric "
                               "cosine)"
                             : "its squared norm overflows float32");
        sqlite3_free(vec);
        return SQLITE_ERROR;
    }
    *out = vec;
    return SQLITE_OK;
}

static int vsq_id_arg(vsq_vtab *t, sqlite3_value *v, uint64_t *id)
{
    if (sqlite3_value_type(v) != SQLITE_INTEGER || sqlite3_value_int64(v) < 0) {
        vsq_seterr(&t->base,
                   "vexdb: the rowid is the record's id: a "
                   "non-negative integer is required%s",
                   sqlite3_value_type(v) == SQLITE_NULL
                       ? " (INSERT must give the rowid)"
                       : "");
        return SQLITE_MISMATCH;
    }
    *id = (uint64_t)sqlite3_value_int64(v);
    return SQLITE_OK;
}

static int vsq_update(sqlite3_vtab *vt, int argc, sqlite3_value **argv,
                      sqlite3_int64 *rowid_out)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    uint64_t old_id = 0, id = 0;
    vsq_op op;
    int rc, exists = 0;

    memset(&op, 0, sizeof op);
    if (argc == 1) { /* DELETE */
        rc = vsq_id_arg(t, argv[0], &old_id);
        if (rc != SQLITE_OK)
            return rc;
        op.kind = VSQ_OP_DELETE;
        op.id = old_id;
        return vsq_queue(t, &op);
    }
    int is_insert = sqlite3_value_type(argv[0]) == SQLITE_NULL;
    sqlite3_value **cols = argv + 2;
    if ((rc = vsq_id_arg(t, argv[1], &id)) != SQLITE_OK)
        return rc;
    if (!is_insert && (rc = vsq_id_arg(t, argv[0], &old_id)) != SQLITE_OK)
        return rc;
    for (int i = VSQ_COL_DIST(t); i <= VSQ_COL_EF(t); i++) {
        if (is_insert ? sqlite3_value_type(cols[i]) != SQLITE_NULL
                      : !sqlite3_value_nochange(cols[i])) {
            vsq_seterr(vt, "vexdb: distance, k and ef_search are not "
                           "stored: they cannot be written");
            return SQLITE_CONSTRAINT;
        }
    }
    int keep_vec = !is_insert && sqlite3_value_nochange(cols[VSQ_COL_EMB]);
    if (!keep_vec &&
        (rc = vsq_embedding_arg(t, cols[VSQ_COL_EMB], &op.vec)) != SQLITE_OK)
        return rc;
    if ((rc = vsq_meta_from_args(t, cols + 1, is_insert ? -1 : (int64_t)old_id,
                                 &op.meta)) != SQLITE_OK) {
        vsq_op_free(&op);
        return rc;
    }
    if (!is_insert && old_id == id) {
        op.id = id;
        op.kind = keep_vec ? VSQ_OP_META : VSQ_OP_UPSERT;
        if (keep_vec && !op.meta && vex_meta_create(NULL, &op.meta) != VEX_OK) {
            vsq_op_free(&op);
            return SQLITE_NOMEM;
        }
        return vsq_queue(t, &op);
    }
    if (keep_vec) { /* a new rowid keeps the old vector */
        op.vec = sqlite3_malloc64(t->vsize);
        if (!op.vec) {
            vsq_op_free(&op);
            return SQLITE_NOMEM;
        }
        const vsq_op *p = vsq_pending(t, old_id);
        int vrc = p ? vsq_op_vector(t, (size_t)(p - t->ops), op.vec)
                    : vex_get(t->coll, old_id, op.vec);
        if (vrc != VEX_OK) {
            vsq_op_free(&op);
            return vsq_coll_err(t, vrc);
        }
    }
    /* an insert, or an UPDATE that moves the record to another id */
    op.id = id;
    op.kind = VSQ_OP_INSERT;
    if ((rc = vsq_exists(t, id, &exists)) != SQLITE_OK) {
        vsq_op_free(&op);
        return rc;
    }
    if (exists) {
        int mode = sqlite3_vtab_on_conflict(t->conn);
        if (mode == SQLITE_IGNORE) {
            vsq_op_free(&op);
            return SQLITE_OK;
        }
        if (mode != SQLITE_REPLACE) {
            vsq_op_free(&op);
            vsq_seterr(vt, "vexdb: id %llu already exists in %s",
                       (unsigned long long)id, t->coll_name);
            return SQLITE_CONSTRAINT;
        }
        op.kind = VSQ_OP_UPSERT;
    }
    if (!is_insert) {
        vsq_op del;
        memset(&del, 0, sizeof del);
        del.kind = VSQ_OP_DELETE;
        del.id = old_id;
        if ((rc = vsq_queue(t, &del)) != SQLITE_OK) {
            vsq_op_free(&op);
            return rc;
        }
    }
    *rowid_out = (sqlite3_int64)id;
    return vsq_queue(t, &op);
}

/* ---------------------------------------------------------------------
 * Transactions (S2)
 *
 * xBegin        the buffer is empty
 * xUpdate       queues ops (statement errors leave earlier ops alone)
 * xSavepoint N  remembers the buffer length as savepoint N
 * xRollbackTo N drops the ops queued since savepoint N
 * xRelease N    forgets savepoints N and above
 * xSync         commits the buffer as one vex_batch_commit; a failure
 *               fails SQLite's COMMIT, which then rolls back
 * xCommit       empties the committed buffer
 * xRollback     drops the buffer; VexDB never saw it
 * ------------------------------------------------------------------- */

static int vsq_begin(sqlite3_vtab *vt)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    t->n_marks = 0;
    return vsq_truncate(t, 0);
}

static int vsq_sync(sqlite3_vtab *vt)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    if (!t->n_ops)
        return SQLITE_OK;
    int vrc = vex_batch_commit(t->coll, t->batch);
    if (vrc != VEX_OK)
        return vsq_coll_err(t, vrc);
    t->n_marks = 0;
    return vsq_truncate(t, 0);
}

static int vsq_commit(sqlite3_vtab *vt)
{
    /* xSync committed; a buffer left here would be a caller that skipped
     * xSync, so commit it rather than lose it */
    return vsq_sync(vt);
}

static int vsq_rollback(sqlite3_vtab *vt)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    t->n_marks = 0;
    vsq_truncate(t, 0);
    return SQLITE_OK;
}

static int vsq_savepoint(sqlite3_vtab *vt, int n)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    if (n < 0)
        return SQLITE_OK;
    if (n >= t->cap_marks) {
        int ncap = n + 8;
        size_t *m = sqlite3_realloc64(t->marks, (size_t)ncap * sizeof *m);
        if (!m)
            return SQLITE_NOMEM;
        t->marks = m;
        t->cap_marks = ncap;
    }
    for (int i = t->n_marks; i < n; i++)
        t->marks[i] = t->n_ops;
    t->marks[n] = t->n_ops;
    t->n_marks = n + 1;
    return SQLITE_OK;
}

static int vsq_release(sqlite3_vtab *vt, int n)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    if (n >= 0 && n < t->n_marks)
        t->n_marks = n;
    return SQLITE_OK;
}

static int vsq_rollback_to(sqlite3_vtab *vt, int n)
{
    vsq_vtab *t = (vsq_vtab *)vt;
    if (n < 0 || n >= t->n_marks)
        return SQLITE_OK;
    t->n_marks = n + 1;
    return vsq_truncate(t, t->marks[n]);
}

static sqlite3_module vsq_module = {
    .iVersion = 2,
    .xCreate = vsq_create,
    .xConnect = vsq_connect,
    .xBestIndex = vsq_best_index,
    .xDisconnect = vsq_disconnect,
    .xDestroy = vsq_disconnect,
    .xOpen = vsq_open,
    .xClose = vsq_close,
    .xFilter = vsq_filter,
    .xNext = vsq_next,
    .xEof = vsq_eof,
    .xColumn = vsq_column,
    .xRowid = vsq_rowid,
    .xUpdate = vsq_update,
    .xBegin = vsq_begin,
    .xSync = vsq_sync,
    .xCommit = vsq_commit,
    .xRollback = vsq_rollback,
    .xRename = vsq_rename,
    .xSavepoint = vsq_savepoint,
    .xRelease = vsq_release,
    .xRollbackTo = vsq_rollback_to,
};

/* ---------------------------------------------------------------------
 * SQL functions: vex_distance_l2/cosine/ip(a, b), vex_vector(json),
 * vex_vector_to_json(blob). Arguments are float32 blobs or JSON arrays;
 * NULL in gives NULL out; bad input is an error naming the function.
 * ------------------------------------------------------------------- */

typedef struct vsq_fn {
    const char *name;
    int n_args;
    vex_metric metric; /* distances; 0 for the others */
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
} vsq_fn;

static void vsq_fn_error(sqlite3_context *ctx, char *err)
{
    const vsq_fn *f = sqlite3_user_data(ctx);
    char *msg = sqlite3_mprintf("vexdb: %s: %s", f->name, err ? err : "");
    sqlite3_free(err);
    if (msg)
        sqlite3_result_error(ctx, msg, -1);
    else
        sqlite3_result_error_nomem(ctx);
    sqlite3_free(msg);
}

static void vsq_fn_distance(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv)
{
    const vsq_fn *f = sqlite3_user_data(ctx);
    float *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    char *err = NULL;
    double d;
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
        sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return;
    a = vsq_vector_from_value(argv[0], 0, &na, &err);
    if (a)
        b = vsq_vector_from_value(argv[1], 0, &nb, &err);
    if (a && b && na != nb)
        err =
            sqlite3_mprintf("vectors of %d and %d elements", (int)na, (int)nb);
    if (!a || !b || na != nb)
        vsq_fn_error(ctx, err);
    else if (!vsq_distance(f->metric, a, b, na, &d, &err))
        vsq_fn_error(ctx, err);
    else
        sqlite3_result_double(ctx, d);
    sqlite3_free(a);
    sqlite3_free(b);
}

static void vsq_fn_vector(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    size_t n;
    char *err = NULL;
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    float *v = vsq_vector_from_value(argv[0], 0, &n, &err);
    if (!v) {
        vsq_fn_error(ctx, err);
        return;
    }
    sqlite3_result_blob64(ctx, v, n * sizeof *v, sqlite3_free);
}

/* Each component as the shortest %g text that reads back as the same
 * float32 (at most 9 significant digits always do). */
static void vsq_fn_to_json(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    size_t n;
    char *err = NULL;
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    float *v = vsq_vector_from_value(argv[0], 0, &n, &err);
    if (!v) {
        vsq_fn_error(ctx, err);
        return;
    }
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendchar(s, 1, '[');
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, (double)v[i]);
            if (strtof(buf, NULL) == v[i])
                break;
        }
        sqlite3_str_appendf(s, "%s%s", i ? "," : "", buf);
    }
    sqlite3_str_appendchar(s, 1, ']');
    sqlite3_free(v);
    if (sqlite3_str_errcode(s)) {
        sqlite3_free(sqlite3_str_finish(s));
        sqlite3_result_error_nomem(ctx);
        return;
    }
    int len = sqlite3_str_length(s);
    sqlite3_result_text(ctx, sqlite3_str_finish(s), len, sqlite3_free);
}

static const vsq_fn vsq_fns[] = {
    {"vex_distance_l2", 2, VEX_METRIC_L2, vsq_fn_distance},
    {"vex_distance_cosine", 2, VEX_METRIC_COSINE, vsq_fn_distance},
    {"vex_distance_ip", 2, VEX_METRIC_IP, vsq_fn_distance},
    {"vex_vector", 1, (vex_metric)0, vsq_fn_vector},
    {"vex_vector_to_json", 1, (vex_metric)0, vsq_fn_to_json},
};

/* ---------------------------------------------------------------------
 * Entry point
 * ------------------------------------------------------------------- */

/* The name SQLite derives from the file name vexdb_sqlite.so. */
__attribute__((visibility("default"))) int
sqlite3_vexdbsqlite_init(sqlite3 *db, char **err,
                         const sqlite3_api_routines *api);

__attribute__((visibility("default"))) int
sqlite3_vexdbsqlite_init(sqlite3 *db, char **err,
                         const sqlite3_api_routines *api)
{
    SQLITE_EXTENSION_INIT2(api);
    if (sqlite3_libversion_number() < 3038000) {
        *err = sqlite3_mprintf("vexdb: needs SQLite 3.38 or later (this is "
                               "%s)",
                               sqlite3_libversion());
        return SQLITE_ERROR;
    }
    for (size_t i = 0; i < sizeof vsq_fns / sizeof *vsq_fns; i++) {
        int rc = sqlite3_create_function_v2(
            db, vsq_fns[i].name, vsq_fns[i].n_args,
            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
            (void *)&vsq_fns[i], vsq_fns[i].fn, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return sqlite3_create_module_v2(db, "vexdb", &vsq_module, NULL, NULL);
}
