/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c - the database's collections: vex_collection_create (the
 * configuration resolved and checked, the schema encoded, the directory
 * made durable under a CREATING marker, the first manifest published),
 * vex_collection_open, vex_collection_drop (DROPPING marker first, files,
 * marker last), vex_collection_list, and the registry of open collection
 * handles (db->mu). Crash rules for the markers are in db.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/db.h"
#include "engine/engine.h"
#include "index/ix.h"
#include "meta/column.h"
#include "meta/schema.h"
#include "util/abi.h"
#include "storage/manifest.h"

/* A handle whose open failed only explains why. */
static int db_usable(vex_db *db)
{
    return db != NULL && db->pool != NULL && db->jobs != NULL;
}

/* ---------------------------------------------------------------------
 * Collections registry
 * ------------------------------------------------------------------- */

static vex_collection *find_open(vex_db *db, const char *name)
{
    for (size_t i = 0; i < db->n_open; i++)
        if (vx_coll_at_version(db->open[i]) == 0 &&
            strcmp(vx_coll_name(db->open[i]), name) == 0)
            return db->open[i];
    return NULL;
}

static int check_name(vex_db *db, const char *name)
{
    char why[128];
    if (name == NULL)
        return vx_err_set(&db->err, VEX_MISUSE, "name is NULL");
    if (!vx_name_ok(name, why, sizeof why))
        return vx_err_set(&db->err, VEX_INVALID,
                          "collection name \"%.80s\": %s", name, why);
    return VEX_OK;
}

void vx_collection_config_defaults(vex_collection_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->dim = 0;
    cfg->elem = VEX_ELEM_F32;
    cfg->metric = VEX_METRIC_L2;
    cfg->index_kind = VEX_INDEX_HNSW;
}

void vex_collection_config_init_size(vex_collection_config *cfg, size_t size)
{
    vex_collection_config full;
    if (cfg == NULL)
        return;
    vx_collection_config_defaults(&full);
    vx_abi_init(&VX_ABI_COLLECTION_CONFIG, cfg, size, &full);
}

void(vex_collection_config_init)(vex_collection_config *cfg)
{
    vex_collection_config_init_size(cfg, VX_ABI_COLLECTION_CONFIG.ends[0]);
}

/* The DiskANN settings: checked, defaults resolved (0 = default). */
static int resolve_dann(vex_db *db, const vex_collection_config *cfg,
                        man_config *mc)
{
    uint32_t bits;
    memcpy(&bits, &cfg->diskann_alpha, sizeof bits);
    if (cfg->diskann_min_rows == 0) {
        if (cfg->diskann_r || cfg->diskann_l || cfg->diskann_pq_m || bits)
            return vx_err_set(&db->err, VEX_INVALID,
                              "diskann_r, diskann_l, diskann_alpha and "
                              "diskann_pq_m must be 0 without "
                              "diskann_min_rows");
        return VEX_OK;
    }
    if (cfg->elem != VEX_ELEM_F32 ||
        (cfg->metric != VEX_METRIC_L2 && cfg->metric != VEX_METRIC_COSINE))
        return vx_err_set(&db->err, VEX_INVALID,
                          "diskann_min_rows: DiskANN segments hold float32 "
                          "vectors under l2 or cosine, not %s",
                          vex_metric_name(cfg->metric));
    mc->dann_min_rows = cfg->diskann_min_rows;
    mc->dann_r = cfg->diskann_r ? cfg->diskann_r : 64;
    mc->dann_l = cfg->diskann_l ? cfg->diskann_l : 100;
    mc->dann_alpha = bits ? cfg->diskann_alpha : 1.2f;
    mc->dann_pq_m = cfg->diskann_pq_m ? cfg->diskann_pq_m : (cfg->dim + 3) / 4;
    if (mc->dann_r < 4 || mc->dann_r > 256)
        return vx_err_set(&db->err, VEX_INVALID,
                          "diskann_r is %u, must be 0 or 4..256",
                          cfg->diskann_r);
    if (mc->dann_l < mc->dann_r || mc->dann_l > 4096)
        return vx_err_set(&db->err, VEX_INVALID,
                          "diskann_l is %u, must be 0 or diskann_r (%u)..4096",
                          cfg->diskann_l, mc->dann_r);
    if (!(mc->dann_alpha >= 1.0f && mc->dann_alpha <= 2.0f))
        return vx_err_set(&db->err, VEX_INVALID,
                          "diskann_alpha is %g, must be 0 or 1..2",
                          (double)cfg->diskann_alpha);
    if (mc->dann_pq_m > cfg->dim)
        return vx_err_set(&db->err, VEX_INVALID,
                          "diskann_pq_m is %u, must be 0 or 1..dim (%u)",
                          cfg->diskann_pq_m, cfg->dim);
    return VEX_OK;
}

