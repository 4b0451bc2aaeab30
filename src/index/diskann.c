/* SPDX-License-Identifier: Apache-2.0 */
/*
 * diskann.c - the disk-resident graph index (see diskann.h; every byte in
 * docs/FORMAT.md, "DiskANN index").
 *
 * Choices, and why:
 *  - Node order is breadth-first from the medoid: the medoid is node 0,
 *    a search's first hops read the first pages, and a prefix cache holds
 *    the nearest BFS levels (what DiskANN's paper caches explicitly). A
 *    graph reordering by co-access would pack pages better; BFS is the
 *    cheap order that already keeps neighbourhoods together.
 *  - One CRC32C per 4 KiB page, kept in memory, checked on every read:
 *    the node pages are never read whole at open (that is the point of a
 *    disk index), so a checksum over them all could not be verified.
 *  - The quantizer is trained on the stored vectors (unit vectors under
 *    cosine) with the L2 metric, the same space the exact distances are
 *    computed in.
 *  - The reads of one hop are submitted together (io/batch.h: io_uring
 *    when the build and the kernel have it, else one pread after
 *    another), so a cold disk serves a hop's pages in parallel: what a
 *    beam width W buys on an SSD.
 */
#include "index/diskann.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "index/vamana.h"
#include "io/batch.h"
#include "quant/quant.h"
#include "simd/simd.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rd.h"

#define DANN_MAGIC    "VEXDANN\0"
#define DANN_VERSION  1u
#define DANN_MAX_W    64u
#define DANN_EXPANDED 0x80000000u

struct vx_dann {
    vex_mem mem;
    const vex_simd_table *s;
    vex_file *f;
    uint64_t off, len;
    vex_metric metric;
    uint32_t dim, R, medoid, node_bytes, npp, ppn;
    uint64_t n, n_pages, nodes_off, cache_pages;
    vq_quantizer *pq;
    size_t code_size;
    uint8_t *codes;       /* n * code_size */
    uint32_t *keys;       /* n */
    uint32_t *node_of;    /* n: key -> node, when the keys are 0..n-1 */
    uint32_t *crcs;       /* n_pages */
    unsigned char *cache; /* cache_pages * PAGE */
    /* scratches handed back by vx_dann_release, for vx_dann_acquire */
    pthread_mutex_t pool_mu;
    vx_dann_scratch *free_list;
};

struct vx_dann_scratch {
    uint32_t L, W;
    vx_cand *list;  /* L + 1 */
    vex_hit *best;  /* L + 1: accepted expanded nodes by exact distance */
    uint16_t *seen; /* n */
    uint16_t gen;
    vq_dc *dc;
    float *q;              /* dim: the (unit) query */
    unsigned char *pages;  /* W * ppn pages */
    uint64_t *page_no;     /* W * ppn: which page each buffer holds */
    uint32_t *hop;         /* W: the nodes of a hop */
    vx_read_req *reqs;     /* W: a hop's page reads */
    vx_batch_reader *br;   /* submits them together */
    vx_dann_scratch *next; /* in the index's free list */
};

void vx_dann_params_init(vx_dann_params *p)
{
    memset(p, 0, sizeof *p);
    p->metric = VEX_METRIC_L2;
    p->R = 48;
    p->L = 100;
    p->alpha = 1.2f;
    p->seed = 1;
}

static uint32_t dann_node_bytes(uint32_t R, uint32_t dim)
{
    return 4 + 4 * R + 4 * dim;
}

/* Records per page and pages per record. */
static void dann_geometry(uint32_t node_bytes, uint32_t *npp, uint32_t *ppn)
{
    if (node_bytes <= VX_DANN_PAGE) {
        *npp = VX_DANN_PAGE / node_bytes;
        *ppn = 1;
    } else {
        *npp = 1;
        *ppn = (node_bytes + VX_DANN_PAGE - 1) / VX_DANN_PAGE;
    }
}

static uint64_t dann_round(uint64_t x)
{
    return (x + VX_DANN_PAGE - 1) / VX_DANN_PAGE * VX_DANN_PAGE;
}

/* ---- writing ---------------------------------------------------------- */

/* Breadth-first order from the medoid: order[i] is the graph node stored
 * as node i; every node is reached (the graph's reachability pass), but
 * any left over would follow in number order. */
static void dann_bfs(const vx_vamana *g, uint32_t *order, uint8_t *seen)
{
    uint32_t n = vx_vamana_count(g), head = 0, tail = 0;
    memset(seen, 0, n);
    order[tail++] = vx_vamana_medoid(g);
    seen[order[0]] = 1;
    for (uint32_t next = 0; tail < n;) {
        if (head == tail) { /* unreached: the next in number order */
            while (seen[next])
                next++;
            seen[next] = 1;
            order[tail++] = next;
        }
        while (head < tail) {
            uint32_t cnt;
            const uint32_t *lk = vx_vamana_links(g, order[head++], &cnt);
            for (uint32_t i = 0; i < cnt; i++)
                if (!seen[lk[i]]) {
                    seen[lk[i]] = 1;
                    order[tail++] = lk[i];
                }
        }
    }
}

static int dann_put(vex_file *f, uint64_t at, const void *p, size_t n,
                    vex_err *err)
{
    return n ? vex_file_write(f, p, n, at, err) : VEX_OK;
}

