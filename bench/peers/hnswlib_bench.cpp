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

#include <atomic>
#include <thread>

#include "peer_common.hpp"

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
    peer::dataset ds(argv[1], argv[2], argv[3], argv[4],
                     std::strtoul(argv[8], 0, 10));
    size_t dim = ds.dim, n = ds.n, k = ds.k;
    size_t M = std::strtoul(argv[5], 0, 10), efc = std::strtoul(argv[6], 0, 10);
    size_t threads = std::strtoul(argv[7], 0, 10);
    std::vector<size_t> efs;
    for (char *p = argv[9]; *p;) {
        efs.push_back(std::strtoul(p, &p, 10));
        if (*p == ',')
            p++;
    }

    hnswlib::L2Space l2(dim);
    hnswlib::InnerProductSpace ip(dim);
    hnswlib::SpaceInterface<float> *space =
        ds.cosine ? (hnswlib::SpaceInterface<float> *)&ip : &l2;
    long rss0 = peer::rss_bytes();
    double t0 = peer::now();
    auto *alg = new hnswlib::HierarchicalNSW<float>(space, n, M, efc, 100);
    // as the Python binding does: first point alone, then all threads
    alg->addPoint(&ds.base[0], 0);
    std::atomic<size_t> next(1);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; t++)
        pool.emplace_back([&]() {
            for (size_t i; (i = next++) < n;)
                alg->addPoint(&ds.base[i * dim], i);
        });
    for (auto &th : pool)
        th.join();
    double build = peer::now() - t0;
    long rss1 = peer::rss_bytes();

    // query i: hits within its threshold (squared L2, or 1 - dot on
    // normalised data)
    auto search = [&](size_t i) {
        size_t ok = 0;
        auto res = alg->searchKnn(&ds.query[i * dim], k);
        while (!res.empty()) {
            if ((double)res.top().first <= ds.thr[i])
                ok++;
            res.pop();
        }
        return ok;
    };

    if (serve) {
        int rc = peer::serve(
            "hnswlib", ds, build, rss1 - rss0,
            [&](size_t ef) { alg->setEf(ef); }, search);
        delete alg;
        return rc;
    }

    for (size_t ef : efs) {
        alg->setEf(ef);
        std::vector<double> lat(ds.nq), best_lat;
        size_t ok = 0;
        double total = 1e300;
        // best of `repeat` passes, as `vex bench --repeat` does
        for (size_t rep = 0; rep < repeat; rep++) {
            ok = 0;
            double t = peer::pass(ds, lat, &ok, search);
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
                    M, efc, ef, (double)ok / (double)(ds.nq * k),
                    (double)ds.nq / total, lat[ds.nq / 2],
                    lat[(size_t)std::ceil(0.99 * ds.nq) - 1], build, threads,
                    rss1 - rss0, n);
        std::fflush(stdout);
    }
    delete alg;
    return 0;
}
