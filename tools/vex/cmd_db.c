/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_db.c - the catalog commands of the vex tool: `vex create DB
 * COLLECTION` (creating the database too when it does not exist), `vex
 * drop DB COLLECTION` and `vex collections DB` (each collection's
 * configuration and rows, read-only).
 *
 * A new database is made in a fresh directory beside DB (DB.creating-XXXXXX)
 * and renamed to DB only once its collection exists, so a create the
 * library refuses (a configuration it rejects, a name it does not allow)
 * or a crash leaves no empty database at DB. Rejected: removing DB's
 * files after a failure, which would need to know the library's layout
 * and could race with another process that opened the new database.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

/* 1 when path is a directory with nothing in it (which the library
 * accepts as a new database), else 0. */
static int empty_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = d != NULL;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    if (d)
        closedir(d);
    return empty;
}

/* Rename the new database tmp to path, which must not exist by then or be
 * an empty directory (a directory someone filled meanwhile is not
 * replaced), and make the rename durable. 0; -1 (with a message) when tmp was
 * not renamed; 1 (with a message) when it was but the rename may not survive a
 * crash. */
static int put_in_place(const char *tmp, const char *path)
{
    char parent[4096];
    struct stat st;
    int fd;
    if ((stat(path, &st) == 0 || errno != ENOENT) && !empty_dir(path)) {
        fprintf(stderr,
                "vex create: %s appeared while the database was created; "
                "nothing was changed there\n",
                path);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "vex create: renaming %s to %s: %s\n", tmp, path,
                strerror(errno));
        return -1;
    }
    snprintf(parent, sizeof parent, "%s", path);
    fd = open(dirname(parent), O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        fprintf(stderr, "vex create: syncing the directory of %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    close(fd);
    return 0;
}

static int run_create(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    const vex_optval *metric = &vals[vex_args_index(cmd, "metric")];
    const vex_optval *index = &vals[vex_args_index(cmd, "index")];
    const vex_optval *quant = &vals[vex_args_index(cmd, "quant")];
    const vex_optval *schema = &vals[vex_args_index(cmd, "schema")];
    const vex_optval *elem = &vals[vex_args_index(cmd, "elem")];
    const vex_optval *m = &vals[vex_args_index(cmd, "M")];
    const vex_optval *efc = &vals[vex_args_index(cmd, "ef-construction")];
    const vex_optval *efs = &vals[vex_args_index(cmd, "ef-search")];
    const vex_optval *comp = &vals[vex_args_index(cmd, "compression")];
    const vex_optval *dmin = &vals[vex_args_index(cmd, "diskann-min-rows")];
    const vex_optval *dr = &vals[vex_args_index(cmd, "diskann-r")];
    const vex_optval *dl = &vals[vex_args_index(cmd, "diskann-l")];
    const vex_optval *da = &vals[vex_args_index(cmd, "diskann-alpha")];
    const vex_optval *dpq = &vals[vex_args_index(cmd, "diskann-pq-m")];
    const vex_optval *text = &vals[vex_args_index(cmd, "text")];
    int closed = vals[vex_args_index(cmd, "closed")].given;
    vex_collection_config cfg;
    vex_schema_field *fields = NULL;
    char *storage = NULL;
    vex_db *db = NULL;
    struct stat st;
    char tmp[4096], path[4096];
    mode_t mask;
    int rc, status = VEX_EXIT_USAGE, made_tmp = 0;
    (void)n_pos;
    vex_collection_config_init(&cfg);
    cfg.dim = (uint32_t)vals[vex_args_index(cmd, "dim")].u;
    if (vex_metric_parse(metric->str, &cfg.metric) != VEX_OK) {
        fprintf(stderr,
                "vex create: unknown --metric \"%s\" (l2, ip, cosine, "
                "hamming, jaccard)\n",
                metric->str);
        goto out;
    }
    if (elem->given) {
        if (vex_elem_parse(elem->str, &cfg.elem) != VEX_OK) {
            fprintf(stderr, "vex create: unknown --elem \"%s\" (f32, bit)\n",
                    elem->str);
            goto out;
        }
    } else if (cfg.metric == VEX_METRIC_HAMMING ||
               cfg.metric == VEX_METRIC_JACCARD) {
        cfg.elem = VEX_ELEM_BIT;
    }
    if (index->given) {
        if (strcmp(index->str, "flat") == 0) {
            cfg.index_kind = VEX_INDEX_FLAT;
        } else if (strcmp(index->str, "hnsw") == 0) {
            cfg.index_kind = VEX_INDEX_HNSW;
        } else {
            fprintf(stderr, "vex create: unknown --index \"%s\" (flat, hnsw)\n",
                    index->str);
            goto out;
        }
    }
    if ((m->given || efc->given || efs->given) &&
        cfg.index_kind != VEX_INDEX_HNSW) {
        fprintf(stderr, "vex create: --M, --ef-construction and --ef-search "
                        "apply to --index hnsw only\n");
        goto out;
    }
    cfg.hnsw_m = (uint32_t)m->u;
    cfg.hnsw_ef_construction = (uint32_t)efc->u;
    cfg.hnsw_ef_search = (uint32_t)efs->u;
    if (quant->given && vex_cli_quant_parse(quant->str, &cfg.quant) != 0) {
        fprintf(stderr,
                "vex create: unknown --quant \"%s\" (none, sq8, bq, pq, "
                "opq)\n",
                quant->str);
        goto out;
    }
    if (comp->given) {
        if (strcmp(comp->str, "zstd") == 0) {
            cfg.compression = VEX_COMPRESS_ZSTD;
        } else if (strcmp(comp->str, "none") != 0) {
            fprintf(stderr,
                    "vex create: unknown --compression \"%s\" (none, zstd)\n",
                    comp->str);
            goto out;
        }
    }
    if ((dr->given || dl->given || da->given || dpq->given) && !dmin->given) {
        fprintf(stderr, "vex create: --diskann-r, --diskann-l, "
                        "--diskann-alpha and --diskann-pq-m need "
                        "--diskann-min-rows\n");
        goto out;
    }
    cfg.diskann_min_rows = dmin->u;
    cfg.diskann_r = (uint32_t)dr->u;
    cfg.diskann_l = (uint32_t)dl->u;
    cfg.diskann_pq_m = (uint32_t)dpq->u;
    if (da->given) {
        char *end;
        cfg.diskann_alpha = strtof(da->str, &end);
        if (*end != '\0' || !(cfg.diskann_alpha >= 1.0f) ||
            !(cfg.diskann_alpha <= 2.0f)) {
            fprintf(stderr,
                    "vex create: --diskann-alpha \"%s\" is not a number in "
                    "1..2\n",
                    da->str);
            goto out;
        }
    }
    if (text->given) {
        /* "plain", or "porter" and/or "stopwords", comma-separated */
        const char *p = text->str;
        cfg.text = 1;
        while (*p) {
            size_t n = strcspn(p, ",");
            if (n == 6 && strncmp(p, "porter", 6) == 0)
                cfg.text_stemmer = VEX_STEMMER_PORTER;
            else if (n == 9 && strncmp(p, "stopwords", 9) == 0)
                cfg.text_stopwords = 1;
            else if (!(n == 5 && strncmp(p, "plain", 5) == 0)) {
                fprintf(stderr,
                        "vex create: unknown --text \"%.*s\" (plain, or "
                        "porter and/or stopwords, comma-separated)\n",
                        (int)n, p);
                goto out;
            }
            p += n + (p[n] == ',');
        }
    }
    if (schema->given &&
        vex_cli_schema_parse("create", schema->str, &fields,
                             &cfg.n_schema_fields, &storage) != 0)
        goto out;
    if (closed && !schema->given) {
        fprintf(stderr, "vex create: --closed needs --schema\n");
        goto out;
    }
    cfg.schema_fields = fields;
    cfg.schema_closed = closed ? 1u : 0u;
    status = VEX_EXIT_FAIL;
    if ((stat(pos[0], &st) != 0 && errno == ENOENT) || empty_dir(pos[0])) {
        /* a new database: made under a temporary name (file header),
         * beside DB with its trailing slashes dropped ("new.db/"); an
         * empty directory DB is replaced by it, with its mode kept */
        int existed = empty_dir(pos[0]);
        size_t len = strlen(pos[0]);
        while (len > 1 && pos[0][len - 1] == '/')
            len--;
        if (len >= sizeof path ||
            snprintf(tmp, sizeof tmp, "%.*s.creating-XXXXXX", (int)len,
                     pos[0]) >= (int)sizeof tmp) {
            fprintf(stderr, "vex create: %s: path too long\n", pos[0]);
            goto out;
        }
        memcpy(path, pos[0], len);
        path[len] = '\0';
        if (mkdtemp(tmp) == NULL) {
            fprintf(stderr, "vex create: cannot create %s: %s\n", pos[0],
                    strerror(errno));
            goto out;
        }
        made_tmp = 1;
        /* mkdtemp makes it 0700; a database directory gets the mode
         * mkdir(2) would give it (no library thread runs yet, so reading
         * the umask by setting it is safe) */
        mask = umask(0);
        umask(mask);
        if (chmod(tmp, existed ? st.st_mode & 07777 : 0777 & ~mask) != 0) {
            fprintf(stderr, "vex create: %s: %s\n", tmp, strerror(errno));
            goto out;
        }
    }
    if (vex_cli_db_open("create", made_tmp ? tmp : pos[0], VEX_CLI_CREATE,
                        &db) != VEX_OK)
        goto out;
    rc = vex_collection_create(db, pos[1], &cfg, NULL);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex create: %s\n", vex_db_errmsg(db));
        if (rc == VEX_INVALID)
            status = VEX_EXIT_USAGE;
        goto out;
    }
    rc = vex_db_close(db);
    db = NULL;
    if (rc != VEX_OK) {
        fprintf(stderr, "vex create: closing %s failed: %s\n", pos[0],
                vex_errstr(rc));
        goto out;
    }
    if (made_tmp) {
        rc = put_in_place(tmp, path);
        if (rc < 0)
            goto out;
        made_tmp = 0;
        if (rc > 0)
            goto out;
    }
    status = VEX_EXIT_OK;
out:
    if (db)
        vex_db_close(db);
    if (made_tmp && vex_cli_rm_tree(tmp) != 0)
        fprintf(stderr, "vex create: cannot remove %s: %s\n", tmp,
                strerror(errno));
    free(fields);
    free(storage);
    return status;
}

