/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clidb.c - shared helpers of the vex tool's database commands (clidb.h):
 * opens with messages in CLI terms, filter errors with a caret, vector
 * parsing, JSON output of metadata, schema text, sizes and a progress
 * meter. Only vexdb.h is used.
 */
#include "clidb.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "textio.h"

int vex_cli_db_open(const char *cmd, const char *path, int mode, vex_db **db)
{
    vex_db_options o;
    int rc;
    vex_db_options_init(&o);
    o.read_only = mode == VEX_CLI_READ;
    o.create_if_missing = mode == VEX_CLI_CREATE;
    rc = vex_db_open(path, &o, db);
    if (rc == VEX_OK)
        return VEX_OK;
    if (rc == VEX_NOTFOUND)
        vex_cli_no_db(cmd, path);
    else if (rc == VEX_BUSY)
        fprintf(stderr,
                "vex %s: %s\n  another process holds the database open for "
                "writing (its LOCK file); commands that only read (search, "
                "get, count, export, collections, stats, metrics, verify, "
                "dump, backup) work beside it, writes must wait until it "
                "closes\n",
                cmd, *db ? vex_db_errmsg(*db) : vex_errstr(rc));
    else
        fprintf(stderr, "vex %s: %s\n", cmd,
                *db ? vex_db_errmsg(*db) : vex_errstr(rc));
    vex_db_close(*db);
    *db = NULL;
    return rc;
}

void vex_cli_no_db(const char *cmd, const char *path)
{
    fprintf(stderr,
            "vex %s: %s: no such database (vex create DB COLLECTION "
            "--dim D --metric M creates one)\n",
            cmd, path);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int vex_cli_rm_tree(const char *path)
{
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int vex_cli_coll_open(const char *cmd, vex_db *db, const char *db_path,
                      const char *name, vex_collection **c)
{
    int rc = vex_collection_open(db, name, c);
    if (rc == VEX_NOTFOUND)
        fprintf(stderr,
                "vex %s: %s has no collection \"%s\" (vex collections %s "
                "lists them; vex create makes one)\n",
                cmd, db_path, name, db_path);
    else if (rc != VEX_OK)
        fprintf(stderr, "vex %s: %s\n", cmd, vex_db_errmsg(db));
    return rc;
}

void vex_cli_warn_unknown(const char *cmd, const vex_search_stats *st)
{
    if (st->unknown_fields > 0)
        fprintf(stderr,
                "vex %s: warning: no record has the field \"%s\"%s that "
                "the filter names\n",
                cmd, st->unknown_field,
                st->unknown_fields > 1 ? " (nor some other fields)" : "");
}

static void filter_hints(const char *msg, const char *text)
{
    /* a bare word where a value belongs ("lang = en"): a string missing
     * its quotes */
    const char *found = strstr(msg, "found '");
    if (strstr(msg, "expected a value") && found &&
        ((found[7] >= 'a' && found[7] <= 'z') ||
         (found[7] >= 'A' && found[7] <= 'Z') || found[7] == '_')) {
        size_t n = strcspn(found + 7, "'");
        fprintf(stderr, "  hint: a string value takes single quotes: '%.*s'\n",
                (int)n, found + 7);
    }
    if (strstr(text, "&&"))
        fprintf(stderr, "  hint: write AND instead of &&\n");
    if (strstr(text, "||"))
        fprintf(stderr, "  hint: write OR instead of ||\n");
    if (strstr(text, "=="))
        fprintf(stderr, "  hint: write = instead of == (one equals sign)\n");
    if (strchr(text, '"'))
        fprintf(stderr, "  hint: string values take single quotes ('en'); "
                        "double quotes name a field\n");
}

/* The message's offset ("filter: at offset N: ...") under the text. */
static void filter_caret(const char *msg, const char *text)
{
    const char *at = strstr(msg, "at offset ");
    unsigned long off;
    size_t len = strlen(text), col = 0;
    if (!at || sscanf(at + 10, "%lu", &off) != 1 || off > len)
        return;
    fputs("  ", stderr);
    for (size_t i = 0; i < len; i++)
        fputc((unsigned char)text[i] < 0x20 ? ' ' : text[i], stderr);
    fputs("\n  ", stderr);
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)text[i] & 0xc0) != 0x80)
            col++;
    for (size_t i = 0; i < col; i++)
        fputc(' ', stderr);
    fputs("^\n", stderr);
}