int vx_dann_write(const vex_mem *mem, vex_pool *pool, const float *vecs,
                  const uint32_t *keys, size_t n, uint32_t dim,
                  const vx_dann_params *p, vex_file *f, uint64_t off,
                  uint64_t *len, vex_err *err)
{
    const vex_simd_table *s = vx_simd();
    float *work = NULL, *ordered = NULL;
    uint32_t *order = NULL, *inv = NULL, *okeys = NULL, *crcs = NULL;
    uint8_t *seen = NULL, *codes = NULL, *pqblob = NULL;
    unsigned char *hdr = NULL, *page = NULL;
    vx_vamana *g = NULL;
    vq_quantizer *pq = NULL;
    vx_vamana_params vp;
    vq_params qp;
    uint32_t node_bytes, npp, ppn, m;
    uint64_t n_pages, pq_off, codes_off, keys_off, crcs_off, nodes_off;
    size_t code_size = 0, pq_len = 0;
    int rc = VEX_OK;

    *len = 0;
    if (off % VX_DANN_PAGE != 0)
        return vx_err_set(err, VEX_INVALID,
                          "diskann: offset %llu is not a multiple of %u",
                          (unsigned long long)off, VX_DANN_PAGE);
    if (p->metric != VEX_METRIC_L2 && p->metric != VEX_METRIC_COSINE)
        return vx_err_set(err, VEX_INVALID,
                          "diskann: metric %s is not supported (l2, cosine)",
                          vex_metric_name(p->metric));
    if (n < 16 || n >= (1u << 31) || dim == 0 || dim > VEX_MAX_DIM)
        return vx_err_set(err, VEX_INVALID,
                          "diskann: %zu vectors of %u dimensions (at least 16 "
                          "vectors)",
                          n, dim);
    m = p->pq_m ? p->pq_m : (dim + 3) / 4;
    if (m > dim)
        return vx_err_set(err, VEX_INVALID,
                          "diskann: pq_m %u is more than the %u dimensions", m,
                          dim);
    node_bytes = dann_node_bytes(p->R, dim);
    dann_geometry(node_bytes, &npp, &ppn);
    n_pages = (n + npp - 1) / npp * ppn;

    /* the vectors the graph and the quantizer are built on: unit vectors
     * under cosine (the node records keep the caller's) */
    work = vx_mem_alloc(mem, n * dim * sizeof *work);
    if (work == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const float *v = vecs + i * dim;
        float *w = work + i * dim, nrm;
        for (uint32_t d = 0; d < dim; d++)
            if (!isfinite(v[d])) {
                rc = vx_err_set(err, VEX_INVALID,
                                "diskann: vector %zu has a non-finite "
                                "component at %u",
                                i, d);
                goto done;
            }
        memcpy(w, v, dim * sizeof *w);
        if (p->metric == VEX_METRIC_COSINE) {
            nrm = s->norm2_f32(w, dim);
            if (!(nrm > 0)) {
                rc = vx_err_set(err, VEX_INVALID,
                                "diskann: vector %zu is zero (no direction "
                                "for cosine)",
                                i);
                goto done;
            }
            for (uint32_t d = 0; d < dim; d++)
                w[d] /= sqrtf(nrm);
        }
    }

    vx_vamana_params_init(&vp);
    vp.metric = VEX_METRIC_L2;
    vp.R = p->R;
    vp.L = p->L;
    vp.alpha = p->alpha;
    vp.seed = p->seed;
    vp.n_threads = p->n_threads;
    vp.cancel = p->cancel;
    rc = vx_vamana_build(mem, pool, work, n, dim, &vp, &g, err);
    if (rc != VEX_OK)
        goto done;

    order = vx_mem_alloc(mem, n * sizeof *order);
    inv = vx_mem_alloc(mem, n * sizeof *inv);
    okeys = vx_mem_alloc(mem, n * sizeof *okeys);
    seen = vx_mem_alloc(mem, n);
    ordered = vx_mem_alloc(mem, n * dim * sizeof *ordered);
    crcs = vx_mem_alloc(mem, n_pages * sizeof *crcs);
    hdr = vx_mem_calloc(mem, 1, VX_DANN_PAGE);
    page = vx_mem_alloc(mem, (size_t)ppn * VX_DANN_PAGE);
    if (!order || !inv || !okeys || !seen || !ordered || !crcs || !hdr || !page)
        goto nomem;
    dann_bfs(g, order, seen);
    for (size_t i = 0; i < n; i++) {
        inv[order[i]] = (uint32_t)i;
        okeys[i] = keys[order[i]];
        memcpy(ordered + i * dim, work + (size_t)order[i] * dim,
               dim * sizeof *ordered);
    }

    /* the navigation quantizer */
    vx_vq_params_init(&qp, VQ_PQ, dim, VEX_METRIC_L2);
    qp.pq_m = m;
    qp.pq_nbits = n >= 256 ? 8 : 4;
    qp.seed = p->seed;
    qp.pool = pool;
    qp.n_threads = p->n_threads;
    if (qp.pq_nbits == 4 && m > VQ_PQ4_MAX_M)
        qp.pq_m = m = VQ_PQ4_MAX_M;
    rc = vx_vq_create(mem, &qp, &pq, err);
    if (rc == VEX_OK && (rc = vx_vq_train(pq, ordered, n)) != VEX_OK)
        rc = vx_err_set(err, rc, "diskann: training the quantizer: %s",
                        vx_vq_errmsg(pq));
    if (rc != VEX_OK)
        goto done;
    code_size = vx_vq_code_size(pq);
    pq_len = vx_vq_blob_size(pq);
    codes = vx_mem_alloc(mem, n * code_size);
    pqblob = vx_mem_alloc(mem, pq_len);
    if (codes == NULL || pqblob == NULL)
        goto nomem;
    if ((rc = vx_vq_encode(pq, ordered, n, codes)) != VEX_OK ||
        (rc = vx_vq_serialize(pq, pqblob, pq_len)) != VEX_OK) {
        rc = vx_err_set(err, rc, "diskann: encoding: %s", vx_vq_errmsg(pq));
        goto done;
    }

    pq_off = VX_DANN_PAGE;
    codes_off = pq_off + pq_len;
    keys_off = codes_off + (uint64_t)n * code_size;
    crcs_off = keys_off + (uint64_t)n * 4;
    nodes_off = dann_round(crcs_off + n_pages * 4);

    /* node pages, with their checksums */
    for (uint64_t pg = 0; pg < n_pages && rc == VEX_OK; pg += ppn) {
        uint64_t first = pg / ppn * npp;
        memset(page, 0, (size_t)ppn * VX_DANN_PAGE);
        for (uint32_t j = 0; j < npp && first + j < n; j++) {
            uint64_t node = first + j;
            unsigned char *rec = page + (size_t)j * node_bytes;
            uint32_t cnt;
            const uint32_t *lk = vx_vamana_links(g, order[node], &cnt);
            vex_put_u32le(rec, cnt);
            for (uint32_t t = 0; t < cnt; t++)
                vex_put_u32le(rec + 4 + 4 * t, inv[lk[t]]);
            /* the caller's vector as it was given (cosine normalises
             * at search time), so that a read returns what was stored */
            for (uint32_t d = 0; d < dim; d++) {
                uint32_t bits;
                memcpy(&bits, &vecs[(size_t)order[node] * dim + d], 4);
                vex_put_u32le(rec + 4 + 4 * p->R + 4 * d, bits);
            }
        }
        for (uint32_t t = 0; t < ppn; t++)
            crcs[pg + t] =
                vex_crc32c(page + (size_t)t * VX_DANN_PAGE, VX_DANN_PAGE);
        rc = dann_put(f, off + nodes_off + pg * VX_DANN_PAGE, page,
                      (size_t)ppn * VX_DANN_PAGE, err);
    }
    if (rc != VEX_OK)
        goto done;

    /* the in-memory parts (little-endian words) */
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4];
        vex_put_u32le(b, okeys[i]);
        memcpy(&okeys[i], b, 4);
    }
    for (uint64_t i = 0; i < n_pages; i++) {
        unsigned char b[4];
        vex_put_u32le(b, crcs[i]);
        memcpy(&crcs[i], b, 4);
    }
    memcpy(hdr, DANN_MAGIC, 8);
    vex_put_u32le(hdr + 8, DANN_VERSION);
    vex_put_u32le(hdr + 12, (uint32_t)p->metric);
    vex_put_u32le(hdr + 16, dim);
    vex_put_u32le(hdr + 20, p->R);
    vex_put_u64le(hdr + 24, n);
    vex_put_u32le(hdr + 32, 0); /* the medoid is node 0 (BFS root) */
    vex_put_u32le(hdr + 36, node_bytes);
    vex_put_u32le(hdr + 40, npp);
    vex_put_u32le(hdr + 44, ppn);
    vex_put_u64le(hdr + 48, pq_off);
    vex_put_u64le(hdr + 56, pq_len);
    vex_put_u64le(hdr + 64, codes_off);
    vex_put_u64le(hdr + 72, (uint64_t)n * code_size);
    vex_put_u64le(hdr + 80, keys_off);
    vex_put_u64le(hdr + 88, crcs_off);
    vex_put_u64le(hdr + 96, nodes_off);
    vex_put_u64le(hdr + 104, n_pages);
    vex_put_u32le(hdr + 112, vex_crc32c(codes, n * code_size));
    vex_put_u32le(hdr + 116, vex_crc32c(okeys, n * 4));
    vex_put_u32le(hdr + 120, vex_crc32c(crcs, n_pages * 4));
    vex_put_u32le(hdr + VX_DANN_PAGE - 4, vex_crc32c(hdr, VX_DANN_PAGE - 4));
    rc = dann_put(f, off, hdr, VX_DANN_PAGE, err);
    if (rc == VEX_OK)
        rc = dann_put(f, off + pq_off, pqblob, pq_len, err);
    if (rc == VEX_OK)
        rc = dann_put(f, off + codes_off, codes, n * code_size, err);
    if (rc == VEX_OK)
        rc = dann_put(f, off + keys_off, okeys, n * 4, err);
    if (rc == VEX_OK)
        rc = dann_put(f, off + crcs_off, crcs, n_pages * 4, err);
    if (rc == VEX_OK && nodes_off > crcs_off + n_pages * 4) {
        /* the gap up to the node pages: zeros, so the file has no hole */
        memset(page, 0, VX_DANN_PAGE);
        rc = dann_put(f, off + crcs_off + n_pages * 4, page,
                      (size_t)(nodes_off - crcs_off - n_pages * 4), err);
    }
    if (rc == VEX_OK)
        *len = nodes_off + n_pages * VX_DANN_PAGE;
    goto done;