/* Validate a configuration and resolve it into what the manifest stores. */
static int resolve_config(vex_db *db, const char *name,
                          const vex_collection_config *cfg, man_config *mc)
{
    vex_index_options io;
    vex_index_config ic;
    int rc;
    vx_ix_options_init(&io);
    io.kind = cfg->index_kind;
    io.elem = cfg->elem;
    io.metric = cfg->metric;
    io.dim = cfg->dim;
    io.hnsw_m = cfg->hnsw_m;
    io.hnsw_ef_construction = cfg->hnsw_ef_construction;
    io.hnsw_ef_search = cfg->hnsw_ef_search;
    io.hnsw_seed = cfg->hnsw_seed;
    io.quant = cfg->quant;
    io.quant_m = cfg->quant_m;
    io.quant_bits = cfg->quant_bits;
    io.quant_refine = cfg->quant_refine;
    /* checked, and resolved as an index made from it would be (HNSW
     * fields zero for flat) */
    rc = vx_ix_resolve(&io, &ic, &db->err);
    if (rc != VEX_OK)
        return rc;
    memset(mc, 0, sizeof *mc);
    snprintf(mc->name, sizeof mc->name, "%s", name);
    mc->dim = cfg->dim;
    mc->elem = (uint32_t)cfg->elem;
    mc->metric = (uint32_t)cfg->metric;
    mc->index_kind = (uint32_t)cfg->index_kind;
    mc->hnsw_m = ic.hnsw_m;
    mc->hnsw_ef_construction = ic.hnsw_ef_construction;
    mc->hnsw_ef_search = ic.hnsw_ef_search;
    mc->hnsw_seed = ic.hnsw_seed;
    mc->quant = ic.quant;
    mc->quant_m = ic.quant_m;
    mc->quant_bits = ic.quant_bits;
    mc->quant_refine = ic.quant_refine;
    if (cfg->compression != VEX_COMPRESS_NONE &&
        cfg->compression != VEX_COMPRESS_ZSTD)
        return vx_err_set(&db->err, VEX_INVALID,
                          "compression %d is not a vex_compression",
                          (int)cfg->compression);
    if (cfg->compression == VEX_COMPRESS_ZSTD && !vx_vm_colset_zstd())
        return vx_err_set(&db->err, VEX_UNSUPPORTED,
                          "compression VEX_COMPRESS_ZSTD: this library was "
                          "built without zstd (vex_features() has no "
                          "VEX_FEATURE_ZSTD)");
    mc->compression = (uint32_t)cfg->compression;
    if (cfg->text > 1 || cfg->text_stemmer > VEX_STEMMER_PORTER ||
        cfg->text_stopwords > 1 ||
        (!cfg->text && (cfg->text_stemmer || cfg->text_stopwords)))
        return vx_err_set(&db->err, VEX_INVALID,
                          "text %u, text_stemmer %u, text_stopwords %u: text "
                          "must be 0 or 1, text_stemmer VEX_STEMMER_NONE or "
                          "VEX_STEMMER_PORTER and text_stopwords 0 or 1, "
                          "both 0 without a text field",
                          cfg->text, cfg->text_stemmer, cfg->text_stopwords);
    mc->text = cfg->text;
    mc->text_stemmer = cfg->text_stemmer;
    mc->text_stopwords = cfg->text_stopwords;
    mc->created_unix = (uint64_t)time(NULL);
    return resolve_dann(db, cfg, mc);
}

/* The schema of `cfg` as a manifest blob (*blob NULL without a schema;
 * owned by the caller, db->mem). VEX_INVALID naming the field. */