/* A one-row filtered search, only for its statistics' unknown fields. */
static void probe_unknown(const char *cmd, vex_collection *c,
                          const vex_filter *f)
{
    vex_collection_config cfg;
    vex_search_params sp;
    vex_search_stats st;
    vex_hit hit;
    size_t n = 0, size;
    unsigned char *q;
    vex_collection_get_config(c, &cfg);
    if (vex_collection_count(c) == 0)
        return;
    size = vex_vector_size(cfg.elem, cfg.dim);
    q = calloc(1, size ? size : 1);
    if (!q)
        return;
    if (cfg.elem == VEX_ELEM_F32)
        for (uint32_t i = 0; i < cfg.dim; i++)
            ((float *)(void *)q)[i] = 1.0f;
    vex_search_params_init(&sp);
    vex_search_stats_init(&st);
    sp.where = f;
    sp.stats = &st;
    if (vex_search(c, q, 1, &sp, &hit, NULL, &n) == VEX_OK)
        vex_cli_warn_unknown(cmd, &st);
    free(q);
}

int vex_cli_filter(const char *cmd, vex_collection *c, const char *text,
                   int probe, vex_filter **out)
{
    int rc = vex_filter_parse(c, text, out);
    if (rc != VEX_OK) {
        const char *msg = vex_collection_errmsg(c);
        fprintf(stderr, "vex %s: %s\n", cmd, msg);
        filter_caret(msg, text);
        filter_hints(msg, text);
        return rc;
    }
    if (probe)
        probe_unknown(cmd, c, *out);
    return VEX_OK;
}

int vex_cli_parse_vector(const char *cmd, const char *opt, const char *s,
                         float *v, uint32_t dim)
{
    uint32_t n = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    if (*p == '[')
        p++;
    for (;;) {
        char *end;
        double x;
        size_t tok;
        while (*p == ' ')
            p++;
        tok = strcspn(p, ", ]");
        errno = 0;
        x = strtod(p, &end);
        if (tok == 0 || end != p + tok || !isfinite(x) ||
            fabs(x) > 3.4028234663852886e38) {
            fprintf(stderr,
                    "vex %s: %s: element %u is \"%.*s\", not a finite "
                    "number\n",
                    cmd, opt, n + 1, (int)(tok ? tok : strcspn(p, ",")), p);
            return -1;
        }
        if (n < dim)
            v[n] = (float)x;
        n++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']')
            p++;
        while (*p == ' ')
            p++;
        if (*p) {
            fprintf(stderr, "vex %s: %s: unexpected \"%s\" after element %u\n",
                    cmd, opt, p, n);
            return -1;
        }
        break;
    }
    if (n != dim) {
        fprintf(stderr,
                "vex %s: %s has %u numbers; the collection's vectors have "
                "%u\n",
                cmd, opt, n, dim);
        return -1;
    }
    return 0;
}

