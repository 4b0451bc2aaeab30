/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_search.c - `vex search DB COLLECTION`: k-NN searches of a
 * collection from the command line, or range searches (`--radius R`: the
 * records within R, at most --k of them), optionally restricted by a
 * metadata filter (`--where`, formerly `--filter`, the language of
 * docs/FILTERS.md) and printing each hit's metadata (`--meta`), read from
 * one reused vex_results handle; `--stats` adds each query's time and the
 * plans its sources were searched with (vex_search_stats), `--explain`
 * one line per source: the plan and why, estimated and found matches,
 * distances, graph nodes, rows scanned, time. The query is
 * one vector given inline (`--vector 0.1,0.2,...`) or the vectors of a
 * file (`--queries FILE`, texmex or .npy, the first `--limit` of them).
 * A collection of bit vectors takes queries as their elements, each 0 or
 * 1 (as vex import and vex export write them), packed here.
 * Nothing is written: the database is opened read-only.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clidb.h"
#include "readers.h"
#include "vexdb.h"

#define EXPLAIN_MAX 256 /* sources explained per query */

/* Pack n query vectors of dim elements, each 0 or 1, into bit vectors
 * (element i in bit i % 8 of byte i / 8) at out, size bytes each. The
 * index of the first element that is not 0 or 1 goes to *bad_q, *bad_i
 * and -1 is returned. */
static int search_pack_bits(const float *v, uint64_t n, uint32_t dim,
                            size_t size, unsigned char *out, uint64_t *bad_q,
                            uint32_t *bad_i)
{
    memset(out, 0, (size_t)n * size);
    for (uint64_t q = 0; q < n; q++) {
        for (uint32_t i = 0; i < dim; i++) {
            float x = v[q * dim + i];
            if (x != 0 && x != 1) {
                *bad_q = q;
                *bad_i = i;
                return -1;
            }
            if (x == 1)
                out[q * size + i / 8] |= (unsigned char)(1u << (i % 8));
        }
    }
    return 0;
}

static const char *search_plan_name(int plan)
{
    static const char *const names[] = {"unfiltered", "exact", "graph", "post"};
    return plan >= 0 && plan < 4 ? names[plan] : "?";
}

/* A count of explain, or "-" when not counted (UINT64_MAX). */
static const char *search_count(uint64_t v, char *buf, size_t size)
{
    if (v == UINT64_MAX)
        return "-";
    snprintf(buf, size, "%" PRIu64, v);
    return buf;
}

static void search_explain_text(const vex_source_explain *ex, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const vex_source_explain *e = &ex[i];
        char est[24], found[24];
        if (e->kind == NULL)
            continue;
        if (e->segment)
            printf("  segment %-6" PRIu64, e->segment);
        else
            printf("  %-14s", e->kind);
        if (!e->searched) {
            printf(" empty\n");
            continue;
        }
        printf(" %-10s rows %-9" PRIu64 " matches est %s found %s\n"
               "      distances %" PRIu64 ", graph nodes %" PRIu64
               ", rows scanned %" PRIu64 ", %.3f ms\n"
               "      why: %s\n",
               search_plan_name(e->plan), e->rows,
               search_count(e->est_matches, est, sizeof est),
               search_count(e->matches, found, sizeof found), e->distances,
               e->nodes_visited, e->rows_scanned, (double)e->time_ns / 1e6,
               e->reason);
    }
}

static void search_explain_json(const vex_source_explain *ex, uint32_t n)
{
    printf(",\"explain\":[");
    for (uint32_t i = 0, first = 1; i < n; i++) {
        const vex_source_explain *e = &ex[i];
        if (e->kind == NULL)
            continue;
        printf("%s{\"source\":\"%s\",\"segment\":%" PRIu64 ",\"rows\":%" PRIu64
               ",\"searched\":%s",
               first ? "" : ",", e->kind, e->segment, e->rows,
               e->searched ? "true" : "false");
        first = 0;
        if (e->searched) {
            printf(",\"plan\":\"%s\",\"fell_back\":%s,\"reason\":",
                   search_plan_name(e->plan), e->fell_back ? "true" : "false");
            vex_cli_json_string(stdout, e->reason);
            if (e->est_matches != UINT64_MAX)
                printf(",\"est_matches\":%" PRIu64, e->est_matches);
            if (e->matches != UINT64_MAX)
                printf(",\"matches\":%" PRIu64, e->matches);
            printf(",\"distances\":%" PRIu64 ",\"graph_nodes\":%" PRIu64
                   ",\"rows_scanned\":%" PRIu64 ",\"ms\":%.3f",
                   e->distances, e->nodes_visited, e->rows_scanned,
                   (double)e->time_ns / 1e6);
        }
        putchar('}');
    }
    putchar(']');
}