static int resolve_schema(vex_db *db, const vex_collection_config *cfg,
                          unsigned char **blob, uint32_t *len)
{
    vm_schema_field stack[16], *f = stack;
    vm_schema *sc = NULL;
    size_t n = cfg->n_schema_fields;
    int rc = VEX_OK;
    *blob = NULL;
    *len = 0;
    if (cfg->schema_closed > 1)
        return vx_err_set(&db->err, VEX_INVALID,
                          "config.schema_closed is %u, must be 0 or 1",
                          cfg->schema_closed);
    if (n == 0) {
        if (cfg->schema_closed)
            return vx_err_set(&db->err, VEX_INVALID,
                              "config.schema_closed is set but there is no "
                              "schema (n_schema_fields is 0)");
        return VEX_OK;
    }
    if (cfg->schema_fields == NULL)
        return vx_err_set(&db->err, VEX_MISUSE,
                          "config.schema_fields is NULL for %zu fields", n);
    if (n > VM_SCHEMA_MAX_FIELDS)
        return vx_err_set(&db->err, VEX_INVALID,
                          "config.n_schema_fields is %zu, at most %u", n,
                          VM_SCHEMA_MAX_FIELDS);
    if (n > sizeof stack / sizeof stack[0]) {
        f = vx_mem_alloc(&db->mem, n * sizeof *f);
        if (f == NULL)
            return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && rc == VEX_OK; i++) {
        const vex_schema_field *in = &cfg->schema_fields[i];
        size_t nl;
        if (in->name == NULL) {
            rc = vx_err_set(&db->err, VEX_MISUSE,
                            "config.schema_fields[%zu].name is NULL", i);
            break;
        }
        nl = strlen(in->name);
        if (in->nullable != 0 && in->nullable != 1)
            rc = vx_err_set(&db->err, VEX_INVALID,
                            "schema field \"%.64s\": nullable is %d, must "
                            "be 0 or 1",
                            in->name, in->nullable);
        f[i].name.p = in->name;
        f[i].name.len = nl > VM_MAX_NAME ? VM_MAX_NAME + 1 : (uint32_t)nl;
        f[i].type = (vm_type)in->type;
        f[i].nullable = in->nullable;
    }
    if (rc == VEX_OK)
        rc = vx_vm_schema_new(f, n, (int)cfg->schema_closed, &db->mem, &db->err,
                              &sc);
    if (rc == VEX_OK) {
        size_t sz = vx_vm_schema_encoded_size(sc);
        *blob = vx_mem_alloc(&db->mem, sz);
        if (*blob == NULL) {
            rc = vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        } else {
            vx_vm_schema_encode(sc, *blob);
            *len = (uint32_t)sz;
        }
    }
    vx_vm_schema_free(sc, &db->mem);
    if (f != stack)
        vx_mem_free(&db->mem, f);
    return rc;
}

/* Create the collection directory `final`. The CREATING marker is durable
 * before anything else is made inside, and removed (durably) only after
 * the first manifest is published: a crash at any point leaves either a
 * marked (or empty) directory, which the next open removes, or a whole
 * collection. */