static const vex_opt create_opts[] = {
    {"dim", VEX_OPT_UINT, "D", 1, 1, VEX_MAX_DIM,
     "vector dimension (bits for --elem bit)"},
    {"metric", VEX_OPT_STRING, "M", 1, 0, 0,
     "l2, ip, cosine (float32), hamming, jaccard (bit vectors)"},
    {"index", VEX_OPT_STRING, "KIND", 0, 0, 0,
     "index of flushed segments: hnsw (default) or flat (exact)"},
    {"quant", VEX_OPT_STRING, "Q", 0, 0, 0,
     "quantizer of segments: none (default), sq8, bq, pq, opq"},
    {"schema", VEX_OPT_STRING, "FIELDS", 0, 0, 0,
     "metadata schema 'name:type,...' (bool, int, double, string, tags; "
     "name:type! is required)"},
    {"closed", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "with --schema: refuse fields the schema does not declare"},
    {"elem", VEX_OPT_STRING, "E", 0, 0, 0,
     "f32 or bit (default: bit for hamming and jaccard, else f32)"},
    {"M", VEX_OPT_UINT, "N", 0, 2, 256,
     "HNSW links per node (default: by dim)"},
    {"ef-construction", VEX_OPT_UINT, "N", 0, 1, VEX_MAX_K,
     "HNSW build candidate list (default: adaptive)"},
    {"ef-search", VEX_OPT_UINT, "N", 0, 1, VEX_MAX_K,
     "HNSW default search candidate list (default 64)"},
    {"compression", VEX_OPT_STRING, "C", 0, 0, 0,
     "metadata columns: none (default; every build reads them) or zstd "
     "(needs a build with zstd, see vex --version)"},
    {"diskann-min-rows", VEX_OPT_UINT, "N", 0, 1, UINT64_C(1) << 40,
     "compacted segments of at least N rows become DiskANN segments, "
     "searched from disk (l2 and cosine; default: never)"},
    {"diskann-r", VEX_OPT_UINT, "N", 0, 4, 256,
     "DiskANN links per node (default 64)"},
    {"diskann-l", VEX_OPT_UINT, "N", 0, 4, 4096,
     "DiskANN build candidate list (default 100)"},
    {"diskann-alpha", VEX_OPT_STRING, "A", 0, 0, 0,
     "DiskANN second-pass pruning, 1..2 (default 1.2)"},
    {"diskann-pq-m", VEX_OPT_UINT, "N", 0, 1, VEX_MAX_DIM,
     "DiskANN navigation code bytes per vector (default dim/4)"},
    {"text", VEX_OPT_STRING, "ANALYSIS", 0, 0, 0,
     "give records a text field for keyword and hybrid search: plain, or "
     "porter (English stemming) and/or stopwords, comma-separated "
     "(docs/hybrid.md)"},
};

