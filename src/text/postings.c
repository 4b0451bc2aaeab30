/* SPDX-License-Identifier: Apache-2.0 */
/*
 * postings.c - BM25 postings: the builder, the blob (docs/FORMAT.md
 * "Text postings"), the strict opener and block-max WAND top-k.
 *
 * Block-max WAND (Ding and Suel, "Faster top-k document retrieval using
 * block-max indexes", SIGIR 2011), as done here:
 *  - each query term has a cursor over its postings, and an upper bound
 *    of its contribution: its weight times the BM25 term factor at the
 *    term's largest tf and smallest document length (the factor grows with
 *    tf and shrinks with length, so the bound holds for every posting);
 *  - cursors sorted by current key; the pivot is the first cursor at
 *    which the bounds summed so far exceed theta, the k-th best score
 *    (0 until k documents are held); no key below the pivot's can enter;
 *  - the cursors up to the pivot move their block pointer (without
 *    decoding) to the block holding the pivot key; when the sum of those
 *    blocks' bounds (same formula, with the block's largest tf and
 *    smallest length) cannot beat theta, every key up to the end of the
 *    first of those blocks to end is skipped at once, blocks undecoded;
 *  - else the pivot key is scored when all cursors before it stand on it,
 *    or those cursors jump to it.
 * Where it differs from the paper: bounds are computed at query time from
 * (largest tf, smallest length) per block rather than stored as scores,
 * because the scores depend on collection statistics a segment cannot
 * know when written. Ties: documents are visited in key order and a new
 * one must score strictly above the k-th to enter, so among equal scores
 * the lower keys win, as in the order of the results; bounds are widened
 * by a relative 1e-9 so that rounding never prunes a document whose exact
 * score would enter.
 */
#include "text/postings.h"

#include "text/bm25.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rd.h"

#define PT_MAGIC  "VXTP"
#define PT_HEADER 48u
#define PT_TERM   24u /* bytes of a term entry */
#define PT_BLOCK  16u /* bytes of a block table entry */
#define PT_END    0xFFFFFFFFu
#define PT_SLACK  (1.0 + 1e-9)

/* ==== builder ========================================================= */

typedef struct pb_term {
    uint32_t off, len; /* the term's bytes in the builder's arena */
    uint32_t n, cap;   /* postings held and room, as (key, tf) pairs */
    uint32_t *kt;
} pb_term;

struct vt_builder {
    const vex_mem *mem;
    vt_analyzer a;
    uint32_t block;
    int failed;
    char *arena;
    size_t arena_len, arena_cap;
    pb_term *terms;
    uint32_t n_terms, terms_cap;
    uint32_t *slots; /* hash table: term number + 1, 0 empty */
    uint32_t n_slots;
    uint32_t *doclen; /* by key */
    uint32_t n_keys_seen, doclen_cap;
    uint32_t n_docs;
    uint64_t total_len;
    uint32_t cur_key, cur_len; /* the document being added */
};

static uint32_t pb_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

int vx_post_builder_new(const vex_mem *mem, const vt_analyzer *a,
                        uint32_t block, vt_builder **out, vex_err *err)
{
    vt_builder *b;
    *out = NULL;
    if (block == 0 || block > VT_POST_MAX_BLOCK)
        return vx_err_set(err, VEX_INVALID,
                          "postings: block size %u not in 1..%u", block,
                          VT_POST_MAX_BLOCK);
    if (a->stemmer > VT_STEM_PORTER || a->stopwords > VT_STOP_ENGLISH)
        return vx_err_set(err, VEX_INVALID, "postings: unknown analyzer");
    b = vx_mem_calloc(mem, 1, sizeof *b);
    if (b == NULL)
        return vx_err_set(err, VEX_NOMEM, "postings: out of memory");
    b->mem = mem;
    b->a = *a;
    b->block = block;
    b->n_slots = 1024;
    b->slots = vx_mem_calloc(mem, b->n_slots, sizeof *b->slots);
    if (b->slots == NULL) {
        vx_post_builder_free(b);
        return vx_err_set(err, VEX_NOMEM, "postings: out of memory");
    }
    *out = b;
    return VEX_OK;
}

void vx_post_builder_free(vt_builder *b)
{
    uint32_t i;
    if (b == NULL)
        return;
    for (i = 0; i < b->n_terms; i++)
        vx_mem_free(b->mem, b->terms[i].kt);
    vx_mem_free(b->mem, b->terms);
    vx_mem_free(b->mem, b->slots);
    vx_mem_free(b->mem, b->arena);
    vx_mem_free(b->mem, b->doclen);
    vx_mem_free(b->mem, b);
}

/* Grows *p (elements of size sz) to hold at least `need`; 0 on NOMEM. */
static int pb_grow(const vex_mem *mem, void **p, uint32_t *cap, size_t need,
                   size_t sz)
{
    size_t nc;
    void *q;
    if (need <= *cap)
        return 1;
    if (need > UINT32_MAX / 2)
        return 0;
    nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    q = vx_mem_realloc(mem, *p, nc * sz);
    if (q == NULL)
        return 0;
    *p = q;
    *cap = (uint32_t)nc;
    return 1;
}

static int pb_rehash(vt_builder *b)
{
    uint32_t ns = b->n_slots * 2, i;
    uint32_t *s = vx_mem_calloc(b->mem, ns, sizeof *s);
    if (s == NULL)
        return 0;
    for (i = 0; i < b->n_terms; i++) {
        const pb_term *t = &b->terms[i];
        uint32_t h = pb_hash(b->arena + t->off, t->len) & (ns - 1);
        while (s[h] != 0)
            h = (h + 1) & (ns - 1);
        s[h] = i + 1;
    }
    vx_mem_free(b->mem, b->slots);
    b->slots = s;
    b->n_slots = ns;
    return 1;
}

