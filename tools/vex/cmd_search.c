/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_search.c - `vex search DB COLLECTION`: k-NN searches of a
 * collection from the command line, or range searches (`--radius R`: the
 * records within R, at most --k of them), optionally restricted by a
 * metadata filter (`--filter`, the language of docs/FILTERS.md) and
 * printing each hit's metadata (`--meta`), read from one reused
 * vex_results handle. The query is one vector given inline
 * (`--vector 0.1,0.2,...`) or the vectors of a file (`--queries FILE`,
 * texmex or .npy, the first `--limit` of them). Nothing is written: the
 * database is opened with background compaction off, and opening a
 * collection replays its log as any open does.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "readers.h"
#include "vexdb.h"

/* "1.5,-2,3e-1" into v[dim]: 0 when the count or a number is wrong. */
static int parse_vector(const char *s, float *v, uint32_t dim)
{
    uint32_t n = 0;
    while (*s) {
        char *end;
        double x = strtod(s, &end);
        if (end == s || n == dim || !isfinite(x))
            return 0;
        v[n++] = (float)x;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return n == dim;
}

static void print_meta(const vex_meta *m)
{
    size_t n = vex_meta_count(m);
    putchar('{');
    for (size_t i = 0; i < n; i++) {
        vex_field f;
        char name[80];
        if (vex_meta_field(m, i, &f) != VEX_OK)
            break;
        snprintf(name, sizeof name, "%.*s", (int)f.name_len, f.name);
        printf(i ? "," : "");
        vex_cli_json_string(stdout, name);
        putchar(':');
        switch (f.type) {
        case VEX_TYPE_BOOL:
            printf(f.b ? "true" : "false");
            break;
        case VEX_TYPE_INT:
            printf("%" PRId64, f.i);
            break;
        case VEX_TYPE_DOUBLE:
            printf("%.17g", f.d);
            break;
        case VEX_TYPE_STRING: {
            char *s = malloc(f.len + 1);
            if (s) {
                memcpy(s, f.s, f.len);
                s[f.len] = '\0'; /* a NUL inside ends the printed text */
                vex_cli_json_string(stdout, s);
                free(s);
            }
            break;
        }
        case VEX_TYPE_TAGS:
            putchar('[');
            for (size_t j = 0; j < f.n_tags; j++) {
                const char *p;
                size_t len;
                char tag[300];
                if (vex_meta_tag(m, i, j, &p, &len) != VEX_OK)
                    break;
                snprintf(tag, sizeof tag, "%.*s", (int)len, p);
                printf(j ? "," : "");
                vex_cli_json_string(stdout, tag);
            }
            putchar(']');
            break;
        default:
            printf("null");
            break;
        }
    }
    putchar('}');
}

static int run_search(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    const vex_optval *vec = &vals[vex_args_index(cmd, "vector")];
    const vex_optval *qf = &vals[vex_args_index(cmd, "queries")];
    const vex_optval *flt = &vals[vex_args_index(cmd, "filter")];
    const vex_optval *kv = &vals[vex_args_index(cmd, "k")];
    uint32_t k = kv->given ? (uint32_t)kv->u : 10;
    uint32_t ef = (uint32_t)vals[vex_args_index(cmd, "ef")].u;
    uint64_t limit = vals[vex_args_index(cmd, "limit")].u;
    int json = vals[vex_args_index(cmd, "json")].given;
    int with_meta = vals[vex_args_index(cmd, "meta")].given;
    const vex_optval *rad = &vals[vex_args_index(cmd, "radius")];
    double radius = 0;
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_filter *where = NULL;
    vexio_vectors qs = {0, 0, NULL};
    vex_results *res = NULL;
    float *one = NULL;
    const float *queries;
    uint64_t nq;
    int rc, status = VEX_EXIT_FAIL;
    (void)n_pos;
    if (vec->given == qf->given) {
        fprintf(stderr, "vex search: give exactly one of --vector and "
                        "--queries\n");
        return VEX_EXIT_USAGE;
    }
    if (rad->given) {
        char *end;
        radius = strtod(rad->str, &end);
        if (*end || end == rad->str || !isfinite(radius)) {
            fprintf(stderr,
                    "vex search: --radius must be a finite number, "
                    "got \"%s\"\n",
                    rad->str);
            return VEX_EXIT_USAGE;
        }
    }
    vex_db_options_init(&o);
    /* read-only: works beside an application that holds the database
     * open, and writes nothing (no recovery, no flush, no compaction) */
    o.read_only = 1;
    rc = vex_db_open(pos[0], &o, &db);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex search: %s\n", vex_db_errmsg(db));
        goto out;
    }
    rc = vex_collection_open(db, pos[1], &c);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex search: %s\n", vex_db_errmsg(db));
        goto out;
    }
    vex_collection_get_config(c, &cfg);
    if (cfg.elem != VEX_ELEM_F32) {
        fprintf(stderr,
                "vex search: %s holds %s vectors; only float32 "
                "collections are searched from the command line\n",
                pos[1], vex_elem_name(cfg.elem));
        goto out;
    }
    if (vec->given) {
        one = malloc(cfg.dim * sizeof *one);
        if (one == NULL || !parse_vector(vec->str, one, cfg.dim)) {
            fprintf(stderr,
                    "vex search: --vector must be %u finite numbers "
                    "separated by commas\n",
                    cfg.dim);
            status = VEX_EXIT_USAGE;
            goto out;
        }
        queries = one;
        nq = 1;
    } else {
        vexio_error err;
        if (vexio_read_vectors(qf->str, VEXIO_AUTO, limit, &qs, &err) !=
            VEX_OK) {
            fprintf(stderr, "vex search: %s\n", err.msg);
            goto out;
        }
        if (qs.dim != cfg.dim) {
            fprintf(stderr, "vex search: %s has %u dimensions, %s has %u\n",
                    qf->str, qs.dim, pos[1], cfg.dim);
            goto out;
        }
        queries = qs.data;
        nq = qs.n;
    }
    if (flt->given && vex_filter_parse(c, flt->str, &where) != VEX_OK) {
        fprintf(stderr, "vex search: %s\n", vex_collection_errmsg(c));
        status = VEX_EXIT_USAGE;
        goto out;
    }
    if (vex_results_create(NULL, &res) != VEX_OK)
        goto nomem;
    for (uint64_t q = 0; q < nq; q++) {
        vex_search_params sp;
        vex_search_stats st;
        unsigned with = with_meta ? VEX_WITH_META : 0;
        const vex_hit *hits;
        size_t n;
        int cut;
        vex_search_params_init(&sp);
        vex_search_stats_init(&st);
        sp.ef_search = cfg.index_kind == VEX_INDEX_HNSW ? ef : 0;
        sp.where = where;
        sp.stats = where && q == 0 ? &st : NULL;
        rc = rad->given ? vex_range_search(c, queries + q * cfg.dim,
                                           (float)radius, k, &sp, with, res)
                        : vex_search_results(c, queries + q * cfg.dim, k, &sp,
                                             with, res);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex search: query %" PRIu64 ": %s\n", q,
                    vex_collection_errmsg(c));
            if (rc == VEX_INVALID)
                status = VEX_EXIT_USAGE;
            goto out;
        }
        if (sp.stats && st.unknown_fields > 0)
            fprintf(stderr,
                    "vex search: warning: no record has the field \"%s\"%s "
                    "that the filter names\n",
                    st.unknown_field,
                    st.unknown_fields > 1 ? " (nor some other fields)" : "");
        hits = vex_results_hits(res);
        n = vex_results_count(res);
        cut = vex_results_truncated(res);
        if (json)
            printf("{\"query\":%" PRIu64 ",%s\"hits\":[", q,
                   cut ? "\"truncated\":true," : "");
        else if (nq > 1)
            printf("query %" PRIu64 ":\n", q);
        for (size_t i = 0; i < n; i++) {
            if (json) {
                printf("%s{\"id\":%" PRIu64 ",\"distance\":%.9g", i ? "," : "",
                       hits[i].id, (double)hits[i].distance);
                if (with_meta) {
                    printf(",\"meta\":");
                    print_meta(vex_results_meta(res, i));
                }
                putchar('}');
            } else {
                printf("%3zu  id %-12" PRIu64 " distance %.6g", i + 1,
                       hits[i].id, (double)hits[i].distance);
                if (with_meta) {
                    printf("  ");
                    print_meta(vex_results_meta(res, i));
                }
                putchar('\n');
            }
        }
        if (json)
            printf("]}\n");
        else if (cut)
            printf("(more than %u records within the radius: the nearest "
                   "%u shown; raise --k)\n",
                   k, k);
    }
    status = VEX_EXIT_OK;
    goto out;
