/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memindex.c - the in-memory keyword index of a memtable (memindex.h):
 * a hash table of terms, each with an array of (row, tf) postings in row
 * order, and the rows with their lengths in row order. An add analyses
 * the text without the lock, then appends under the write lock; when an
 * allocation fails midway the add is rolled back (the postings it
 * appended popped, the terms it created dropped and the hash table
 * rebuilt), so a failed add leaves the index as it was.
 */
#include "text/memindex.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct mi_post {
    uint64_t row;
    uint32_t tf;
} mi_post;

typedef struct mi_term {
    size_t off; /* its bytes in the arena */
    uint32_t len, n, cap;
    mi_post *p;
} mi_term;

struct vt_memindex {
    const vex_mem *mem;
    vt_analyzer a;
    pthread_rwlock_t lock;
    char *arena;
    size_t arena_len, arena_cap;
    mi_term *terms;
    size_t n_terms, terms_cap;
    uint32_t *slots; /* term number + 1, 0 empty */
    size_t n_slots;
    uint64_t *rows;
    uint32_t *lens;
    size_t n_rows, rows_cap, lens_cap;
    uint64_t bytes;
};

static uint64_t mi_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int vx_mi_create(const vex_mem *mem, const vt_analyzer *a, vt_memindex **out,
                 vex_err *err)
{
    vt_memindex *mi;
    *out = NULL;
    if (a->stemmer > VT_STEM_PORTER || a->stopwords > VT_STOP_ENGLISH)
        return vx_err_set(err, VEX_INVALID, "memindex: unknown analyzer");
    mi = vx_mem_calloc(mem, 1, sizeof *mi);
    if (mi == NULL)
        return vx_err_set(err, VEX_NOMEM, "memindex: out of memory");
    mi->mem = mem;
    mi->a = *a;
    mi->n_slots = 256;
    mi->slots = vx_mem_calloc(mem, mi->n_slots, sizeof *mi->slots);
    if (mi->slots == NULL || pthread_rwlock_init(&mi->lock, NULL) != 0) {
        vx_mem_free(mem, mi->slots);
        vx_mem_free(mem, mi);
        return vx_err_set(err, VEX_NOMEM, "memindex: out of memory");
    }
    *out = mi;
    return VEX_OK;
}

void vx_mi_free(vt_memindex *mi)
{
    size_t i;
    if (mi == NULL)
        return;
    for (i = 0; i < mi->n_terms; i++)
        vx_mem_free(mi->mem, mi->terms[i].p);
    vx_mem_free(mi->mem, mi->terms);
    vx_mem_free(mi->mem, mi->slots);
    vx_mem_free(mi->mem, mi->arena);
    vx_mem_free(mi->mem, mi->rows);
    vx_mem_free(mi->mem, mi->lens);
    pthread_rwlock_destroy(&mi->lock);
    vx_mem_free(mi->mem, mi);
}

vt_analyzer vx_mi_analyzer(const vt_memindex *mi)
{
    return mi->a;
}

uint64_t vx_mi_rows(const vt_memindex *mi)
{
    uint64_t n;
    pthread_rwlock_rdlock(&((vt_memindex *)mi)->lock);
    n = mi->n_rows;
    pthread_rwlock_unlock(&((vt_memindex *)mi)->lock);
    return n;
}

uint64_t vx_mi_memory(const vt_memindex *mi)
{
    uint64_t n;
    pthread_rwlock_rdlock(&((vt_memindex *)mi)->lock);
    n = mi->bytes + sizeof *mi;
    pthread_rwlock_unlock(&((vt_memindex *)mi)->lock);
    return n;
}

/* Grows *p (elements of sz bytes, *cap of them) to hold need; 0 on
 * NOMEM. */
static int mi_grow(vt_memindex *mi, void **p, size_t *cap, size_t need,
                   size_t sz)
{
    size_t nc = *cap ? *cap : 8;
    void *q;
    if (need <= *cap)
        return 1;
    while (nc < need)
        nc *= 2;
    if (nc > SIZE_MAX / sz)
        return 0;
    q = vx_mem_realloc(mi->mem, *p, nc * sz);
    if (q == NULL)
        return 0;
    mi->bytes += (nc - *cap) * sz;
    *p = q;
    *cap = nc;
    return 1;
}

