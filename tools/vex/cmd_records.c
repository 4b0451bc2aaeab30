/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_records.c - record-level commands of the vex tool: `vex get` (a
 * record's vector, metadata and payload, read-only), `vex delete` (by ids
 * as one atomic batch, or every record a filter matches as one atomic
 * commit), `vex count` (optionally filtered, read-only), and the
 * maintenance commands `vex flush` and `vex compact`.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

static int parse_ids(const char *cmd, char **pos, int n, uint64_t *ids)
{
    for (int i = 0; i < n; i++) {
        if (vex_cli_parse_id(pos[i], &ids[i]) != 0) {
            fprintf(stderr,
                    "vex %s: \"%s\" is not an id (a decimal integer in "
                    "0..18446744073709551615)\n",
                    cmd, pos[i]);
            return -1;
        }
    }
    return 0;
}

static void print_text_record(uint64_t id, const vex_collection_config *cfg,
                              const void *vec, const vex_meta *meta,
                              const char *payload, size_t plen,
                              const char *text, size_t tlen)
{
    printf("id %" PRIu64 "\n", id);
    if (vec) {
        printf("  vector   [");
        for (uint32_t i = 0; i < cfg->dim; i++) {
            if (cfg->elem == VEX_ELEM_BIT)
                printf(i ? ",%d" : "%d",
                       ((const unsigned char *)vec)[i / 8] >> (i % 8) & 1);
            else
                printf(i ? ", %g" : "%g", (double)((const float *)vec)[i]);
        }
        printf("]\n");
    }
    printf("  meta     ");
    vex_cli_json_meta(stdout, meta);
    putchar('\n');
    if (plen) {
        printf("  payload  %zu bytes: ", plen);
        vex_cli_json_bytes(stdout, payload, plen < 200 ? plen : 200);
        printf("%s\n", plen > 200 ? "..." : "");
    }
    if (tlen) {
        printf("  text     %zu bytes: ", tlen);
        vex_cli_json_bytes(stdout, text, tlen < 200 ? tlen : 200);
        printf("%s\n", tlen > 200 ? "..." : "");
    }
}

