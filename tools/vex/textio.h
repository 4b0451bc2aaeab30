/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textio.h - the vex tool's readers of untrusted text: CSV (RFC 4180) and
 * JSON (one value per call; JSON Lines is one object per line). Both work
 * on a buffer in memory (the tool reads a whole file first, which also
 * makes `vex import` able to check every record before writing any) and
 * never read outside it; every error has a message naming the line (and
 * for JSON the column) of the problem. They know nothing of databases:
 * cmd_import.c turns their cells and values into records. Fuzzed by
 * fuzz/fuzz_csv.c and fuzz/fuzz_json.c.
 *
 * CSV (RFC 4180): records separated by CRLF or LF; fields separated by
 * commas; a field may be quoted with '"', and then holds commas, line
 * breaks and '""' for one quote. The first record is the header (column
 * names, which must be non-empty and distinct; at most
 * VEXIO_CSV_MAX_COLUMNS). Every record must have
 * as many fields as the header. A quote inside an unquoted field, text
 * after a closing quote and an unterminated quote are errors. A blank
 * line (an empty record) is skipped. A UTF-8 byte order mark at the start
 * is skipped. NUL bytes are refused.
 *
 * JSON (RFC 8259): objects, arrays, strings (escapes decoded to UTF-8,
 * surrogate pairs joined, lone surrogates and invalid UTF-8 refused),
 * numbers in the strict grammar, true, false, null. Nesting at most
 * VEXIO_JSON_MAX_DEPTH. A repeated key in an object is an error.
 */
#ifndef VEX_TOOLS_TEXTIO_H
#define VEX_TOOLS_TEXTIO_H

#include <stddef.h>
#include <stdint.h>

#include "readers.h"

/* ---- CSV ---- */

/* Most columns of a header (a record holds at most 256 metadata fields;
 * the limit also bounds the header's duplicate check, which is
 * quadratic). */
#define VEXIO_CSV_MAX_COLUMNS 4096

typedef struct vexio_csv_cell {
    const char *s; /* the field's text, unquoted and unescaped (not
                      NUL-terminated; valid until the next call) */
    size_t len;
    int quoted; /* 1: the field was quoted (so "" is an empty string, an
                   unquoted empty field can mean null) */
} vexio_csv_cell;

typedef struct vexio_csv vexio_csv;

/* Start reading buf[0..len) (borrowed until vexio_csv_free) and read its
 * header. VEX_OK, VEX_CORRUPT (no header, an empty or repeated column
 * name, malformed quoting), VEX_NOMEM; `name` is used in messages. */
int vexio_csv_open(const char *buf, size_t len, const char *name,
                   vexio_csv **out, vexio_error *err);
void vexio_csv_free(vexio_csv *r);
size_t vexio_csv_columns(const vexio_csv *r);
/* column i's name (NUL-terminated, owned by r) */
const char *vexio_csv_column(const vexio_csv *r, size_t i);

/* The next record: 1 with cells[0..columns) and *line (the line it starts
 * on, from 1), 0 at the end, or a negative status (VEX_CORRUPT,
 * VEX_NOMEM) with a message "NAME:LINE: ...". After an error in a record
 * the reader can go on with the next line (so a caller may skip bad
 * records): the record's text up to the end of the line where the error
 * was found is passed over. */
int vexio_csv_next(vexio_csv *r, const vexio_csv_cell **cells, uint64_t *line,
                   vexio_error *err);

/* Bytes of the buffer consumed so far (for progress). */
size_t vexio_csv_offset(const vexio_csv *r);

/* ---- JSON ---- */

#define VEXIO_JSON_MAX_DEPTH 64

typedef enum vexio_jtype {
    VEXIO_JNULL,
    VEXIO_JBOOL,
    VEXIO_JNUMBER,
    VEXIO_JSTRING,
    VEXIO_JARRAY,
    VEXIO_JOBJECT
} vexio_jtype;

typedef struct vexio_json vexio_json;
struct vexio_json {
    vexio_jtype type;
    int b; /* JBOOL */
    /* JNUMBER: d always; is_int when the text is an integer (no fraction
     * or exponent) that fits int64 (then i holds it); is_u64 when it is a
     * non-negative integer that fits uint64 (then u holds it). */
    double d;
    int is_int, is_u64;
    int64_t i;
    uint64_t u;
    const char *s; /* JSTRING: decoded UTF-8 (NUL-terminated too, but may
                      hold NULs: use len); JOBJECT keys likewise */
    size_t len;
    size_t n;          /* JARRAY, JOBJECT: number of members */
    vexio_json *items; /* JARRAY, JOBJECT: n values */
    const char **keys; /* JOBJECT: n keys */
    size_t *key_lens;  /* JOBJECT: their lengths */
};

/* A parsed document: owns every node and string. */
typedef struct vexio_jdoc vexio_jdoc;

int vexio_jdoc_create(vexio_jdoc **out);
void vexio_jdoc_free(vexio_jdoc *d);

/* Parse text[0..len) as exactly one JSON value (whitespace around it
 * allowed) into d, replacing what d held; *root points into d. VEX_OK,
 * VEX_CORRUPT with "NAME:LINE:COL: ..." (col counts bytes from 1),
 * VEX_NOMEM. */
int vexio_json_parse(vexio_jdoc *d, const char *text, size_t len,
                     const char *name, uint64_t line, const vexio_json **root,
                     vexio_error *err);

/* Member `key` of object o, or NULL. */
const vexio_json *vexio_json_get(const vexio_json *o, const char *key);

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int vexio_utf8_valid(const char *s, size_t len);

#endif