/* The term's number, or -1 when absent. */
static int64_t mi_find(const vt_memindex *mi, const char *t, size_t len,
                       size_t *slot)
{
    size_t h = (size_t)mi_hash(t, len) & (mi->n_slots - 1);
    while (mi->slots[h] != 0) {
        const mi_term *x = &mi->terms[mi->slots[h] - 1];
        if (x->len == len && memcmp(mi->arena + x->off, t, len) == 0) {
            if (slot)
                *slot = h;
            return mi->slots[h] - 1;
        }
        h = (h + 1) & (mi->n_slots - 1);
    }
    if (slot)
        *slot = h;
    return -1;
}

/* Rebuilds the hash table for the first mi->n_terms terms into a table
 * of n slots (a power of two); 0 on NOMEM (the old one is kept). */
static int mi_rehash(vt_memindex *mi, size_t n)
{
    uint32_t *s = vx_mem_calloc(mi->mem, n, sizeof *s);
    size_t i;
    if (s == NULL)
        return 0;
    for (i = 0; i < mi->n_terms; i++) {
        const mi_term *x = &mi->terms[i];
        size_t h = (size_t)mi_hash(mi->arena + x->off, x->len) & (n - 1);
        while (s[h] != 0)
            h = (h + 1) & (n - 1);
        s[h] = (uint32_t)i + 1;
    }
    mi->bytes += (n - mi->n_slots) * sizeof *s;
    vx_mem_free(mi->mem, mi->slots);
    mi->slots = s;
    mi->n_slots = n;
    return 1;
}

/* One term of the row being added (under the write lock). */
static int mi_append(vt_memindex *mi, uint64_t row, const char *t, size_t len)
{
    size_t slot;
    int64_t i = mi_find(mi, t, len, &slot);
    mi_term *x;
    if (i < 0) {
        if (mi->n_terms >= UINT32_MAX - 1 ||
            !mi_grow(mi, (void **)&mi->terms, &mi->terms_cap, mi->n_terms + 1,
                     sizeof *mi->terms) ||
            !mi_grow(mi, (void **)&mi->arena, &mi->arena_cap,
                     mi->arena_len + len, 1))
            return VEX_NOMEM;
        x = &mi->terms[mi->n_terms];
        memset(x, 0, sizeof *x);
        memcpy(mi->arena + mi->arena_len, t, len);
        x->off = mi->arena_len;
        x->len = (uint32_t)len;
        mi->arena_len += len;
        mi->slots[slot] = (uint32_t)++mi->n_terms;
        i = (int64_t)mi->n_terms - 1;
        if (mi->n_terms * 2 > mi->n_slots && !mi_rehash(mi, mi->n_slots * 2))
            return VEX_NOMEM;
    }
    x = &mi->terms[i];
    if (x->n > 0 && x->p[x->n - 1].row == row) {
        x->p[x->n - 1].tf++;
        return VEX_OK;
    }
    {
        size_t cap = x->cap;
        if (x->n == UINT32_MAX - 1 ||
            !mi_grow(mi, (void **)&x->p, &cap, (size_t)x->n + 1, sizeof *x->p))
            return VEX_NOMEM;
        x->cap = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    }
    x->p[x->n].row = row;
    x->p[x->n].tf = 1;
    x->n++;
    return VEX_OK;
}

/* Takes back a failed add of `row` (under the write lock). */
static void mi_rollback(vt_memindex *mi, uint64_t row, size_t n_terms,
                        size_t arena_len)
{
    size_t i;
    for (i = 0; i < mi->n_terms; i++)
        if (mi->terms[i].n > 0 && mi->terms[i].p[mi->terms[i].n - 1].row == row)
            mi->terms[i].n--;
    for (i = n_terms; i < mi->n_terms; i++) {
        vx_mem_free(mi->mem, mi->terms[i].p);
        mi->terms[i].p = NULL;
    }
    mi->n_terms = n_terms;
    mi->arena_len = arena_len;
    /* a table of the same size cannot fail to hold fewer terms; rebuilt
     * in place when the new allocation fails */
    if (!mi_rehash(mi, mi->n_slots)) {
        memset(mi->slots, 0, mi->n_slots * sizeof *mi->slots);
        for (i = 0; i < mi->n_terms; i++) {
            size_t slot;
            mi_find(mi, mi->arena + mi->terms[i].off, mi->terms[i].len, &slot);
            mi->slots[slot] = (uint32_t)i + 1;
        }
    }
}