static int run_get(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                   int n_pos)
{
    int json = vals[vex_args_index(cmd, "json")].given;
    int no_vec = vals[vex_args_index(cmd, "no-vector")].given;
    int n_ids = n_pos - 2, status = VEX_EXIT_FAIL;
    uint64_t *ids = malloc((size_t)n_ids * sizeof *ids);
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *meta = NULL;
    void *vec = NULL;
    char *payload = NULL, *text = NULL;
    size_t cap = 0, tcap = 0;
    if (!ids) {
        fprintf(stderr, "vex get: out of memory\n");
        return VEX_EXIT_FAIL;
    }
    if (parse_ids("get", pos + 2, n_ids, ids) != 0) {
        free(ids);
        return VEX_EXIT_USAGE;
    }
    if (vex_cli_db_open("get", pos[0], VEX_CLI_READ, &db) != VEX_OK ||
        vex_cli_coll_open("get", db, pos[0], pos[1], &c) != VEX_OK)
        goto out;
    vex_collection_get_config(c, &cfg);
    vec = malloc(vex_vector_size(cfg.elem, cfg.dim));
    if (!vec || vex_meta_create(NULL, &meta) != VEX_OK) {
        fprintf(stderr, "vex get: out of memory\n");
        goto out;
    }
    status = VEX_EXIT_OK;
    for (int i = 0; i < n_ids; i++) {
        size_t plen = 0, tlen = 0;
        int rc = vex_get(c, ids[i], vec);
        if (rc == VEX_OK)
            rc = vex_get_meta(c, ids[i], meta);
        if (rc == VEX_OK)
            rc = vex_get_payload(c, ids[i], payload, cap, &plen);
        if (rc == VEX_OK && plen > cap) {
            char *p = realloc(payload, plen);
            if (!p) {
                fprintf(stderr, "vex get: out of memory\n");
                status = VEX_EXIT_FAIL;
                break;
            }
            payload = p;
            cap = plen;
            rc = vex_get_payload(c, ids[i], payload, cap, &plen);
        }
        if (rc == VEX_OK && cfg.text)
            rc = vex_cli_get_text(c, ids[i], &text, &tcap, &tlen);
        if (rc == VEX_NOTFOUND) {
            fprintf(stderr, "vex get: id %" PRIu64 ": not found\n", ids[i]);
            status = VEX_EXIT_FAIL;
            continue;
        }
        if (rc != VEX_OK) {
            fprintf(stderr, "vex get: id %" PRIu64 ": %s\n", ids[i],
                    vex_collection_errmsg(c));
            status = VEX_EXIT_FAIL;
            continue;
        }
        if (json)
            vex_cli_json_record(stdout, ids[i], &cfg, no_vec ? NULL : vec, meta,
                                payload, plen, text, tlen);
        else
            print_text_record(ids[i], &cfg, no_vec ? NULL : vec, meta, payload,
                              plen, text, tlen);
    }
out:
    vex_meta_free(meta);
    free(vec);
    free(payload);
    free(text);
    free(ids);
    if (db && vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt get_opts[] = {
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "one JSON object per record (the format of vex export)"},
    {"no-vector", VEX_OPT_FLAG, NULL, 0, 0, 0, "leave the vector out"},
};

const vex_cmd vex_cmd_get = {
    "get",
    "print records by id: vector, metadata, payload",
    "DB COLLECTION ID...",
    3,
    VEX_MAX_POS,
    get_opts,
    sizeof get_opts / sizeof get_opts[0],
    "Opens the database read-only. An id that is not there is reported on\n"
    "stderr and makes the exit status 1; the others are still printed.\n",
    run_get,
};

static int delete_ids(vex_collection *c, const vex_collection_config *cfg,
                      const uint64_t *ids, int n, uint64_t *deleted)
{
    vex_batch *b = NULL;
    int rc = vex_batch_create(vex_vector_size(cfg->elem, cfg->dim), NULL, &b);
    for (int i = 0; rc == VEX_OK && i < n; i++)
        rc = vex_batch_delete(b, ids[i]);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex delete: %s\n",
                b ? vex_batch_errmsg(b) : "out of memory");
        vex_batch_free(b);
        return rc;
    }
    rc = vex_batch_commit(c, b);
    if (rc != VEX_OK)
        fprintf(stderr, "vex delete: %s; nothing was deleted\n",
                vex_collection_errmsg(c));
    else
        *deleted = (uint64_t)n;
    vex_batch_free(b);
    return rc;
}

static int run_delete(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    const vex_optval *where = &vals[vex_args_index(cmd, "where")];
    int json = vals[vex_args_index(cmd, "json")].given;
    int n_ids = n_pos - 2, status = VEX_EXIT_FAIL, rc;
    uint64_t *ids = NULL, deleted = 0;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_filter *f = NULL;
    if ((n_ids > 0) == where->given) {
        fprintf(stderr, "vex delete: give ids or --where EXPR (one of "
                        "them)\n");
        return VEX_EXIT_USAGE;
    }
    if (n_ids > 0) {
        ids = malloc((size_t)n_ids * sizeof *ids);
        if (!ids) {
            fprintf(stderr, "vex delete: out of memory\n");
            return VEX_EXIT_FAIL;
        }
        if (parse_ids("delete", pos + 2, n_ids, ids) != 0) {
            free(ids);
            return VEX_EXIT_USAGE;
        }
    }
    if (vex_cli_db_open("delete", pos[0], VEX_CLI_WRITE, &db) != VEX_OK ||
        vex_cli_coll_open("delete", db, pos[0], pos[1], &c) != VEX_OK)
        goto out;
    vex_collection_get_config(c, &cfg);
    if (where->given) {
        if (vex_cli_filter("delete", c, where->str, 1, &f) != VEX_OK) {
            status = VEX_EXIT_USAGE;
            goto out;
        }
        rc = vex_delete_where(c, f, &deleted);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex delete: %s\n", vex_collection_errmsg(c));
            goto out;
        }
    } else if (delete_ids(c, &cfg, ids, n_ids, &deleted) != VEX_OK) {
        goto out;
    }
    if (json)
        printf("{\"deleted\":%" PRIu64 "}\n", deleted);
    else
        printf("deleted %" PRIu64 " record%s\n", deleted,
               deleted == 1 ? "" : "s");
    status = VEX_EXIT_OK;