nomem:
    fprintf(stderr, "vex search: out of memory\n");
out:
    vex_results_free(res);
    free(one);
    vexio_vectors_free(&qs);
    vex_filter_free(where);
    if (db && vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt search_opts[] = {
    {"vector", VEX_OPT_STRING, "X,Y,...", 0, 0, 0,
     "the query: the collection's dimension of comma-separated numbers"},
    {"queries", VEX_OPT_STRING, "FILE", 0, 0, 0,
     "search for every vector of FILE (.fvecs, .bvecs, .npy)"},
    {"limit", VEX_OPT_UINT, "N", 0, 0, UINT64_MAX,
     "with --queries: only the first N vectors (0 = all; default 0)"},
    {"k", VEX_OPT_UINT, "K", 0, 1, VEX_MAX_K,
     "hits per query (default 10); with --radius, the most returned"},
    {"radius", VEX_OPT_STRING, "R", 0, 0, 0,
     "range search: every record within distance R (the metric's "
     "distance: squared for l2), nearest first, at most --k"},
    {"ef", VEX_OPT_UINT, "N", 0, 0, VEX_MAX_K,
     "HNSW candidate list size (0 = the collection's default)"},
    {"filter", VEX_OPT_STRING, "EXPR", 0, 0, 0,
     "only records whose metadata matches EXPR (docs/FILTERS.md), e.g. "
     "\"year >= 2020 AND lang IN ('de', 'en')\""},
    {"meta", VEX_OPT_FLAG, NULL, 0, 0, 0, "print each hit's metadata"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "one JSON object per query"},
};

const vex_cmd vex_cmd_search = {
    "search",
    "k-NN search of a collection, optionally filtered by metadata",
    "DB COLLECTION",
    2,
    2,
    search_opts,
    sizeof search_opts / sizeof search_opts[0],
    "Opens the database read-only (it works while an application holds\n"
    "the database open, and writes nothing) and searches COLLECTION, as of\n"
    "the open, for the query vector or vectors (with --radius, for the\n"
    "records within that distance). A malformed filter is a\n"
    "usage error whose message gives the byte offset of the problem.\n",
    run_search,
};