nomem:
    rc = vx_err_set(err, VEX_NOMEM,
                    "diskann: out of memory writing %zu "
                    "vectors",
                    n);
done:
    vx_vamana_free(g);
    vx_vq_destroy(pq);
    vx_mem_free(mem, work);
    vx_mem_free(mem, ordered);
    vx_mem_free(mem, order);
    vx_mem_free(mem, inv);
    vx_mem_free(mem, okeys);
    vx_mem_free(mem, seen);
    vx_mem_free(mem, crcs);
    vx_mem_free(mem, codes);
    vx_mem_free(mem, pqblob);
    vx_mem_free(mem, hdr);
    vx_mem_free(mem, page);
    return rc;
}

/* ---- opening ---------------------------------------------------------- */

void vx_dann_close(vx_dann *d)
{
    vex_mem mem;
    if (d == NULL)
        return;
    mem = d->mem;
    while (d->free_list) {
        vx_dann_scratch *s = d->free_list;
        d->free_list = s->next;
        vx_dann_scratch_free(d, s);
    }
    pthread_mutex_destroy(&d->pool_mu);
    vx_vq_destroy(d->pq);
    vx_mem_free(&mem, d->codes);
    vx_mem_free(&mem, d->node_of);
    vx_mem_free(&mem, d->keys);
    vx_mem_free(&mem, d->crcs);
    vx_mem_free_aligned(&mem, d->cache);
    vx_mem_free(&mem, d);
}