const vex_cmd vex_cmd_create = {
    "create",
    "create a collection (and the database, when it does not exist)",
    "DB COLLECTION",
    2,
    2,
    create_opts,
    sizeof create_opts / sizeof create_opts[0],
    "Creates directory DB as a new database when it does not exist, then\n"
    "the collection. The configuration is stored with the collection; see\n"
    "vex collections DB. Example:\n"
    "  vex create my.db docs --dim 384 --metric cosine \\\n"
    "      --schema 'year:int,lang:string,tags:tags'\n",
    run_create,
};

static int run_drop(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                    int n_pos)
{
    vex_db *db = NULL;
    int rc, status = VEX_EXIT_FAIL;
    (void)cmd;
    (void)vals;
    (void)n_pos;
    if (vex_cli_db_open("drop", pos[0], VEX_CLI_WRITE, &db) != VEX_OK)
        return VEX_EXIT_FAIL;
    rc = vex_collection_drop(db, pos[1]);
    if (rc == VEX_NOTFOUND)
        fprintf(stderr, "vex drop: %s has no collection \"%s\"\n", pos[0],
                pos[1]);
    else if (rc != VEX_OK)
        fprintf(stderr, "vex drop: %s\n", vex_db_errmsg(db));
    else
        status = VEX_EXIT_OK;
    if (vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

const vex_cmd vex_cmd_drop = {
    "drop",
    "delete a collection and all its records",
    "DB COLLECTION",
    2,
    2,
    NULL,
    0,
    "Deletes the collection's directory, durably. There is no undo.\n",
    run_drop,
};

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static int add_name(void *ctx, const char *name)
{
    name_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return VEX_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name)))
        return VEX_NOMEM;
    l->n++;
    return 0;
}