/* The term numbered for term[0..len), created when new; -1 on NOMEM. */
static int64_t pb_term_of(vt_builder *b, const char *term, size_t len)
{
    uint32_t h = pb_hash(term, len) & (b->n_slots - 1);
    pb_term *t;
    while (b->slots[h] != 0) {
        t = &b->terms[b->slots[h] - 1];
        if (t->len == len && memcmp(b->arena + t->off, term, len) == 0)
            return b->slots[h] - 1;
        h = (h + 1) & (b->n_slots - 1);
    }
    if (!pb_grow(b->mem, (void **)&b->terms, &b->terms_cap,
                 (size_t)b->n_terms + 1, sizeof *b->terms))
        return -1;
    if (b->arena_len + len > b->arena_cap) {
        size_t nc = b->arena_cap ? b->arena_cap * 2 : 4096;
        char *q;
        while (nc < b->arena_len + len)
            nc *= 2;
        q = vx_mem_realloc(b->mem, b->arena, nc);
        if (q == NULL)
            return -1;
        b->arena = q;
        b->arena_cap = nc;
    }
    if (b->arena_len + len > UINT32_MAX)
        return -1;
    memcpy(b->arena + b->arena_len, term, len);
    t = &b->terms[b->n_terms];
    memset(t, 0, sizeof *t);
    t->off = (uint32_t)b->arena_len;
    t->len = (uint32_t)len;
    b->arena_len += len;
    b->slots[h] = ++b->n_terms;
    if (b->n_terms * 2 > b->n_slots && !pb_rehash(b))
        return -1;
    return b->n_terms - 1;
}

/* One term of the current document. */
static int pb_on_term(void *ctx, const char *term, size_t len)
{
    vt_builder *b = ctx;
    int64_t i;
    pb_term *t;
    if (len == 0)
        return VEX_OK;
    if (b->cur_len >= VT_MAX_DOC_TERMS)
        return VEX_FULL;
    i = pb_term_of(b, term, len);
    if (i < 0)
        return VEX_NOMEM;
    t = &b->terms[i];
    b->cur_len++;
    if (t->n > 0 && t->kt[2 * (t->n - 1)] == b->cur_key) {
        t->kt[2 * (t->n - 1) + 1]++;
        return VEX_OK;
    }
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 2;
        uint32_t *q;
        if (nc > UINT32_MAX / 4)
            return VEX_NOMEM;
        q = vx_mem_realloc(b->mem, t->kt, (size_t)nc * 2 * sizeof *q);
        if (q == NULL)
            return VEX_NOMEM;
        t->kt = q;
        t->cap = nc;
    }
    t->kt[2 * t->n] = b->cur_key;
    t->kt[2 * t->n + 1] = 1;
    t->n++;
    return VEX_OK;
}

static int pb_begin(vt_builder *b, uint32_t key, vex_err *err)
{
    uint32_t i;
    if (b->failed)
        return vx_err_set(err, VEX_MISUSE, "postings: builder failed before");
    if (key < b->n_keys_seen || key == PT_END)
        return vx_err_set(err, VEX_INVALID,
                          "postings: key %u added after key %u", key,
                          b->n_keys_seen - 1);
    if (!pb_grow(b->mem, (void **)&b->doclen, &b->doclen_cap, (size_t)key + 1,
                 sizeof *b->doclen))
        return vx_err_set(err, VEX_NOMEM, "postings: out of memory");
    for (i = b->n_keys_seen; i < key; i++)
        b->doclen[i] = VT_NO_TEXT;
    b->cur_key = key;
    b->cur_len = 0;
    return VEX_OK;
}

static int pb_end(vt_builder *b, int rc, vex_err *err)
{
    if (rc != VEX_OK) {
        b->failed = 1;
        if (rc == VEX_FULL)
            return vx_err_set(err, VEX_INVALID,
                              "postings: key %u has more than %u terms",
                              b->cur_key, VT_MAX_DOC_TERMS);
        return vx_err_set(err, VEX_NOMEM, "postings: out of memory");
    }
    b->doclen[b->cur_key] = b->cur_len;
    b->n_keys_seen = b->cur_key + 1;
    b->n_docs++;
    b->total_len += b->cur_len;
    return VEX_OK;
}

int vx_post_builder_add(vt_builder *b, uint32_t key, const char *text,
                        size_t len, vex_err *err)
{
    int rc = pb_begin(b, key, err);
    if (rc != VEX_OK)
        return rc;
    if (text == NULL) {
        b->doclen[key] = VT_NO_TEXT;
        b->n_keys_seen = key + 1;
        return VEX_OK;
    }
    /* Checked whole first, so that a refusal leaves nothing half added. */
    rc = vx_text_check_utf8(text, len, "postings: text", err);
    if (rc != VEX_OK)
        return rc;
    rc = vx_text_tokenize(&b->a, text, len, pb_on_term, b, NULL);
    return pb_end(b, rc, err);
}

int vx_post_builder_add_terms(vt_builder *b, uint32_t key,
                              const char *const *terms, const size_t *lens,
                              size_t n_terms, vex_err *err)
{
    size_t i;
    int rc = pb_begin(b, key, err);
    if (rc != VEX_OK)
        return rc;
    for (i = 0; i < n_terms; i++)
        if (lens[i] == 0 || lens[i] > VT_MAX_TERM)
            return vx_err_set(err, VEX_INVALID,
                              "postings: term %zu of key %u has %zu bytes", i,
                              key, lens[i]);
    for (i = 0; i < n_terms && rc == VEX_OK; i++)
        rc = pb_on_term(b, terms[i], lens[i]);
    return pb_end(b, rc, err);
}

typedef struct pb_sorted {
    const char *p;
    uint32_t len, idx;
} pb_sorted;

