/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_export.c - `vex export DB COLLECTION`: every record (or those a
 * filter matches), in id order, as JSON Lines (the format `vex import`
 * reads back: export then import gives the same collection) or as numpy
 * files (PREFIX.npy float32 vectors, PREFIX.ids.npy int64 ids and
 * PREFIX.jsonl with each row's id, metadata and payload) or as CSV that
 * PostgreSQL's COPY ... FROM (FORMAT csv, HEADER) loads into a table with
 * a vexvector column (id, vector, meta as a JSON object, payload as bytea
 * hex; docs/scale-out.md). The database is
 * opened read-only, so the export is one consistent snapshot and works
 * beside a writer. Output files are written under a temporary name and
 * renamed when complete, so a failed export leaves no partial file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

typedef struct id_list {
    uint64_t *v;
    size_t n, cap;
} id_list;

static int collect(void *ctx, uint64_t id, const vex_meta *meta)
{
    id_list *l = ctx;
    (void)meta;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return VEX_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct outfile {
    char *path, *tmp;
    FILE *f;
} outfile;

static int out_open(outfile *o, const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 32;
    o->f = NULL;
    o->path = malloc(n);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        fprintf(stderr, "vex export: out of memory\n");
        return -1;
    }
    snprintf(o->path, n, "%s%s", path, suffix);
    snprintf(o->tmp, n, "%s%s.tmp-%ld", path, suffix, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        fprintf(stderr, "vex export: %s: %s\n", o->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

/* commit (ok) or remove the temporary file */
static int out_close(outfile *o, int ok)
{
    int rc = 0;
    if (!o->f) { /* never opened (or failed to open): nothing to undo */
        free(o->path);
        free(o->tmp);
        o->path = o->tmp = NULL;
        return 0;
    }
    {
        if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0) {
            if (ok)
                fprintf(stderr, "vex export: writing %s: %s\n", o->tmp,
                        strerror(errno));
            ok = 0;
        }
        if (fclose(o->f) != 0 && ok) {
            fprintf(stderr, "vex export: %s: %s\n", o->tmp, strerror(errno));
            ok = 0;
        }
        if (ok && rename(o->tmp, o->path) != 0) {
            fprintf(stderr, "vex export: %s: %s\n", o->path, strerror(errno));
            ok = 0;
        }
        if (!ok)
            remove(o->tmp);
    }
    rc = ok ? 0 : -1;
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    o->f = NULL;
    return rc;
}

/* npy version 1.0 header for shape (n, dim) or (n,) */
static void npy_header(FILE *f, const char *descr, uint64_t n, uint32_t dim,
                       int two_d)
{
    char h[160];
    int len;
    if (two_d)
        len = snprintf(h, sizeof h,
                       "{'descr': '%s', 'fortran_order': False, 'shape': "
                       "(%" PRIu64 ", %u), }",
                       descr, n, dim);
    else
        len = snprintf(h, sizeof h,
                       "{'descr': '%s', 'fortran_order': False, 'shape': "
                       "(%" PRIu64 ",), }",
                       descr, n);
    /* magic (6) + version (2) + length (2) + header, padded to 64 */
    int total = (10 + len + 1 + 63) / 64 * 64;
    int pad = total - 10 - len - 1;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((total - 10) & 0xff, f);
    fputc((total - 10) >> 8, f);
    fwrite(h, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
}

static void put_le64(FILE *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    fwrite(b, 1, 8, f);
}

static void put_f32(FILE *f, float x)
{
    uint32_t u;
    unsigned char b[4];
    memcpy(&u, &x, 4);
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(u >> (8 * i));
    fwrite(b, 1, 4, f);
}

/* one CSV field, quoted: the bytes with every '"' doubled */
static void csv_quoted(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

/* One CSV row for COPY: id,"[v0,v1,...]","{meta}",\x<payload hex> (the
 * payload field empty, which COPY reads as NULL, when there is none).
 * -1 when the metadata's JSON cannot be buffered. */
static int csv_record(FILE *f, uint64_t id, uint32_t dim, const float *vec,
                      const vex_meta *meta, const unsigned char *payload,
                      size_t plen, const char *text, size_t tlen)
{
    char *json = NULL;
    size_t jlen = 0;
    FILE *ms = open_memstream(&json, &jlen);
    if (!ms)
        return -1;
    vex_cli_json_meta(ms, meta);
    if (fclose(ms) != 0 || !json) {
        free(json);
        return -1;
    }
    fprintf(f, "%" PRIu64 ",\"[", id);
    for (uint32_t j = 0; j < dim; j++) {
        if (j)
            fputc(',', f);
        vex_cli_json_float(f, vec[j]);
    }
    fputs("]\",", f);
    csv_quoted(f, json, jlen);
    free(json);
    fputc(',', f);
    if (plen) {
        static const char hex[] = "0123456789abcdef";
        fputs("\\x", f);
        for (size_t i = 0; i < plen; i++) {
            fputc(hex[payload[i] >> 4], f);
            fputc(hex[payload[i] & 15], f);
        }
    }
    if (text) { /* a text collection's fifth column (empty: no text) */
        fputc(',', f);
        if (tlen)
            csv_quoted(f, text, tlen);
    }
    fputc('\n', f);
    return 0;
}

static int run_export(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    const vex_optval *out = &vals[vex_args_index(cmd, "out")];
    const vex_optval *fmt = &vals[vex_args_index(cmd, "format")];
    const vex_optval *where = &vals[vex_args_index(cmd, "where")];
    int no_vec = vals[vex_args_index(cmd, "no-vector")].given;
    int npy = 0, csv = 0, status = VEX_EXIT_FAIL, rc;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_filter *f = NULL;
    vex_meta *meta = NULL;
    id_list ids = {NULL, 0, 0};
    outfile vo = {0}, io = {0}, mo = {0};
    FILE *js;
    void *vec = NULL;
    char *payload = NULL, *text = NULL;
    size_t cap = 0, tcap = 0;
    vex_cli_meter meter;
    (void)n_pos;
    if (fmt->given) {
        if (strcmp(fmt->str, "npy") == 0) {
            npy = 1;
        } else if (strcmp(fmt->str, "csv") == 0) {
            csv = 1;
        } else if (strcmp(fmt->str, "jsonl") != 0) {
            fprintf(stderr,
                    "vex export: unknown --format \"%s\" (jsonl, "
                    "npy, csv)\n",
                    fmt->str);
            return VEX_EXIT_USAGE;
        }
    }
    if (npy && (!out->given || no_vec)) {
        fprintf(stderr, "vex export: --format npy needs --out PREFIX (and "
                        "writes the vectors)\n");
        return VEX_EXIT_USAGE;
    }
    if (csv && no_vec) {
        fprintf(stderr, "vex export: --format csv writes the vectors "
                        "(--no-vector is for jsonl)\n");
        return VEX_EXIT_USAGE;
    }
    if (vex_cli_db_open("export", pos[0], VEX_CLI_READ, &db) != VEX_OK ||
        vex_cli_coll_open("export", db, pos[0], pos[1], &c) != VEX_OK)
        goto out;
    vex_collection_get_config(c, &cfg);
    if ((npy || csv) && cfg.elem != VEX_ELEM_F32) {
        fprintf(stderr,
                "vex export: --format %s writes float32 vectors; %s "
                "holds bit vectors (use jsonl)\n",
                npy ? "npy" : "csv", pos[1]);
        goto out;
    }
    if (where->given &&
        vex_cli_filter("export", c, where->str, 1, &f) != VEX_OK) {
        status = VEX_EXIT_USAGE;
        goto out;
    }
    rc = vex_scan(c, f, collect, &ids);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex export: %s\n",
                rc == VEX_NOMEM ? "out of memory" : vex_collection_errmsg(c));
        goto out;
    }
    if (ids.n > 1) /* no records: ids.v is NULL, which qsort may not get */
        qsort(ids.v, ids.n, sizeof *ids.v, cmp_u64);
    vec = malloc(vex_vector_size(cfg.elem, cfg.dim));
    if (!vec || vex_meta_create(NULL, &meta) != VEX_OK) {
        fprintf(stderr, "vex export: out of memory\n");
        goto out;
    }
    if ((npy || csv) && ids.n && ids.v[ids.n - 1] > (uint64_t)INT64_MAX) {
        fprintf(stderr,
                "vex export: id %" PRIu64 " does not fit the int64 ids "
                "of %s (use jsonl)\n",
                ids.v[ids.n - 1], npy ? ".npy" : "a bigint column");
        goto out;
    }
    if (npy) {
        if (out_open(&vo, out->str, ".npy") != 0 ||
            out_open(&io, out->str, ".ids.npy") != 0 ||
            out_open(&mo, out->str, ".jsonl") != 0)
            goto out;
        npy_header(vo.f, "<f4", ids.n, cfg.dim, 1);
        npy_header(io.f, "<i8", ids.n, 0, 0);
        js = mo.f;
    } else if (out->given) {
        if (out_open(&mo, out->str, "") != 0)
            goto out;
        js = mo.f;
    } else {
        js = stdout;
    }
    if (csv)
        fputs(cfg.text ? "id,vector,meta,payload,text\n"
                       : "id,vector,meta,payload\n",
              js);
    vex_cli_meter_start(&meter, "exporting", "records");
    for (size_t i = 0; i < ids.n; i++) {
        size_t plen = 0, tlen = 0;
        rc = vex_get(c, ids.v[i], vec);
        if (rc == VEX_OK)
            rc = vex_get_meta(c, ids.v[i], meta);
        if (rc == VEX_OK)
            rc = vex_get_payload(c, ids.v[i], payload, cap, &plen);
        if (rc == VEX_OK && plen > cap) {
            char *p = realloc(payload, plen);
            if (!p) {
                fprintf(stderr, "vex export: out of memory\n");
                goto out;
            }
            payload = p;
            cap = plen;
            rc = vex_get_payload(c, ids.v[i], payload, cap, &plen);
        }
        if (rc == VEX_OK && cfg.text)
            rc = vex_cli_get_text(c, ids.v[i], &text, &tcap, &tlen);
        if (rc != VEX_OK) {
            vex_cli_meter_done(&meter);
            fprintf(stderr, "vex export: id %" PRIu64 ": %s\n", ids.v[i],
                    vex_collection_errmsg(c));
            goto out;
        }
        if (npy) {
            for (uint32_t j = 0; j < cfg.dim; j++)
                put_f32(vo.f, ((const float *)vec)[j]);
            put_le64(io.f, ids.v[i]);
        }
        if (csv) {
            if (csv_record(js, ids.v[i], cfg.dim, vec, meta,
                           (const unsigned char *)payload, plen,
                           cfg.text ? text : NULL, tlen) != 0) {
                vex_cli_meter_done(&meter);
                fprintf(stderr, "vex export: out of memory\n");
                goto out;
            }
        } else {
            vex_cli_json_record(js, ids.v[i], &cfg, npy || no_vec ? NULL : vec,
                                meta, payload, plen, text, tlen);
        }
        if ((i & 1023) == 0)
            vex_cli_meter_update(&meter, i, ids.n);
    }
    vex_cli_meter_done(&meter);
    if (js == stdout && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "vex export: writing stdout: %s\n", strerror(errno));
        goto out;
    }
    status = VEX_EXIT_OK;
out:
    if (out_close(&vo, status == VEX_EXIT_OK) != 0 ||
        out_close(&io, status == VEX_EXIT_OK) != 0 ||
        out_close(&mo, status == VEX_EXIT_OK) != 0)
        status = VEX_EXIT_FAIL;
    if (status == VEX_EXIT_OK && out->given)
        fprintf(stderr, "vex export: %zu records\n", ids.n);
    vex_meta_free(meta);
    vex_filter_free(f);
    free(vec);
    free(payload);
    free(text);
    free(ids.v);
    if (db && vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt export_opts[] = {
    {"out", VEX_OPT_STRING, "FILE", 0, 0, 0,
     "write to FILE (jsonl, csv; default stdout) or PREFIX.npy, "
     "PREFIX.ids.npy and PREFIX.jsonl (npy)"},
    {"format", VEX_OPT_STRING, "F", 0, 0, 0,
     "jsonl (default), npy, or csv (for PostgreSQL's COPY)"},
    {"where", VEX_OPT_STRING, "EXPR", 0, 0, 0,
     "only the records this filter matches"},
    {"no-vector", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "jsonl without vectors (ids, metadata and payloads only)"},
};

const vex_cmd vex_cmd_export = {
    "export",
    "write a collection's records as JSON Lines, .npy or CSV files",
    "DB COLLECTION",
    2,
    2,
    export_opts,
    sizeof export_opts / sizeof export_opts[0],
    "Opens the database read-only and writes one snapshot, in id order.\n"
    "JSON Lines is what vex import reads: {\"id\":7,\"vector\":[...],\n"
    "<metadata fields>,\"payload\":\"...\"} (fields named id, vector,\n"
    "payload, payload_base64 or meta go in a \"meta\" object; a payload\n"
    "that is not UTF-8 is written as payload_base64). Files are written\n"
    "under a temporary name and renamed when complete. csv is for\n"
    "PostgreSQL: a header line, then "
    "id,\"[v0,...]\",\"{metadata}\",\\xPAYLOAD\n"
    "per record, which COPY t (id, embedding, meta, payload) FROM ... WITH\n"
    "(FORMAT csv, HEADER) loads into bigint, vexvector, jsonb and bytea;\n"
    "a collection with a text field adds a fifth column, text (empty when\n"
    "a record has none).\n",
    run_export,
};
