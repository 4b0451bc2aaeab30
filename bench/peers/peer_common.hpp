// SPDX-License-Identifier: Apache-2.0
// peer_common.hpp - what the peer drivers of bench/ (hnswlib_bench.cpp,
// usearch_bench.cpp, hnswlib_filter_bench.cpp) share: texmex readers, the
// recall thresholds of `vex bench`, resident memory, and the "serve" loop
// that bench/hnsw_interleaved.py drives (the filtered peer has its own,
// with masks). Header-only; benchmark code, not part of VexDB.
#ifndef VEX_BENCH_PEER_COMMON_HPP
#define VEX_BENCH_PEER_COMMON_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace peer
{

inline double now()
{
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline long rss_bytes()
{
    long pages = 0, resident = 0;
    FILE *f = std::fopen("/proc/self/statm", "r");
    if (f) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return resident * 4096L;
}

// A texmex file (.fvecs / .ivecs): per vector an int32 dimension, then
// that many T.
template <typename T>
std::vector<T> read_vecs(const char *path, size_t *dim, size_t *n)
{
    FILE *f = std::fopen(path, "rb");
    if (!f) {
        std::perror(path);
        std::exit(1);
    }
    std::vector<T> out;
    int32_t d;
    *n = 0;
    while (std::fread(&d, 4, 1, f) == 1) {
        size_t at = out.size();
        out.resize(at + (size_t)d);
        if (std::fread(out.data() + at, sizeof(T), (size_t)d, f) != (size_t)d) {
            std::fprintf(stderr, "%s: truncated\n", path);
            std::exit(1);
        }
        *dim = (size_t)d;
        (*n)++;
    }
    std::fclose(f);
    return out;
}

inline void normalize(std::vector<float> &v, size_t dim)
{
    for (size_t i = 0; i < v.size(); i += dim) {
        double s = 0;
        for (size_t j = 0; j < dim; j++)
            s += (double)v[i + j] * v[i + j];
        if (s == 0)
            continue; // a zero vector stays zero, not NaN
        float inv = (float)(1.0 / std::sqrt(s));
        for (size_t j = 0; j < dim; j++)
            v[i + j] *= inv;
    }
}

// The dataset of a run: vectors (normalised under cosine), ground truth
// and per query the largest distance a hit may have to count, the exact
// k-th distance in double on the raw vectors (1 - cos under cosine) plus
// the tolerance `vex bench` uses (`vex help bench`).
struct dataset {
    size_t dim = 0, n = 0, nq = 0, k = 0;
    bool cosine = false;
    std::vector<float> base, query;
    std::vector<double> thr;

    dataset(const char *base_path, const char *query_path, const char *gt_path,
            const char *metric, size_t k_)
    {
        size_t dq = 0, gk = 0, ng = 0;
        k = k_;
        base = read_vecs<float>(base_path, &dim, &n);
        query = read_vecs<float>(query_path, &dq, &nq);
        std::vector<int32_t> gt = read_vecs<int32_t>(gt_path, &gk, &ng);
        cosine = std::strcmp(metric, "cosine") == 0;
        if (dq != dim || ng < nq || gk < k) {
            std::fprintf(stderr,
                         "dataset: query dimension %zu (base %zu), "
                         "%zu ground-truth rows of %zu ids for %zu "
                         "queries at k %zu\n",
                         dq, dim, ng, gk, nq, k);
            std::exit(2);
        }
        thr.resize(nq);
        for (size_t i = 0; i < nq; i++) {
            double kth = -1e300, scale = 0;
            for (size_t j = 0; j < k; j++) {
                const float *x = &base[(size_t)gt[i * gk + j] * dim],
                            *q = &query[i * dim];
                double s = 0, sabs = 0, nx = 0, nqq = 0;
                for (size_t t = 0; t < dim; t++) {
                    if (cosine) {
                        s += (double)x[t] * q[t];
                        sabs += std::fabs((double)x[t] * q[t]);
                        nx += (double)x[t] * x[t];
                        nqq += (double)q[t] * q[t];
                    } else {
                        double d = (double)x[t] - q[t];
                        s += d * d;
                    }
                }
                double d = cosine ? 1 - s / std::sqrt(nx * nqq) : s;
                double sc = cosine ? sabs / std::sqrt(nx * nqq) : s;
                if (d > kth) {
                    kth = d;
                    scale = sc;
                }
            }
            thr[i] = kth + 1e-6 * std::max(1.0, std::fabs(kth)) +
                     (double)(dim + 2) * std::ldexp(1.0, -24) * scale;
        }
        if (cosine) {
            normalize(base, dim);
            normalize(query, dim);
        }
    }
};

// One single-thread pass over every query: search(i) answers query i and
// returns how many of its hits are within thr[i]; latencies (us) go to
// lat. Returns the pass's seconds.
template <typename Search>
double pass(const dataset &ds, std::vector<double> &lat, size_t *ok,
            Search search)
{
    double t = now();
    for (size_t i = 0; i < ds.nq; i++) {
        double q0 = now();
        size_t hit = search(i);
        lat[i] = (now() - q0) * 1e6;
        *ok += hit;
    }
    return now() - t;
}

inline void print_pass(const char *lib, size_t ef, const dataset &ds, size_t ok,
                       double secs, std::vector<double> lat)
{
    std::sort(lat.begin(), lat.end());
    std::printf("{\"lib\":\"%s\",\"ef\":%zu,\"recall\":%.6f,"
                "\"qps_1t\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
                lib, ef, (double)ok / (double)(ds.nq * ds.k),
                (double)ds.nq / secs, lat[ds.nq / 2],
                lat[(size_t)std::ceil(0.99 * ds.nq) - 1]);
    std::fflush(stdout);
}

// The serve loop of bench/hnsw_interleaved.py: a "ready" line with the
// build's figures, then one pass and one JSON line per "ef N" read from
// stdin, until "quit" or the end of input. set_ef(ef) prepares a pass,
// search(i) is as in pass(). Returns the exit status.
template <typename SetEf, typename Search>
int serve(const char *lib, const dataset &ds, double build_s, long rss_delta,
          SetEf set_ef, Search search)
{
    std::printf("{\"lib\":\"%s\",\"ready\":true,\"n\":%zu,"
                "\"build_s\":%.6f,\"rss_delta_bytes\":%ld}\n",
                lib, ds.n, build_s, rss_delta);
    std::fflush(stdout);
    char line[128];
    std::vector<double> lat(ds.nq);
    while (std::fgets(line, sizeof line, stdin)) {
        size_t ef = 0, ok = 0;
        if (std::strncmp(line, "quit", 4) == 0)
            break;
        if (std::sscanf(line, "ef %zu", &ef) != 1 || ef == 0) {
            std::fprintf(stderr, "%s: bad request: %s", lib, line);
            return 2;
        }
        set_ef(ef);
        double t = pass(ds, lat, &ok, search);
        print_pass(lib, ef, ds, ok, t, lat);
    }
    return 0;
}

} // namespace peer

#endif