/* The analysed terms of one text, before the lock is taken. */
typedef struct mi_toks {
    const vex_mem *mem;
    char *buf;
    size_t used, cap;
    size_t *off, *len;
    size_t n, ncap;
} mi_toks;

static int mi_tok(void *ctx, const char *t, size_t len)
{
    mi_toks *k = ctx;
    if (len == 0)
        return 0;
    if (k->used + len > k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 256;
        char *q;
        while (nc < k->used + len)
            nc *= 2;
        q = vx_mem_realloc(k->mem, k->buf, nc);
        if (q == NULL)
            return VEX_NOMEM;
        k->buf = q;
        k->cap = nc;
    }
    if (k->n == k->ncap) {
        size_t nc = k->ncap ? k->ncap * 2 : 32;
        size_t *a = vx_mem_realloc(k->mem, k->off, nc * sizeof *a);
        size_t *b;
        if (a == NULL)
            return VEX_NOMEM;
        k->off = a;
        b = vx_mem_realloc(k->mem, k->len, nc * sizeof *b);
        if (b == NULL)
            return VEX_NOMEM;
        k->len = b;
        k->ncap = nc;
    }
    memcpy(k->buf + k->used, t, len);
    k->off[k->n] = k->used;
    k->len[k->n++] = len;
    k->used += len;
    return 0;
}

int vx_mi_add(vt_memindex *mi, uint64_t row, const char *text, size_t len,
              vex_err *err)
{
    mi_toks k;
    size_t i, n_terms, arena_len;
    int rc;
    if (len > VT_MAX_TEXT)
        return vx_err_set(err, VEX_INVALID,
                          "memindex: row %llu: text of %zu bytes, at most %u",
                          (unsigned long long)row, len, VT_MAX_TEXT);
    rc = vx_text_check_utf8(text, len, "memindex: text", err);
    if (rc != VEX_OK)
        return rc;
    memset(&k, 0, sizeof k);
    k.mem = mi->mem;
    rc = vx_text_tokenize(&mi->a, text, len, mi_tok, &k, err);
    if (rc != VEX_OK)
        goto done;
    pthread_rwlock_wrlock(&mi->lock);
    if (mi->n_rows > 0 && row <= mi->rows[mi->n_rows - 1]) {
        pthread_rwlock_unlock(&mi->lock);
        rc = vx_err_set(err, VEX_INVALID,
                        "memindex: row %llu added after row %llu",
                        (unsigned long long)row,
                        (unsigned long long)mi->rows[mi->n_rows - 1]);
        goto done;
    }
    n_terms = mi->n_terms;
    arena_len = mi->arena_len;
    rc = mi_grow(mi, (void **)&mi->rows, &mi->rows_cap, mi->n_rows + 1,
                 sizeof *mi->rows) &&
                 mi_grow(mi, (void **)&mi->lens, &mi->lens_cap, mi->n_rows + 1,
                         sizeof *mi->lens)
             ? VEX_OK
             : VEX_NOMEM;
    for (i = 0; i < k.n && rc == VEX_OK; i++)
        rc = mi_append(mi, row, k.buf + k.off[i], k.len[i]);
    if (rc == VEX_OK) {
        mi->rows[mi->n_rows] = row;
        mi->lens[mi->n_rows++] = (uint32_t)k.n;
    } else {
        mi_rollback(mi, row, n_terms, arena_len);
        rc = vx_err_set(err, VEX_NOMEM, "memindex: out of memory");
    }
    pthread_rwlock_unlock(&mi->lock);
done:
    vx_mem_free(mi->mem, k.buf);
    vx_mem_free(mi->mem, k.off);
    vx_mem_free(mi->mem, k.len);
    return rc;
}

/* Length of row (present), by binary search. */
static uint32_t mi_len_of(const vt_memindex *mi, uint64_t row)
{
    size_t lo = 0, hi = mi->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mi->rows[mid] < row)
            lo = mid + 1;
        else
            hi = mid;
    }
    return mi->lens[lo];
}