static int pt_term_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

static int pb_sorted_cmp(const void *x, const void *y)
{
    const pb_sorted *a = x, *b = y;
    return pt_term_cmp(a->p, a->len, b->p, b->len);
}

static size_t pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static unsigned char *pb_put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* Bytes of term t's postings: block table and data. */
static size_t pb_term_bytes(const vt_builder *b, const pb_term *t)
{
    size_t n = (size_t)((t->n + b->block - 1) / b->block) * PT_BLOCK;
    uint32_t i, prev = 0;
    for (i = 0; i < t->n; i++) {
        uint32_t k = t->kt[2 * i];
        n += pb_varint_len(i == 0 ? k : k - prev - 1);
        n += pb_varint_len(t->kt[2 * i + 1] - 1);
        prev = k;
    }
    return n;
}

/* Writes term t's postings at p; fills its entry's df, max_tf, min_len. */
static unsigned char *pb_write_term(const vt_builder *b, const pb_term *t,
                                    unsigned char *p, uint32_t *max_tf,
                                    uint32_t *min_len)
{
    uint32_t nb = (t->n + b->block - 1) / b->block, bi, prev = 0;
    unsigned char *tbl = p, *data = p + (size_t)nb * PT_BLOCK, *q = data;
    *max_tf = 0;
    *min_len = UINT32_MAX;
    for (bi = 0; bi < nb; bi++) {
        uint32_t lo = bi * b->block, hi = lo + b->block, i;
        uint32_t bmax = 0, bmin = UINT32_MAX;
        if (hi > t->n)
            hi = t->n;
        for (i = lo; i < hi; i++) {
            uint32_t k = t->kt[2 * i], tf = t->kt[2 * i + 1];
            q = pb_put_varint(q, i == 0 ? k : k - prev - 1);
            q = pb_put_varint(q, tf - 1);
            prev = k;
            if (tf > bmax)
                bmax = tf;
            if (b->doclen[k] < bmin)
                bmin = b->doclen[k];
        }
        vex_put_u32le(tbl + bi * PT_BLOCK, prev);
        vex_put_u32le(tbl + bi * PT_BLOCK + 4, (uint32_t)(q - data));
        vex_put_u32le(tbl + bi * PT_BLOCK + 8, bmax);
        vex_put_u32le(tbl + bi * PT_BLOCK + 12, bmin);
        if (bmax > *max_tf)
            *max_tf = bmax;
        if (bmin < *min_len)
            *min_len = bmin;
    }
    return q;
}

int vx_post_builder_finish(vt_builder *b, uint32_t n_keys, unsigned char **out,
                           size_t *out_len, vex_err *err)
{
    pb_sorted *s = NULL;
    unsigned char *buf = NULL, *p;
    size_t text_bytes = 0, post_bytes = 0, total, i;
    uint32_t k;
    *out = NULL;
    *out_len = 0;
    if (b->failed)
        return vx_err_set(err, VEX_MISUSE, "postings: builder failed before");
    if (n_keys < b->n_keys_seen)
        return vx_err_set(err, VEX_INVALID,
                          "postings: %u keys, but key %u was added", n_keys,
                          b->n_keys_seen - 1);
    if (!pb_grow(b->mem, (void **)&b->doclen, &b->doclen_cap,
                 (size_t)n_keys + 1, sizeof *b->doclen))
        goto nomem;
    for (k = b->n_keys_seen; k < n_keys; k++)
        b->doclen[k] = VT_NO_TEXT;
    b->n_keys_seen = n_keys;
    s = vx_mem_alloc(b->mem, (b->n_terms + 1) * sizeof *s);
    if (s == NULL)
        goto nomem;
    for (i = 0; i < b->n_terms; i++) {
        s[i].p = b->arena + b->terms[i].off;
        s[i].len = b->terms[i].len;
        s[i].idx = (uint32_t)i;
        size_t tb = pb_term_bytes(b, &b->terms[i]);
        text_bytes += s[i].len;
        /* block ends are u32 offsets into a term's postings */
        if (tb > UINT32_MAX) {
            vx_mem_free(b->mem, s);
            return vx_err_set(err, VEX_INVALID,
                              "postings: a term's postings exceed 4 GiB");
        }
        post_bytes += tb;
    }
    qsort(s, b->n_terms, sizeof *s, pb_sorted_cmp);
    total = PT_HEADER + (size_t)n_keys * 4 + (size_t)b->n_terms * PT_TERM +
            text_bytes + post_bytes + 4;
    buf = vx_mem_alloc(b->mem, total);
    if (buf == NULL)
        goto nomem;
    memcpy(buf, PT_MAGIC, 4);
    buf[4] = (unsigned char)VT_POST_VERSION;
    buf[5] = 0;
    buf[6] = b->a.stemmer;
    buf[7] = b->a.stopwords;
    vex_put_u32le(buf + 8, b->block);
    vex_put_u32le(buf + 12, n_keys);
    vex_put_u32le(buf + 16, b->n_docs);
    vex_put_u32le(buf + 20, b->n_terms);
    vex_put_u64le(buf + 24, b->total_len);
    vex_put_u64le(buf + 32, text_bytes);
    vex_put_u64le(buf + 40, post_bytes);
    p = buf + PT_HEADER;
    for (k = 0; k < n_keys; k++, p += 4)
        vex_put_u32le(p, b->doclen[k]);
    {
        unsigned char *ent = p;
        unsigned char *text = ent + (size_t)b->n_terms * PT_TERM;
        unsigned char *post = text + text_bytes, *q = post;
        size_t toff = 0;
        for (i = 0; i < b->n_terms; i++) {
            const pb_term *t = &b->terms[s[i].idx];
            uint32_t max_tf, min_len;
            unsigned char *e = ent + i * PT_TERM;
            memcpy(text + toff, s[i].p, s[i].len);
            vex_put_u32le(e, (uint32_t)toff);
            vex_put_u32le(e + 4, t->n);
            vex_put_u64le(e + 16, (uint64_t)(q - post));
            q = pb_write_term(b, t, q, &max_tf, &min_len);
            vex_put_u32le(e + 8, max_tf);
            vex_put_u32le(e + 12, min_len);
            toff += s[i].len;
        }
        p = q;
    }
    vex_put_u32le(p, vex_crc32c(buf, (size_t)(p - buf)));
    vx_mem_free(b->mem, s);
    *out = buf;
    *out_len = total;
    return VEX_OK;
nomem:
    vx_mem_free(b->mem, s);
    return vx_err_set(err, VEX_NOMEM, "postings: out of memory");
}