/* Read [at, at + n) of the index (relative offsets) into buf. */
static int dann_read(const vx_dann *d, uint64_t at, void *buf, size_t n,
                     vex_err *err)
{
    return vx_file_read_exact(d->f, buf, n, d->off + at, err);
}

static int dann_check_page(const vx_dann *d, uint64_t pg,
                           const unsigned char *p, vex_err *err)
{
    uint32_t crc = vex_crc32c(p, VX_DANN_PAGE);
    if (crc != d->crcs[pg])
        return VX_CORRUPT(
            err,
            "diskann: node page %llu at offset %llu: checksum "
            "mismatch",
            (unsigned long long)pg,
            (unsigned long long)(d->off + d->nodes_off + pg * VX_DANN_PAGE));
    return VEX_OK;
}

int vx_dann_open(const vex_mem *mem, vex_file *f, uint64_t off, uint64_t len,
                 uint64_t cache_bytes, vx_dann **out, vex_err *err)
{
    unsigned char hdr[VX_DANN_PAGE];
    unsigned char *pqblob = NULL;
    vx_dann *d;
    vx_rd r;
    uint32_t version, metric, codes_crc, keys_crc, crcs_crc;
    uint64_t pq_off, pq_len, codes_off, codes_len, keys_off, crcs_off;
    uint32_t npp, ppn;
    int rc;

    *out = NULL;
    if (len < VX_DANN_PAGE)
        return VX_CORRUPT(err, "diskann: %llu bytes, less than a header page",
                          (unsigned long long)len);
    rc = vx_file_read_exact(f, hdr, sizeof hdr, off, err);
    if (rc != VEX_OK)
        return rc;
    /* the checksum first, then the version, then every field */
    if (vex_crc32c(hdr, VX_DANN_PAGE - 4) !=
        vex_get_u32le(hdr + VX_DANN_PAGE - 4))
        return VX_CORRUPT(err,
                          "diskann: header checksum mismatch at offset "
                          "%llu",
                          (unsigned long long)off);
    if (memcmp(hdr, DANN_MAGIC, 8) != 0)
        return VX_CORRUPT(err, "diskann: bad magic at offset %llu",
                          (unsigned long long)off);
    version = vex_get_u32le(hdr + 8);
    if (version != DANN_VERSION)
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "diskann: format version %u (this build reads %u)",
                          version, DANN_VERSION);
    d = vx_mem_calloc(mem, 1, sizeof *d);
    if (d == NULL)
        return vx_err_set(err, VEX_NOMEM, "diskann: out of memory");
    d->mem = *mem;
    pthread_mutex_init(&d->pool_mu, NULL);
    d->s = vx_simd();
    d->f = f;
    d->off = off;
    d->len = len;
    r = vx_rd_at(hdr, VX_DANN_PAGE, (size_t)off);
    vx_rd_seek(&r, 12, NULL);
    metric = vx_rd_u32(&r, NULL);
    d->dim = vx_rd_u32(&r, NULL);
    d->R = vx_rd_u32(&r, NULL);
    d->n = vx_rd_u64(&r, NULL);
    d->medoid = vx_rd_u32(&r, NULL);
    d->node_bytes = vx_rd_u32(&r, NULL);
    d->npp = vx_rd_u32(&r, NULL);
    d->ppn = vx_rd_u32(&r, NULL);
    pq_off = vx_rd_u64(&r, NULL);
    pq_len = vx_rd_u64(&r, NULL);
    codes_off = vx_rd_u64(&r, NULL);
    codes_len = vx_rd_u64(&r, NULL);
    keys_off = vx_rd_u64(&r, NULL);
    crcs_off = vx_rd_u64(&r, NULL);
    d->nodes_off = vx_rd_u64(&r, NULL);
    d->n_pages = vx_rd_u64(&r, NULL);
    codes_crc = vx_rd_u32(&r, NULL);
    keys_crc = vx_rd_u32(&r, NULL);
    crcs_crc = vx_rd_u32(&r, NULL);
    vx_rd_zero(&r, VX_DANN_PAGE - 4 - vx_rd_pos(&r), "reserved bytes not zero");
    d->metric = (vex_metric)metric;
    if (!vx_rd_ok(&r)) {
        rc = VX_CORRUPT(err, "diskann: header: %s at offset %zu",
                        vx_rd_what(&r), vx_rd_fail_off(&r));
        goto fail;
    }
    dann_geometry(d->node_bytes ? d->node_bytes : 1, &npp, &ppn);
#define DANN_BAD(cond, what)                                                   \
    if (cond) {                                                                \
        rc = VX_CORRUPT(err, "diskann: header at offset %llu: %s",             \
                        (unsigned long long)off, what);                        \
        goto fail;                                                             \
    }
    DANN_BAD(metric != VEX_METRIC_L2 && metric != VEX_METRIC_COSINE,
             "unknown metric");
    DANN_BAD(d->dim == 0 || d->dim > VEX_MAX_DIM, "dimension out of range");
    DANN_BAD(d->R < 4 || d->R > 256, "degree bound out of range");
    DANN_BAD(d->n < 16 || d->n >= (1u << 31), "node count out of range");
    DANN_BAD(d->medoid >= d->n, "medoid out of range");
    DANN_BAD(d->node_bytes != dann_node_bytes(d->R, d->dim),
             "node size does not match the dimension and degree");
    DANN_BAD(d->npp != npp || d->ppn != ppn, "bad page geometry");
    DANN_BAD(d->n_pages != (d->n + npp - 1) / npp * ppn,
             "page count does not match the node count");
    DANN_BAD(pq_off != VX_DANN_PAGE || pq_len == 0 ||
                 codes_off != pq_off + pq_len || keys_off < codes_off ||
                 codes_len != keys_off - codes_off ||
                 crcs_off != keys_off + d->n * 4 ||
                 d->nodes_off != dann_round(crcs_off + d->n_pages * 4) ||
                 d->nodes_off + d->n_pages * VX_DANN_PAGE != len,
             "section offsets do not add up");