static int run_search(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    const vex_optval *vec = &vals[vex_args_index(cmd, "vector")];
    const vex_optval *qf = &vals[vex_args_index(cmd, "queries")];
    const vex_optval *flt = &vals[vex_args_index(cmd, "where")];
    const vex_optval *flt_old = &vals[vex_args_index(cmd, "filter")];
    int show_stats = vals[vex_args_index(cmd, "stats")].given;
    int explain = vals[vex_args_index(cmd, "explain")].given;
    vex_source_explain *ex = NULL;
    const vex_optval *kv = &vals[vex_args_index(cmd, "k")];
    uint32_t k = kv->given ? (uint32_t)kv->u : 10;
    uint32_t ef = (uint32_t)vals[vex_args_index(cmd, "ef")].u;
    uint32_t beam = (uint32_t)vals[vex_args_index(cmd, "beam")].u;
    uint64_t limit = vals[vex_args_index(cmd, "limit")].u;
    int json = vals[vex_args_index(cmd, "json")].given;
    int with_meta = vals[vex_args_index(cmd, "meta")].given;
    const vex_optval *rad = &vals[vex_args_index(cmd, "radius")];
    const vex_optval *txt = &vals[vex_args_index(cmd, "text")];
    const vex_optval *fus = &vals[vex_args_index(cmd, "fusion")];
    int show_text = vals[vex_args_index(cmd, "show-text")].given;
    uint32_t fusion = VEX_FUSION_RRF;
    double radius = 0;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_filter *where = NULL;
    vexio_vectors qs = {0, 0, NULL};
    vex_results *res = NULL;
    float *one = NULL;
    const float *queries;
    unsigned char *packed = NULL;
    const unsigned char *qdata; /* the queries as the collection takes them */
    size_t qsize;               /* bytes of one */
    uint64_t nq;
    int rc, status = VEX_EXIT_FAIL;
    (void)n_pos;
    if (flt->given && flt_old->given) {
        fprintf(stderr, "vex search: --filter is the older name of --where; "
                        "give one of them\n");
        return VEX_EXIT_USAGE;
    }
    if (flt_old->given)
        flt = flt_old;
    if ((vec->given && qf->given) ||
        (!vec->given && !qf->given && !txt->given)) {
        fprintf(stderr, "vex search: give one of --vector and --queries, "
                        "or --text alone (a keyword search)\n");
        return VEX_EXIT_USAGE;
    }
    if (fus->given) {
        if (strcmp(fus->str, "rrf") == 0)
            fusion = VEX_FUSION_RRF;
        else if (strcmp(fus->str, "sum") == 0)
            fusion = VEX_FUSION_SUM;
        else {
            fprintf(stderr, "vex search: --fusion is rrf or sum, got \"%s\"\n",
                    fus->str);
            return VEX_EXIT_USAGE;
        }
        if (!txt->given || (!vec->given && !qf->given)) {
            fprintf(stderr, "vex search: --fusion needs --text and a query "
                            "vector (a hybrid search)\n");
            return VEX_EXIT_USAGE;
        }
    }
    if (txt->given && rad->given) {
        fprintf(stderr, "vex search: --radius has no keyword leg: give "
                        "--text or --radius\n");
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
    if (vex_cli_db_open("search", pos[0], VEX_CLI_READ, &db) != VEX_OK ||
        vex_cli_coll_open("search", db, pos[0], pos[1], &c) != VEX_OK)
        goto out;
    vex_collection_get_config(c, &cfg);
    if (!vec->given && !qf->given) { /* keyword only: one query */
        queries = NULL;
        nq = 1;
    } else if (vec->given) {
        one = malloc(cfg.dim * sizeof *one);
        if (one == NULL)
            goto nomem;
        if (vex_cli_parse_vector("search", "--vector", vec->str, one,
                                 cfg.dim) != 0) {
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
    qdata = (const unsigned char *)queries;
    qsize = cfg.dim * sizeof(float);
    if (queries && cfg.elem == VEX_ELEM_BIT) {
        uint64_t bq;
        uint32_t bi;
        qsize = vex_vector_size(cfg.elem, cfg.dim);
        packed = malloc((size_t)nq * qsize);
        if (packed == NULL)
            goto nomem;
        if (search_pack_bits(queries, nq, cfg.dim, qsize, packed, &bq, &bi) !=
            0) {
            if (vec->given) {
                fprintf(stderr,
                        "vex search: --vector: element %u is %g, not 0 or 1 "
                        "(%s holds bit vectors)\n",
                        bi + 1, (double)queries[bi], pos[1]);
                status = VEX_EXIT_USAGE;
            } else {
                fprintf(stderr,
                        "vex search: %s: vector %" PRIu64 " element %u is "
                        "%g, not 0 or 1 (%s holds bit vectors)\n",
                        qf->str, bq, bi + 1, (double)queries[bq * cfg.dim + bi],
                        pos[1]);
            }
            goto out;
        }
        qdata = packed;
    }
    if (flt->given &&
        vex_cli_filter("search", c, flt->str, 0, &where) != VEX_OK) {
        status = VEX_EXIT_USAGE;
        goto out;
    }
    if (vex_results_create(NULL, &res) != VEX_OK)
        goto nomem;
    if (explain && (ex = calloc(EXPLAIN_MAX, sizeof *ex)) == NULL)
        goto nomem;
    for (uint64_t q = 0; q < nq; q++) {
        vex_search_params sp;
        vex_search_stats st;
        unsigned with =
            (with_meta ? VEX_WITH_META : 0) | (show_text ? VEX_WITH_TEXT : 0);
        const void *qv = qdata ? qdata + q * qsize : NULL;
        const vex_hit *hits;
        size_t n;
        int cut;
        double t0, ms;
        vex_search_params_init(&sp);
        vex_search_stats_init(&st);
        sp.ef_search =
            cfg.index_kind == VEX_INDEX_HNSW || cfg.diskann_min_rows ? ef : 0;
        sp.beam_width = beam;
        sp.where = where;
        sp.stats = &st;
        if (txt->given) {
            sp.text = txt->str;
            sp.fusion = fusion;
        }
        if (ex) {
            memset(ex, 0, EXPLAIN_MAX * sizeof *ex);
            st.explain = ex;
            st.explain_cap = EXPLAIN_MAX;
        }
        t0 = vex_cli_now();
        rc = rad->given
                 ? vex_range_search(c, qv, (float)radius, k, &sp, with, res)
                 : vex_search_results(c, qv, k, &sp, with, res);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex search: query %" PRIu64 ": %s\n", q,
                    vex_collection_errmsg(c));
            if (rc == VEX_INVALID)
                status = VEX_EXIT_USAGE;
            goto out;
        }
        ms = (vex_cli_now() - t0) * 1e3;
        if (q == 0)
            vex_cli_warn_unknown("search", &st);
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
                    vex_cli_json_meta(stdout, vex_results_meta(res, i));
                }
                if (show_text) {
                    const char *t = NULL;
                    size_t tl = 0;
                    (void)vex_results_text(res, i, &t, &tl);
                    printf(",\"text\":");
                    if (tl)
                        vex_cli_json_bytes(stdout, t, tl);
                    else
                        printf("null");
                }
                putchar('}');
            } else {
                printf("%3zu  id %-12" PRIu64 " distance %.6g", i + 1,
                       hits[i].id, (double)hits[i].distance);
                if (with_meta) {
                    printf("  ");
                    vex_cli_json_meta(stdout, vex_results_meta(res, i));
                }
                if (show_text) {
                    const char *t = NULL;
                    size_t tl = 0;
                    (void)vex_results_text(res, i, &t, &tl);
                    printf("  ");
                    vex_cli_json_bytes(stdout, t, tl);
                }
                putchar('\n');
            }
        }
        if (json && show_stats)
            printf("],\"ms\":%.3f,\"plan\":{\"sources\":%u,\"exact\":%u,"
                   "\"graph\":%u,\"post\":%u,\"fallbacks\":%u,"
                   "\"match_sets_built\":%u,\"rows_matched\":%" PRIu64
                   "},\"legs\":{\"vector\":%s,\"text\":%s},"
                   "\"vector_hits\":%u,\"text_hits\":%u,\"postings_read\":"
                   "%" PRIu64 ",\"postings_skipped\":%" PRIu64
                   ",\"io\":{\"reads\":%" PRIu64 ",\"pages\":%" PRIu64
                   ",\"bytes\":%" PRIu64 ",\"cache_hits\":%" PRIu64 "}",
                   ms, st.sources, st.plan_exact, st.plan_graph, st.plan_post,
                   st.fallbacks, st.match_sets_built, st.rows_matched,
                   st.legs & VEX_LEG_VECTOR ? "true" : "false",
                   st.legs & VEX_LEG_TEXT ? "true" : "false", st.vector_hits,
                   st.text_hits, st.postings_read, st.postings_skipped,
                   st.io_reads, st.io_pages, st.io_bytes, st.io_cache_hits);
        else if (json)
            printf("]");
        if (json && ex)
            search_explain_json(ex, st.n_explain < EXPLAIN_MAX ? st.n_explain
                                                               : EXPLAIN_MAX);
        if (json)
            printf("}\n");
        if (!json && show_stats && (st.legs & VEX_LEG_VECTOR))
            printf("(%zu hits in %.3f ms; %u sources searched: %u exact, %u "
                   "graph, %u post-filtered, %u fallbacks to exact%s)\n",
                   n, ms, st.sources, st.plan_exact, st.plan_graph,
                   st.plan_post, st.fallbacks, where ? "" : "; no filter");
        if (!json && show_stats && (st.io_reads || st.io_cache_hits))
            printf("(DiskANN: %" PRIu64 " reads, %" PRIu64 " pages, %" PRIu64
                   " bytes, %" PRIu64 " pages from the node cache)\n",
                   st.io_reads, st.io_pages, st.io_bytes, st.io_cache_hits);
        if (!json && show_stats && (st.legs & VEX_LEG_TEXT))
            printf("(%zu hits in %.3f ms; legs: %s; vector %u hits, keyword "
                   "%u hits; BM25 over %" PRIu64
                   " texts, postings read %" PRIu64 ", skipped %" PRIu64 ")\n",
                   n, ms,
                   st.legs & VEX_LEG_VECTOR ? "vector + keyword, fused"
                                            : "keyword only",
                   st.vector_hits, st.text_hits, st.text_docs, st.postings_read,
                   st.postings_skipped);
        if (!json && ex) {
            printf("(explain: %zu hits in %.3f ms, %u sources%s)\n", n, ms,
                   st.n_explain, where ? "" : ", no filter");
            search_explain_text(ex, st.n_explain < EXPLAIN_MAX ? st.n_explain
                                                               : EXPLAIN_MAX);
        }
        if (!json && cut)
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
    free(ex);
    free(one);
    free(packed);
    vexio_vectors_free(&qs);
    vex_filter_free(where);
    if (db && vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt search_opts[] = {
    {"vector", VEX_OPT_STRING, "X,Y,...", 0, 0, 0,
     "the query: the collection's dimension of comma-separated numbers "
     "(0 or 1 each for bit vectors)"},
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
     "HNSW and DiskANN candidate list size (0 = the collection's default)"},
    {"beam", VEX_OPT_UINT, "W", 0, 0, 64,
     "DiskANN segments: node pages read at once per step (0 = 4)"},
    {"where", VEX_OPT_STRING, "EXPR", 0, 0, 0,
     "only records whose metadata matches EXPR (docs/FILTERS.md), e.g. "
     "\"year >= 2020 AND lang IN ('de', 'en')\""},
    {"filter", VEX_OPT_STRING, "EXPR", 0, 0, 0, "the older name of --where"},
    {"stats", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "print each query's time and plan: sources searched exactly, by "
     "graph, post-filtered, and fallbacks"},
    {"explain", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "print per source (memtable, segment) the plan and why, estimated and "
     "found matches, distances, graph nodes, rows scanned and time"},
    {"text", VEX_OPT_STRING, "WORDS", 0, 0, 0,
     "keyword (BM25) search of the records' texts: alone, a keyword "
     "search; with --vector or --queries, a hybrid search"},
    {"fusion", VEX_OPT_STRING, "rrf|sum", 0, 0, 0,
     "how a hybrid search fuses its legs: reciprocal rank fusion (rrf, "
     "the default) or a weighted sum of normalised scores (sum)"},
    {"show-text", VEX_OPT_FLAG, NULL, 0, 0, 0, "print each hit's text"},
    {"meta", VEX_OPT_FLAG, NULL, 0, 0, 0, "print each hit's metadata"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "one JSON object per query"},
};

const vex_cmd vex_cmd_search = {
    "search",
    "k-NN, keyword or hybrid search of a collection, optionally filtered",
    "DB COLLECTION",
    2,
    2,
    search_opts,
    sizeof search_opts / sizeof search_opts[0],
    "Opens the database read-only (it works while an application holds\n"
    "the database open, and writes nothing) and searches COLLECTION, as of\n"
    "the open, for the query vector or vectors (with --radius, for the\n"
    "records within that distance). A malformed filter is a usage error\n"
    "whose message points at the problem; a filter naming a field no\n"
    "record has is searched, with a warning. --stats shows how each\n"
    "query ran: time, and the plan chosen per source (memtable or\n"
    "segment; docs/FILTERS.md); --explain shows each source's plan, why\n"
    "it was chosen and the work it did (docs/observability.md). --text\n"
    "searches the records' texts with BM25 (a collection with a text\n"
    "field; docs/hybrid.md): alone, the best records by score\n"
    "(distance = -score); with a query vector, both legs fused.\n",
    run_search,
};
