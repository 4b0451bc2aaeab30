/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfs.c - helpers shared by the vfs implementations (see vfs.h): the
 * exact-read wrapper, errno mapping and the path normalisation the
 * in-memory and crash vfs use to key their maps. Part of the io layer;
 * uses util only (messages go through util/err.h's NULL-tolerant
 * vx_err_set).
 */
#include "io/vfs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int vx_file_read_exact(vex_file *f, void *buf, size_t n, uint64_t off,
                       vex_err *err)
{
    size_t got = 0;
    int rc = vex_file_read(f, buf, n, off, &got, err);
    if (rc == VEX_OK && got != n)
        rc = VX_CORRUPT(err, "%s: short read at offset %llu: %zu of %zu bytes",
                        f->path, (unsigned long long)off, got, n);
    return rc;
}

int vx_vfs_errno_rc(int e)
{
    switch (e) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return VEX_FULL;
    case ENOENT:
    case ENOTDIR:
        return VEX_NOTFOUND;
    case EEXIST:
    case ENOTEMPTY:
        return VEX_EXISTS;
    case ENOMEM:
        return VEX_NOMEM;
    case EWOULDBLOCK:
        return VEX_BUSY;
    default:
        return VEX_IOERR;
    }
}

const char *vx_vfs_strerror(int e, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, size); /* the GNU variant returns a string */
#else
    if (strerror_r(e, buf, size) != 0)
        snprintf(buf, size, "errno %d", e);
    return buf;
#endif
}

char *vx_vfs_strdup(const vex_mem *m, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vx_mem_alloc(m, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int vx_vfs_path_norm(const vex_mem *m, const char *path, char **out)
{
    size_t n = strlen(path), i = 0, o = 0;
    char *p;
    *out = NULL;
    p = vx_mem_alloc(m, n + 1);
    if (p == NULL)
        return VEX_NOMEM;
    while (i < n) {
        size_t len;
        while (i < n && path[i] == '/')
            i++;
        len = strcspn(path + i, "/");
        if (len == 0)
            break;
        if (len == 1 && path[i] == '.') { /* "." components vanish */
            i += len;
            continue;
        }
        if (len == 2 && path[i] == '.' && path[i + 1] == '.') {
            vx_mem_free(m, p);
            return VEX_INVALID;
        }
        if (o > 0)
            p[o++] = '/';
        memcpy(p + o, path + i, len);
        o += len;
        i += len;
    }
    p[o] = '\0';
    *out = p;
    return VEX_OK;
}

size_t vx_vfs_path_parent_len(const char *norm)
{
    const char *slash = strrchr(norm, '/');
    return slash ? (size_t)(slash - norm) : 0;
}