void vex_cli_json_bytes(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void vex_cli_json_double(FILE *out, double d)
{
    char buf[40];
    if (isinf(d)) {
        fputs(d > 0 ? "1e999" : "-1e999", out);
        return;
    }
    if (isnan(d)) { /* the library refuses NaN; never expected */
        fputs("null", out);
        return;
    }
    snprintf(buf, sizeof buf, "%.17g", d);
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    fputs(buf, out);
}

void vex_cli_json_float(FILE *out, float f)
{
    fprintf(out, "%.9g", (double)f);
}

static int in_list(const char *name, size_t len, const char *const *list)
{
    for (; list && *list; list++)
        if (strlen(*list) == len && memcmp(*list, name, len) == 0)
            return 1;
    return 0;
}

void vex_cli_json_meta_members(FILE *out, const vex_meta *m, int *first,
                               const char *const *nest, int skip_nest)
{
    size_t n = vex_meta_count(m);
    for (size_t i = 0; i < n; i++) {
        vex_field f;
        if (vex_meta_field(m, i, &f) != VEX_OK)
            break;
        if (skip_nest && in_list(f.name, f.name_len, nest) != (skip_nest == 2))
            continue;
        if (!*first)
            fputc(',', out);
        *first = 0;
        vex_cli_json_bytes(out, f.name, f.name_len);
        fputc(':', out);
        switch (f.type) {
        case VEX_TYPE_BOOL:
            fputs(f.b ? "true" : "false", out);
            break;
        case VEX_TYPE_INT:
            fprintf(out, "%" PRId64, f.i);
            break;
        case VEX_TYPE_DOUBLE:
            vex_cli_json_double(out, f.d);
            break;
        case VEX_TYPE_STRING:
            vex_cli_json_bytes(out, f.s, f.len);
            break;
        case VEX_TYPE_TAGS:
            fputc('[', out);
            for (size_t j = 0; j < f.n_tags; j++) {
                const char *p;
                size_t len;
                if (vex_meta_tag(m, i, j, &p, &len) != VEX_OK)
                    break;
                if (j)
                    fputc(',', out);
                vex_cli_json_bytes(out, p, len);
            }
            fputc(']', out);
            break;
        default:
            fputs("null", out);
            break;
        }
    }
}

void vex_cli_json_meta(FILE *out, const vex_meta *m)
{
    int first = 1;
    fputc('{', out);
    vex_cli_json_meta_members(out, m, &first, NULL, 0);
    fputc('}', out);
}

const char *vex_cli_human_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = -1;
    if (n < 1024) {
        snprintf(buf, size, "%" PRIu64 " B", n);
        return buf;
    }
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

static const struct {
    const char *name;
    vex_type type;
} type_names[] = {
    {"bool", VEX_TYPE_BOOL},    {"int", VEX_TYPE_INT},
    {"int64", VEX_TYPE_INT},    {"double", VEX_TYPE_DOUBLE},
    {"float", VEX_TYPE_DOUBLE}, {"string", VEX_TYPE_STRING},
    {"str", VEX_TYPE_STRING},   {"tags", VEX_TYPE_TAGS},
};

int vex_cli_schema_parse(const char *cmd, const char *text,
                         vex_schema_field **fields, uint32_t *n, char **storage)
{
    size_t cap = 1, len = strlen(text);
    char *s, *p;
    vex_schema_field *f;
    *fields = NULL;
    *n = 0;
    *storage = NULL;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == ',';
    if (cap > 256) {
        fprintf(stderr, "vex %s: --schema: at most 256 fields\n", cmd);
        return -1;
    }
    s = strdup(text);
    f = calloc(cap, sizeof *f);
    if (!s || !f) {
        fprintf(stderr, "vex %s: out of memory\n", cmd);
        free(s);
        free(f);
        return -1;
    }
    p = s;
    for (;;) {
        char *item = p, *comma = strchr(p, ','), *colon, *type;
        size_t tl, k;
        int required = 0;
        if (comma)
            *comma = '\0';
        colon = strchr(item, ':');
        if (!colon || colon == item || !colon[1]) {
            fprintf(stderr,
                    "vex %s: --schema: \"%s\" is not NAME:TYPE (types: bool, "
                    "int, double, string, tags; a trailing ! makes the "
                    "field required)\n",
                    cmd, item);
            goto fail;
        }
        *colon = '\0';
        type = colon + 1;
        tl = strlen(type);
        if (type[tl - 1] == '!') {
            required = 1;
            type[--tl] = '\0';
        }
        for (k = 0; k < sizeof type_names / sizeof type_names[0]; k++)
            if (strcmp(type, type_names[k].name) == 0)
                break;
        if (k == sizeof type_names / sizeof type_names[0]) {
            fprintf(stderr,
                    "vex %s: --schema: field \"%s\": unknown type \"%s\" "
                    "(bool, int, double, string or tags)\n",
                    cmd, item, type);
            goto fail;
        }
        f[*n].name = item;
        f[*n].type = type_names[k].type;
        f[*n].nullable = !required;
        (*n)++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *fields = f;
    *storage = s;
    return 0;
fail:
    free(s);
    free(f);
    *n = 0;
    return -1;
}

static const char *type_word(vex_type t)
{
    switch (t) {
    case VEX_TYPE_BOOL:
        return "bool";
    case VEX_TYPE_INT:
        return "int";
    case VEX_TYPE_DOUBLE:
        return "double";
    case VEX_TYPE_STRING:
        return "string";
    case VEX_TYPE_TAGS:
        return "tags";
    default:
        return "?";
    }
}

void vex_cli_schema_print(FILE *out, const vex_collection_config *cfg)
{
    if (cfg->n_schema_fields == 0) {
        fputs("(none)", out);
        return;
    }
    for (uint32_t i = 0; i < cfg->n_schema_fields; i++)
        fprintf(out, "%s%s:%s%s", i ? "," : "", cfg->schema_fields[i].name,
                type_word(cfg->schema_fields[i].type),
                cfg->schema_fields[i].nullable ? "" : "!");
    if (cfg->schema_closed)
        fputs(" (closed)", out);
}

void vex_cli_schema_json(FILE *out, const vex_collection_config *cfg)
{
    fputs("\"schema\":[", out);
    for (uint32_t i = 0; i < cfg->n_schema_fields; i++) {
        fprintf(out, "%s{\"name\":", i ? "," : "");
        vex_cli_json_string(out, cfg->schema_fields[i].name);
        fprintf(out, ",\"type\":\"%s\",\"nullable\":%s}",
                vex_type_name(cfg->schema_fields[i].type),
                cfg->schema_fields[i].nullable ? "true" : "false");
    }
    fprintf(out, "],\"schema_closed\":%s",
            cfg->schema_closed ? "true" : "false");
}

const char *vex_cli_index_name(vex_index_kind k)
{
    return k == VEX_INDEX_HNSW      ? "hnsw"
           : k == VEX_INDEX_FLAT    ? "flat"
           : k == VEX_INDEX_DISKANN ? "diskann"
                                    : "?";
}

static const char *const quant_names[] = {"none", "sq8", "bq", "pq", "opq"};

const char *vex_cli_quant_name(vex_quant q)
{
    return (unsigned)q < 5 ? quant_names[q] : "?";
}

int vex_cli_quant_parse(const char *s, vex_quant *q)
{
    for (unsigned i = 0; i < 5; i++) {
        if (strcmp(s, quant_names[i]) == 0) {
            *q = (vex_quant)i;
            return 0;
        }
    }
    return -1;
}

void vex_cli_meter_start(vex_cli_meter *m, const char *what, const char *unit)
{
    m->enabled = vex_cli_progress_enabled();
    m->what = what;
    m->unit = unit;
    m->start = vex_cli_now();
    m->last = 0;
    m->base = 0;
}

void vex_cli_meter_rebase(vex_cli_meter *m, uint64_t i)
{
    m->start = vex_cli_now();
    m->base = i;
}

void vex_cli_meter_update(vex_cli_meter *m, uint64_t i, uint64_t n)
{
    double now, el, rate;
    if (!m->enabled)
        return;
    now = vex_cli_now();
    if (now - m->last < 0.1 && i < n)
        return;
    m->last = now;
    el = now - m->start;
    rate = el > 0 && i >= m->base ? (double)(i - m->base) / el : 0;
    fprintf(stderr, "\r\033[K%s %" PRIu64 "/%" PRIu64 " %s %3u%%  %.0f/s",
            m->what, i, n, m->unit, (unsigned)(n ? i * 100 / n : 100), rate);
    if (rate > 0 && i < n)
        fprintf(stderr, "  ETA %.0fs", (double)(n - i) / rate);
    fflush(stderr);
}

void vex_cli_meter_done(vex_cli_meter *m)
{
    if (m->enabled) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}

const char *const vex_cli_reserved[] = {
    "id", "vector", "payload", "payload_base64", "meta", NULL};

static void json_base64(FILE *out, const unsigned char *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', out);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        fputc(tbl[v >> 18 & 63], out);
        fputc(tbl[v >> 12 & 63], out);
        fputc(i + 1 < n ? tbl[v >> 6 & 63] : '=', out);
        fputc(i + 2 < n ? tbl[v & 63] : '=', out);
    }
    fputc('"', out);
}

static const char *const vex_cli_reserved_text[] = {
    "id", "vector", "payload", "payload_base64", "meta", "text", NULL};

int vex_cli_get_text(vex_collection *c, uint64_t id, char **buf, size_t *cap,
                     size_t *len)
{
    int rc = vex_get_text(c, id, *buf, *cap, len);
    if (rc == VEX_OK && *len > *cap) {
        char *p = realloc(*buf, *len);
        if (p == NULL)
            return VEX_NOMEM;
        *buf = p;
        *cap = *len;
        rc = vex_get_text(c, id, *buf, *cap, len);
    }
    return rc;
}

void vex_cli_json_record(FILE *out, uint64_t id,
                         const vex_collection_config *cfg, const void *vec,
                         const vex_meta *meta, const void *payload,
                         size_t payload_len, const char *text, size_t text_len)
{
    const char *const *reserved =
        cfg->text ? vex_cli_reserved_text : vex_cli_reserved;
    int first = 0, nested = 0;
    fprintf(out, "{\"id\":%" PRIu64, id);
    if (vec) {
        fputs(",\"vector\":[", out);
        if (cfg->elem == VEX_ELEM_BIT) {
            const unsigned char *b = vec;
            for (uint32_t i = 0; i < cfg->dim; i++)
                fprintf(out, i ? ",%d" : "%d", b[i / 8] >> (i % 8) & 1);
        } else {
            const float *f = vec;
            for (uint32_t i = 0; i < cfg->dim; i++) {
                if (i)
                    fputc(',', out);
                vex_cli_json_float(out, f[i]);
            }
        }
        fputc(']', out);
    }
    if (meta) {
        size_t n = vex_meta_count(meta);
        vex_cli_json_meta_members(out, meta, &first, reserved, 1);
        for (size_t i = 0; i < n; i++) {
            vex_field f;
            if (vex_meta_field(meta, i, &f) == VEX_OK &&
                in_list(f.name, f.name_len, reserved))
                nested = 1;
        }
        if (nested) {
            int f2 = 1;
            fputs(",\"meta\":{", out);
            vex_cli_json_meta_members(out, meta, &f2, reserved, 2);
            fputc('}', out);
        }
    }
    if (payload_len) {
        if (vexio_utf8_valid(payload, payload_len)) {
            fputs(",\"payload\":", out);
            vex_cli_json_bytes(out, payload, payload_len);
        } else {
            fputs(",\"payload_base64\":", out);
            json_base64(out, payload, payload_len);
        }
    }
    if (text_len) { /* valid UTF-8: checked when it was written */
        fputs(",\"text\":", out);
        vex_cli_json_bytes(out, text, text_len);
    }
    fputs("}\n", out);
}

int vex_cli_parse_id(const char *s, uint64_t *id)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return -1;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *id = v;
    return 0;
}