/* ==== reader ========================================================== */

struct vt_postings {
    const vex_mem *mem;
    vt_analyzer a;
    uint32_t block, n_keys, n_docs, n_terms;
    uint64_t total_len, text_bytes, post_bytes;
    size_t base; /* file offset of the blob, for messages */
    const unsigned char *doclen, *ent, *text, *post;
    char name[96];
};

vt_analyzer vx_post_analyzer(const vt_postings *p)
{
    return p->a;
}
uint32_t vx_post_n_keys(const vt_postings *p)
{
    return p->n_keys;
}
uint32_t vx_post_n_docs(const vt_postings *p)
{
    return p->n_docs;
}
uint64_t vx_post_total_len(const vt_postings *p)
{
    return p->total_len;
}
uint32_t vx_post_n_terms(const vt_postings *p)
{
    return p->n_terms;
}

uint32_t vx_post_doc_len(const vt_postings *p, uint32_t key)
{
    return vex_get_u32le(p->doclen + (size_t)key * 4);
}

uint32_t vx_post_df(const vt_postings *p, uint32_t i)
{
    return vex_get_u32le(p->ent + (size_t)i * PT_TERM + 4);
}

static uint64_t pt_text_off(const vt_postings *p, uint32_t i)
{
    return i == p->n_terms ? p->text_bytes
                           : vex_get_u32le(p->ent + (size_t)i * PT_TERM);
}

static uint64_t pt_post_off(const vt_postings *p, uint32_t i)
{
    return i == p->n_terms ? p->post_bytes
                           : vex_get_u64le(p->ent + (size_t)i * PT_TERM + 16);
}

const char *vx_post_term(const vt_postings *p, uint32_t i, size_t *len)
{
    uint64_t a = pt_text_off(p, i), b = pt_text_off(p, i + 1);
    *len = (size_t)(b - a);
    return (const char *)p->text + a;
}

