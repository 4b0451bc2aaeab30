// SPDX-License-Identifier: Apache-2.0
// hnswlib_bench.cpp - the hnswlib side of bench/hnsw_bench.py.
//
// Builds hnswlib (Debian libhnswlib-dev, header-only) on a texmex dataset
// with the given M and efConstruction on T threads, then sweeps efSearch
// and prints one JSON line per value: recall@k (by distance, with the same
// rule as `vex bench`), single-thread QPS and latency, build time and the
// resident memory the index added. Compiled by hnsw_bench.py with
// -O3 -march=native; it is a benchmark peer, not part of VexDB.
//
// usage: hnswlib_bench BASE QUERY GT l2|cosine M EFC THREADS K EF[,EF...]
//        [REPEAT]  (single-thread QPS: the best of REPEAT passes)
//        REPEAT "serve": after the build, one pass per "ef N" line read
//        from stdin, one JSON line each, until "quit" or end of input
//        (bench/hnsw_interleaved.py)
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

static double now()
{
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

static long rss_bytes()
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

template <typename T>
static std::vector<T> read_vecs(const char *path, size_t *dim, size_t *n)
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

static void normalize(std::vector<float> &v, size_t dim)
{
    for (size_t i = 0; i < v.size(); i += dim) {
        double s = 0;
        for (size_t j = 0; j < dim; j++)
            s += (double)v[i + j] * v[i + j];
        float inv = (float)(1.0 / std::sqrt(s));
        for (size_t j = 0; j < dim; j++)
            v[i + j] *= inv;
    }
}

int main(int argc, char **argv)
{
    if (argc != 10 && argc != 11) {
        std::fprintf(stderr,
                     "usage: %s BASE QUERY GT l2|cosine M EFC THREADS "
                     "K EF[,EF...] [REPEAT]\n",
                     argv[0]);
        return 2;
    }
    bool serve = argc == 11 && std::strcmp(argv[10], "serve") == 0;
    size_t repeat = argc == 11 && !serve ? std::strtoul(argv[10], 0, 10) : 1;
    if (repeat < 1)
        repeat = 1;
    size_t dim = 0, n = 0, dq = 0, nq = 0, gk = 0, ng = 0;
    std::vector<float> base = read_vecs<float>(argv[1], &dim, &n);
    std::vector<float> query = read_vecs<float>(argv[2], &dq, &nq);
    std::vector<int32_t> gt = read_vecs<int32_t>(argv[3], &gk, &ng);
    bool cosine = std::strcmp(argv[4], "cosine") == 0;
    size_t M = std::strtoul(argv[5], 0, 10), efc = std::strtoul(argv[6], 0, 10);
    size_t threads = std::strtoul(argv[7], 0, 10),
           k = std::strtoul(argv[8], 0, 10);
    std::vector<size_t> efs;
    for (char *p = argv[9]; *p;) {
        efs.push_back(std::strtoul(p, &p, 10));
        if (*p == ',')
            p++;
    }

    // thresholds: the exact k-th distance in double (on the raw vectors;
    // for cosine 1 - cos), plus the tolerance vex bench uses
    std::vector<double> thr(nq);
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

    hnswlib::L2Space l2(dim);
    hnswlib::InnerProductSpace ip(dim);
    hnswlib::SpaceInterface<float> *space =
        cosine ? (hnswlib::SpaceInterface<float> *)&ip : &l2;
    long rss0 = rss_bytes();
    double t0 = now();
    auto *alg = new hnswlib::HierarchicalNSW<float>(space, n, M, efc, 100);
    // as the Python binding does: first point alone, then all threads
    alg->addPoint(&base[0], 0);
    std::atomic<size_t> next(1);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; t++)
        pool.emplace_back([&]() {
            for (size_t i; (i = next++) < n;)
                alg->addPoint(&base[i * dim], i);
        });
    for (auto &th : pool)
        th.join();
    double build = now() - t0;
    long rss1 = rss_bytes();

    // one single-thread pass over every query at the current ef: latencies
    // into lat, hits within the thresholds added to *ok; returns seconds
    auto pass = [&](std::vector<double> &lat, size_t *ok) {
        double t = now();
        for (size_t i = 0; i < nq; i++) {
            double q0 = now();
            auto res = alg->searchKnn(&query[i * dim], k);
            lat[i] = (now() - q0) * 1e6;
            while (!res.empty()) {
                // squared L2, or 1 - dot on normalised data
                if ((double)res.top().first <= thr[i])
                    (*ok)++;
                res.pop();
            }
        }
        return now() - t;
    };

    if (serve) {
        // one single-thread pass per request from stdin ("ef N" or
        // "quit"), for drivers that interleave libraries pass by pass
        std::printf("{\"lib\":\"hnswlib\",\"ready\":true,\"n\":%zu,"
                    "\"build_s\":%.6f,\"rss_delta_bytes\":%ld}\n",
                    n, build, rss1 - rss0);
        std::fflush(stdout);
        char line[128];
        std::vector<double> lat(nq);
        while (std::fgets(line, sizeof line, stdin)) {
            size_t ef = 0, ok = 0;
            if (std::strncmp(line, "quit", 4) == 0)
                break;
            if (std::sscanf(line, "ef %zu", &ef) != 1 || ef == 0) {
                std::fprintf(stderr, "hnswlib_bench: bad request: %s", line);
                return 2;
            }
            alg->setEf(ef);
            double t = pass(lat, &ok);
            std::vector<double> sl = lat;
            std::sort(sl.begin(), sl.end());
            std::printf("{\"lib\":\"hnswlib\",\"ef\":%zu,\"recall\":%.6f,"
                        "\"qps_1t\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
                        ef, (double)ok / (double)(nq * k), (double)nq / t,
                        sl[nq / 2], sl[(size_t)std::ceil(0.99 * nq) - 1]);
            std::fflush(stdout);
        }
        delete alg;
        return 0;
    }

    for (size_t ef : efs) {
        alg->setEf(ef);
        std::vector<double> lat(nq), best_lat;
        size_t ok = 0;
        double total = 1e300;
        // best of `repeat` passes, as `vex bench --repeat` does
        for (size_t rep = 0; rep < repeat; rep++) {
            ok = 0;
            double t = pass(lat, &ok);
            if (t < total) {
                total = t;
                best_lat = lat;
            }
        }
        lat = best_lat;
        std::sort(lat.begin(), lat.end());
        std::printf("{\"lib\":\"hnswlib\",\"M\":%zu,\"ef_construction\":%zu,"
                    "\"ef\":%zu,\"recall\":%.6f,\"qps_1t\":%.3f,"
                    "\"p50_us\":%.3f,\"p99_us\":%.3f,\"build_s\":%.6f,"
                    "\"threads\":%zu,\"rss_delta_bytes\":%ld,\"n\":%zu}\n",
                    M, efc, ef, (double)ok / (double)(nq * k),
                    (double)nq / total, lat[nq / 2],
                    lat[(size_t)std::ceil(0.99 * nq) - 1], build, threads,
                    rss1 - rss0, n);
        std::fflush(stdout);
    }
    delete alg;
    return 0;
}
