/* SPDX-License-Identifier: Apache-2.0 */
/*
 * regression_driver.c - replays fuzz corpora without libFuzzer: each
 * argument is a file or a directory of files, and each file is passed once
 * to LLVMFuzzerTestOneInput. A crash or abort fails the run (ctest records
 * it); an empty or unreadable corpus also fails, so a moved directory
 * cannot make the test pass vacuously.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    int rc = -1;
    if (!fp)
        goto cleanup;
    if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0)
        goto cleanup;
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len)
        goto cleanup;
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    rc = 0;
cleanup:
    if (rc != 0)
        fprintf(stderr, "cannot read %s\n", path);
    free(buf);
    if (fp)
        fclose(fp);
    return rc;
}

int main(int argc, char **argv)
{
    int i, n_files = 0, failed = 0;
    for (i = 1; i < argc; i++) {
        struct stat st;
        DIR *d;
        struct dirent *e;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "cannot stat %s\n", argv[i]);
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) != 0;
            n_files++;
            continue;
        }
        d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            failed = 1;
            continue;
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            failed |= replay_file(path) != 0;
            n_files++;
        }
        closedir(d);
    }
    fprintf(stderr, "replayed %d files\n", n_files);
    return failed || n_files == 0 ? 1 : 0;
}