static int create_dir(vex_db *db, const man_config *mc, unsigned char *schema,
                      uint32_t schema_len, const char *final)
{
    char *marker = NULL, *wal = NULL;
    vex_file *f = NULL;
    manifest m;
    int rc, ambiguous = 0;

    marker = vx_path_join(&db->mem, final, VX_CREATING);
    wal = vx_path_join(&db->mem, final, "wal");
    if (marker == NULL || wal == NULL) {
        rc = vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    rc = db->vfs->methods->mkdir(db->vfs, final, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->open(
            db->vfs, marker, VX_FILE_READWRITE | VX_FILE_CREATE, &f, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->close(f, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->sync_dir(db->vfs, final, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->sync_dir(db->vfs, db->coll_dir, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->mkdir(db->vfs, wal, &db->err);
    if (rc != VEX_OK)
        goto undo;
    memset(&m, 0, sizeof m);
    m.number = 1;
    m.config = *mc;
    m.next_file = 2;
    m.flushed_seq = 0;
    m.as_of_seq = 0; /* the empty collection, a point in time too */
    m.publish_unix = mc->created_unix ? mc->created_unix : 1;
    m.schema = schema; /* only read by the publish */
    m.schema_len = schema_len;
    /* publishing syncs `final`, which makes wal/ durable too */
    rc =
        vx_manifest_publish(db->vfs, final, &m, &db->mem, &db->err, &ambiguous);
    if (rc == VEX_OK)
        rc = db->vfs->methods->remove(db->vfs, marker, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->sync_dir(db->vfs, final, &db->err);
    if (rc == VEX_OK)
        goto out;
undo:
    /* best effort; whatever stays is marked or empty, removed on open */
    {
        vex_err quiet;
        vx_err_init(&quiet);
        (void)vx_rmtree(db->vfs, &db->mem, final, &quiet);
        vx_err_destroy(&quiet);
    }
out:
    vx_mem_free(&db->mem, marker);
    vx_mem_free(&db->mem, wal);
    return rc;
}

/* The error of a catalog change on a read-only database. */
static int refuse_readonly(vex_db *db, const char *verb, const char *name)
{
    return vx_err_set(&db->err, VEX_READONLY,
                      "cannot %s collection \"%s\": the database is open "
                      "read-only (vex_db_options.read_only)",
                      verb, name);
}

/* The one create path: check `user` (any accepted struct_size) into
 * *cfg, then, under db->mu (so that the existence test and the create are
 * one step: of two threads racing on one name exactly one creates), create
 * the collection, or with `or_open` open it when it exists (*made 0). A
 * leftover of an interrupted create or drop does not count as existing.
 * *c (when c is not NULL) is an open handle on VEX_OK. */
static int create_or_open(vex_db *db, const char *name,
                          const vex_collection_config *user, int or_open,
                          vex_collection_config *cfg, vex_collection **c,
                          int *made)
{
    man_config mc;
    char *final = NULL;
    unsigned char *schema = NULL;
    uint32_t schema_len = 0;
    int rc, kind, leftover = 0, exists = 0;

    *made = 0;
    if (user == NULL)
        return vx_err_set(&db->err, VEX_MISUSE, "config is NULL");
    vx_collection_config_defaults(cfg);
    if ((rc = vx_abi_in(&VX_ABI_COLLECTION_CONFIG, user, cfg, &db->err)) !=
        VEX_OK)
        return rc;
    /* the request is checked whether or not the collection exists */
    if ((rc = resolve_config(db, name, cfg, &mc)) != VEX_OK)
        return rc;
    if ((rc = resolve_schema(db, cfg, &schema, &schema_len)) != VEX_OK)
        return rc;
    final = vx_path_join(&db->mem, db->coll_dir, name);
    if (final == NULL) {
        vx_mem_free(&db->mem, schema);
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&db->mu);
    rc = db->vfs->methods->exists(db->vfs, final, &kind, &db->err);
    if (rc == VEX_OK && kind != VEX_VFS_NONE) {
        rc = vx_coll_leftover(db->vfs, final, &leftover, &db->err);
        exists = rc == VEX_OK && !leftover;
    }
    if (rc != VEX_OK) {
        /* the error is set */
    } else if (exists && or_open) {
        rc = vx_coll_open(db, name, c);
    } else if (exists) {
        rc = vx_err_set(&db->err, VEX_EXISTS,
                        "collection \"%s\" already exists", name);
    } else if (db->opts.read_only) {
        rc = refuse_readonly(db, "create", name);
    } else {
        if (leftover)
            rc = vx_db_remove_collection_dir(db, final, &db->err);
        if (rc == VEX_OK)
            rc = create_dir(db, &mc, schema, schema_len, final);
        if (rc == VEX_OK && c)
            rc = vx_coll_open(db, name, c);
        *made = rc == VEX_OK;
    }
    pthread_mutex_unlock(&db->mu);
    vx_mem_free(&db->mem, final);
    vx_mem_free(&db->mem, schema);
    return rc;
}

int vex_collection_create(vex_db *db, const char *name,
                          const vex_collection_config *cfg,
                          vex_collection **out)
{
    vex_collection_config full;
    vex_collection *c = NULL;
    int rc, made;

    if (out)
        *out = NULL;
    if (!db_usable(db))
        return VEX_MISUSE;
    if ((rc = check_name(db, name)) != VEX_OK)
        return rc;
    if (db->opts.read_only)
        return refuse_readonly(db, "create", name);
    rc = create_or_open(db, name, cfg, 0, &full, out ? &c : NULL, &made);
    if (rc == VEX_OK && out)
        *out = c;
    return rc;
}

int vex_collection_open(vex_db *db, const char *name, vex_collection **out)
{
    int rc;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (!db_usable(db))
        return VEX_MISUSE;
    if ((rc = check_name(db, name)) != VEX_OK)
        return rc;
    pthread_mutex_lock(&db->mu);
    rc = vx_coll_open(db, name, out);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int vex_collection_open_at(vex_db *db, const char *name, uint64_t version,
                           vex_collection **out)
{
    int rc;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (!db_usable(db))
        return VEX_MISUSE;
    if ((rc = check_name(db, name)) != VEX_OK)
        return rc;
    if (!db->opts.read_only)
        return vx_err_set(&db->err, VEX_MISUSE,
                          "vex_collection_open_at needs a read-only database "
                          "(vex_db_options.read_only)");
    if (version == 0)
        return vx_err_set(&db->err, VEX_NOTFOUND,
                          "collection \"%s\": there is no version 0", name);
    pthread_mutex_lock(&db->mu);
    rc = vx_coll_open_at(db, name, version, out);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---------------------------------------------------------------------
 * Get or create
 * ------------------------------------------------------------------- */

static const char *kind_name(vex_index_kind k)
{
    return k == VEX_INDEX_FLAT      ? "flat"
           : k == VEX_INDEX_HNSW    ? "hnsw"
           : k == VEX_INDEX_DISKANN ? "diskann"
                                    : "?";
}

static const char *quant_name(vex_quant q)
{
    static const char *const names[] = {"none", "sq8", "bq", "pq", "opq"};
    return (unsigned)q < sizeof names / sizeof names[0] ? names[q] : "?";
}

/* Write into `msg` the first difference between the existing
 * collection's configuration `have` and what `want` asks for, or leave it
 * empty. What is compared (vexdb.h, vex_collection_open_or_create):
 * dim, elem, metric, index kind and quantizer always; HNSW and quantizer
 * numbers and compression only when `want` gives them (non-zero); the
 * schema only when
 * `want` declares fields (then as a set, with schema_closed). */
static void config_diff(const vex_collection_config *have,
                        const vex_collection_config *want, char *msg,
                        size_t size)
{
#define DIFF_U(field, what)                                                    \
    if (want->field != have->field) {                                          \
        snprintf(msg, size, "%s %llu, asked for %llu", what,                   \
                 (unsigned long long)have->field,                              \
                 (unsigned long long)want->field);                             \
        return;                                                                \
    }
#define DIFF_NZ(field, what)                                                   \
    if (want->field != 0)                                                      \
    DIFF_U(field, what)
    msg[0] = '\0';
    DIFF_U(dim, "dim")
    if (want->elem != have->elem) {
        snprintf(msg, size, "element type %s, asked for %s",
                 vex_elem_name(have->elem), vex_elem_name(want->elem));
        return;
    }
    if (want->metric != have->metric) {
        snprintf(msg, size, "metric %s, asked for %s",
                 vex_metric_name(have->metric), vex_metric_name(want->metric));
        return;
    }
    if (want->index_kind != have->index_kind) {
        snprintf(msg, size, "index kind %s, asked for %s",
                 kind_name(have->index_kind), kind_name(want->index_kind));
        return;
    }
    DIFF_NZ(hnsw_m, "hnsw_m")
    DIFF_NZ(hnsw_ef_construction, "hnsw_ef_construction")
    DIFF_NZ(hnsw_ef_search, "hnsw_ef_search")
    DIFF_NZ(hnsw_seed, "hnsw_seed")
    if (want->quant != have->quant) {
        snprintf(msg, size, "quantizer %s, asked for %s",
                 quant_name(have->quant), quant_name(want->quant));
        return;
    }
    DIFF_NZ(quant_m, "quant_m")
    DIFF_NZ(quant_bits, "quant_bits")
    if (want->quant_refine != 0 && want->quant_refine != have->quant_refine) {
        snprintf(msg, size, "quant_refine %g, asked for %g",
                 (double)have->quant_refine, (double)want->quant_refine);
        return;
    }
    if (want->compression != VEX_COMPRESS_NONE &&
        want->compression != have->compression) {
        snprintf(msg, size, "compression %s, asked for %s",
                 have->compression ? "zstd" : "none",
                 want->compression ? "zstd" : "none");
        return;
    }
    DIFF_NZ(diskann_min_rows, "diskann_min_rows")
    DIFF_NZ(diskann_r, "diskann_r")
    DIFF_NZ(diskann_l, "diskann_l")
    DIFF_NZ(diskann_pq_m, "diskann_pq_m")
    if (want->diskann_alpha != 0 &&
        want->diskann_alpha != have->diskann_alpha) {
        snprintf(msg, size, "diskann_alpha %g, asked for %g",
                 (double)have->diskann_alpha, (double)want->diskann_alpha);
        return;
    }
    DIFF_NZ(text, "text")
    if (want->text) {
        DIFF_U(text_stemmer, "text_stemmer")
        DIFF_U(text_stopwords, "text_stopwords")
    }
#undef DIFF_NZ
#undef DIFF_U
    if (want->n_schema_fields == 0)
        return;
    if (have->n_schema_fields == 0) {
        snprintf(msg, size, "no schema, asked for one of %u fields",
                 want->n_schema_fields);
        return;
    }
    for (uint32_t i = 0; i < want->n_schema_fields; i++) {
        const vex_schema_field *w = &want->schema_fields[i], *h = NULL;
        for (uint32_t j = 0; j < have->n_schema_fields && h == NULL; j++)
            if (strcmp(have->schema_fields[j].name, w->name) == 0)
                h = &have->schema_fields[j];
        if (h == NULL) {
            snprintf(msg, size, "no schema field \"%.64s\", asked for one",
                     w->name);
            return;
        }
        if (h->type != w->type || (h->nullable != 0) != (w->nullable != 0)) {
            snprintf(msg, size,
                     "schema field \"%.64s\" of type %s%s, asked for %s%s",
                     w->name, vex_type_name(h->type),
                     h->nullable ? " (nullable)" : " (required)",
                     vex_type_name(w->type),
                     w->nullable ? " (nullable)" : " (required)");
            return;
        }
    }
    if (have->n_schema_fields != want->n_schema_fields) {
        /* every asked-for field exists: the collection declares more */
        for (uint32_t j = 0; j < have->n_schema_fields; j++) {
            int found = 0;
            for (uint32_t i = 0; i < want->n_schema_fields && !found; i++)
                found = strcmp(have->schema_fields[j].name,
                               want->schema_fields[i].name) == 0;
            if (!found) {
                snprintf(msg, size,
                         "schema field \"%.64s\", which was not asked for",
                         have->schema_fields[j].name);
                return;
            }
        }
    }
    if ((have->schema_closed != 0) != (want->schema_closed != 0))
        snprintf(msg, size, "a%s schema, asked for a%s one",
                 have->schema_closed ? " closed" : "n open",
                 want->schema_closed ? " closed" : "n open");
}

int vex_collection_open_or_create(vex_db *db, const char *name,
                                  const vex_collection_config *cfg,
                                  vex_collection **out, int *created)
{
    vex_collection_config full;
    vex_collection *c = NULL;
    int rc, made = 0;

    if (created)
        *created = 0;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (!db_usable(db))
        return VEX_MISUSE;
    if ((rc = check_name(db, name)) != VEX_OK)
        return rc;
    if ((rc = create_or_open(db, name, cfg, 1, &full, &c, &made)) != VEX_OK)
        return rc;
    if (!made) {
        vex_collection_config have;
        char diff[VEX_ERRMSG_MAX / 2];
        vex_collection_get_config(c, &have);
        config_diff(&have, &full, diff, sizeof diff);
        if (diff[0] != '\0') {
            (void)vex_collection_close(c);
            return vx_err_set(&db->err, VEX_INVALID,
                              "collection \"%s\" exists with %s", name, diff);
        }
    }
    *out = c;
    if (created)
        *created = made;
    return VEX_OK;
}

/* Called with db->mu held: the collection's first open registers it. */
int vx_db_register(vex_db *db, vex_collection *c)
{
    if (db->n_open == db->cap_open) {
        size_t cap = db->cap_open ? db->cap_open * 2 : 8;
        vex_collection **p =
            vx_mem_realloc(&db->mem, db->open, cap * sizeof *p);
        if (p == NULL)
            return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        db->open = p;
        db->cap_open = cap;
    }
    db->open[db->n_open++] = c;
    return VEX_OK;
}

vex_collection *vx_db_find_open(vex_db *db, const char *name)
{
    return find_open(db, name);
}

/* Drop one reference; the last one unregisters and destroys. */
int vx_db_release(vex_db *db, vex_collection *c)
{
    int rc = VEX_OK;
    pthread_mutex_lock(&db->mu);
    if (vx_coll_unref(c) == 0) {
        for (size_t i = 0; i < db->n_open; i++)
            if (db->open[i] == c) {
                db->open[i] = db->open[--db->n_open];
                break;
            }
        rc = vx_coll_destroy(c);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int vex_collection_drop(vex_db *db, const char *name)
{
    char *dir = NULL, *marker = NULL;
    vex_file *f = NULL;
    int rc, kind, leftover = 0;
    if (!db_usable(db))
        return VEX_MISUSE;
    if ((rc = check_name(db, name)) != VEX_OK)
        return rc;
    if (db->opts.read_only)
        return refuse_readonly(db, "drop", name);
    pthread_mutex_lock(&db->mu);
    if (find_open(db, name)) {
        rc = vx_err_set(&db->err, VEX_BUSY,
                        "collection \"%s\" is open; close it first", name);
        goto out;
    }
    dir = vx_path_join(&db->mem, db->coll_dir, name);
    marker = dir ? vx_path_join(&db->mem, dir, VX_DROPPING) : NULL;
    if (dir == NULL || marker == NULL) {
        rc = vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    rc = db->vfs->methods->exists(db->vfs, dir, &kind, &db->err);
    if (rc == VEX_OK && kind == VEX_VFS_DIR)
        rc = vx_coll_leftover(db->vfs, dir, &leftover, &db->err);
    if (rc == VEX_OK && (kind != VEX_VFS_DIR || leftover))
        rc = vx_err_set(&db->err, VEX_NOTFOUND, "no collection \"%s\"", name);
    /* the marker, once durable, is the drop */
    if (rc == VEX_OK)
        rc = db->vfs->methods->open(
            db->vfs, marker, VX_FILE_READWRITE | VX_FILE_CREATE, &f, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->close(f, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->sync_dir(db->vfs, dir, &db->err);
    /* removing the files is cleanup, which the next open repeats if it
     * fails here */
    if (rc == VEX_OK) {
        vex_err quiet;
        vx_err_init(&quiet);
        (void)vx_db_remove_collection_dir(db, dir, &quiet);
        vx_err_destroy(&quiet);
    }
out:
    pthread_mutex_unlock(&db->mu);
    vx_mem_free(&db->mem, dir);
    vx_mem_free(&db->mem, marker);
    return rc;
}

typedef struct cat_name_list {
    vex_db *db;
    const vex_mem *mem;
    char **names;
    size_t n, cap;
    int rc;
} cat_name_list;

static int collect_name(void *arg, const char *name, int kind)
{
    cat_name_list *l = arg;
    char why[128];
    size_t len;
    char *dir;
    int leftover = 0, rc;
    if (kind != VEX_VFS_DIR || !vx_name_ok(name, why, sizeof why))
        return 0;
    dir = vx_path_join(l->mem, l->db->coll_dir, name);
    if (dir == NULL)
        return VEX_NOMEM;
    rc = vx_coll_leftover(l->db->vfs, dir, &leftover, &l->db->err);
    vx_mem_free(l->mem, dir);
    if (rc != VEX_OK)
        return rc;
    if (leftover)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = vx_mem_realloc(l->mem, l->names, cap * sizeof *p);
        if (p == NULL)
            return VEX_NOMEM;
        l->names = p;
        l->cap = cap;
    }
    len = strlen(name);
    l->names[l->n] = vx_mem_alloc(l->mem, len + 1);
    if (l->names[l->n] == NULL)
        return VEX_NOMEM;
    memcpy(l->names[l->n++], name, len + 1);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vex_collection_list(vex_db *db, int (*fn)(void *ctx, const char *name),
                        void *ctx)
{
    cat_name_list l = {0};
    int rc;
    if (!db_usable(db))
        return VEX_MISUSE;
    if (fn == NULL)
        return vx_err_set(&db->err, VEX_MISUSE, "fn is NULL");
    l.db = db;
    l.mem = &db->mem;
    pthread_mutex_lock(&db->mu);
    rc = db->vfs->methods->list(db->vfs, db->coll_dir, collect_name, &l,
                                &db->err);
    pthread_mutex_unlock(&db->mu);
    if (rc == VEX_NOMEM)
        vx_err_set(&db->err, VEX_NOMEM, "out of memory listing collections");
    if (rc == VEX_OK && l.n > 1)
        qsort(l.names, l.n, sizeof *l.names, cmp_str);
    for (size_t i = 0; i < l.n && rc == VEX_OK; i++)
        rc = fn(ctx, l.names[i]);
    for (size_t i = 0; i < l.n; i++)
        vx_mem_free(&db->mem, l.names[i]);
    vx_mem_free(&db->mem, l.names);
    return rc;
}