int vx_mi_stats(const vt_memindex *mi, const char *const *terms,
                const size_t *lens, size_t nt, vt_row_fn live, void *lctx,
                uint64_t *docs, uint64_t *total, uint64_t *df)
{
    vt_memindex *m = (vt_memindex *)mi;
    size_t i, t;
    pthread_rwlock_rdlock(&m->lock);
    for (i = 0; i < mi->n_rows; i++)
        if (live == NULL || live(lctx, mi->rows[i])) {
            (*docs)++;
            *total += mi->lens[i];
        }
    for (t = 0; t < nt; t++) {
        int64_t x = mi_find(mi, terms[t], lens[t], NULL);
        if (x < 0)
            continue;
        for (i = 0; i < mi->terms[x].n; i++)
            df[t] += live == NULL || live(lctx, mi->terms[x].p[i].row);
    }
    pthread_rwlock_unlock(&m->lock);
    return VEX_OK;
}

typedef struct mi_cand {
    double score;
    uint64_t row;
} mi_cand;

static int mi_cand_order(const void *x, const void *y)
{
    const mi_cand *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

int vx_mi_search(const vt_memindex *mi, const vt_bm25 *prm,
                 const char *const *terms, const size_t *lens,
                 const double *weight, size_t nt, size_t k, vt_row_fn live,
                 void *lctx, vt_row_fn accept, void *actx, uint64_t *out_row,
                 double *out_score, size_t *n_out, vt_stats *st)
{
    vt_memindex *m = (vt_memindex *)mi;
    const mi_term **tp = NULL;
    size_t *pos = NULL, t, total = 0, nc = 0, i;
    mi_cand *c = NULL;
    int rc = VEX_OK;
    *n_out = 0;
    if (nt == 0 || k == 0)
        return VEX_OK;
    tp = vx_mem_calloc(mi->mem, nt, sizeof *tp);
    pos = vx_mem_calloc(mi->mem, nt, sizeof *pos);
    if (tp == NULL || pos == NULL) {
        rc = VEX_NOMEM;
        goto done;
    }
    pthread_rwlock_rdlock(&m->lock);
    for (t = 0; t < nt; t++) {
        int64_t x = weight[t] > 0.0 ? mi_find(mi, terms[t], lens[t], NULL) : -1;
        tp[t] = x < 0 ? NULL : &mi->terms[x];
        total += tp[t] ? tp[t]->n : 0;
    }
    c = total ? vx_mem_alloc(mi->mem, total * sizeof *c) : NULL;
    if (total && c == NULL) {
        pthread_rwlock_unlock(&m->lock);
        rc = VEX_NOMEM;
        goto done;
    }
    for (;;) { /* merge the terms' postings by row */
        uint64_t row = UINT64_MAX;
        int any = 0;
        for (t = 0; t < nt; t++)
            if (tp[t] && pos[t] < tp[t]->n && tp[t]->p[pos[t]].row <= row) {
                row = tp[t]->p[pos[t]].row;
                any = 1;
            }
        if (!any)
            break;
        if ((live == NULL || live(lctx, row)) &&
            (accept == NULL || accept(actx, row))) {
            uint32_t len = mi_len_of(mi, row);
            double s = 0.0;
            for (t = 0; t < nt; t++)
                if (tp[t] && pos[t] < tp[t]->n && tp[t]->p[pos[t]].row == row)
                    s += vx_bm25_term(prm, weight[t], tp[t]->p[pos[t]].tf, len);
            c[nc].score = s;
            c[nc++].row = row;
        }
        for (t = 0; t < nt; t++)
            if (tp[t] && pos[t] < tp[t]->n && tp[t]->p[pos[t]].row == row)
                pos[t]++;
    }
    pthread_rwlock_unlock(&m->lock);
    if (st != NULL) {
        st->postings_read += total;
        st->docs_scored += nc;
    }
    if (nc > 0) /* c may be NULL then */
        qsort(c, nc, sizeof *c, mi_cand_order);
    for (i = 0; i < nc && i < k; i++) {
        out_row[i] = c[i].row;
        out_score[i] = c[i].score;
    }
    *n_out = i;
done:
    vx_mem_free(mi->mem, tp);
    vx_mem_free(mi->mem, pos);
    vx_mem_free(mi->mem, c);
    return rc;
}
