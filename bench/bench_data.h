/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_data.h - what the C benchmarks share: finding a texmex dataset's
 * files in a directory, reading them, medians, the clock, and dropping a
 * file's pages from the page cache (cold passes).
 *
 * A dataset directory holds <P>_base.fvecs, <P>_query.fvecs and
 * <P>_groundtruth.ivecs for one prefix P (../shared/data/README).
 */
#ifndef VEX_BENCH_DATA_H
#define VEX_BENCH_DATA_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_stats.h"
#include "readers.h"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* DIR/<P>_<what>.<ext> for the one <P> with a base file; 0 when the
 * directory cannot be read or has none (msg says which). */
static inline int bench_data_path(const char *dir, const char *what,
                                  const char *ext, char *out, size_t size,
                                  const char **msg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char prefix[256] = "";
    if (d == NULL) {
        *msg = "cannot open the data directory";
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        const char *s = strstr(e->d_name, "_base.fvecs");
        if (s && s[11] == '\0' && (size_t)(s - e->d_name) < sizeof prefix) {
            memcpy(prefix, e->d_name, (size_t)(s - e->d_name));
            prefix[s - e->d_name] = '\0';
        }
    }
    closedir(d);
    if (prefix[0] == '\0') {
        *msg = "no <name>_base.fvecs in the data directory";
        return 0;
    }
    snprintf(out, size, "%s/%s_%s.%s", dir, prefix, what, ext);
    return 1;
}

/* The base and query vectors and the ground truth of DIR; on failure
 * *err names the file and the problem. */
static inline int bench_load(const char *dir, vexio_vectors *base,
                             vexio_vectors *query, vexio_ids *gt, char *err,
                             size_t err_size)
{
    static const char *what[3] = {"base", "query", "groundtruth"};
    for (int i = 0; i < 3; i++) {
        char path[1024];
        const char *msg = NULL;
        vexio_error e;
        int rc;
        if (!bench_data_path(dir, what[i], i == 2 ? "ivecs" : "fvecs", path,
                             sizeof path, &msg)) {
            snprintf(err, err_size, "%.700s: %s", dir, msg);
            return 0;
        }
        rc = i == 2 ? vexio_read_ids(path, VEXIO_AUTO, 0, gt, &e)
                    : vexio_read_vectors(path, VEXIO_AUTO, 0,
                                         i == 0 ? base : query, &e);
        if (rc != 0) {
            snprintf(err, err_size, "%.700s: %.300s", path, e.msg);
            return 0;
        }
    }
    return 1;
}

/* Drop `path`'s pages from the page cache (after writing back dirty
 * ones), so the next pass reads it from the disk. */
static inline void bench_drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

#endif
