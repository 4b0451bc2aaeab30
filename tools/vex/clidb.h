/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clidb.h - what the vex tool's database commands (create, drop,
 * collections, import, export, get, delete, count, flush, compact, search,
 * stats) share: opening a database and a collection with messages that
 * say which command fixes the problem, filters compiled with a caret
 * under the error and hints, query vectors parsed with the bad element
 * named, schema text, JSON output of records, sizes for people, and
 * progress with rate and ETA. Everything here prints its own message as
 * "vex CMD: ..." on stderr and uses only vexdb.h.
 */
#ifndef VEX_TOOLS_CLIDB_H
#define VEX_TOOLS_CLIDB_H

#include <stdint.h>
#include <stdio.h>

#include "vexdb.h"

/* Open the database at path: read-only (for commands that only read),
 * writable, or writable and created when missing (vex create). A missing
 * database says that `vex create` makes one; a database held by another
 * writer says so. Returns VEX_OK or the status (message printed; *db is
 * NULL then). */
enum { VEX_CLI_READ, VEX_CLI_WRITE, VEX_CLI_CREATE };
int vex_cli_db_open(const char *cmd, const char *path, int mode, vex_db **db);
/* The message of a missing database, as vex_cli_db_open prints it, for
 * commands that do not open it through the library (verify, dump). */
void vex_cli_no_db(const char *cmd, const char *path);

/* Remove directory `path` and everything in it, without following
 * symbolic links. Only for a directory this process made itself (a
 * database a failed command created); 0 or -1 with errno. */
int vex_cli_rm_tree(const char *path);

/* Open a collection; a missing one names `vex collections` and
 * `vex create`. */
int vex_cli_coll_open(const char *cmd, vex_db *db, const char *db_path,
                      const char *name, vex_collection **c);

/* Compile a filter for c. On a syntax or type error print the message, the
 * expression with a caret under the offset, and hints (AND for &&, OR for
 * ||, = for ==, single quotes for strings) and return VEX_INVALID. With
 * `probe`, when the collection has records, warn about fields no record
 * has (from the statistics of a one-row search with the filter; a search
 * command passes 0 and warns from its own searches' statistics). */
int vex_cli_filter(const char *cmd, vex_collection *c, const char *text,
                   int probe, vex_filter **out);

/* Warn (stderr) when search statistics name fields no record has. */
void vex_cli_warn_unknown(const char *cmd, const vex_search_stats *st);

/* Parse "1,2.5,-3" into v[dim] (the option name for messages); on error
 * print which element is wrong or how many were given and return -1. */
int vex_cli_parse_vector(const char *cmd, const char *opt, const char *s,
                         float *v, uint32_t dim);

/* JSON output: a string of len bytes (invalid UTF-8 bytes as \u00XX of
 * their Latin-1 reading is NOT done: callers check vexio_utf8_valid), a
 * double that reads back as a double (2.0, not 2; 1e999 for infinity), a
 * float32 with 9 significant digits. */
void vex_cli_json_bytes(FILE *out, const char *s, size_t len);
void vex_cli_json_double(FILE *out, double d);
void vex_cli_json_float(FILE *out, float f);
/* The fields of m as JSON members ("name":value,...), each preceded by a
 * comma when *first is 0 (it is then cleared); fields named in `nest`
 * (NULL-terminated list) are skipped when skip_nest is 1 and printed
 * alone when it is 2 (0: print every field). */
void vex_cli_json_meta_members(FILE *out, const vex_meta *m, int *first,
                               const char *const *nest, int skip_nest);
/* {"name":value,...} */
void vex_cli_json_meta(FILE *out, const vex_meta *m);

/* One record as a JSON object on one line: {"id":..,"vector":[..],
 * metadata fields..., "payload":"..", "text":".."}. Metadata fields named
 * id, vector, payload, payload_base64 or meta (and text, in a collection
 * with a text field) go into a nested "meta" object so
 * they cannot be mistaken for the record's own members; a payload that is
 * not valid UTF-8 is written as "payload_base64". vec may be NULL (no
 * vector member); bit vectors are written as arrays of 0 and 1. */
void vex_cli_json_record(FILE *out, uint64_t id,
                         const vex_collection_config *cfg, const void *vec,
                         const vex_meta *meta, const void *payload,
                         size_t payload_len, const char *text, size_t text_len);
/* The text of record `id` into *buf (grown with realloc; *cap its size)
 * and its length into *len (0: none). VEX_OK or the library's status;
 * VEX_NOMEM when *buf cannot grow. */
int vex_cli_get_text(vex_collection *c, uint64_t id, char **buf, size_t *cap,
                     size_t *len);
/* the top-level members a record object reserves (NULL-terminated) */
extern const char *const vex_cli_reserved[];

/* Parse a decimal id (0..2^64-1); -1 on anything else. */
int vex_cli_parse_id(const char *s, uint64_t *id);

/* "1.5 KiB", "12.0 MiB": buf of at least 32 bytes. */
const char *vex_cli_human_bytes(uint64_t n, char *buf, size_t size);

/* Schema text: "name:type[!],..." where type is bool, int, double,
 * string or tags and "!" marks a required field (the rest are
 * nullable). vex_cli_schema_parse fills fields[] (at most 256; names
 * point into *storage, which the caller frees) or prints an error and
 * returns -1. */
int vex_cli_schema_parse(const char *cmd, const char *text,
                         vex_schema_field **fields, uint32_t *n,
                         char **storage);
void vex_cli_schema_print(FILE *out, const vex_collection_config *cfg);
/* "schema":[{"name":..,"type":..,"nullable":..},...],"schema_closed":.. */
void vex_cli_schema_json(FILE *out, const vex_collection_config *cfg);
const char *vex_cli_index_name(vex_index_kind k);
const char *vex_cli_quant_name(vex_quant q);
int vex_cli_quant_parse(const char *s, vex_quant *q);

/* Progress on stderr when it is a terminal: "what  i/n  pct  rate/s  ETA",
 * redrawn at most 10 times a second. */
typedef struct vex_cli_meter {
    int enabled;
    const char *what, *unit;
    double start, last;
    uint64_t base; /* the count the rate is measured from */
} vex_cli_meter;
void vex_cli_meter_start(vex_cli_meter *m, const char *what, const char *unit);
/* Measure the rate from count i, now (work that was done before the
 * meter first saw it, such as rows indexed before a flush began). */
void vex_cli_meter_rebase(vex_cli_meter *m, uint64_t i);
void vex_cli_meter_update(vex_cli_meter *m, uint64_t i, uint64_t n);
void vex_cli_meter_done(vex_cli_meter *m);

#endif