#undef DANN_BAD
    pqblob = vx_mem_alloc(mem, (size_t)pq_len);
    d->codes = vx_mem_alloc(mem, (size_t)codes_len);
    d->keys = vx_mem_alloc(mem, (size_t)d->n * 4);
    d->crcs = vx_mem_alloc(mem, (size_t)d->n_pages * 4);
    if (!pqblob || !d->codes || !d->keys || !d->crcs) {
        rc = vx_err_set(err, VEX_NOMEM,
                        "diskann: out of memory opening %llu "
                        "nodes",
                        (unsigned long long)d->n);
        goto fail;
    }
    if ((rc = dann_read(d, pq_off, pqblob, (size_t)pq_len, err)) != VEX_OK ||
        (rc = dann_read(d, codes_off, d->codes, (size_t)codes_len, err)) !=
            VEX_OK ||
        (rc = dann_read(d, keys_off, d->keys, (size_t)d->n * 4, err)) !=
            VEX_OK ||
        (rc = dann_read(d, crcs_off, d->crcs, (size_t)d->n_pages * 4, err)) !=
            VEX_OK)
        goto fail;
    if (vex_crc32c(d->codes, (size_t)codes_len) != codes_crc ||
        vex_crc32c(d->keys, (size_t)d->n * 4) != keys_crc ||
        vex_crc32c(d->crcs, (size_t)d->n_pages * 4) != crcs_crc) {
        rc = VX_CORRUPT(err,
                        "diskann: checksum mismatch in the %s at offset "
                        "%llu",
                        vex_crc32c(d->codes, (size_t)codes_len) != codes_crc
                            ? "codes"
                        : vex_crc32c(d->keys, (size_t)d->n * 4) != keys_crc
                            ? "key table"
                            : "page checksums",
                        (unsigned long long)(off + codes_off));
        goto fail;
    }
    for (uint64_t i = 0; i < d->n; i++)
        d->keys[i] = vex_get_u32le((const unsigned char *)&d->keys[i]);
    for (uint64_t i = 0; i < d->n_pages; i++)
        d->crcs[i] = vex_get_u32le((const unsigned char *)&d->crcs[i]);
    rc = vx_vq_deserialize(mem, pqblob, (size_t)pq_len, &d->pq, err);
    if (rc != VEX_OK)
        goto fail;
    d->code_size = vx_vq_code_size(d->pq);
    /* keys 0..n-1 (a segment's): the inverse table, for reads by key */
    d->node_of = vx_mem_alloc(mem, (size_t)d->n * sizeof *d->node_of);
    if (d->node_of == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "diskann: out of memory");
        goto fail;
    }
    memset(d->node_of, 0xff, (size_t)d->n * sizeof *d->node_of);
    for (uint64_t i = 0; i < d->n; i++) {
        uint32_t k = d->keys[i];
        if (k >= d->n || d->node_of[k] != UINT32_MAX) {
            vx_mem_free(mem, d->node_of); /* keys of the caller's own */
            d->node_of = NULL;
            break;
        }
        d->node_of[k] = (uint32_t)i;
    }
    if (vx_vq_get_kind(d->pq) != VQ_PQ || vx_vq_dim(d->pq) != d->dim ||
        codes_len != d->n * d->code_size) {
        rc = VX_CORRUPT(err,
                        "diskann: the quantizer at offset %llu does not "
                        "fit the index",
                        (unsigned long long)(off + pq_off));
        goto fail;
    }
    /* the cache: the first pages (the BFS levels nearest the medoid),
     * whole records only */
    d->cache_pages = cache_bytes / VX_DANN_PAGE / d->ppn * d->ppn;
    if (d->cache_pages > d->n_pages)
        d->cache_pages = d->n_pages;
    if (d->cache_pages > 0) {
        d->cache = vx_mem_alloc_aligned(
            mem, (size_t)d->cache_pages * VX_DANN_PAGE, 64);
        if (d->cache == NULL) {
            rc = vx_err_set(err, VEX_NOMEM,
                            "diskann: out of memory for a "
                            "%llu-byte cache",
                            (unsigned long long)cache_bytes);
            goto fail;
        }
        rc = dann_read(d, d->nodes_off, d->cache,
                       (size_t)d->cache_pages * VX_DANN_PAGE, err);
        for (uint64_t pg = 0; rc == VEX_OK && pg < d->cache_pages; pg++)
            rc = dann_check_page(d, pg, d->cache + pg * VX_DANN_PAGE, err);
        if (rc != VEX_OK)
            goto fail;
    }
    vx_mem_free(mem, pqblob);
    *out = d;
    return VEX_OK;
fail:
    vx_mem_free(mem, pqblob);
    vx_dann_close(d);
    return rc;
}

uint64_t vx_dann_count(const vx_dann *d)
{
    return d->n;
}

uint32_t vx_dann_dim(const vx_dann *d)
{
    return d->dim;
}

uint64_t vx_dann_resident_bytes(const vx_dann *d)
{
    return sizeof *d + d->n * d->code_size + d->n * 4 +
           (d->node_of ? d->n * 4 : 0) + d->n_pages * 4 +
           vx_vq_blob_size(d->pq) + d->cache_pages * VX_DANN_PAGE;
}

int vx_dann_dense_keys(const vx_dann *d)
{
    return d->node_of != NULL;
}

uint64_t vx_dann_pages(const vx_dann *d, uint64_t *cached)
{
    if (cached)
        *cached = d->cache_pages;
    return d->n_pages;
}

/* ---- searching -------------------------------------------------------- */

