/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filtered.c - metadata and filtered search: a collection with a schema,
 * records with typed metadata, and a nearest-neighbour search restricted
 * by a filter (docs/FILTERS.md). Uses only <vexdb.h>.
 *
 * Usage: filtered [dir]   (default "vexdb-filtered"; created or reopened)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vexdb.h>

#define DIM 4
#define N   600

static const char *const LANGS[3] = {"en", "de", "fr"};

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "vexdb-filtered";
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_filter *where = NULL;
    vex_meta *metas[N] = {0};
    int ok = 0;

    vex_db_options dopt;
    vex_db_options_init(&dopt);
    dopt.create_if_missing = 1;
    if (vex_db_open(dir, &dopt, &db) != VEX_OK) {
        fprintf(stderr, "open: %s\n", db ? vex_db_errmsg(db) : "no memory");
        goto done;
    }

    /* A schema: every record must have a string "lang" and an int64
     * "year"; "tags" is optional. Writes that break it are refused. */
    const vex_schema_field schema[] = {
        {"lang", VEX_TYPE_STRING, 0},
        {"year", VEX_TYPE_INT, 0},
        {"tags", VEX_TYPE_TAGS, 1},
    };
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.metric = VEX_METRIC_COSINE;
    cfg.schema_fields = schema;
    cfg.n_schema_fields = 3;
    int created = 0;
    if (vex_collection_open_or_create(db, "articles", &cfg, &c, &created) !=
        VEX_OK) {
        fprintf(stderr, "collection: %s\n", vex_db_errmsg(db));
        goto done;
    }

    /* Records: id i has language LANGS[i % 3], year 2000 + i % 25, the
     * tag "draft" on every tenth ("published" on the others), and a vector
     * that turns slowly with i. (A filter is three-valued: a condition on
     * a missing field matches nothing, NOT of it included.) */
    if (created) {
        static uint64_t ids[N];
        static float vecs[N][DIM];
        for (size_t i = 0; i < N; i++) {
            ids[i] = i;
            vecs[i][0] = 1.0f;
            vecs[i][1] = (float)i / N;
            vecs[i][2] = (float)(i % 7) / 7.0f;
            vecs[i][3] = 0.5f;
            if (vex_meta_create(NULL, &metas[i]) != VEX_OK)
                goto done;
            const char *lang = LANGS[i % 3];
            vex_meta_set_string(metas[i], "lang", lang, strlen(lang));
            vex_meta_set_int(metas[i], "year", 2000 + (int64_t)(i % 25));
            const char *tags[] = {i % 10 == 0 ? "draft" : "published"};
            vex_meta_set_tags(metas[i], "tags", tags, 1);
        }
        if (vex_insert_many(c, N, ids, vecs, (const vex_meta *const *)metas,
                            NULL, NULL) != VEX_OK) {
            fprintf(stderr, "insert: %s\n", vex_collection_errmsg(c));
            goto done;
        }
    }

    /* A filter is compiled once against the collection's schema and can
     * be reused by any number of searches (string values take single
     * quotes; a mistake is reported with its byte offset). */
    const char *text =
        "lang IN ('en', 'de') AND year >= 2020 AND NOT tags CONTAINS 'draft'";
    if (vex_filter_parse(c, text, &where) != VEX_OK) {
        fprintf(stderr, "filter: %s\n", vex_collection_errmsg(c));
        goto done;
    }

    vex_search_params params;
    vex_search_params_init(&params);
    params.where = where;
    const float query[DIM] = {1.0f, 0.5f, 0.3f, 0.5f};
    vex_hit hits[10];
    size_t n_hits = 0;
    if (vex_search(c, query, 10, &params, hits, NULL, &n_hits) != VEX_OK) {
        fprintf(stderr, "search: %s\n", vex_collection_errmsg(c));
        goto done;
    }

    /* Every hit matches the filter; read its metadata back to show it. */
    vex_meta *m = NULL;
    if (vex_meta_create(NULL, &m) != VEX_OK)
        goto done;
    printf("%zu hits for: %s\n", n_hits, text);
    ok = n_hits == 10;
    for (size_t i = 0; i < n_hits; i++) {
        uint64_t id = hits[i].id;
        ok = ok && id % 3 != 2 && id % 25 >= 20 && id % 10 != 0;
        size_t f;
        vex_field lang, year;
        if (vex_get_meta(c, id, m) != VEX_OK || vex_meta_find(m, "lang", &f) ||
            vex_meta_field(m, f, &lang) || vex_meta_find(m, "year", &f) ||
            vex_meta_field(m, f, &year)) {
            ok = 0;
            break;
        }
        printf("  id %3llu  distance %.4f  lang %.*s  year %lld\n",
               (unsigned long long)id, (double)hits[i].distance, (int)lang.len,
               lang.s, (long long)year.i);
    }
    vex_meta_free(m);
    if (!ok)
        fprintf(stderr, "unexpected result\n");

done:
    for (size_t i = 0; i < N; i++)
        vex_meta_free(metas[i]);
    vex_filter_free(where); /* before the database closes */
    if (vex_db_close(db) != VEX_OK)
        ok = 0;
    return ok ? 0 : 1;
}