int64_t vx_post_find(const vt_postings *p, const char *term, size_t len)
{
    uint32_t lo = 0, hi = p->n_terms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        size_t ml;
        const char *m = vx_post_term(p, mid, &ml);
        int c = pt_term_cmp(m, ml, term, len);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* A term's postings: block table and data area. */
typedef struct pt_list {
    const unsigned char *tbl, *data;
    size_t data_len, data_base; /* data_base: file offset of data */
    uint32_t df, nb;
} pt_list;

static pt_list pt_list_of(const vt_postings *p, uint32_t i)
{
    pt_list l;
    uint64_t a = pt_post_off(p, i), b = pt_post_off(p, i + 1);
    l.df = vx_post_df(p, i);
    l.nb = (l.df + p->block - 1) / p->block;
    l.tbl = p->post + a;
    l.data = l.tbl + (size_t)l.nb * PT_BLOCK;
    l.data_len = (size_t)(b - a) - (size_t)l.nb * PT_BLOCK;
    l.data_base = p->base + (size_t)(l.data - (p->doclen - PT_HEADER));
    return l;
}

static uint32_t pt_blk(const pt_list *l, uint32_t bi, unsigned field)
{
    return vex_get_u32le(l->tbl + (size_t)bi * PT_BLOCK + 4 * field);
}

/* Decodes block bi of l into keys/tfs; returns its posting count, 0 on
 * damage (only possible on a blob the opener has not checked). */
static uint32_t pt_decode(const vt_postings *p, const pt_list *l, uint32_t bi,
                          uint32_t *keys, uint32_t *tfs, vx_rd *r)
{
    uint32_t start = bi ? pt_blk(l, bi - 1, 1) : 0, end = pt_blk(l, bi, 1);
    uint32_t n = bi + 1 < l->nb ? p->block : l->df - bi * p->block, i;
    uint64_t prev = bi ? pt_blk(l, bi - 1, 0) : 0;
    if (start > end || end > l->data_len) {
        vx_rd_fail_at(r, 0, "block offsets out of order");
        return 0;
    }
    *r = vx_rd_at(l->data + start, end - start, l->data_base + start);
    for (i = 0; i < n; i++) {
        uint64_t gap = vx_rd_varint(r, "truncated key gap");
        uint64_t tf = vx_rd_varint(r, "truncated term frequency");
        uint64_t k = (i == 0 && bi == 0) ? gap : prev + 1 + gap;
        if (!vx_rd_ok(r))
            return 0;
        if (k >= p->n_keys || tf >= UINT32_MAX) {
            vx_rd_fail(r, "key or term frequency out of range");
            return 0;
        }
        keys[i] = (uint32_t)k;
        tfs[i] = (uint32_t)tf + 1;
        prev = k;
    }
    if (!vx_rd_end(r, "bytes after a block's postings"))
        return 0;
    return n;
}

int vx_post_each(const vt_postings *p, uint32_t i,
                 int (*fn)(void *ctx, uint32_t key, uint32_t tf), void *ctx)
{
    pt_list l = pt_list_of(p, i);
    uint32_t *buf = vx_mem_alloc(p->mem, (size_t)p->block * 2 * sizeof *buf);
    uint32_t bi;
    int rc = VEX_OK;
    if (buf == NULL)
        return VEX_NOMEM;
    for (bi = 0; bi < l.nb && rc == VEX_OK; bi++) {
        vx_rd r = vx_rd_new(NULL, 0);
        uint32_t n = pt_decode(p, &l, bi, buf, buf + p->block, &r), j;
        if (n == 0) {
            rc = VEX_CORRUPT;
            break;
        }
        for (j = 0; j < n && rc == VEX_OK; j++)
            rc = fn(ctx, buf[j], buf[p->block + j]);
    }
    vx_mem_free(p->mem, buf);
    return rc;
}

void vx_post_close(vt_postings *p)
{
    if (p != NULL)
        vx_mem_free(p->mem, p);
}

/* Checks term i's postings whole; adds its tfs to sums[key]. */
static int pt_check_term(const vt_postings *p, uint32_t i, uint32_t *keys,
                         uint32_t *tfs, uint64_t *sums, vex_err *err)
{
    pt_list l = pt_list_of(p, i);
    uint64_t a = pt_post_off(p, i), b = pt_post_off(p, i + 1);
    uint32_t bi, max_tf = 0, min_len = UINT32_MAX;
    uint64_t last = 0;
    if ((b - a) / PT_BLOCK < l.nb)
        return VX_CORRUPT(err, "%s: term %u: postings shorter than %u blocks",
                          p->name, i, l.nb);
    for (bi = 0; bi < l.nb; bi++) {
        vx_rd r = vx_rd_new(NULL, 0);
        uint32_t n = pt_decode(p, &l, bi, keys, tfs, &r), j;
        uint32_t bmax = 0, bmin = UINT32_MAX;
        if (n == 0)
            return VX_CORRUPT(err, "%s: term %u block %u: %s at offset %zu",
                              p->name, i, bi, vx_rd_what(&r),
                              vx_rd_fail_off(&r));
        for (j = 0; j < n; j++) {
            uint32_t len = vx_post_doc_len(p, keys[j]);
            if ((bi || j) && keys[j] <= last)
                return VX_CORRUPT(err,
                                  "%s: term %u block %u: keys not "
                                  "ascending",
                                  p->name, i, bi);
            if (len == VT_NO_TEXT || tfs[j] > len)
                return VX_CORRUPT(err,
                                  "%s: term %u: key %u has tf %u, "
                                  "length %u",
                                  p->name, i, keys[j], tfs[j], len);
            last = keys[j];
            sums[keys[j]] += tfs[j];
            if (tfs[j] > bmax)
                bmax = tfs[j];
            if (len < bmin)
                bmin = len;
        }
        if (pt_blk(&l, bi, 0) != keys[n - 1] || pt_blk(&l, bi, 2) != bmax ||
            pt_blk(&l, bi, 3) != bmin)
            return VX_CORRUPT(err,
                              "%s: term %u block %u: table entry does "
                              "not match its postings",
                              p->name, i, bi);
        if (bmax > max_tf)
            max_tf = bmax;
        if (bmin < min_len)
            min_len = bmin;
    }
    if (pt_blk(&l, l.nb - 1, 1) != l.data_len)
        return VX_CORRUPT(err, "%s: term %u: bytes after its last block",
                          p->name, i);
    if (vex_get_u32le(p->ent + (size_t)i * PT_TERM + 8) != max_tf ||
        vex_get_u32le(p->ent + (size_t)i * PT_TERM + 12) != min_len)
        return VX_CORRUPT(err, "%s: term %u: maxima do not match its blocks",
                          p->name, i);
    return VEX_OK;
}

/* Checks the term table (offsets, order, dfs); postings apart. */
static int pt_check_terms(const vt_postings *p, vex_err *err)
{
    uint32_t i;
    uint64_t prev_post = 0;
    for (i = 0; i < p->n_terms; i++) {
        uint64_t t0 = pt_text_off(p, i), t1 = pt_text_off(p, i + 1);
        uint64_t p1 = pt_post_off(p, i + 1);
        uint32_t df = vx_post_df(p, i);
        if (t1 <= t0 || t1 - t0 > VT_MAX_TERM || t1 > p->text_bytes)
            return VX_CORRUPT(err,
                              "%s: term %u: text offsets %llu..%llu "
                              "invalid",
                              p->name, i, (unsigned long long)t0,
                              (unsigned long long)t1);
        if (i == 0 && (t0 != 0 || pt_post_off(p, 0) != 0))
            return VX_CORRUPT(err, "%s: term 0 does not start at offset 0",
                              p->name);
        if (df == 0 || df > p->n_docs)
            return VX_CORRUPT(err,
                              "%s: term %u: document frequency %u of "
                              "%u documents",
                              p->name, i, df, p->n_docs);
        if (p1 < prev_post || p1 > p->post_bytes ||
            p1 - prev_post <
                (uint64_t)((df + p->block - 1) / p->block) * (PT_BLOCK + 2))
            return VX_CORRUPT(err, "%s: term %u: postings offsets invalid",
                              p->name, i);
        prev_post = p1;
        if (i > 0) {
            size_t al, bl;
            const char *a = vx_post_term(p, i - 1, &al);
            const char *b = vx_post_term(p, i, &bl);
            if (pt_term_cmp(a, al, b, bl) >= 0)
                return VX_CORRUPT(err, "%s: term %u not after term %u", p->name,
                                  i, i - 1);
        }
        if (vx_text_check_utf8(vx_post_term(p, i, &(size_t){0}),
                               (size_t)(t1 - t0), "term", NULL) != VEX_OK)
            return VX_CORRUPT(err, "%s: term %u is not UTF-8", p->name, i);
    }
    return VEX_OK;
}

int vx_post_open(const vex_mem *mem, const void *blob, size_t len,
                 const char *name, size_t base, vt_postings **out, vex_err *err)
{
    vx_rd r = vx_rd_at(blob, len, base);
    vt_postings *p = NULL;
    const unsigned char *magic;
    uint32_t *keys = NULL;
    uint64_t *sums = NULL;
    unsigned version, reserved;
    uint32_t i;
    int rc = VEX_OK;
    *out = NULL;
    if (name == NULL)
        name = "postings";
    p = vx_mem_calloc(mem, 1, sizeof *p);
    if (p == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: out of memory", name);
    p->mem = mem;
    p->base = base;
    snprintf(p->name, sizeof p->name, "%s", name);
    magic = vx_rd_take(&r, 4, "truncated header");
    version = vx_rd_u8(&r, "truncated header");
    reserved = vx_rd_u8(&r, "truncated header");
    p->a.stemmer = vx_rd_u8(&r, "truncated header");
    p->a.stopwords = vx_rd_u8(&r, "truncated header");
    p->block = vx_rd_u32(&r, "truncated header");
    p->n_keys = vx_rd_u32(&r, "truncated header");
    p->n_docs = vx_rd_u32(&r, "truncated header");
    p->n_terms = vx_rd_u32(&r, "truncated header");
    p->total_len = vx_rd_u64(&r, "truncated header");
    p->text_bytes = vx_rd_u64(&r, "truncated header");
    p->post_bytes = vx_rd_u64(&r, "truncated header");
    if (!vx_rd_ok(&r)) {
        rc = VX_CORRUPT(err, "%s: %s at offset %zu", name, vx_rd_what(&r),
                        vx_rd_fail_off(&r));
        goto fail;
    }
    if (memcmp(magic, PT_MAGIC, 4) != 0) {
        rc = VX_CORRUPT(err, "%s: bad magic at offset %zu", name, base);
        goto fail;
    }
    if (version != VT_POST_VERSION || reserved != 0) {
        rc = VX_CORRUPT(err,
                        "%s: version %u not supported (this build "
                        "reads %u)",
                        name, version, VT_POST_VERSION);
        goto fail;
    }
    if (p->a.stemmer > VT_STEM_PORTER || p->a.stopwords > VT_STOP_ENGLISH ||
        p->block == 0 || p->block > VT_POST_MAX_BLOCK ||
        p->n_docs > p->n_keys || p->n_keys == PT_END) {
        rc = VX_CORRUPT(err, "%s: header fields out of range at offset %zu",
                        name, base + 6);
        goto fail;
    }
    /* Sizes: every region must be exactly where the header says. */
    if (vx_rd_left(&r) < 4 || (uint64_t)(vx_rd_left(&r) - 4) / 4 < p->n_keys) {
        rc = VX_CORRUPT(err, "%s: too short for %u keys", name, p->n_keys);
        goto fail;
    }
    p->doclen = vx_rd_take(&r, (uint64_t)p->n_keys * 4, NULL);
    p->ent = vx_rd_array(&r, p->n_terms, PT_TERM, "term table truncated");
    p->text = vx_rd_take(&r, p->text_bytes, "term text truncated");
    p->post = vx_rd_take(&r, p->post_bytes, "postings truncated");
    vx_rd_skip(&r, 4, "checksum missing");
    vx_rd_end(&r, "bytes after the checksum");
    if (!vx_rd_ok(&r)) {
        rc = VX_CORRUPT(err, "%s: %s at offset %zu", name, vx_rd_what(&r),
                        vx_rd_fail_off(&r));
        goto fail;
    }
    if (vex_get_u32le((const unsigned char *)blob + len - 4) !=
        vex_crc32c(blob, len - 4)) {
        rc = VX_CORRUPT(err, "%s: checksum mismatch at offset %zu", name,
                        base + len - 4);
        goto fail;
    }
    {
        uint64_t docs = 0, total = 0;
        for (i = 0; i < p->n_keys; i++) {
            uint32_t l = vx_post_doc_len(p, i);
            if (l != VT_NO_TEXT) {
                docs++;
                total += l;
            }
        }
        if (docs != p->n_docs || total != p->total_len) {
            rc = VX_CORRUPT(err,
                            "%s: document count or total length does "
                            "not match the lengths",
                            name);
            goto fail;
        }
    }
    rc = pt_check_terms(p, err);
    if (rc != VEX_OK)
        goto fail;
    keys = vx_mem_alloc(mem, (size_t)p->block * 2 * sizeof *keys);
    sums = vx_mem_calloc(mem, (size_t)p->n_keys + 1, sizeof *sums);
    if (keys == NULL || sums == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (i = 0; i < p->n_terms && rc == VEX_OK; i++)
        rc = pt_check_term(p, i, keys, keys + p->block, sums, err);
    if (rc != VEX_OK)
        goto fail;
    if (p->n_terms > 0 && pt_post_off(p, p->n_terms - 1) > p->post_bytes) {
        rc = VX_CORRUPT(err, "%s: postings offsets invalid", name);
        goto fail;
    }
    for (i = 0; i < p->n_keys; i++) {
        uint32_t l = vx_post_doc_len(p, i);
        if (l != VT_NO_TEXT && sums[i] != l) {
            rc = VX_CORRUPT(err,
                            "%s: key %u has length %u but %llu term "
                            "occurrences",
                            name, i, l, (unsigned long long)sums[i]);
            goto fail;
        }
    }
    vx_mem_free(mem, keys);
    vx_mem_free(mem, sums);
    *out = p;
    return VEX_OK;
fail:
    vx_mem_free(mem, keys);
    vx_mem_free(mem, sums);
    vx_mem_free(mem, p);
    return rc;
}

/* ==== BM25 ============================================================ */

double vx_bm25_idf(uint64_t n, uint64_t df)
{
    double idf = log(((double)n - (double)df + 0.5) / ((double)df + 0.5));
    return idf > 0.0 ? idf : 1e-6;
}

typedef struct pt_cursor {
    pt_list l;
    double w;         /* the term's weight */
    double ub;        /* bound over all its postings */
    uint32_t blk;     /* block the shallow pointer is on (nb: past end) */
    uint32_t decoded; /* block held in keys/tfs, PT_END for none */
    uint32_t n, pos;  /* postings in the decoded block, position */
    uint32_t doc;     /* current key, PT_END when done */
    double blk_ub;    /* bound of block blk (valid when blk_ub_of == blk) */
    uint32_t blk_ub_of;
    uint32_t *keys, *tfs;
} pt_cursor;

typedef struct pt_search {
    const vt_postings *p;
    pt_cursor *cur; /* the cursors in query order */
    const vt_bm25 *prm;
    vt_stats st;
    int corrupt;
} pt_search;

static double pt_bound(const vt_bm25 *prm, double w, uint32_t tf, uint32_t len)
{
    return vx_bm25_term(prm, w, tf, len) * PT_SLACK;
}

/* Moves c's block pointer to the first block whose last key >= target. */
static void pt_shallow(pt_search *s, pt_cursor *c, uint32_t target)
{
    while (c->blk < c->l.nb && pt_blk(&c->l, c->blk, 0) < target) {
        if (c->blk != c->decoded)
            s->st.blocks_skipped++;
        c->blk++;
    }
}

static double pt_block_ub(pt_search *s, pt_cursor *c)
{
    if (c->blk >= c->l.nb)
        return 0.0;
    if (c->blk_ub_of != c->blk) {
        c->blk_ub = pt_bound(s->prm, c->w, pt_blk(&c->l, c->blk, 2),
                             pt_blk(&c->l, c->blk, 3));
        c->blk_ub_of = c->blk;
    }
    return c->blk_ub;
}

/* Moves c to its first posting with key >= target. */
static void pt_next_geq(pt_search *s, pt_cursor *c, uint32_t target)
{
    if (c->doc != PT_END && c->doc >= target)
        return;
    pt_shallow(s, c, target);
    if (c->blk >= c->l.nb) {
        c->doc = PT_END;
        return;
    }
    if (c->decoded != c->blk) {
        vx_rd r = vx_rd_new(NULL, 0);
        c->n = pt_decode(s->p, &c->l, c->blk, c->keys, c->tfs, &r);
        if (c->n == 0) { /* checked at open: cannot happen */
            s->corrupt = 1;
            c->doc = PT_END;
            return;
        }
        c->decoded = c->blk;
        c->pos = 0;
        s->st.postings_read += c->n;
        s->st.blocks_read++;
    }
    while (c->keys[c->pos] < target)
        c->pos++; /* the block's last key is >= target */
    c->doc = c->keys[c->pos];
}

static void pt_next(pt_search *s, pt_cursor *c)
{
    if (c->doc == PT_END)
        return;
    if (c->pos + 1 < c->n) {
        c->doc = c->keys[++c->pos];
        return;
    }
    pt_next_geq(s, c, c->doc + 1);
}

/* Min-heap of the k best: root is the worst (lowest score, then highest
 * key). */
static int pt_worse(const vt_hit *a, const vt_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->key > b->key);
}

static void pt_heap_down(vt_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        vt_hit t;
        if (l < n && pt_worse(&h[l], &h[m]))
            m = l;
        if (l + 1 < n && pt_worse(&h[l + 1], &h[m]))
            m = l + 1;
        if (m == i)
            return;
        t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void pt_heap_push(vt_hit *h, size_t *n, size_t k, vt_hit x)
{
    size_t i;
    if (*n == k) {
        if (!pt_worse(&h[0], &x))
            return;
        h[0] = x;
        pt_heap_down(h, *n, 0);
        return;
    }
    i = (*n)++;
    h[i] = x;
    while (i > 0 && pt_worse(&h[i], &h[(i - 1) / 2])) {
        vt_hit t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int pt_hit_order(const void *x, const void *y)
{
    const vt_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

static void pt_sort_cursors(pt_cursor **c, size_t n)
{
    size_t i, j;
    for (i = 1; i < n; i++) {
        pt_cursor *x = c[i];
        for (j = i; j > 0 && c[j - 1]->doc > x->doc; j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

/* The main loop over cursors cs[0..n), all positioned. */
static void pt_wand(pt_search *s, pt_cursor **cs, size_t n, size_t k,
                    vt_accept_fn accept, void *actx, vt_hit *heap, size_t *nh)
{
    for (;;) {
        double theta = *nh == k ? heap[0].score : -1.0, acc = 0.0, bub = 0.0;
        size_t p, i, live;
        uint32_t d;
        pt_sort_cursors(cs, n);
        for (live = n; live > 0 && cs[live - 1]->doc == PT_END; live--)
            ;
        for (p = 0; p < live; p++) {
            acc += cs[p]->ub;
            if (acc > theta)
                break;
        }
        if (p == live)
            return;
        d = cs[p]->doc;
        while (p + 1 < live && cs[p + 1]->doc == d)
            p++;
        for (i = 0; i <= p; i++) {
            pt_shallow(s, cs[i], d);
            bub += pt_block_ub(s, cs[i]);
        }
        if (bub > theta) {
            if (cs[0]->doc == d) {
                if (accept == NULL || accept(actx, d)) {
                    uint32_t len = vx_post_doc_len(s->p, d);
                    double score = 0.0;
                    vt_hit h;
                    /* In query order, so that a score is the same
                     * bits whichever cursors happen to be sorted first. */
                    for (i = 0; i < n; i++)
                        if (s->cur[i].doc == d)
                            score +=
                                vx_bm25_term(s->prm, s->cur[i].w,
                                             s->cur[i].tfs[s->cur[i].pos], len);
                    s->st.docs_scored++;
                    h.score = score;
                    h.key = d;
                    pt_heap_push(heap, nh, k, h);
                }
                for (i = 0; i <= p; i++)
                    pt_next(s, cs[i]);
            } else {
                for (i = 0; i < p && cs[i]->doc < d; i++)
                    pt_next_geq(s, cs[i], d);
            }
        } else {
            uint32_t nd = PT_END;
            for (i = 0; i <= p; i++)
                if (cs[i]->blk < cs[i]->l.nb) {
                    uint32_t last = pt_blk(&cs[i]->l, cs[i]->blk, 0);
                    if (last + 1 < nd)
                        nd = last + 1;
                }
            if (p + 1 < live && cs[p + 1]->doc < nd)
                nd = cs[p + 1]->doc;
            for (i = 0; i <= p; i++)
                if (nd == PT_END)
                    cs[i]->doc = PT_END;
                else
                    pt_next_geq(s, cs[i], nd);
        }
        if (s->corrupt)
            return;
    }
}

int vx_post_search(const vt_postings *p, const vt_bm25 *prm, const vt_qterm *q,
                   size_t nq, size_t k, vt_accept_fn accept, void *actx,
                   vt_hit *out, size_t *n_out, vt_stats *st, vex_err *err)
{
    pt_search s;
    pt_cursor *cur = NULL, **cs = NULL;
    uint32_t *bufs = NULL;
    size_t i, nh = 0;
    uint64_t total = 0;
    *n_out = 0;
    if (k == 0 || nq > VT_MAX_QUERY_TERMS || !(prm->k1 >= 0.0) ||
        !(prm->b >= 0.0 && prm->b <= 1.0) || !(prm->avgdl > 0.0) ||
        !isfinite(prm->k1) || !isfinite(prm->avgdl))
        return vx_err_set(err, VEX_INVALID, "bm25: parameters out of range");
    for (i = 0; i < nq; i++)
        if (q[i].term >= p->n_terms || !(q[i].weight > 0.0) ||
            !isfinite(q[i].weight))
            return vx_err_set(err, VEX_INVALID, "bm25: query term %zu invalid",
                              i);
    if (nq == 0)
        return VEX_OK;
    memset(&s, 0, sizeof s);
    s.p = p;
    s.prm = prm;
    cur = vx_mem_calloc(p->mem, nq, sizeof *cur);
    s.cur = cur;
    cs = vx_mem_calloc(p->mem, nq, sizeof *cs);
    bufs = vx_mem_alloc(p->mem, nq * (size_t)p->block * 2 * sizeof *bufs);
    if (cur == NULL || cs == NULL || bufs == NULL) {
        vx_mem_free(p->mem, cur);
        vx_mem_free(p->mem, cs);
        vx_mem_free(p->mem, bufs);
        return vx_err_set(err, VEX_NOMEM, "bm25: out of memory");
    }
    for (i = 0; i < nq; i++) {
        pt_cursor *c = &cur[i];
        const unsigned char *e = p->ent + (size_t)q[i].term * PT_TERM;
        c->l = pt_list_of(p, q[i].term);
        c->w = q[i].weight;
        c->ub =
            pt_bound(prm, c->w, vex_get_u32le(e + 8), vex_get_u32le(e + 12));
        c->decoded = PT_END;
        c->blk_ub_of = PT_END;
        c->doc = PT_END; /* not started: next_geq(0) finds the first */
        c->keys = bufs + i * (size_t)p->block * 2;
        c->tfs = c->keys + p->block;
        c->blk = 0;
        total += c->l.df;
        cs[i] = c;
        pt_next_geq(&s, c, 0); /* onto the first posting */
    }
    pt_wand(&s, cs, nq, k, accept, actx, out, &nh);
    vx_mem_free(p->mem, cur);
    vx_mem_free(p->mem, cs);
    vx_mem_free(p->mem, bufs);
    if (s.corrupt)
        return VX_CORRUPT(err, "%s: postings damaged", p->name);
    qsort(out, nh, sizeof *out, pt_hit_order);
    *n_out = nh;
    if (st != NULL) {
        s.st.postings_skipped = total - s.st.postings_read;
        st->postings_read += s.st.postings_read;
        st->postings_skipped += s.st.postings_skipped;
        st->blocks_read += s.st.blocks_read;
        st->blocks_skipped += s.st.blocks_skipped;
        st->docs_scored += s.st.docs_scored;
    }
    return VEX_OK;
}

int vx_post_count_keys(const vt_postings *p, uint32_t term,
                       const uint32_t *keys, size_t n, uint64_t *count)
{
    pt_search s;
    pt_cursor c;
    uint32_t *buf;
    uint64_t found = 0;
    size_t i;
    *count = 0;
    if (n == 0)
        return VEX_OK;
    buf = vx_mem_alloc(p->mem, (size_t)p->block * 2 * sizeof *buf);
    if (buf == NULL)
        return VEX_NOMEM;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    s.p = p;
    c.l = pt_list_of(p, term);
    c.decoded = PT_END;
    c.blk_ub_of = PT_END;
    c.doc = PT_END;
    c.keys = buf;
    c.tfs = buf + p->block;
    for (i = 0; i < n; i++) {
        pt_next_geq(&s, &c, keys[i]);
        if (c.doc == PT_END)
            break;
        found += c.doc == keys[i];
    }
    vx_mem_free(p->mem, buf);
    if (s.corrupt)
        return VEX_CORRUPT;
    *count = found;
    return VEX_OK;
}