void vx_dann_scratch_free(const vx_dann *d, vx_dann_scratch *s)
{
    if (s == NULL)
        return;
    vx_mem_free(&d->mem, s->list);
    vx_mem_free(&d->mem, s->best);
    vx_mem_free(&d->mem, s->seen);
    vx_vq_dc_destroy(s->dc);
    vx_mem_free(&d->mem, s->q);
    vx_mem_free_aligned(&d->mem, s->pages);
    vx_mem_free(&d->mem, s->page_no);
    vx_mem_free(&d->mem, s->hop);
    vx_mem_free(&d->mem, s->reqs);
    vx_batch_reader_free(s->br);
    vx_mem_free(&d->mem, s);
}

int vx_dann_scratch_create(const vx_dann *d, uint32_t L, uint32_t W,
                           vx_dann_scratch **out)
{
    vx_dann_scratch *s;
    *out = NULL;
    if (L == 0 || L > 4096 || W == 0 || W > DANN_MAX_W)
        return VEX_INVALID;
    s = vx_mem_calloc(&d->mem, 1, sizeof *s);
    if (s == NULL)
        return VEX_NOMEM;
    s->L = L;
    s->W = W;
    s->list = vx_mem_alloc(&d->mem, ((size_t)L + 1) * sizeof *s->list);
    s->best = vx_mem_alloc(&d->mem, ((size_t)L + 1) * sizeof *s->best);
    s->seen = vx_mem_calloc(&d->mem, (size_t)d->n, sizeof *s->seen);
    s->q = vx_mem_alloc(&d->mem, (size_t)d->dim * sizeof *s->q);
    s->pages =
        vx_mem_alloc_aligned(&d->mem, (size_t)W * d->ppn * VX_DANN_PAGE, 64);
    s->page_no = vx_mem_alloc(&d->mem, (size_t)W * d->ppn * sizeof *s->page_no);
    s->hop = vx_mem_alloc(&d->mem, (size_t)W * sizeof *s->hop);
    s->reqs = vx_mem_alloc(&d->mem, (size_t)W * sizeof *s->reqs);
    if (!s->list || !s->best || !s->seen || !s->q || !s->pages || !s->page_no ||
        !s->hop || !s->reqs ||
        vx_batch_reader_create(&d->mem, d->f, W, &s->br) != VEX_OK ||
        vx_vq_dc_create(d->pq, 0, &s->dc) != VEX_OK) {
        vx_dann_scratch_free(d, s);
        return VEX_NOMEM;
    }
    *out = s;
    return VEX_OK;
}

/* The exact distance of a stored vector to the (unit, under cosine)
 * query: squared L2, or 1 - cosine from the record's own vector. */
static float dann_exact(const vx_dann *d, const float *q, const float *v)
{
    float nv;
    if (d->metric != VEX_METRIC_COSINE)
        return d->s->l2sq_f32(q, v, d->dim);
    nv = d->s->norm2_f32(v, d->dim);
    return 1.0f - d->s->dot_f32(q, v, d->dim) / sqrtf(nv);
}

static void dann_best(vex_hit *best, size_t *n, size_t cap, float d,
                      uint64_t id)
{
    size_t i;
    if (*n == cap && d >= best[cap - 1].distance)
        return;
    i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && best[i - 1].distance > d) {
        best[i] = best[i - 1];
        i--;
    }
    best[i].distance = d;
    best[i].id = id;
}

/* The record of `node`: from the cache or the hop's page buffers (which
 * load_hop filled). */
static const unsigned char *dann_record(const vx_dann *d,
                                        const vx_dann_scratch *s,
                                        uint32_t n_buf, uint64_t node)
{
    uint64_t pg = node / d->npp * d->ppn;
    size_t in = (size_t)(node % d->npp) * d->node_bytes;
    if (pg < d->cache_pages)
        return d->cache + pg * VX_DANN_PAGE + in;
    for (uint32_t b = 0; b < n_buf; b++)
        if (s->page_no[b] == pg)
            return s->pages + (size_t)b * d->ppn * VX_DANN_PAGE + in;
    return NULL; /* not reached: load_hop read every page */
}

/* Read the pages of the hop's nodes (each once, all submitted together),
 * then check them. */
static int dann_load_hop(const vx_dann *d, vx_dann_scratch *s, uint32_t n_hop,
                         uint32_t *n_buf, vx_dann_stats *st, vex_err *err)
{
    uint32_t b;
    int rc;
    *n_buf = 0;
    for (uint32_t i = 0; i < n_hop; i++) {
        uint64_t pg = s->hop[i] / d->npp * d->ppn;
        if (pg < d->cache_pages) {
            st->cache_hits += d->ppn;
            continue;
        }
        for (b = 0; b < *n_buf && s->page_no[b] != pg; b++)
            ;
        if (b < *n_buf)
            continue;
        s->reqs[*n_buf].buf = s->pages + (size_t)*n_buf * d->ppn * VX_DANN_PAGE;
        s->reqs[*n_buf].n = (size_t)d->ppn * VX_DANN_PAGE;
        s->reqs[*n_buf].off = d->off + d->nodes_off + pg * VX_DANN_PAGE;
        s->page_no[(*n_buf)++] = pg;
    }
    rc = vx_batch_read(s->br, s->reqs, *n_buf, err);
    for (b = 0; b < *n_buf && rc == VEX_OK; b++)
        for (uint32_t t = 0; rc == VEX_OK && t < d->ppn; t++)
            rc = dann_check_page(
                d, s->page_no[b] + t,
                s->pages + ((size_t)b * d->ppn + t) * VX_DANN_PAGE, err);
    if (rc != VEX_OK)
        return rc;
    st->pages_read += (uint64_t)*n_buf * d->ppn;
    st->bytes_read += (uint64_t)*n_buf * d->ppn * VX_DANN_PAGE;
    st->reads += *n_buf;
    return VEX_OK;
}