out:
    vex_filter_free(f);
    free(ids);
    if (db && vex_db_close(db) != VEX_OK) {
        fprintf(stderr, "vex delete: closing the database failed\n");
        status = VEX_EXIT_FAIL;
    }
    return status;
}

static const vex_opt delete_opts[] = {
    {"where", VEX_OPT_STRING, "EXPR", 0, 0, 0,
     "delete every record this filter matches (docs/FILTERS.md)"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "print {\"deleted\":N}"},
};

const vex_cmd vex_cmd_delete = {
    "delete",
    "delete records by id or by filter",
    "DB COLLECTION [ID...]",
    2,
    VEX_MAX_POS,
    delete_opts,
    sizeof delete_opts / sizeof delete_opts[0],
    "Ids are deleted as one atomic batch: if one of them is not there,\n"
    "nothing is deleted and the message names it. --where deletes every\n"
    "matching record as one atomic commit. Prints how many were deleted.\n",
    run_delete,
};

static int run_count(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                     int n_pos)
{
    const vex_optval *where = &vals[vex_args_index(cmd, "where")];
    int json = vals[vex_args_index(cmd, "json")].given;
    int status = VEX_EXIT_FAIL;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_filter *f = NULL;
    uint64_t n = 0;
    (void)n_pos;
    if (vex_cli_db_open("count", pos[0], VEX_CLI_READ, &db) != VEX_OK ||
        vex_cli_coll_open("count", db, pos[0], pos[1], &c) != VEX_OK)
        goto out;
    if (where->given &&
        vex_cli_filter("count", c, where->str, 1, &f) != VEX_OK) {
        status = VEX_EXIT_USAGE;
        goto out;
    }
    if (vex_count_where(c, f, &n) != VEX_OK) {
        fprintf(stderr, "vex count: %s\n", vex_collection_errmsg(c));
        goto out;
    }
    if (json)
        printf("{\"count\":%" PRIu64 "}\n", n);
    else
        printf("%" PRIu64 "\n", n);
    status = VEX_EXIT_OK;
out:
    vex_filter_free(f);
    if (db && vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt count_opts[] = {
    {"where", VEX_OPT_STRING, "EXPR", 0, 0, 0,
     "count only the records this filter matches"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "print {\"count\":N}"},
};

const vex_cmd vex_cmd_count = {
    "count",
    "count a collection's records, optionally filtered",
    "DB COLLECTION",
    2,
    2,
    count_opts,
    sizeof count_opts / sizeof count_opts[0],
    "Opens the database read-only and prints the number of records (that\n"
    "--where matches).\n",
    run_count,
};

/* One vex_flush or vex_compact run in a thread of its own, so that the
 * caller can draw its progress (vex_stats' flush/compact_rows_*). */
typedef struct maint_run {
    vex_collection *c;
    int compact, rc;
    _Atomic int over;
} maint_run;

static void *maint_main(void *arg)
{
    maint_run *m = arg;
    m->rc = m->compact ? vex_compact(m->c) : vex_flush(m->c);
    atomic_store(&m->over, 1);
    return NULL;
}

/* vex_flush (compact 0) or vex_compact on c; on a terminal, with the
 * build's progress ("flushing docs 12000/50000 rows 24%  9800/s  ETA 3s")
 * read from vex_stats every 100 ms while it runs. */
static int maint_step(vex_collection *c, const char *name, int compact, int tty)
{
    maint_run m = {c, compact, VEX_OK, 0};
    pthread_t t;
    vex_cli_meter meter;
    char what[96];
    int seen = 0;
    if (!tty)
        return compact ? vex_compact(c) : vex_flush(c);
    if (pthread_create(&t, NULL, maint_main, &m) != 0)
        return compact ? vex_compact(c) : vex_flush(c);
    snprintf(what, sizeof what, "%s %s", compact ? "compacting" : "flushing",
             name);
    vex_cli_meter_start(&meter, what, "rows");
    while (!atomic_load(&m.over)) {
        struct timespec ts = {0, 100000000L};
        vex_stats st;
        uint64_t done, total;
        vex_stats_init(&st);
        if (vex_stats_get(c, &st) == VEX_OK) {
            done = compact ? st.compact_rows_done : st.flush_rows_done;
            total = compact ? st.compact_rows_total : st.flush_rows_total;
            if (total > 0) {
                /* the rate counts from the first figure seen (a flush
                 * starts with the rows the background indexed) */
                if (!seen) {
                    vex_cli_meter_rebase(&meter, done);
                    seen = 1;
                }
                vex_cli_meter_update(&meter, done, total);
            }
        }
        nanosleep(&ts, NULL);
    }
    pthread_join(t, NULL);
    vex_cli_meter_done(&meter);
    return m.rc;
}

/* flush (compact = 0) or flush then compact each named collection */
static int maintain(const char *cmd, char **pos, int n_pos, int compact,
                    int json)
{
    vex_db *db = NULL;
    int status = VEX_EXIT_OK, rc, tty = vex_cli_progress_enabled();
    if (vex_cli_db_open(cmd, pos[0], VEX_CLI_WRITE, &db) != VEX_OK)
        return VEX_EXIT_FAIL;
    for (int i = 1; i < n_pos; i++) {
        vex_collection *c = NULL;
        vex_stats st;
        char h[32];
        double t0 = vex_cli_now();
        if (vex_cli_coll_open(cmd, db, pos[0], pos[i], &c) != VEX_OK) {
            status = VEX_EXIT_FAIL;
            continue;
        }
        rc = maint_step(c, pos[i], 0, tty);
        if (rc == VEX_OK && compact)
            rc = maint_step(c, pos[i], 1, tty);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex %s: %s: %s\n", cmd, pos[i],
                    vex_collection_errmsg(c));
            status = VEX_EXIT_FAIL;
        } else {
            vex_stats_init(&st);
            if (vex_stats_get(c, &st) == VEX_OK && json)
                printf("{\"collection\":\"%s\",\"rows\":%" PRIu64
                       ",\"segments\":%u,\"disk_bytes\":%" PRIu64
                       ",\"seconds\":%.3f}\n",
                       pos[i], st.live_rows, st.segments, st.disk_bytes,
                       vex_cli_now() - t0);
            else if (vex_stats_get(c, &st) == VEX_OK)
                printf("%s: %" PRIu64 " rows in %u segment%s, %s on disk "
                       "(%.2f s)\n",
                       pos[i], st.live_rows, st.segments,
                       st.segments == 1 ? "" : "s",
                       vex_cli_human_bytes(st.disk_bytes, h, sizeof h),
                       vex_cli_now() - t0);
        }
        if (vex_collection_close(c) != VEX_OK)
            status = VEX_EXIT_FAIL;
    }
    if (vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static int run_flush(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                     int n_pos)
{
    return maintain("flush", pos, n_pos, 0,
                    vals[vex_args_index(cmd, "json")].given);
}

static int run_compact(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                       int n_pos)
{
    return maintain("compact", pos, n_pos, 1,
                    vals[vex_args_index(cmd, "json")].given);
}

static const vex_opt maint_opts[] = {
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "one JSON object per collection: rows, segments, bytes, seconds"},
};

const vex_cmd vex_cmd_flush = {
    "flush",
    "write collections' memtables to indexed segments",
    "DB COLLECTION...",
    2,
    VEX_MAX_POS,
    maint_opts,
    sizeof maint_opts / sizeof maint_opts[0],
    "Writes each collection's memtable to a segment file with its index\n"
    "and discards the log it covers, so the next open replays nothing.\n",
    run_flush,
};

const vex_cmd vex_cmd_compact = {
    "compact",
    "merge collections' segments, dropping deleted rows",
    "DB COLLECTION...",
    2,
    VEX_MAX_POS,
    maint_opts,
    sizeof maint_opts / sizeof maint_opts[0],
    "Flushes each collection, then merges all its segments into one,\n"
    "dropping deleted and overwritten rows and building a fresh index.\n",
    run_compact,
};