static void print_coll(const char *name, vex_collection *c, int json)
{
    vex_collection_config cfg;
    uint64_t rows = vex_collection_count(c);
    vex_collection_get_config(c, &cfg);
    if (json) {
        printf("{\"collection\":");
        vex_cli_json_string(stdout, name);
        printf(",\"dim\":%u,\"elem\":\"%s\",\"metric\":\"%s\",\"index\":\"%s\","
               "\"quant\":\"%s\",\"compression\":\"%s\",\"rows\":%" PRIu64 ",",
               cfg.dim, vex_elem_name(cfg.elem), vex_metric_name(cfg.metric),
               vex_cli_index_name(cfg.index_kind),
               vex_cli_quant_name(cfg.quant),
               cfg.compression == VEX_COMPRESS_ZSTD ? "zstd" : "none", rows);
        if (cfg.text)
            printf("\"text\":\"%s\",", cfg.text_stemmer && cfg.text_stopwords
                                           ? "porter,stopwords"
                                       : cfg.text_stemmer   ? "porter"
                                       : cfg.text_stopwords ? "stopwords"
                                                            : "plain");
        vex_cli_schema_json(stdout, &cfg);
        printf(",\"diskann_min_rows\":%" PRIu64 "}\n", cfg.diskann_min_rows);
        return;
    }
    printf("%-20s %6u %-4s %-8s %-5s %-5s %12" PRIu64 "  ", name, cfg.dim,
           vex_elem_name(cfg.elem), vex_metric_name(cfg.metric),
           vex_cli_index_name(cfg.index_kind), vex_cli_quant_name(cfg.quant),
           rows);
    vex_cli_schema_print(stdout, &cfg);
    putchar('\n');
}

static int run_collections(const vex_cmd *cmd, const vex_optval *vals,
                           char **pos, int n_pos)
{
    int json = vals[vex_args_index(cmd, "json")].given;
    vex_db *db = NULL;
    name_list l = {NULL, 0, 0};
    int rc, status = VEX_EXIT_OK;
    (void)n_pos;
    if (vex_cli_db_open("collections", pos[0], VEX_CLI_READ, &db) != VEX_OK)
        return VEX_EXIT_FAIL;
    rc = vex_collection_list(db, add_name, &l);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex collections: %s\n",
                rc == VEX_NOMEM ? "out of memory" : vex_db_errmsg(db));
        status = VEX_EXIT_FAIL;
    }
    if (!json && l.n)
        printf("%-20s %6s %-4s %-8s %-5s %-5s %12s  %s\n", "collection", "dim",
               "elem", "metric", "index", "quant", "rows", "schema");
    for (size_t i = 0; i < l.n; i++) {
        vex_collection *c = NULL;
        if (vex_collection_open(db, l.v[i], &c) != VEX_OK) {
            fprintf(stderr, "vex collections: %s\n", vex_db_errmsg(db));
            status = VEX_EXIT_FAIL;
        } else {
            print_coll(l.v[i], c, json);
            vex_collection_close(c);
        }
        free(l.v[i]);
    }
    free(l.v);
    if (vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt collections_opts[] = {
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "one JSON object per collection"},
};

const vex_cmd vex_cmd_collections = {
    "collections",
    "list a database's collections with their configuration and rows",
    "DB",
    1,
    1,
    collections_opts,
    sizeof collections_opts / sizeof collections_opts[0],
    "Opens the database read-only (it works while an application holds\n"
    "it open) and prints, per collection: dimension, element type, metric,\n"
    "index, quantizer, rows and schema.\n",
    run_collections,
};