int vx_dann_search(const vx_dann *d, vx_dann_scratch *s, const float *q,
                   size_t k, uint32_t L, uint32_t W, vx_dann_accept_fn accept,
                   void *ctx, vex_hit *hits, size_t *n_hits,
                   vx_dann_stats *st_out, vex_err *err)
{
    vx_dann_stats st;
    uint32_t n = 0, i;
    float nrm;
    size_t nb = 0;
    uint16_t gen;
    int rc = VEX_OK;
    memset(&st, 0, sizeof st);
    *n_hits = 0;
    if (L > s->L)
        L = s->L;
    if (W > s->W)
        W = s->W;
    if (k > L)
        k = L;
    if (k == 0 || W == 0)
        return VEX_OK;
    memcpy(s->q, q, (size_t)d->dim * sizeof *s->q);
    for (i = 0; i < d->dim; i++)
        if (!isfinite(q[i]))
            return vx_err_set(err, VEX_INVALID,
                              "diskann: query component %u is not finite", i);
    nrm = d->s->norm2_f32(q, d->dim);
    if (!isfinite(nrm))
        return vx_err_set(err, VEX_INVALID,
                          "diskann: the query's squared length overflows");
    if (d->metric == VEX_METRIC_COSINE) {
        if (!(nrm > 0))
            return vx_err_set(err, VEX_INVALID,
                              "diskann: a zero query has no cosine distance");
        for (i = 0; i < d->dim; i++)
            s->q[i] /= sqrtf(nrm);
    }
    if (vx_vq_dc_set_query(s->dc, s->q) != VEX_OK)
        return vx_err_set(err, VEX_INVALID, "diskann: bad query");
    if (++s->gen == 0) {
        memset(s->seen, 0, (size_t)d->n * sizeof *s->seen);
        s->gen = 1;
    }
    gen = s->gen;
    s->seen[d->medoid] = gen;
    vx_cand_insert(
        s->list, &n, L,
        vx_vq_dc_distance(s->dc, d->codes + (size_t)d->medoid * d->code_size),
        d->medoid);
    st.pq_distances++;
    for (;;) {
        uint32_t n_hop = 0, n_buf = 0;
        /* the W nearest unexpanded candidates */
        for (i = 0; i < n && n_hop < W; i++)
            if (!(s->list[i].id & DANN_EXPANDED)) {
                s->hop[n_hop++] = s->list[i].id;
                s->list[i].id |= DANN_EXPANDED;
            }
        if (n_hop == 0)
            break;
        st.hops++;
        rc = dann_load_hop(d, s, n_hop, &n_buf, &st, err);
        if (rc != VEX_OK)
            break;
        for (uint32_t h = 0; h < n_hop && rc == VEX_OK; h++) {
            uint32_t node = s->hop[h], cnt;
            const unsigned char *rec = dann_record(d, s, n_buf, node);
            const float *v = (const float *)(rec + 4 + 4 * (size_t)d->R);
            float ex;
            cnt = vex_get_u32le(rec);
            if (cnt > d->R) {
                rc = VX_CORRUPT(err,
                                "diskann: node %u has %u links, more "
                                "than %u",
                                node, cnt, d->R);
                break;
            }
            st.nodes_expanded++;
            ex = dann_exact(d, s->q, v);
            st.exact_distances++;
            /* the writer stores finite vectors whose distances to finite
             * queries are finite (ingest refuses components whose square
             * overflows): anything else is damage */
            if (!isfinite(ex)) {
                rc = VX_CORRUPT(err,
                                "diskann: node %u holds a vector with a "
                                "non-finite distance (page %llu)",
                                node,
                                (unsigned long long)(node / d->npp * d->ppn));
                break;
            }
            if (accept == NULL || accept(ctx, d->keys[node]))
                dann_best(s->best, &nb, k, ex, d->keys[node]);
            for (uint32_t t = 0; t < cnt; t++) {
                uint32_t x = vex_get_u32le(rec + 4 + 4 * (size_t)t);
                if (x >= d->n) {
                    rc = VX_CORRUPT(err,
                                    "diskann: node %u links to %u, past "
                                    "the %llu nodes",
                                    node, x, (unsigned long long)d->n);
                    break;
                }
                if (s->seen[x] == gen)
                    continue;
                s->seen[x] = gen;
                st.pq_distances++;
                vx_cand_insert(s->list, &n, L,
                               vx_vq_dc_distance(
                                   s->dc, d->codes + (size_t)x * d->code_size),
                               x);
            }
        }
        if (rc != VEX_OK)
            break;
    }
    if (rc == VEX_OK) {
        for (i = 0; i < nb; i++)
            hits[i] = s->best[i];
        *n_hits = nb;
    }
    if (st_out) {
        st_out->hops += st.hops;
        st_out->nodes_expanded += st.nodes_expanded;
        st_out->pages_read += st.pages_read;
        st_out->reads += st.reads;
        st_out->bytes_read += st.bytes_read;
        st_out->cache_hits += st.cache_hits;
        st_out->pq_distances += st.pq_distances;
        st_out->exact_distances += st.exact_distances;
    }
    return rc;
}

/* ---- scratch reuse and reads by key ----------------------------------- */

int vx_dann_acquire(vx_dann *d, uint32_t L, uint32_t W, vx_dann_scratch **out)
{
    vx_dann_scratch *s, **pp;
    if (L > 4096)
        L = 4096;
    pthread_mutex_lock(&d->pool_mu);
    for (pp = &d->free_list; *pp && ((*pp)->L < L || (*pp)->W < W);
         pp = &(*pp)->next)
        ;
    s = *pp;
    if (s)
        *pp = s->next;
    pthread_mutex_unlock(&d->pool_mu);
    if (s) {
        s->next = NULL;
        *out = s;
        return VEX_OK;
    }
    return vx_dann_scratch_create(d, L, W, out);
}

void vx_dann_release(vx_dann *d, vx_dann_scratch *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&d->pool_mu);
    s->next = d->free_list;
    d->free_list = s;
    pthread_mutex_unlock(&d->pool_mu);
}

int vx_dann_vector(const vx_dann *d, vx_dann_scratch *s, uint32_t key,
                   float *out, vx_dann_stats *st, vex_err *err)
{
    uint32_t node, n_buf = 0;
    vx_dann_stats local;
    const unsigned char *rec;
    int rc;
    if (d->node_of == NULL || key >= d->n)
        return vx_err_set(err, VEX_NOTFOUND, "diskann: no key %u", key);
    node = d->node_of[key];
    memset(&local, 0, sizeof local);
    s->hop[0] = node;
    rc = dann_load_hop(d, s, 1, &n_buf, st ? st : &local, err);
    if (rc != VEX_OK)
        return rc;
    rec = dann_record(d, s, n_buf, node);
    for (uint32_t i = 0; i < d->dim; i++) {
        uint32_t bits = vex_get_u32le(rec + 4 + 4 * (size_t)d->R + 4 * i);
        memcpy(&out[i], &bits, 4);
        if (!isfinite(out[i]))
            return VX_CORRUPT(err,
                              "diskann: node %u holds a non-finite "
                              "component (page %llu)",
                              node,
                              (unsigned long long)(node / d->npp * d->ppn));
    }
    return VEX_OK;
}

/* ---- checking ---------------------------------------------------------- */

int vx_dann_check(const vx_dann *d, vx_dann_check_stats *st, vex_err *err)
{
    size_t chunk = (size_t)d->ppn * VX_DANN_PAGE * (64 / d->ppn + 1);
    unsigned char *buf = vx_mem_alloc(&d->mem, chunk);
    uint8_t *seen = vx_mem_calloc(&d->mem, (size_t)d->n + 1, 1);
    uint32_t *queue = vx_mem_alloc(&d->mem, ((size_t)d->n + 1) * 4);
    uint32_t *links = vx_mem_alloc(&d->mem, ((size_t)d->n * d->R + 1) * 4);
    uint32_t *cnts = vx_mem_alloc(&d->mem, ((size_t)d->n + 1) * 4);
    uint64_t head = 0, tail = 0;
    int rc = VEX_OK;
    memset(st, 0, sizeof *st);
    if (!buf || !seen || !queue || !links || !cnts) {
        rc = vx_err_set(err, VEX_NOMEM, "diskann: out of memory checking");
        goto out;
    }
    st->nodes = d->n;
    st->min_degree = UINT32_MAX;
    /* every node page: its checksum, its records' counts, links, vectors */
    for (uint64_t pg = 0; pg < d->n_pages && rc == VEX_OK;) {
        uint64_t np = chunk / VX_DANN_PAGE;
        if (np > d->n_pages - pg)
            np = d->n_pages - pg;
        rc = dann_read(d, d->nodes_off + pg * VX_DANN_PAGE, buf,
                       (size_t)np * VX_DANN_PAGE, err);
        for (uint64_t t = 0; t < np && rc == VEX_OK; t++)
            rc = dann_check_page(d, pg + t, buf + t * VX_DANN_PAGE, err);
        for (uint64_t t = 0; t < np && rc == VEX_OK; t += d->ppn) {
            uint64_t first = (pg + t) / d->ppn * d->npp;
            for (uint32_t j = 0; j < d->npp && first + j < d->n; j++) {
                uint64_t node = first + j;
                const unsigned char *rec =
                    buf + t * VX_DANN_PAGE + (size_t)j * d->node_bytes;
                uint32_t cnt = vex_get_u32le(rec);
                const unsigned char *v = rec + 4 + 4 * (size_t)d->R;
                if (cnt > d->R) {
                    rc = VX_CORRUPT(err,
                                    "diskann: node %llu has %u links, more "
                                    "than %u",
                                    (unsigned long long)node, cnt, d->R);
                    break;
                }
                cnts[node] = cnt;
                for (uint32_t x = 0; x < cnt; x++) {
                    uint32_t to = vex_get_u32le(rec + 4 + 4 * (size_t)x);
                    if (to >= d->n || to == node) {
                        rc = VX_CORRUPT(err,
                                        "diskann: node %llu links to %u (of "
                                        "%llu nodes)",
                                        (unsigned long long)node, to,
                                        (unsigned long long)d->n);
                        break;
                    }
                    links[node * d->R + x] = to;
                }
                for (uint32_t x = 0; x < d->dim && rc == VEX_OK; x++) {
                    uint32_t bits = vex_get_u32le(v + 4 * (size_t)x);
                    float f;
                    memcpy(&f, &bits, 4);
                    if (!isfinite(f))
                        rc = VX_CORRUPT(err,
                                        "diskann: node %llu holds a "
                                        "non-finite component",
                                        (unsigned long long)node);
                }
                if (rc != VEX_OK)
                    break;
                st->links += cnt;
                if (cnt < st->min_degree)
                    st->min_degree = cnt;
                if (cnt > st->max_degree)
                    st->max_degree = cnt;
            }
        }
        pg += np;
    }
    if (rc != VEX_OK)
        goto out;
    if (d->n == 0)
        st->min_degree = 0;
    /* reachability from the entry point */
    if (d->n) {
        seen[d->medoid] = 1;
        queue[tail++] = d->medoid;
    }
    while (head < tail) {
        uint32_t u = queue[head++];
        for (uint32_t x = 0; x < cnts[u]; x++) {
            uint32_t to = links[(uint64_t)u * d->R + x];
            if (!seen[to]) {
                seen[to] = 1;
                queue[tail++] = to;
            }
        }
    }
    st->unreachable = d->n - tail;
out:
    vx_mem_free(&d->mem, buf);
    vx_mem_free(&d->mem, seen);
    vx_mem_free(&d->mem, queue);
    vx_mem_free(&d->mem, links);
    vx_mem_free(&d->mem, cnts);
    return rc;
}
