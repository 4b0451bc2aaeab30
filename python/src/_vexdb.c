/* SPDX-License-Identifier: Apache-2.0 */
/*
 * _vexdb.c - the CPython extension module behind the `vexdb` package.
 *
 * It wraps the public API (include/vexdb.h, nothing else) in four handle
 * types and two value types: Database (vex_db), Collection
 * (vex_collection), Filter (vex_filter), Index (vex_index), Hits (one
 * search's results) and Record (one get). The pure-Python layer
 * (vexdb/__init__.py, vexdb/filters.py) adds vexdb.open's keyword form
 * and the filter builder's operators on top.
 *
 * Rules this file keeps:
 *
 *   P1. Vectors go in without a copy when they are C-contiguous, aligned
 *       arrays of the handle's element type (float32, or uint8 for bit
 *       vectors); anything else array-like is converted once
 *       (vectors_from()). Shapes that do not fit are vexdb.Invalid.
 *   P2. The GIL is released around every library call that searches,
 *       writes, flushes, compacts, opens or closes. Every Python object
 *       the call reads (arrays, payload bytes) is held by a strong
 *       reference taken before the release, so another thread cannot free
 *       it meanwhile.
 *   P3. A handle's library pointer is only used between coll_enter() /
 *       index_enter() (or active++ on a database) and the matching leave,
 *       which count calls in flight (the counters are only touched with
 *       the GIL held). close() clears the pointer first (new calls then
 *       raise vexdb.Misuse "... is closed"), waits for the count to reach
 *       zero with the GIL released, then frees the handle: the library's
 *       "close must not race with other calls" rule holds from any number
 *       of Python threads. A collection's close counts as a call on its
 *       database, so vex_db_close never runs beside it.
 *   P4. A Collection holds a strong reference to its Database, so the
 *       database outlives every collection object; Database.close()
 *       closes the collections still open (P3 for each) before
 *       vex_db_close(). A Filter belongs to one Collection, which frees it
 *       when it closes (filters may not outlive their database); a Filter
 *       refers to its collection without a reference, so the collection's
 *       filter cache makes no reference cycle. Garbage collection of any
 *       handle closes it as close() does, ignoring errors.
 *   P5. Failures raise vexdb.Error subclasses chosen by status code, with
 *       the handle's message copied right after the failing call
 *       (the *_errmsg_copy forms, safe with other threads).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vexdb.h>

#define MSG_MAX 1024
/* Hits of a single search that fit on the stack (larger k allocates). */
#define STACK_HITS 256
/* Compiled filter texts a collection keeps for `where=` strings. */
#define FILTER_CACHE_MAX 64

/* ---------------------------------------------------------------------
 * Exceptions (P5)
 * ------------------------------------------------------------------- */

static PyObject *Error; /* vexdb.Error */
static PyObject *status_exc[VEX_READONLY + 1];

static const struct {
    int code;
    const char *name;
    const char *doc;
} exc_table[] = {
    {VEX_NOMEM, "NoMemory", "Out of memory (VEX_NOMEM)."},
    {VEX_IOERR, "IOFailure", "An I/O call failed (VEX_IOERR)."},
    {VEX_CORRUPT, "Corrupt", "Stored data is damaged (VEX_CORRUPT)."},
    {VEX_INVALID, "Invalid",
     "An argument is invalid (VEX_INVALID); also a ValueError."},
    {VEX_MISUSE, "Misuse", "The library was used incorrectly (VEX_MISUSE)."},
    {VEX_NOTFOUND, "NotFound",
     "No such record, collection or file (VEX_NOTFOUND); also a KeyError."},
    {VEX_EXISTS, "Exists", "The id or name already exists (VEX_EXISTS)."},
    {VEX_FULL, "Full", "A limit was reached (VEX_FULL)."},
    {VEX_BUSY, "Busy", "The resource is busy (VEX_BUSY)."},
    {VEX_UNSUPPORTED, "Unsupported",
     "Not supported by this build or machine (VEX_UNSUPPORTED)."},
    {VEX_INTERNAL, "Internal", "Internal error (VEX_INTERNAL)."},
    {VEX_READONLY, "ReadOnly", "The database is read-only (VEX_READONLY)."},
};

/* Raise the exception of status `rc` with `msg` (the library's message;
 * vex_errstr(rc) when empty). Sets .code and .status on it. */
static PyObject *raise_status(int rc, const char *msg)
{
    PyObject *cls = Error;
    if (rc > 0 && rc <= VEX_READONLY && status_exc[rc])
        cls = status_exc[rc];
    const char *text = (msg && msg[0]) ? msg : vex_errstr(rc);
    PyObject *exc = PyObject_CallFunction(cls, "s", text);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(rc);
    PyObject *name = PyUnicode_FromString(vex_status_name(rc));
    if (code && name) {
        PyObject_SetAttrString(exc, "code", code);
        PyObject_SetAttrString(exc, "status", name);
    }
    Py_XDECREF(code);
    Py_XDECREF(name);
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

/* vexdb.Invalid with a formatted message: bad input the binding itself
 * refuses before calling the library. */
static PyObject *raise_invalid(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static PyObject *raise_invalid(const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return raise_status(VEX_INVALID, buf);
}

/* ---------------------------------------------------------------------
 * Calls in flight (P3)
 * ------------------------------------------------------------------- */

/* Wait, with the GIL released between looks, until *active is 0. */
static void wait_idle(const int *active)
{
    useconds_t pause = 50;
    while (*active > 0) {
        PyThreadState *ts_ = PyEval_SaveThread();
        usleep(pause);
        PyEval_RestoreThread(ts_);
        if (pause < 5000)
            pause *= 2;
    }
}

/* ---------------------------------------------------------------------
 * Names of enums
 * ------------------------------------------------------------------- */

static int parse_metric(PyObject *o, vex_metric *out)
{
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (!s) {
        PyErr_Clear();
        raise_invalid("metric must be a string: l2, ip, cosine, hamming or "
                      "jaccard");
        return -1;
    }
    if (vex_metric_parse(s, out) != VEX_OK) {
        raise_invalid("unknown metric \"%s\" (l2, ip, cosine, hamming, "
                      "jaccard)",
                      s);
        return -1;
    }
    return 0;
}

static int parse_kind(PyObject *o, vex_index_kind *out)
{
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (s && strcmp(s, "hnsw") == 0) {
        *out = VEX_INDEX_HNSW;
        return 0;
    }
    if (s && strcmp(s, "flat") == 0) {
        *out = VEX_INDEX_FLAT;
        return 0;
    }
    PyErr_Clear();
    raise_invalid("index must be \"hnsw\" or \"flat\"");
    return -1;
}

static const char *kind_name(vex_index_kind k)
{
    return k == VEX_INDEX_HNSW ? "hnsw" : "flat";
}

static const char *const quant_names[] = {"none", "sq8", "bq", "pq", "opq"};

static int parse_quant(PyObject *o, vex_quant *out)
{
    if (o == NULL || o == Py_None) {
        *out = VEX_QUANT_NONE;
        return 0;
    }
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    for (int i = 0; s && i < 5; i++) {
        if (strcmp(s, quant_names[i]) == 0) {
            *out = (vex_quant)i;
            return 0;
        }
    }
    PyErr_Clear();
    raise_invalid("quant must be None, \"sq8\", \"bq\", \"pq\" or \"opq\"");
    return -1;
}

static int parse_elem(PyObject *o, vex_elem *out)
{
    if (o == NULL || o == Py_None) {
        *out = VEX_ELEM_F32;
        return 0;
    }
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (!s || vex_elem_parse(s, out) != VEX_OK) {
        PyErr_Clear();
        raise_invalid("elem must be \"f32\" or \"bit\"");
        return -1;
    }
    return 0;
}

/* A uint64 option from a Python int (None = 0). */
static int get_u64(PyObject *o, const char *what, uint64_t *out)
{
    if (o == NULL || o == Py_None) {
        *out = 0;
        return 0;
    }
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        raise_invalid("%s must be an int in 0..2**64-1", what);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* A uint32 option from a Python int (None = 0). */
static int get_u32(PyObject *o, const char *what, uint32_t *out)
{
    uint64_t v;
    if (get_u64(o, what, &v) < 0 || v > UINT32_MAX) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError) == 0) {
            PyErr_Clear();
            raise_invalid("%s must be an int in 0..4294967295", what);
        }
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* k of a search: 1..VEX_MAX_K. */
static int get_k(PyObject *o, size_t *k)
{
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "k must be an int");
        return -1;
    }
    long long v = PyLong_AsLongLong(o);
    if (PyErr_Occurred() || v < 1 || v > VEX_MAX_K) {
        PyErr_Clear();
        raise_invalid("k must be 1..%d", VEX_MAX_K);
        return -1;
    }
    *k = (size_t)v;
    return 0;
}

/* ---------------------------------------------------------------------
 * Arrays in (P1)
 * ------------------------------------------------------------------- */

/* A C-contiguous, aligned array of vectors of the element type `elem`
 * with rows of `row` elements (uint8 bytes for bit vectors). 1-D input
 * is one vector (*batch = 0), 2-D a batch (*batch = 1). Returns a new
 * reference (the input itself when it already fits), or NULL with
 * vexdb.Invalid / TypeError set. `what` names the argument. */
static PyArrayObject *vectors_from(PyObject *obj, vex_elem elem, size_t row,
                                   const char *what, int *batch,
                                   npy_intp *n_rows)
{
    int want = elem == VEX_ELEM_BIT ? NPY_UINT8 : NPY_FLOAT32;
    PyArrayObject *arr = NULL;
    if (PyArray_Check(obj) && PyArray_TYPE((PyArrayObject *)obj) == want &&
        PyArray_ISCARRAY_RO((PyArrayObject *)obj) &&
        PyArray_ISNOTSWAPPED((PyArrayObject *)obj)) {
        Py_INCREF(obj);
        arr = (PyArrayObject *)obj;
    } else {
        PyArrayObject *any =
            (PyArrayObject *)PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, 0);
        if (!any) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "%s must be an array of numbers (a numpy array or "
                         "a nested sequence), not %.80s",
                         what, Py_TYPE(obj)->tp_name);
            return NULL;
        }
        char kind = PyArray_DESCR(any)->kind;
        int ok = elem == VEX_ELEM_BIT
                     ? (PyArray_TYPE(any) == NPY_UINT8)
                     : (kind == 'f' || kind == 'i' || kind == 'u');
        if (!ok && PyArray_SIZE(any) > 0) {
            PyObject *dt = PyObject_Str((PyObject *)PyArray_DESCR(any));
            raise_invalid("%s: dtype %s cannot hold %s", what,
                          dt ? PyUnicode_AsUTF8(dt) : "?",
                          elem == VEX_ELEM_BIT
                              ? "packed bit vectors (use uint8)"
                              : "float32 vectors (use a real number dtype)");
            Py_XDECREF(dt);
            Py_DECREF(any);
            return NULL;
        }
        arr = (PyArrayObject *)PyArray_FromAny(
            (PyObject *)any, PyArray_DescrFromType(want), 0, 0,
            NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST, NULL);
        Py_DECREF(any);
        if (!arr)
            return NULL;
    }
    int nd = PyArray_NDIM(arr);
    if (nd != 1 && nd != 2) {
        Py_DECREF(arr);
        raise_invalid("%s must be a 1-D vector or a 2-D array of vectors, "
                      "got %d dimensions",
                      what, nd);
        return NULL;
    }
    npy_intp cols = PyArray_DIM(arr, nd - 1);
    if ((size_t)cols != row) {
        Py_DECREF(arr);
        raise_invalid("%s: vectors have %zd %s, the handle's dimension "
                      "needs %zu",
                      what, (Py_ssize_t)cols,
                      elem == VEX_ELEM_BIT ? "bytes" : "components", row);
        return NULL;
    }
    *batch = nd == 2;
    *n_rows = nd == 2 ? PyArray_DIM(arr, 0) : 1;
    return arr;
}

/* Ids as a contiguous uint64 array (new reference): an int, or a
 * sequence / array of non-negative integers. */
static PyArrayObject *ids_from(PyObject *obj, npy_intp *n, int *scalar)
{
    *scalar = 0;
    if (PyLong_Check(obj) && !PyBool_Check(obj)) {
        unsigned long long v = PyLong_AsUnsignedLongLong(obj);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            raise_invalid("ids must be integers in 0..2**64-1");
            return NULL;
        }
        npy_intp one = 1;
        PyArrayObject *a =
            (PyArrayObject *)PyArray_SimpleNew(1, &one, NPY_UINT64);
        if (!a)
            return NULL;
        *(uint64_t *)PyArray_DATA(a) = v;
        *n = 1;
        *scalar = 1;
        return a;
    }
    PyArrayObject *any =
        (PyArrayObject *)PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, 0);
    if (!any) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "ids must be an int or a sequence of ints, not %.80s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (PyArray_NDIM(any) != 1) {
        int nd = PyArray_NDIM(any);
        Py_DECREF(any);
        raise_invalid("ids must be 1-D, got %d dimensions", nd);
        return NULL;
    }
    char kind = PyArray_DESCR(any)->kind;
    npy_intp len = PyArray_DIM(any, 0);
    PyArrayObject *out = NULL;
    if (kind == 'u' || len == 0) {
        out = (PyArrayObject *)PyArray_FromAny(
            (PyObject *)any, PyArray_DescrFromType(NPY_UINT64), 1, 1,
            NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST, NULL);
    } else if (kind == 'i') {
        PyArrayObject *s = (PyArrayObject *)PyArray_FromAny(
            (PyObject *)any, PyArray_DescrFromType(NPY_INT64), 1, 1,
            NPY_ARRAY_CARRAY_RO, NULL);
        if (s) {
            const int64_t *v = (const int64_t *)PyArray_DATA(s);
            for (npy_intp i = 0; i < len; i++) {
                if (v[i] < 0) {
                    raise_invalid("ids[%zd] is %lld: ids are 0..2**64-1",
                                  (Py_ssize_t)i, (long long)v[i]);
                    Py_DECREF(s);
                    Py_DECREF(any);
                    return NULL;
                }
            }
            out = (PyArrayObject *)PyArray_FromAny(
                (PyObject *)s, PyArray_DescrFromType(NPY_UINT64), 1, 1,
                NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST, NULL);
            Py_DECREF(s);
        }
    } else if (kind == 'O') {
        /* Python ints beyond int64 come as objects: convert each. */
        out = (PyArrayObject *)PyArray_SimpleNew(1, &len, NPY_UINT64);
        for (npy_intp i = 0; out && i < len; i++) {
            PyObject *it = PySequence_GetItem(obj, i);
            unsigned long long v = 0;
            if (it && PyLong_Check(it) && !PyBool_Check(it))
                v = PyLong_AsUnsignedLongLong(it);
            else
                PyErr_SetString(PyExc_TypeError, "not an int");
            Py_XDECREF(it);
            if (PyErr_Occurred()) {
                PyErr_Clear();
                raise_invalid("ids[%zd] is not an integer in 0..2**64-1",
                              (Py_ssize_t)i);
                Py_CLEAR(out);
                break;
            }
            ((uint64_t *)PyArray_DATA(out))[i] = v;
        }
    } else {
        raise_invalid("ids must be integers, got an array of kind '%c'", kind);
    }
    Py_DECREF(any);
    if (out)
        *n = PyArray_DIM(out, 0);
    return out;
}

/* ---------------------------------------------------------------------
 * Metadata: dict <-> vex_meta
 * ------------------------------------------------------------------- */

/* Fill `m` from dict `d` (cleared first). -1 with an exception set. */
static int meta_from_dict(PyObject *d, vex_meta *m, Py_ssize_t index)
{
    vex_meta_clear(m);
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError,
                     "metadata[%zd] must be a dict or None, not %.80s", index,
                     Py_TYPE(d)->tp_name);
        return -1;
    }
    PyObject *key, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &key, &val)) {
        if (!PyUnicode_Check(key)) {
            PyErr_Format(PyExc_TypeError,
                         "metadata[%zd]: field names must be str, not %.80s",
                         index, Py_TYPE(key)->tp_name);
            return -1;
        }
        const char *name = PyUnicode_AsUTF8(key);
        if (!name)
            return -1;
        int rc;
        if (val == Py_None) {
            rc = vex_meta_set_null(m, name);
        } else if (PyBool_Check(val)) {
            rc = vex_meta_set_bool(m, name, val == Py_True);
        } else if (PyLong_Check(val)) {
            long long v = PyLong_AsLongLong(val);
            if (PyErr_Occurred()) {
                PyErr_Clear();
                raise_invalid("metadata[%zd]: field \"%s\": int out of the "
                              "int64 range",
                              index, name);
                return -1;
            }
            rc = vex_meta_set_int(m, name, (int64_t)v);
        } else if (PyFloat_Check(val)) {
            rc = vex_meta_set_double(m, name, PyFloat_AS_DOUBLE(val));
        } else if (PyUnicode_Check(val)) {
            Py_ssize_t len;
            const char *s = PyUnicode_AsUTF8AndSize(val, &len);
            if (!s)
                return -1;
            rc = vex_meta_set_string(m, name, s, (size_t)len);
        } else if (PyList_Check(val) || PyTuple_Check(val)) {
            Py_ssize_t nt = PySequence_Fast_GET_SIZE(val);
            PyObject **items = PySequence_Fast_ITEMS(val);
            const char **tags = PyMem_Malloc(sizeof *tags * (nt ? nt : 1));
            if (!tags) {
                PyErr_NoMemory();
                return -1;
            }
            for (Py_ssize_t j = 0; j < nt; j++) {
                tags[j] = PyUnicode_Check(items[j]) ? PyUnicode_AsUTF8(items[j])
                                                    : NULL;
                if (!tags[j]) {
                    PyMem_Free(tags);
                    if (!PyErr_Occurred())
                        PyErr_Format(PyExc_TypeError,
                                     "metadata[%zd]: field \"%s\": tags "
                                     "must be str",
                                     index, name);
                    return -1;
                }
            }
            rc = vex_meta_set_tags(m, name, tags, (size_t)nt);
            PyMem_Free(tags);
        } else {
            PyErr_Format(PyExc_TypeError,
                         "metadata[%zd]: field \"%s\": unsupported type "
                         "%.80s (int, float, str, bool, None or a list of "
                         "str)",
                         index, name, Py_TYPE(val)->tp_name);
            return -1;
        }
        if (rc != VEX_OK) {
            char msg[MSG_MAX];
            snprintf(msg, sizeof msg, "metadata[%zd]: %s", index,
                     vex_meta_errmsg(m));
            raise_status(rc, msg);
            return -1;
        }
    }
    return 0;
}

static PyObject *field_value(const vex_meta *m, size_t i, const vex_field *f)
{
    switch (f->type) {
    case VEX_TYPE_NULL:
        Py_RETURN_NONE;
    case VEX_TYPE_BOOL:
        return PyBool_FromLong(f->b);
    case VEX_TYPE_INT:
        return PyLong_FromLongLong(f->i);
    case VEX_TYPE_DOUBLE:
        return PyFloat_FromDouble(f->d);
    case VEX_TYPE_STRING:
        return PyUnicode_DecodeUTF8(f->s, (Py_ssize_t)f->len, "replace");
    case VEX_TYPE_TAGS: {
        PyObject *list = PyList_New((Py_ssize_t)f->n_tags);
        for (size_t j = 0; list && j < f->n_tags; j++) {
            const char *p;
            size_t len;
            PyObject *t = NULL;
            if (vex_meta_tag(m, i, j, &p, &len) == VEX_OK)
                t = PyUnicode_DecodeUTF8(p, (Py_ssize_t)len, "replace");
            if (!t) {
                if (!PyErr_Occurred())
                    raise_status(VEX_INTERNAL, "tag could not be read");
                Py_CLEAR(list);
                break;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)j, t);
        }
        return list;
    }
    }
    return raise_status(VEX_INTERNAL, "unknown metadata value type");
}

static PyObject *meta_to_dict(const vex_meta *m)
{
    PyObject *d = PyDict_New();
    size_t n = d ? vex_meta_count(m) : 0;
    for (size_t i = 0; d && i < n; i++) {
        vex_field f;
        if (vex_meta_field(m, i, &f) != VEX_OK)
            break;
        PyObject *k =
            PyUnicode_DecodeUTF8(f.name, (Py_ssize_t)f.name_len, "replace");
        PyObject *v = k ? field_value(m, i, &f) : NULL;
        if (!v || PyDict_SetItem(d, k, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return d;
}

/* ---------------------------------------------------------------------
 * Type declarations
 * ------------------------------------------------------------------- */

typedef struct CollObject CollObject;
typedef struct FilterObject FilterObject;

typedef struct {
    PyObject_HEAD vex_db *db;
    int active;        /* calls in flight with the GIL released (P3) */
    CollObject *colls; /* open collection objects (borrowed, P4) */
    PyObject *path;
    int read_only;
} DbObject;

struct CollObject {
    PyObject_HEAD DbObject *db; /* strong reference (P4) */
    vex_collection *c;
    int active;
    CollObject *prev, *next; /* in db->colls */
    FilterObject *filters;   /* filters compiled for it (P4) */
    PyObject *filter_cache;  /* dict: text -> Filter */
    PyObject *name;
    uint32_t dim;
    vex_elem elem;
    vex_metric metric;
    size_t vsize; /* bytes per vector */
    size_t row;   /* elements per row of the input array */
};

struct FilterObject {
    PyObject_HEAD CollObject *coll; /* borrowed; NULL once it closed */
    vex_filter *f;
    FilterObject *prev, *next;
};

typedef struct {
    PyObject_HEAD vex_index *ix;
    int active;
    void *map; /* the mapped file of Index.load(mmap=True), or NULL */
    size_t map_size;
    uint32_t dim;
    vex_elem elem;
    vex_metric metric;
    vex_index_kind kind;
    size_t vsize, row;
} IndexObject;

typedef struct {
    PyObject_HEAD PyObject *ids;
    PyObject *distances;
    PyObject *counts;
    PyObject *metadata;
    PyObject *payloads;
    PyObject *vectors;
    PyObject *texts;
} HitsObject;

typedef struct {
    PyObject_HEAD PyObject *id;
    PyObject *vector;
    PyObject *metadata;
    PyObject *payload;
    PyObject *text;
} RecordObject;

static PyTypeObject DbType, CollType, FilterType, IndexType, HitsType,
    RecordType;

/* ---------------------------------------------------------------------
 * Hits and Record: plain value objects
 * ------------------------------------------------------------------- */

static void hits_dealloc(HitsObject *h)
{
    Py_XDECREF(h->ids);
    Py_XDECREF(h->distances);
    Py_XDECREF(h->counts);
    Py_XDECREF(h->metadata);
    Py_XDECREF(h->payloads);
    Py_XDECREF(h->vectors);
    Py_XDECREF(h->texts);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static Py_ssize_t hits_len(HitsObject *h)
{
    return PyObject_Length(h->ids);
}

static PyObject *hits_repr(HitsObject *h)
{
    return PyUnicode_FromFormat("Hits(ids=%R, distances=%R)", h->ids,
                                h->distances);
}

static PyMemberDef hits_members[] = {
    {"ids", T_OBJECT, offsetof(HitsObject, ids), READONLY,
     "numpy uint64 array of hit ids, nearest first: shape (n,) for one "
     "query, (nq, k) for a batch (missing hits are 2**64-1)."},
    {"distances", T_OBJECT, offsetof(HitsObject, distances), READONLY,
     "numpy float32 array of distances, same shape as ids (missing hits "
     "are inf); smaller is nearer."},
    {"counts", T_OBJECT, offsetof(HitsObject, counts), READONLY,
     "Batch only: numpy array of hits found per query; None for one "
     "query."},
    {"metadata", T_OBJECT, offsetof(HitsObject, metadata), READONLY,
     "With include=('metadata',): a list of dicts, one per hit (a list of "
     "such lists for a batch); else None."},
    {"payloads", T_OBJECT, offsetof(HitsObject, payloads), READONLY,
     "With include=('payload',): a list of bytes or None, one per hit (a "
     "list of lists for a batch); else None."},
    {"vectors", T_OBJECT, offsetof(HitsObject, vectors), READONLY,
     "With include=('vector',): the hits' vectors as an array of shape "
     "(n, dim) (a list of those for a batch); else None."},
    {"texts", T_OBJECT, offsetof(HitsObject, texts), READONLY,
     "With include=('text',): a list of str or None, one per hit (a list "
     "of lists for a batch); else None."},
    {NULL, 0, 0, 0, NULL}};

static PySequenceMethods hits_seq = {.sq_length = (lenfunc)hits_len};

static PyTypeObject HitsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vexdb.Hits",
    .tp_basicsize = sizeof(HitsObject),
    .tp_dealloc = (destructor)hits_dealloc,
    .tp_repr = (reprfunc)hits_repr,
    .tp_as_sequence = &hits_seq,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Results of Collection.search: ids and distances as numpy "
              "arrays, plus the projections asked for with include=.",
    .tp_members = hits_members,
};

static void record_dealloc(RecordObject *r)
{
    Py_XDECREF(r->id);
    Py_XDECREF(r->vector);
    Py_XDECREF(r->metadata);
    Py_XDECREF(r->payload);
    Py_XDECREF(r->text);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *record_repr(RecordObject *r)
{
    return PyUnicode_FromFormat("Record(id=%R, metadata=%R, payload=%R)", r->id,
                                r->metadata, r->payload);
}

static PyMemberDef record_members[] = {
    {"id", T_OBJECT, offsetof(RecordObject, id), READONLY, "The record id."},
    {"vector", T_OBJECT, offsetof(RecordObject, vector), READONLY,
     "The stored vector (numpy array), or None when not included."},
    {"metadata", T_OBJECT, offsetof(RecordObject, metadata), READONLY,
     "The metadata as a dict ({} when none), or None when not included."},
    {"payload", T_OBJECT, offsetof(RecordObject, payload), READONLY,
     "The payload as bytes, or None (no payload, or not included)."},
    {"text", T_OBJECT, offsetof(RecordObject, text), READONLY,
     "The text as str, or None (no text, or not included)."},
    {NULL, 0, 0, 0, NULL}};

static PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vexdb.Record",
    .tp_basicsize = sizeof(RecordObject),
    .tp_dealloc = (destructor)record_dealloc,
    .tp_repr = (reprfunc)record_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One record read by Collection.get: id, vector, metadata, "
              "payload.",
    .tp_members = record_members,
};

/* ---------------------------------------------------------------------
 * Hit arrays -> numpy
 * ------------------------------------------------------------------- */

/* ids / distances arrays of one query's n hits. */
static int hits_arrays_1(const vex_hit *hits, size_t n, PyObject **ids,
                         PyObject **dist)
{
    npy_intp dims[1] = {(npy_intp)n};
    *ids = PyArray_SimpleNew(1, dims, NPY_UINT64);
    *dist = PyArray_SimpleNew(1, dims, NPY_FLOAT32);
    if (!*ids || !*dist) {
        Py_CLEAR(*ids);
        Py_CLEAR(*dist);
        return -1;
    }
    uint64_t *pi = PyArray_DATA((PyArrayObject *)*ids);
    float *pd = PyArray_DATA((PyArrayObject *)*dist);
    for (size_t i = 0; i < n; i++) {
        pi[i] = hits[i].id;
        pd[i] = hits[i].distance;
    }
    return 0;
}

/* (nq, k) arrays of a batch, padded with 2**64-1 / inf. */
static int hits_arrays_2(const vex_hit *hits, const size_t *n_hits, size_t nq,
                         size_t k, PyObject **ids, PyObject **dist,
                         PyObject **counts)
{
    npy_intp dims[2] = {(npy_intp)nq, (npy_intp)k};
    npy_intp cdim[1] = {(npy_intp)nq};
    *ids = PyArray_SimpleNew(2, dims, NPY_UINT64);
    *dist = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (counts)
        *counts = PyArray_SimpleNew(1, cdim, NPY_INTP);
    if (!*ids || !*dist || (counts && !*counts)) {
        Py_CLEAR(*ids);
        Py_CLEAR(*dist);
        if (counts)
            Py_CLEAR(*counts);
        return -1;
    }
    uint64_t *pi = PyArray_DATA((PyArrayObject *)*ids);
    float *pd = PyArray_DATA((PyArrayObject *)*dist);
    for (size_t q = 0; q < nq; q++) {
        for (size_t j = 0; j < k; j++) {
            size_t at = q * k + j;
            int have = j < n_hits[q];
            pi[at] = have ? hits[at].id : UINT64_MAX;
            pd[at] = have ? hits[at].distance : INFINITY;
        }
        if (counts)
            ((npy_intp *)PyArray_DATA((PyArrayObject *)*counts))[q] =
                (npy_intp)n_hits[q];
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Database
 * ------------------------------------------------------------------- */

static int coll_close_impl(CollObject *self);

static PyObject *db_closed_error(void)
{
    return raise_status(VEX_MISUSE, "the database is closed");
}

static int db_close_impl(DbObject *self)
{
    if (!self->db)
        return VEX_OK;
    /* New calls on the database now refuse (P3); calls in flight finish,
     * and an open or create that finishes after this point closes the
     * handle it got (db_adopt), so the list below is complete. */
    vex_db *db = self->db;
    self->db = NULL;
    wait_idle(&self->active);
    int first = VEX_OK;
    /* Each collection object unlinks itself as it closes. */
    while (self->colls) {
        int rc = coll_close_impl(self->colls);
        if (first == VEX_OK)
            first = rc;
    }
    /* Collections other threads began to close meanwhile (no longer in
     * the list) finish before the database goes. */
    wait_idle(&self->active);
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_db_close(db);
    PyEval_RestoreThread(ts_);
    if (first == VEX_OK)
        first = rc;
    return first;
}

/* After a collection open or create that ran with the GIL released and
 * returned `rc` and handle `c`: end the call (active--) and wrap the
 * handle, or, when the database was closed meanwhile, close the handle
 * first (still counted as in flight, so the closer waits for it). */
static PyObject *coll_wrap(DbObject *db, vex_collection *c, PyObject *name);

static PyObject *db_adopt(DbObject *self, int rc, const char *msg,
                          vex_collection *c, PyObject *name)
{
    if (rc == VEX_OK && !self->db) {
        PyThreadState *ts_ = PyEval_SaveThread();
        vex_collection_close(c);
        PyEval_RestoreThread(ts_);
        self->active--;
        return db_closed_error();
    }
    self->active--;
    if (rc != VEX_OK)
        return raise_status(rc, msg);
    return coll_wrap(self, c, name);
}

static void db_dealloc(DbObject *self)
{
    db_close_impl(self);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_durability(PyObject *o, vex_durability *out)
{
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (s && strcmp(s, "group") == 0)
        *out = VEX_DURABILITY_GROUP;
    else if (s && strcmp(s, "full") == 0)
        *out = VEX_DURABILITY_FULL;
    else if (s && strcmp(s, "none") == 0)
        *out = VEX_DURABILITY_NONE;
    else {
        PyErr_Clear();
        raise_invalid("durability must be \"group\", \"full\" or \"none\"");
        return -1;
    }
    return 0;
}

static int db_init(DbObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path",
                             "create",
                             "read_only",
                             "durability",
                             "threads",
                             "background_threads",
                             "memtable_bytes",
                             "flush_on_close",
                             "diskann_cache_bytes",
                             NULL};
    PyObject *path = NULL, *dur = NULL, *threads = NULL, *bg = NULL,
             *mem = NULL, *dcache = NULL;
    int create = 1, read_only = 0, flush_on_close = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$ppOOOOpO", kwlist,
                                     PyUnicode_FSConverter, &path, &create,
                                     &read_only, &dur, &threads, &bg, &mem,
                                     &flush_on_close, &dcache))
        return -1;
    if (self->db) {
        Py_DECREF(path);
        raise_status(VEX_MISUSE, "Database.__init__ called twice");
        return -1;
    }
    vex_db_options o;
    vex_db_options_init(&o);
    o.create_if_missing = read_only ? 0 : create;
    o.read_only = read_only;
    o.flush_on_close = flush_on_close;
    if ((dur && parse_durability(dur, &o.durability) < 0) ||
        get_u32(threads, "threads", &o.n_threads) < 0 ||
        (bg && bg != Py_None &&
         get_u32(bg, "background_threads", &o.background_threads) < 0) ||
        (mem && mem != Py_None &&
         get_u64(mem, "memtable_bytes", &o.memtable_bytes) < 0) ||
        get_u64(dcache, "diskann_cache_bytes", &o.diskann_cache_bytes) < 0) {
        Py_DECREF(path);
        return -1;
    }
    const char *p = PyBytes_AS_STRING(path);
    vex_db *db = NULL;
    int rc;
    char msg[MSG_MAX] = "";
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_db_open(p, &o, &db);
    if (rc != VEX_OK && db) {
        vex_db_errmsg_copy(db, msg, sizeof msg);
        vex_db_close(db);
        db = NULL;
    }
    PyEval_RestoreThread(ts_);
    if (rc != VEX_OK) {
        Py_DECREF(path);
        raise_status(rc, msg);
        return -1;
    }
    self->db = db;
    self->read_only = read_only;
    Py_XSETREF(self->path, PyUnicode_DecodeFSDefault(p));
    Py_DECREF(path);
    return 0;
}

static PyObject *db_raise(DbObject *self, int rc)
{
    char msg[MSG_MAX] = "";
    if (self->db)
        vex_db_errmsg_copy(self->db, msg, sizeof msg);
    return raise_status(rc, msg);
}

/* Schema dict -> vex_schema_field array (names borrowed from the dict's
 * keys, which the caller keeps alive). */
static int schema_from(PyObject *schema, vex_schema_field **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    if (!schema || schema == Py_None)
        return 0;
    if (!PyDict_Check(schema)) {
        PyErr_SetString(PyExc_TypeError,
                        "schema must be a dict of field name -> type");
        return -1;
    }
    Py_ssize_t count = PyDict_Size(schema);
    vex_schema_field *f = PyMem_Calloc(count ? (size_t)count : 1, sizeof *f);
    if (!f) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *key, *val;
    Py_ssize_t pos = 0, i = 0;
    while (PyDict_Next(schema, &pos, &key, &val)) {
        f[i].name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!f[i].name) {
            PyMem_Free(f);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError,
                                "schema field names must be str");
            return -1;
        }
        /* A type, a type name, or (type, required) via vexdb.Field, which
         * the Python layer turns into a tuple (type, nullable). */
        PyObject *t = val;
        f[i].nullable = 1;
        if (PyTuple_Check(val) && PyTuple_GET_SIZE(val) == 2) {
            t = PyTuple_GET_ITEM(val, 0);
            f[i].nullable = PyObject_IsTrue(PyTuple_GET_ITEM(val, 1));
        }
        const char *tn = PyUnicode_Check(t) ? PyUnicode_AsUTF8(t) : NULL;
        if (t == (PyObject *)&PyBool_Type || (tn && !strcmp(tn, "bool")))
            f[i].type = VEX_TYPE_BOOL;
        else if (t == (PyObject *)&PyLong_Type ||
                 (tn && (!strcmp(tn, "int") || !strcmp(tn, "int64"))))
            f[i].type = VEX_TYPE_INT;
        else if (t == (PyObject *)&PyFloat_Type ||
                 (tn && (!strcmp(tn, "float") || !strcmp(tn, "double"))))
            f[i].type = VEX_TYPE_DOUBLE;
        else if (t == (PyObject *)&PyUnicode_Type ||
                 (tn && (!strcmp(tn, "str") || !strcmp(tn, "string"))))
            f[i].type = VEX_TYPE_STRING;
        else if (t == (PyObject *)&PyList_Type ||
                 (tn && (!strcmp(tn, "list") || !strcmp(tn, "tags"))))
            f[i].type = VEX_TYPE_TAGS;
        else {
            raise_invalid("schema field \"%s\": type must be int, float, "
                          "str, bool or list (of str tags)",
                          f[i].name);
            PyMem_Free(f);
            return -1;
        }
        i++;
    }
    *out = f;
    *n = (uint32_t)count;
    return 0;
}

/* text=: False/None (no text field), True or "plain", "porter",
 * "stopwords", "porter,stopwords". */
static int parse_text(PyObject *o, vex_collection_config *cfg)
{
    if (PyBool_Check(o)) {
        cfg->text = o == Py_True;
        return 0;
    }
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (!s) {
        PyErr_Clear();
        raise_invalid("text must be a bool or \"plain\", \"porter\", "
                      "\"stopwords\" or \"porter,stopwords\"");
        return -1;
    }
    cfg->text = 1;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 6 && !strncmp(s, "porter", 6))
            cfg->text_stemmer = VEX_STEMMER_PORTER;
        else if (n == 9 && !strncmp(s, "stopwords", 9))
            cfg->text_stopwords = 1;
        else if (!(n == 5 && !strncmp(s, "plain", 5))) {
            raise_invalid("text: unknown analysis \"%.*s\" (plain, porter, "
                          "stopwords)",
                          (int)n, s);
            return -1;
        }
        s += n + (s[n] == ',');
    }
    return 0;
}

/* Parse create_collection / get_or_create_collection arguments. */
static int config_from(PyObject *args, PyObject *kw, PyObject **name,
                       vex_collection_config *cfg, vex_schema_field **schema)
{
    static char *kwlist[] = {"name",
                             "dim",
                             "metric",
                             "index",
                             "quant",
                             "schema",
                             "M",
                             "ef_construction",
                             "ef_search",
                             "seed",
                             "elem",
                             "schema_closed",
                             "text",
                             "diskann_min_rows",
                             "diskann_r",
                             "diskann_l",
                             "diskann_alpha",
                             "diskann_pq_m",
                             NULL};
    PyObject *dim = NULL, *metric = NULL, *index = NULL, *quant = NULL,
             *sch = NULL, *m = NULL, *efc = NULL, *efs = NULL, *seed = NULL,
             *elem = NULL, *text = NULL, *dmin = NULL, *dr = NULL, *dl = NULL,
             *da = NULL, *dpq = NULL;
    int closed = 0;
    *schema = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UO|OOOO$OOOOOpOOOOOO", kwlist,
                                     name, &dim, &metric, &index, &quant, &sch,
                                     &m, &efc, &efs, &seed, &elem, &closed,
                                     &text, &dmin, &dr, &dl, &da, &dpq))
        return -1;
    vex_collection_config_init(cfg);
    if (get_u32(dim, "dim", &cfg->dim) < 0 ||
        (metric && metric != Py_None &&
         parse_metric(metric, &cfg->metric) < 0) ||
        (index && index != Py_None &&
         parse_kind(index, &cfg->index_kind) < 0) ||
        parse_quant(quant, &cfg->quant) < 0 ||
        parse_elem(elem, &cfg->elem) < 0 || get_u32(m, "M", &cfg->hnsw_m) < 0 ||
        get_u32(efc, "ef_construction", &cfg->hnsw_ef_construction) < 0 ||
        get_u32(efs, "ef_search", &cfg->hnsw_ef_search) < 0 ||
        get_u64(seed, "seed", &cfg->hnsw_seed) < 0 ||
        get_u64(dmin, "diskann_min_rows", &cfg->diskann_min_rows) < 0 ||
        get_u32(dr, "diskann_r", &cfg->diskann_r) < 0 ||
        get_u32(dl, "diskann_l", &cfg->diskann_l) < 0 ||
        get_u32(dpq, "diskann_pq_m", &cfg->diskann_pq_m) < 0)
        return -1;
    if (da && da != Py_None) {
        double a = PyFloat_AsDouble(da);
        if (a == -1.0 && PyErr_Occurred())
            return -1;
        cfg->diskann_alpha = (float)a;
    }
    if (cfg->elem == VEX_ELEM_BIT && (!metric || metric == Py_None))
        cfg->metric = VEX_METRIC_HAMMING;
    if (schema_from(sch, schema, &cfg->n_schema_fields) < 0)
        return -1;
    cfg->schema_fields = *schema;
    cfg->schema_closed = (uint32_t)closed;
    if (text && text != Py_None && parse_text(text, cfg) < 0) {
        PyMem_Free(*schema);
        *schema = NULL;
        return -1;
    }
    return 0;
}

static PyObject *db_create_common(DbObject *self, PyObject *args, PyObject *kw,
                                  int get_or_create)
{
    PyObject *name;
    vex_collection_config cfg;
    vex_schema_field *schema;
    if (!self->db)
        return db_closed_error();
    if (config_from(args, kw, &name, &cfg, &schema) < 0)
        return NULL;
    const char *cname = PyUnicode_AsUTF8(name);
    if (!cname) {
        PyMem_Free(schema);
        return NULL;
    }
    vex_collection *c = NULL;
    vex_db *db = self->db;
    char msg[MSG_MAX] = "";
    int rc;
    self->active++;
    PyThreadState *ts_ = PyEval_SaveThread();
    if (get_or_create)
        rc = vex_collection_open_or_create(db, cname, &cfg, &c, NULL);
    else
        rc = vex_collection_create(db, cname, &cfg, &c);
    if (rc != VEX_OK)
        vex_db_errmsg_copy(db, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    PyMem_Free(schema);
    return db_adopt(self, rc, msg, c, name);
}

static PyObject *db_create_collection(DbObject *self, PyObject *args,
                                      PyObject *kw)
{
    return db_create_common(self, args, kw, 0);
}

static PyObject *db_get_or_create_collection(DbObject *self, PyObject *args,
                                             PyObject *kw)
{
    return db_create_common(self, args, kw, 1);
}

static PyObject *db_collection(DbObject *self, PyObject *arg)
{
    if (!self->db)
        return db_closed_error();
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "collection name must be a str");
        return NULL;
    }
    const char *cname = PyUnicode_AsUTF8(arg);
    if (!cname)
        return NULL;
    vex_collection *c = NULL;
    vex_db *db = self->db;
    char msg[MSG_MAX] = "";
    int rc;
    self->active++;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_collection_open(db, cname, &c);
    if (rc != VEX_OK)
        vex_db_errmsg_copy(db, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    return db_adopt(self, rc, msg, c, arg);
}

static int list_cb(void *ctx, const char *name)
{
    PyObject *s = PyUnicode_FromString(name);
    if (!s)
        return -1;
    int r = PyList_Append((PyObject *)ctx, s);
    Py_DECREF(s);
    return r < 0 ? -1 : 0;
}

static PyObject *db_collections(DbObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->db)
        return db_closed_error();
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    int rc = vex_collection_list(self->db, list_cb, list);
    if (rc == -1) {
        Py_DECREF(list);
        return NULL;
    }
    if (rc != VEX_OK) {
        Py_DECREF(list);
        return db_raise(self, rc);
    }
    return list;
}

static PyObject *db_drop_collection(DbObject *self, PyObject *arg)
{
    if (!self->db)
        return db_closed_error();
    const char *cname = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!cname) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "collection name must be a str");
        return NULL;
    }
    vex_db *db = self->db;
    char msg[MSG_MAX] = "";
    int rc;
    self->active++;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_collection_drop(db, cname);
    if (rc != VEX_OK)
        vex_db_errmsg_copy(db, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    self->active--;
    if (rc != VEX_OK)
        return raise_status(rc, msg);
    Py_RETURN_NONE;
}

static PyObject *db_close(DbObject *self, PyObject *unused)
{
    (void)unused;
    int rc = db_close_impl(self);
    if (rc != VEX_OK)
        return raise_status(rc, "closing the database");
    Py_RETURN_NONE;
}

/* Database.metrics(): vex_metrics_text as a str (GIL released, P2). */
static PyObject *db_metrics(DbObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->db)
        return db_closed_error();
    vex_db *db = self->db;
    char msg[MSG_MAX] = "";
    char *text = NULL;
    size_t len = 0;
    int rc;
    self->active++;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_metrics_text(db, &text, &len);
    if (rc != VEX_OK)
        vex_db_errmsg_copy(db, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    self->active--;
    if (rc != VEX_OK)
        return raise_status(rc, msg);
    PyObject *out = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
    vex_metrics_free(db, text);
    return out;
}

static PyObject *db_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (!((DbObject *)self)->db)
        return db_closed_error();
    Py_INCREF(self);
    return self;
}

static PyObject *db_exit(DbObject *self, PyObject *args)
{
    (void)args;
    return db_close(self, NULL);
}

static PyObject *db_get_closed(DbObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->db == NULL);
}

static PyObject *db_get_read_only(DbObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->read_only);
}

static PyObject *db_repr(DbObject *self)
{
    return PyUnicode_FromFormat("<vexdb.Database %R%s>", self->path,
                                self->db ? "" : " (closed)");
}

static PyMethodDef db_methods[] = {
    {"create_collection", (PyCFunction)(void (*)(void))db_create_collection,
     METH_VARARGS | METH_KEYWORDS,
     "create_collection(name, dim, metric='l2', index='hnsw', quant=None, "
     "schema=None, *, M=0, ef_construction=0, ef_search=0, seed=0, "
     "elem='f32', schema_closed=False, text=False, diskann_min_rows=0, "
     "diskann_r=0, diskann_l=0, diskann_alpha=0.0, diskann_pq_m=0) -> "
     "Collection\n\n"
     "Create collection `name` (durably) and return it open.\n"
     "metric: 'l2' (squared), 'ip', 'cosine' (or 'hamming'/'jaccard' with "
     "elem='bit'). index: 'hnsw' or 'flat'. quant: None, 'sq8', 'bq', 'pq', "
     "'opq' (segments' codes). schema: {field: int|float|str|bool|list} or "
     "vexdb.Field(type, required=True) values; schema_closed=True refuses "
     "undeclared fields. M, ef_construction, ef_search: HNSW parameters, 0 "
     "= chosen by the library. text: True (or 'porter', 'stopwords', "
     "'porter,stopwords') gives each record an optional text searched with "
     "BM25 (docs/hybrid.md). diskann_min_rows: compactions writing at "
     "least that many rows write a disk-resident DiskANN segment (0 = "
     "never); diskann_r, diskann_l, diskann_alpha, diskann_pq_m: its graph "
     "degree, build list, pruning factor and PQ subvectors, 0 = chosen by "
     "the library (docs/diskann.md). Raises vexdb.Exists if the name is "
     "taken."},
    {"get_or_create_collection",
     (PyCFunction)(void (*)(void))db_get_or_create_collection,
     METH_VARARGS | METH_KEYWORDS,
     "get_or_create_collection(name, dim, metric='l2', index='hnsw', "
     "quant=None, schema=None, *, M=0, ef_construction=0, ef_search=0, "
     "seed=0, elem='f32', schema_closed=False, text=False, "
     "diskann_min_rows=0, diskann_r=0, diskann_l=0, diskann_alpha=0.0, "
     "diskann_pq_m=0) -> Collection\n\n"
     "Open collection `name`, or create it with the arguments of "
     "create_collection. An existing collection must match them "
     "(vexdb.Invalid names the first difference)."},
    {"collection", (PyCFunction)db_collection, METH_O,
     "collection(name) -> Collection\n\nOpen an existing collection "
     "(vexdb.NotFound if there is none)."},
    {"collections", (PyCFunction)db_collections, METH_NOARGS,
     "collections() -> list[str]\n\nNames of all collections, sorted."},
    {"drop_collection", (PyCFunction)db_drop_collection, METH_O,
     "drop_collection(name)\n\nDelete a collection and its data, durably "
     "(vexdb.Busy while it is open)."},
    {"metrics", (PyCFunction)db_metrics, METH_NOARGS,
     "metrics() -> str: the database's metrics in the Prometheus text\n"
     "format (counters and histograms per open collection, gauges); see\n"
     "docs/observability.md."},
    {"close", (PyCFunction)db_close, METH_NOARGS,
     "close()\n\nClose every collection opened through this database (each "
     "is flushed first unless flush_on_close=False), then the database. "
     "Waits for calls running in other threads. Idempotent."},
    {"__enter__", (PyCFunction)db_enter, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)db_exit, METH_VARARGS, "Close the database."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef db_getset[] = {
    {"closed", (getter)db_get_closed, NULL, "True once closed.", NULL},
    {"read_only", (getter)db_get_read_only, NULL, "True for a read-only open.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef db_members[] = {{"path", T_OBJECT, offsetof(DbObject, path),
                                    READONLY, "The database directory."},
                                   {NULL, 0, 0, 0, NULL}};

static PyTypeObject DbType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vexdb.Database",
    .tp_basicsize = sizeof(DbObject),
    .tp_dealloc = (destructor)db_dealloc,
    .tp_repr = (reprfunc)db_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "Database(path, *, create=True, read_only=False, durability='group', "
        "threads=0, background_threads=None, memtable_bytes=None, "
        "flush_on_close=True, diskann_cache_bytes=0)\n\n"
        "A database directory holding named collections (use vexdb.open). "
        "create=True makes the directory when it is missing. durability: "
        "'group' (fsync shared by concurrent writers), 'full' (fsync per "
        "write) or 'none' (synced by flush/close). threads: worker threads "
        "of the search pool (0 = all CPUs). background_threads: flush and "
        "compaction threads (None = 2). memtable_bytes: memtable size "
        "before a flush (None = 64 MiB). flush_on_close: flush memtables on "
        "close. diskann_cache_bytes: RAM for DiskANN node caches (0 = "
        "none). Usable from many threads; close "
        "it with close() or a with-block (garbage collection closes it "
        "too).",
    .tp_methods = db_methods,
    .tp_getset = db_getset,
    .tp_members = db_members,
    .tp_init = (initproc)db_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------------
 * Filter
 * ------------------------------------------------------------------- */

static void filter_release(FilterObject *f)
{
    if (f->coll) {
        CollObject *c = f->coll;
        if (f->prev)
            f->prev->next = f->next;
        else
            c->filters = f->next;
        if (f->next)
            f->next->prev = f->prev;
        f->prev = f->next = NULL;
        f->coll = NULL;
    }
    vex_filter_free(f->f);
    f->f = NULL;
}

static void filter_dealloc(FilterObject *f)
{
    filter_release(f);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyObject *filter_new_for(CollObject *c, vex_filter *vf)
{
    FilterObject *f = PyObject_New(FilterObject, &FilterType);
    if (!f) {
        vex_filter_free(vf);
        return NULL;
    }
    f->f = vf;
    f->coll = c;
    f->prev = NULL;
    f->next = c->filters;
    if (c->filters)
        c->filters->prev = f;
    c->filters = f;
    return (PyObject *)f;
}

static PyObject *filter_str(FilterObject *f)
{
    if (!f->f)
        return PyUnicode_FromString("<closed filter>");
    size_t n = vex_filter_print(f->f, NULL, 0);
    char *buf = PyMem_Malloc(n + 1);
    if (!buf)
        return PyErr_NoMemory();
    vex_filter_print(f->f, buf, n + 1);
    PyObject *s = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "replace");
    PyMem_Free(buf);
    return s;
}

static PyObject *filter_repr(FilterObject *f)
{
    PyObject *s = filter_str(f);
    if (!s)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<vexdb.Filter %R>", s);
    Py_DECREF(s);
    return r;
}

static PyTypeObject FilterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vexdb.Filter",
    .tp_basicsize = sizeof(FilterObject),
    .tp_dealloc = (destructor)filter_dealloc,
    .tp_repr = (reprfunc)filter_repr,
    .tp_str = (reprfunc)filter_str,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A filter compiled for one collection (Collection.filter): "
              "pass it as where= to reuse it. str() gives its canonical "
              "text. Freed when its collection closes.",
};

/* ---------------------------------------------------------------------
 * Collection
 * ------------------------------------------------------------------- */

static PyObject *coll_closed_error(CollObject *self)
{
    char msg[200];
    snprintf(msg, sizeof msg, "collection \"%s\" is closed",
             self->name ? PyUnicode_AsUTF8(self->name) : "?");
    return raise_status(VEX_MISUSE, msg);
}

/* Take the collection for one call (P3); NULL with an error if closed. */
static vex_collection *coll_enter(CollObject *self)
{
    if (!self->c) {
        coll_closed_error(self);
        return NULL;
    }
    self->active++;
    return self->c;
}

static void coll_leave(CollObject *self)
{
    self->active--;
}

static PyObject *coll_raise(int rc, const char *msg)
{
    return raise_status(rc, msg);
}

static int coll_close_impl(CollObject *self)
{
    if (!self->c)
        return VEX_OK;
    /* Refuse new calls and leave the database's list before waiting, so
     * that a Database.close() meanwhile does not meet this handle. */
    vex_collection *c = self->c;
    self->c = NULL;
    /* Counted as a call on the database until the handle is freed, so
     * that a Database.close() in another thread waits for this close
     * before vex_db_close (which must not race with it). */
    self->db->active++;
    if (self->prev)
        self->prev->next = self->next;
    else if (self->db)
        self->db->colls = self->next;
    if (self->next)
        self->next->prev = self->prev;
    self->prev = self->next = NULL;
    wait_idle(&self->active);
    while (self->filters)
        filter_release(self->filters);
    if (self->filter_cache)
        PyDict_Clear(self->filter_cache);
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_collection_close(c);
    PyEval_RestoreThread(ts_);
    self->db->active--;
    return rc;
}

static void coll_dealloc(CollObject *self)
{
    coll_close_impl(self);
    Py_XDECREF(self->filter_cache);
    Py_XDECREF(self->name);
    Py_XDECREF(self->db);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *coll_wrap(DbObject *db, vex_collection *c, PyObject *name)
{
    CollObject *self = PyObject_New(CollObject, &CollType);
    if (!self) {
        vex_collection_close(c);
        return NULL;
    }
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    vex_collection_get_config(c, &cfg);
    self->c = c;
    self->active = 0;
    self->filters = NULL;
    self->filter_cache = PyDict_New();
    Py_INCREF(name);
    self->name = name;
    Py_INCREF(db);
    self->db = db;
    self->dim = cfg.dim;
    self->elem = cfg.elem;
    self->metric = cfg.metric;
    self->vsize = vex_vector_size(cfg.elem, cfg.dim);
    self->row = cfg.elem == VEX_ELEM_BIT ? self->vsize : cfg.dim;
    self->prev = NULL;
    self->next = db->colls;
    if (db->colls)
        db->colls->prev = self;
    db->colls = self;
    if (!self->filter_cache) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* ---- filters ---- */

static int value_from(PyObject *o, vex_value *v)
{
    memset(v, 0, sizeof *v);
    if (PyBool_Check(o)) {
        v->type = VEX_TYPE_BOOL;
        v->b = o == Py_True;
    } else if (PyLong_Check(o)) {
        v->type = VEX_TYPE_INT;
        v->i = PyLong_AsLongLong(o);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            raise_invalid("filter value out of the int64 range");
            return -1;
        }
    } else if (PyFloat_Check(o)) {
        v->type = VEX_TYPE_DOUBLE;
        v->d = PyFloat_AS_DOUBLE(o);
    } else if (PyUnicode_Check(o)) {
        Py_ssize_t len;
        v->type = VEX_TYPE_STRING;
        v->s = PyUnicode_AsUTF8AndSize(o, &len);
        if (!v->s)
            return -1;
        v->len = (size_t)len;
    } else {
        PyErr_Format(PyExc_TypeError,
                     "filter values are int, float, str or bool, not %.80s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    return 0;
}

/* A builder tree from vexdb/filters.py (nested tuples) -> vex_expr. */
static vex_expr *expr_from(vex_filter_builder *b, PyObject *t, int depth)
{
    if (depth > 64) {
        raise_invalid("filter nests deeper than 64 levels");
        return NULL;
    }
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(t, 0))) {
        PyErr_SetString(PyExc_TypeError,
                        "where= takes a str, a vexdb.Filter or an expression "
                        "of the vexdb filter builder");
        return NULL;
    }
    const char *op = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 0));
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    PyObject *a1 = PyTuple_GET_ITEM(t, 1);
    if (!strcmp(op, "and") || !strcmp(op, "or")) {
        if (n != 3)
            goto bad;
        vex_expr *x = expr_from(b, a1, depth + 1);
        vex_expr *y =
            x ? expr_from(b, PyTuple_GET_ITEM(t, 2), depth + 1) : NULL;
        if (!y)
            return NULL;
        return op[0] == 'a' ? vex_expr_and(b, x, y) : vex_expr_or(b, x, y);
    }
    if (!strcmp(op, "not")) {
        vex_expr *x = expr_from(b, a1, depth + 1);
        return x ? vex_expr_not(b, x) : NULL;
    }
    const char *field = PyUnicode_Check(a1) ? PyUnicode_AsUTF8(a1) : NULL;
    if (!field)
        goto bad;
    if (!strcmp(op, "cmp") && n == 4) {
        vex_value v;
        long cop = PyLong_AsLong(PyTuple_GET_ITEM(t, 2));
        if (PyErr_Occurred() || value_from(PyTuple_GET_ITEM(t, 3), &v) < 0)
            return NULL;
        return vex_expr_cmp(b, field, (vex_cmp_op)cop, v);
    }
    if (!strcmp(op, "between") && n == 4) {
        vex_value lo, hi;
        if (value_from(PyTuple_GET_ITEM(t, 2), &lo) < 0 ||
            value_from(PyTuple_GET_ITEM(t, 3), &hi) < 0)
            return NULL;
        return vex_expr_between(b, field, lo, hi);
    }
    if (!strcmp(op, "null") && n == 3)
        return vex_expr_is_null(b, field,
                                PyObject_IsTrue(PyTuple_GET_ITEM(t, 2)));
    if ((!strcmp(op, "in") || !strcmp(op, "contains")) && n == 4) {
        PyObject *vals = PyTuple_GET_ITEM(t, 2);
        if (!PyTuple_Check(vals))
            goto bad;
        Py_ssize_t nv = PyTuple_GET_SIZE(vals);
        int flag = PyObject_IsTrue(PyTuple_GET_ITEM(t, 3));
        vex_expr *e = NULL;
        if (op[0] == 'i') {
            vex_value *v = PyMem_Calloc(nv ? (size_t)nv : 1, sizeof *v);
            if (!v)
                return (vex_expr *)PyErr_NoMemory();
            Py_ssize_t i = 0;
            for (; i < nv; i++)
                if (value_from(PyTuple_GET_ITEM(vals, i), &v[i]) < 0)
                    break;
            if (i == nv)
                e = vex_expr_in(b, field, v, (size_t)nv, flag);
            PyMem_Free(v);
        } else {
            const char **tags = PyMem_Calloc(nv ? (size_t)nv : 1, sizeof *tags);
            if (!tags)
                return (vex_expr *)PyErr_NoMemory();
            Py_ssize_t i = 0;
            for (; i < nv; i++) {
                PyObject *s = PyTuple_GET_ITEM(vals, i);
                tags[i] = PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;
                if (!tags[i]) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_TypeError, "tags must be str");
                    break;
                }
            }
            if (i == nv)
                e = vex_expr_contains(b, field, tags, (size_t)nv, flag);
            PyMem_Free(tags);
        }
        return e;
    }
bad:
    PyErr_Format(PyExc_TypeError, "malformed filter expression node %R", t);
    return NULL;
}

/* Compile `where` (str, builder expression or its tuple tree) for this
 * collection: a new Filter reference. Strings are cached per collection
 * (vex_filter_parse costs a pass over new segments). */
static PyObject *coll_compile(CollObject *self, vex_collection *c,
                              PyObject *where)
{
    if (PyUnicode_Check(where)) {
        PyObject *hit = PyDict_GetItemWithError(self->filter_cache, where);
        if (hit) {
            Py_INCREF(hit);
            return hit;
        }
        if (PyErr_Occurred())
            return NULL;
        const char *text = PyUnicode_AsUTF8(where);
        if (!text)
            return NULL;
        vex_filter *f = NULL;
        int rc = vex_filter_parse(c, text, &f);
        if (rc != VEX_OK) {
            char msg[MSG_MAX];
            vex_collection_errmsg_copy(c, msg, sizeof msg);
            return raise_status(rc, msg);
        }
        PyObject *fo = filter_new_for(self, f);
        if (!fo)
            return NULL;
        if (PyDict_Size(self->filter_cache) >= FILTER_CACHE_MAX)
            PyDict_Clear(self->filter_cache);
        if (PyDict_SetItem(self->filter_cache, where, fo) < 0) {
            Py_DECREF(fo);
            return NULL;
        }
        return fo;
    }
    if (Py_IS_TYPE(where, &FilterType)) {
        FilterObject *fo = (FilterObject *)where;
        if (fo->coll != self || !fo->f)
            return raise_status(VEX_MISUSE,
                                "this Filter was compiled for another "
                                "collection handle (or its collection is "
                                "closed): compile it with this collection's "
                                "filter()");
        Py_INCREF(where);
        return where;
    }
    /* A builder expression: it knows how to give its tuple tree. */
    PyObject *tree = PyObject_CallMethod(where, "_tree", NULL);
    if (!tree) {
        PyErr_Clear();
        tree = where;
        Py_INCREF(tree);
    }
    vex_filter_builder *b = NULL;
    int rc = vex_filter_builder_create(NULL, &b);
    if (rc != VEX_OK) {
        Py_DECREF(tree);
        return raise_status(rc, "creating a filter builder");
    }
    vex_expr *root = expr_from(b, tree, 0);
    Py_DECREF(tree);
    if (!root && PyErr_Occurred()) {
        vex_filter_builder_free(b);
        return NULL;
    }
    vex_filter *f = NULL;
    rc = vex_filter_build(c, b, root, &f);
    vex_filter_builder_free(b);
    if (rc != VEX_OK) {
        char msg[MSG_MAX];
        vex_collection_errmsg_copy(c, msg, sizeof msg);
        return raise_status(rc, msg);
    }
    return filter_new_for(self, f);
}

static PyObject *coll_filter(CollObject *self, PyObject *where)
{
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *f = coll_compile(self, c, where);
    coll_leave(self);
    return f;
}

/* ---- writes ---- */

/* Payload list -> vex_payload array; refs gets strong references to the
 * objects whose bytes are used (P2). */
static int payloads_from(PyObject *obj, npy_intp n, vex_payload **out,
                         PyObject **refs, const char *what)
{
    *out = NULL;
    *refs = NULL;
    if (!obj || obj == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(obj, "payloads and texts must be "
                                         "sequences");
    if (!seq)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        raise_invalid("%s has %zd entries for %zd records", what,
                      PySequence_Fast_GET_SIZE(seq), (Py_ssize_t)n);
        Py_DECREF(seq);
        return -1;
    }
    vex_payload *p = PyMem_Calloc(n ? (size_t)n : 1, sizeof *p);
    if (!p) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (npy_intp i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        if (it == Py_None)
            continue;
        if (PyBytes_Check(it)) {
            p[i].data = PyBytes_AS_STRING(it);
            p[i].len = (size_t)PyBytes_GET_SIZE(it);
        } else if (PyUnicode_Check(it)) {
            Py_ssize_t len;
            p[i].data = PyUnicode_AsUTF8AndSize(it, &len);
            if (!p[i].data)
                goto fail;
            p[i].len = (size_t)len;
        } else {
            PyErr_Format(PyExc_TypeError,
                         "%s[%zd] must be bytes, str or None, not %.80s", what,
                         (Py_ssize_t)i, Py_TYPE(it)->tp_name);
            goto fail;
        }
    }
    /* seq is a list or tuple holding every item: keep it (a fresh list
     * when PySequence_Fast copied; a tuple cannot change; a caller's list
     * is copied so that no other thread can drop an item meanwhile). */
    if (PyList_Check(seq) && seq == obj) {
        PyObject *copy = PyList_GetSlice(seq, 0, n);
        Py_DECREF(seq);
        if (!copy) {
            PyMem_Free(p);
            return -1;
        }
        seq = copy;
    }
    *out = p;
    *refs = seq;
    return 0;
fail:
    PyMem_Free(p);
    Py_DECREF(seq);
    return -1;
}

static void metas_free(vex_meta **m, npy_intp n)
{
    if (!m)
        return;
    for (npy_intp i = 0; i < n; i++)
        vex_meta_free(m[i]);
    PyMem_Free(m);
}

static int metas_from(PyObject *obj, npy_intp n, vex_meta ***out)
{
    *out = NULL;
    if (!obj || obj == Py_None)
        return 0;
    if (PyDict_Check(obj) && n == 1) {
        /* A single record's metadata. */
        vex_meta **m = PyMem_Calloc(1, sizeof *m);
        if (!m || vex_meta_create(NULL, &m[0]) != VEX_OK) {
            PyMem_Free(m);
            PyErr_NoMemory();
            return -1;
        }
        if (meta_from_dict(obj, m[0], 0) < 0) {
            metas_free(m, 1);
            return -1;
        }
        *out = m;
        return 0;
    }
    PyObject *seq = PySequence_Fast(obj, "metadata must be a sequence of "
                                         "dicts (or None)");
    if (!seq)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        raise_invalid("metadata has %zd entries for %zd records",
                      PySequence_Fast_GET_SIZE(seq), (Py_ssize_t)n);
        Py_DECREF(seq);
        return -1;
    }
    vex_meta **m = PyMem_Calloc(n ? (size_t)n : 1, sizeof *m);
    if (!m) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (npy_intp i = 0; i < n; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(seq, i);
        if (d == Py_None)
            continue;
        if (vex_meta_create(NULL, &m[i]) != VEX_OK) {
            PyErr_NoMemory();
            goto fail;
        }
        if (meta_from_dict(d, m[i], (Py_ssize_t)i) < 0)
            goto fail;
    }
    Py_DECREF(seq);
    *out = m;
    return 0;
fail:
    Py_DECREF(seq);
    metas_free(m, n);
    return -1;
}

static PyObject *coll_write(CollObject *self, PyObject *args, PyObject *kw,
                            int upsert)
{
    static char *kwlist[] = {"ids",      "vectors", "metadata",
                             "payloads", "texts",   NULL};
    PyObject *ids_o, *vec_o, *meta_o = NULL, *pay_o = NULL, *txt_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOO", kwlist, &ids_o, &vec_o,
                                     &meta_o, &pay_o, &txt_o))
        return NULL;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *result = NULL, *pay_refs = NULL, *txt_refs = NULL;
    PyArrayObject *ids = NULL, *vecs = NULL;
    vex_meta **metas = NULL;
    vex_payload *pays = NULL, *txts = NULL;
    npy_intp n = 0, nv = 0;
    int scalar, batch;
    ids = ids_from(ids_o, &n, &scalar);
    if (!ids)
        goto done;
    vecs = vectors_from(vec_o, self->elem, self->row, "vectors", &batch, &nv);
    if (!vecs)
        goto done;
    if (nv != n) {
        raise_invalid("%zd ids for %zd vectors", (Py_ssize_t)n, (Py_ssize_t)nv);
        goto done;
    }
    if (scalar && pay_o && pay_o != Py_None &&
        (PyBytes_Check(pay_o) || PyUnicode_Check(pay_o))) {
        /* upsert(7, v, payloads=b"..."): one record's payload. */
        PyObject *one = PyTuple_Pack(1, pay_o);
        if (!one)
            goto done;
        int r = payloads_from(one, n, &pays, &pay_refs, "payloads");
        Py_DECREF(one);
        if (r < 0)
            goto done;
    } else if (payloads_from(pay_o, n, &pays, &pay_refs, "payloads") < 0) {
        goto done;
    }
    if (scalar && txt_o && PyUnicode_Check(txt_o)) {
        /* upsert(7, v, texts="..."): one record's text. */
        PyObject *one = PyTuple_Pack(1, txt_o);
        if (!one)
            goto done;
        int r = payloads_from(one, n, &txts, &txt_refs, "texts");
        Py_DECREF(one);
        if (r < 0)
            goto done;
    } else if (payloads_from(txt_o, n, &txts, &txt_refs, "texts") < 0) {
        goto done;
    }
    if (metas_from(meta_o, n, &metas) < 0)
        goto done;
    {
        const uint64_t *pid = PyArray_DATA(ids);
        const void *pv = PyArray_DATA(vecs);
        size_t done_n = 0;
        char msg[MSG_MAX] = "";
        int rc;
        PyThreadState *ts_ = PyEval_SaveThread();
        if (upsert)
            rc = vex_upsert_many_text(c, (size_t)n, pid, pv,
                                      (const vex_meta *const *)metas, pays,
                                      txts, &done_n);
        else
            rc = vex_insert_many_text(c, (size_t)n, pid, pv,
                                      (const vex_meta *const *)metas, pays,
                                      txts, &done_n);
        if (rc != VEX_OK)
            vex_collection_errmsg_copy(c, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc != VEX_OK) {
            coll_raise(rc, msg);
            goto done;
        }
        result = PyLong_FromSize_t(done_n);
    }
done:
    metas_free(metas, n);
    PyMem_Free(pays);
    PyMem_Free(txts);
    Py_XDECREF(pay_refs);
    Py_XDECREF(txt_refs);
    Py_XDECREF(ids);
    Py_XDECREF(vecs);
    coll_leave(self);
    return result;
}

static PyObject *coll_insert(CollObject *self, PyObject *args, PyObject *kw)
{
    return coll_write(self, args, kw, 0);
}

static PyObject *coll_upsert(CollObject *self, PyObject *args, PyObject *kw)
{
    return coll_write(self, args, kw, 1);
}

/* Deletes of ids: one atomic batch per 1M ids. */
static int delete_ids(vex_collection *c, size_t vsize, const uint64_t *ids,
                      size_t n, char *msg, size_t msg_size)
{
    vex_batch *b = NULL;
    int rc = vex_batch_create(vsize, NULL, &b);
    if (rc != VEX_OK) {
        snprintf(msg, msg_size, "creating a write batch");
        return rc;
    }
    size_t at = 0;
    while (rc == VEX_OK && at < n) {
        vex_batch_clear(b);
        while (at < n) {
            rc = vex_batch_delete(b, ids[at]);
            if (rc == VEX_FULL) {
                rc = VEX_OK;
                break;
            }
            if (rc != VEX_OK) {
                snprintf(msg, msg_size, "%s", vex_batch_errmsg(b));
                break;
            }
            at++;
        }
        if (rc == VEX_OK) {
            rc = vex_batch_commit(c, b);
            if (rc != VEX_OK)
                vex_collection_errmsg_copy(c, msg, msg_size);
        }
    }
    vex_batch_free(b);
    return rc;
}

static PyObject *coll_delete(CollObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ids", "where", NULL};
    PyObject *ids_o = NULL, *where = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$O", kwlist, &ids_o, &where))
        return NULL;
    if ((ids_o == NULL || ids_o == Py_None) ==
        (where == NULL || where == Py_None)) {
        PyErr_SetString(PyExc_TypeError,
                        "delete() takes either ids or where=, not both");
        return NULL;
    }
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *result = NULL;
    char msg[MSG_MAX] = "";
    int rc;
    if (where && where != Py_None) {
        FilterObject *f = (FilterObject *)coll_compile(self, c, where);
        if (f) {
            uint64_t nd = 0;
            const vex_filter *vf = f->f;
            PyThreadState *ts_ = PyEval_SaveThread();
            rc = vex_delete_where(c, vf, &nd);
            if (rc != VEX_OK)
                vex_collection_errmsg_copy(c, msg, sizeof msg);
            PyEval_RestoreThread(ts_);
            result = rc == VEX_OK ? PyLong_FromUnsignedLongLong(nd)
                                  : coll_raise(rc, msg);
            Py_DECREF(f);
        }
    } else {
        npy_intp n;
        int scalar;
        PyArrayObject *ids = ids_from(ids_o, &n, &scalar);
        if (ids) {
            const uint64_t *p = PyArray_DATA(ids);
            PyThreadState *ts_ = PyEval_SaveThread();
            rc = delete_ids(c, self->vsize, p, (size_t)n, msg, sizeof msg);
            PyEval_RestoreThread(ts_);
            result = rc == VEX_OK ? PyLong_FromSsize_t(n) : coll_raise(rc, msg);
            Py_DECREF(ids);
        }
    }
    coll_leave(self);
    return result;
}

static PyObject *coll_update_metadata(CollObject *self, PyObject *args)
{
    unsigned long long id;
    PyObject *d;
    if (!PyArg_ParseTuple(args, "KO", &id, &d))
        return NULL;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *result = NULL;
    vex_meta *m = NULL;
    if (vex_meta_create(NULL, &m) != VEX_OK) {
        PyErr_NoMemory();
    } else if (d == Py_None || meta_from_dict(d, m, 0) == 0) {
        char msg[MSG_MAX] = "";
        int rc;
        PyThreadState *ts_ = PyEval_SaveThread();
        rc = vex_update_meta(c, (uint64_t)id, m);
        if (rc != VEX_OK)
            vex_collection_errmsg_copy(c, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc == VEX_OK) {
            result = Py_None;
            Py_INCREF(result);
        } else
            coll_raise(rc, msg);
    }
    vex_meta_free(m);
    coll_leave(self);
    return result;
}

/* ---- reads ---- */

static unsigned parse_include(PyObject *inc)
{
    unsigned with = 0;
    if (!inc || inc == Py_None)
        return 0;
    if (PyUnicode_Check(inc)) {
        PyErr_SetString(PyExc_TypeError,
                        "include must be a tuple of names, e.g. "
                        "include=(\"metadata\",)");
        return (unsigned)-1;
    }
    PyObject *seq = PySequence_Fast(inc, "include must be a sequence");
    if (!seq)
        return (unsigned)-1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (s && !strcmp(s, "metadata"))
            with |= VEX_WITH_META;
        else if (s && !strcmp(s, "payload"))
            with |= VEX_WITH_PAYLOAD;
        else if (s && !strcmp(s, "vector"))
            with |= VEX_WITH_VECTOR;
        else if (s && !strcmp(s, "text"))
            with |= VEX_WITH_TEXT;
        else {
            PyErr_Clear();
            raise_invalid("include takes \"metadata\", \"payload\", "
                          "\"vector\" and \"text\"");
            Py_DECREF(seq);
            return (unsigned)-1;
        }
    }
    Py_DECREF(seq);
    return with;
}

/* Lists of projections of one result set: metadata dicts, payloads,
 * vectors array. Steals nothing; fills NULL for what was not asked. */
static int results_project(CollObject *self, const vex_results *r,
                           unsigned with, PyObject **meta, PyObject **pay,
                           PyObject **vec, PyObject **txt)
{
    size_t n = vex_results_count(r);
    *meta = *pay = *vec = *txt = NULL;
    if (with & VEX_WITH_TEXT) {
        *txt = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; *txt && i < n; i++) {
            const char *p = NULL;
            size_t len = 0;
            vex_results_text(r, i, &p, &len);
            PyObject *t =
                len ? PyUnicode_DecodeUTF8(p, (Py_ssize_t)len, "strict")
                    : (Py_INCREF(Py_None), Py_None);
            if (!t)
                goto fail;
            PyList_SET_ITEM(*txt, (Py_ssize_t)i, t);
        }
        if (!*txt)
            goto fail;
    }
    if (with & VEX_WITH_META) {
        *meta = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; *meta && i < n; i++) {
            const vex_meta *m = vex_results_meta(r, i);
            PyObject *d = m ? meta_to_dict(m) : PyDict_New();
            if (!d)
                goto fail;
            PyList_SET_ITEM(*meta, (Py_ssize_t)i, d);
        }
        if (!*meta)
            goto fail;
    }
    if (with & VEX_WITH_PAYLOAD) {
        *pay = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; *pay && i < n; i++) {
            const void *p = NULL;
            size_t len = 0;
            vex_results_payload(r, i, &p, &len);
            PyObject *b = len ? PyBytes_FromStringAndSize(p, (Py_ssize_t)len)
                              : (Py_INCREF(Py_None), Py_None);
            if (!b)
                goto fail;
            PyList_SET_ITEM(*pay, (Py_ssize_t)i, b);
        }
        if (!*pay)
            goto fail;
    }
    if (with & VEX_WITH_VECTOR) {
        npy_intp dims[2] = {(npy_intp)n, (npy_intp)self->row};
        *vec = PyArray_SimpleNew(
            2, dims, self->elem == VEX_ELEM_BIT ? NPY_UINT8 : NPY_FLOAT32);
        if (!*vec)
            goto fail;
        char *dst = PyArray_DATA((PyArrayObject *)*vec);
        for (size_t i = 0; i < n; i++)
            memcpy(dst + i * self->vsize, vex_results_vector(r, i),
                   self->vsize);
    }
    return 0;
fail:
    Py_CLEAR(*meta);
    Py_CLEAR(*pay);
    Py_CLEAR(*vec);
    Py_CLEAR(*txt);
    return -1;
}

/* The arguments of a search method called by vectorcall (the hot path,
 * so parsed by hand): query and k may come by position, names[2..] only by
 * keyword; v[i] gets the argument of names[i] (NULL when absent). -1 with
 * a TypeError as Python would word it. */
static int search_args(const char *const *names, int n_names,
                       PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames, PyObject **v)
{
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError,
                        "search() takes query and k positionally; the rest "
                        "are keyword-only");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        v[i] = args[i];
    Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nk; i++) {
        PyObject *kn = PyTuple_GET_ITEM(kwnames, i);
        int j = 0;
        for (; j < n_names; j++)
            if (PyUnicode_CompareWithASCIIString(kn, names[j]) == 0)
                break;
        if (j == n_names) {
            PyErr_Format(PyExc_TypeError,
                         "search() got an unexpected keyword argument %R", kn);
            return -1;
        }
        if (v[j]) {
            PyErr_Format(PyExc_TypeError, "search() got multiple values for %R",
                         kn);
            return -1;
        }
        v[j] = args[nargs + i];
    }
    if (!v[0]) {
        PyErr_SetString(PyExc_TypeError, "search() missing query");
        return -1;
    }
    return 0;
}

static PyObject *hits_new(PyObject *ids, PyObject *dist, PyObject *counts,
                          PyObject *meta, PyObject *pay, PyObject *vec,
                          PyObject *txt)
{
    HitsObject *h = PyObject_New(HitsObject, &HitsType);
    if (!h) {
        Py_XDECREF(ids);
        Py_XDECREF(dist);
        Py_XDECREF(counts);
        Py_XDECREF(meta);
        Py_XDECREF(pay);
        Py_XDECREF(vec);
        Py_XDECREF(txt);
        return NULL;
    }
    h->ids = ids;
    h->distances = dist;
#define OR_NONE(x) ((x) ? (x) : (Py_INCREF(Py_None), Py_None))
    h->counts = OR_NONE(counts);
    h->metadata = OR_NONE(meta);
    h->payloads = OR_NONE(pay);
    h->vectors = OR_NONE(vec);
    h->texts = OR_NONE(txt);
#undef OR_NONE
    return (PyObject *)h;
}

/* One query with projections (include=...): vex_search_results. */
static PyObject *search_projected(CollObject *self, vex_collection *c,
                                  const void *q, size_t k,
                                  const vex_search_params *sp, unsigned with,
                                  vex_results *r)
{
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_search_results(c, q, k, sp, with, r);
    if (rc != VEX_OK)
        vex_collection_errmsg_copy(c, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    if (rc != VEX_OK)
        return coll_raise(rc, msg);
    PyObject *ids, *dist, *meta, *pay, *vec, *txt;
    if (hits_arrays_1(vex_results_hits(r), vex_results_count(r), &ids, &dist) <
        0)
        return NULL;
    if (results_project(self, r, with, &meta, &pay, &vec, &txt) < 0) {
        Py_DECREF(ids);
        Py_DECREF(dist);
        return NULL;
    }
    return hits_new(ids, dist, NULL, meta, pay, vec, txt);
}

static PyObject *coll_search(CollObject *self, PyObject *const *args,
                             Py_ssize_t nargs, PyObject *kwnames)
{
    /* Parsed by hand (vectorcall): this is the hot path. */
    static const char *const names[] = {
        "query",     "k",    "where",  "ef",          "include",
        "threads",   "text", "fusion", "text_weight", "vector_weight",
        "beam_width"};
    PyObject *v[11] = {NULL};
    if (search_args(names, 11, args, nargs, kwnames, v) < 0)
        return NULL;
    size_t k = 10;
    vex_search_params sp;
    vex_search_params_init(&sp);
    unsigned with = 0;
    if ((v[1] && get_k(v[1], &k) < 0) ||
        get_u32(v[3], "ef", &sp.ef_search) < 0 ||
        get_u32(v[5], "threads", &sp.n_threads) < 0 ||
        get_u32(v[10], "beam_width", &sp.beam_width) < 0)
        return NULL;
    if (v[4] && (with = parse_include(v[4])) == (unsigned)-1)
        return NULL;
    if (v[6] && v[6] != Py_None) {
        /* keyword or hybrid search: the query text (held by v[6], a str
         * the caller owns for the call) */
        if (!PyUnicode_Check(v[6])) {
            PyErr_SetString(PyExc_TypeError, "text must be a str");
            return NULL;
        }
        if (!(sp.text = PyUnicode_AsUTF8(v[6])))
            return NULL;
    }
    if (v[7] && v[7] != Py_None) {
        const char *f = PyUnicode_Check(v[7]) ? PyUnicode_AsUTF8(v[7]) : NULL;
        if (f && !strcmp(f, "rrf"))
            sp.fusion = VEX_FUSION_RRF;
        else if (f && !strcmp(f, "sum"))
            sp.fusion = VEX_FUSION_SUM;
        else {
            PyErr_Clear();
            raise_invalid("fusion is \"rrf\" or \"sum\"");
            return NULL;
        }
        if (!sp.text) {
            raise_invalid("fusion applies to a hybrid search (give text=)");
            return NULL;
        }
    }
    if ((v[8] && v[8] != Py_None) || (v[9] && v[9] != Py_None)) {
        double tw = v[8] && v[8] != Py_None ? PyFloat_AsDouble(v[8]) : 1.0;
        double vw = v[9] && v[9] != Py_None ? PyFloat_AsDouble(v[9]) : 1.0;
        if (PyErr_Occurred())
            return NULL;
        sp.text_weight = (float)tw;
        sp.vector_weight = (float)vw;
    }
    if (sp.text && v[0] == Py_None) {
        /* keyword only: one query, no vector */
        vex_collection *c = coll_enter(self);
        if (!c)
            return NULL;
        PyObject *result = NULL;
        vex_results *r = NULL;
        if (vex_results_create(NULL, &r) != VEX_OK)
            PyErr_NoMemory();
        else
            result = search_projected(self, c, NULL, k, &sp, with, r);
        vex_results_free(r);
        coll_leave(self);
        return result;
    }
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *result = NULL;
    PyObject *filt = NULL;
    vex_hit *heap = NULL;
    vex_results *r = NULL;
    size_t *nh = NULL;
    int batch;
    npy_intp nq;
    PyArrayObject *q =
        vectors_from(v[0], self->elem, self->row, "query", &batch, &nq);
    if (!q)
        goto done;
    if (v[2] && v[2] != Py_None) {
        filt = coll_compile(self, c, v[2]);
        if (!filt)
            goto done;
        sp.where = ((FilterObject *)filt)->f;
    }
    const char *qp = PyArray_DATA(q);
    char msg[MSG_MAX] = "";
    int rc;
    if (with || (batch && sp.text)) { /* hybrid batches: one by one */
        if (vex_results_create(NULL, &r) != VEX_OK) {
            PyErr_NoMemory();
            goto done;
        }
        if (!batch) {
            result = search_projected(self, c, qp, k, &sp, with, r);
            goto done;
        }
        /* A batch with projections: one projected search per query. */
        PyObject *lists[6] = {PyList_New(nq), PyList_New(nq), PyList_New(nq),
                              PyList_New(nq), PyList_New(nq), PyList_New(nq)};
        int ok = lists[0] && lists[1] && lists[2] && lists[3] && lists[4] &&
                 lists[5];
        for (npy_intp i = 0; ok && i < nq; i++) {
            HitsObject *h = (HitsObject *)search_projected(
                self, c, qp + (size_t)i * self->vsize, k, &sp, with, r);
            if (!h) {
                ok = 0;
                break;
            }
            PyObject *parts[6] = {h->ids,      h->distances, h->metadata,
                                  h->payloads, h->vectors,   h->texts};
            for (int j = 0; j < 6; j++) {
                Py_INCREF(parts[j]);
                PyList_SET_ITEM(lists[j], i, parts[j]);
            }
            Py_DECREF(h);
        }
        if (ok) {
            /* Stack the hits into (nq, k) arrays as the plain batch does. */
            vex_hit *all = PyMem_Calloc((size_t)nq * k + 1, sizeof *all);
            nh = PyMem_Calloc((size_t)nq + 1, sizeof *nh);
            PyObject *ids, *dist, *counts;
            if (!all || !nh) {
                PyMem_Free(all);
                PyErr_NoMemory();
            } else {
                for (npy_intp i = 0; i < nq; i++) {
                    PyArrayObject *ia =
                        (PyArrayObject *)PyList_GET_ITEM(lists[0], i);
                    PyArrayObject *da =
                        (PyArrayObject *)PyList_GET_ITEM(lists[1], i);
                    nh[i] = (size_t)PyArray_DIM(ia, 0);
                    for (size_t j = 0; j < nh[i]; j++) {
                        all[(size_t)i * k + j].id =
                            ((uint64_t *)PyArray_DATA(ia))[j];
                        all[(size_t)i * k + j].distance =
                            ((float *)PyArray_DATA(da))[j];
                    }
                }
                if (hits_arrays_2(all, nh, (size_t)nq, k, &ids, &dist,
                                  &counts) == 0) {
                    PyObject *m = (with & VEX_WITH_META) ? lists[2] : NULL;
                    PyObject *p = (with & VEX_WITH_PAYLOAD) ? lists[3] : NULL;
                    PyObject *vv = (with & VEX_WITH_VECTOR) ? lists[4] : NULL;
                    Py_XINCREF(m);
                    Py_XINCREF(p);
                    Py_XINCREF(vv);
                    PyObject *tt = (with & VEX_WITH_TEXT) ? lists[5] : NULL;
                    Py_XINCREF(tt);
                    result = hits_new(ids, dist, counts, m, p, vv, tt);
                }
                PyMem_Free(all);
            }
        }
        for (int j = 0; j < 6; j++)
            Py_XDECREF(lists[j]);
        goto done;
    }
    if (!batch) {
        vex_hit stack[STACK_HITS];
        vex_hit *hits = stack;
        if (k > STACK_HITS) {
            hits = heap = PyMem_Malloc(k * sizeof *hits);
            if (!heap) {
                PyErr_NoMemory();
                goto done;
            }
        }
        size_t n = 0;
        PyThreadState *ts_ = PyEval_SaveThread();
        rc = vex_search(c, qp, k, &sp, hits, NULL, &n);
        if (rc != VEX_OK)
            vex_collection_errmsg_copy(c, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc != VEX_OK) {
            coll_raise(rc, msg);
            goto done;
        }
        PyObject *ids, *dist;
        if (hits_arrays_1(hits, n, &ids, &dist) == 0)
            result = hits_new(ids, dist, NULL, NULL, NULL, NULL, NULL);
        goto done;
    }
    heap = PyMem_Malloc(((size_t)nq * k + 1) * sizeof *heap);
    nh = PyMem_Malloc(((size_t)nq + 1) * sizeof *nh);
    if (!heap || !nh) {
        PyErr_NoMemory();
        goto done;
    }
    if (nq > 0) {
        PyThreadState *ts_ = PyEval_SaveThread();
        rc = vex_search_batch(c, qp, (size_t)nq, k, &sp, heap, nh);
        if (rc != VEX_OK)
            vex_collection_errmsg_copy(c, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc != VEX_OK) {
            coll_raise(rc, msg);
            goto done;
        }
    }
    {
        PyObject *ids, *dist, *counts;
        if (hits_arrays_2(heap, nh, (size_t)nq, k, &ids, &dist, &counts) == 0)
            result = hits_new(ids, dist, counts, NULL, NULL, NULL, NULL);
    }
done:
    vex_results_free(r);
    PyMem_Free(heap);
    PyMem_Free(nh);
    Py_XDECREF(filt);
    Py_XDECREF(q);
    coll_leave(self);
    return result;
}

static PyObject *coll_get(CollObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"id", "include", NULL};
    PyObject *id_o, *inc = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O", kwlist, &id_o, &inc))
        return NULL;
    uint64_t id;
    if (get_u64(id_o, "id", &id) < 0)
        return NULL;
    unsigned with = VEX_WITH_ALL;
    if (inc && (with = parse_include(inc)) == (unsigned)-1)
        return NULL;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *result = NULL, *vec = NULL, *md = NULL, *pay = NULL, *txt = NULL;
    vex_meta *m = NULL;
    char *pbuf = NULL, *tbuf = NULL;
    char msg[MSG_MAX] = "";
    int rc = VEX_OK;
    npy_intp dims[1] = {(npy_intp)self->row};
    vec = PyArray_SimpleNew(
        1, dims, self->elem == VEX_ELEM_BIT ? NPY_UINT8 : NPY_FLOAT32);
    if (!vec || vex_meta_create(NULL, &m) != VEX_OK) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    /* The vector (always: it tells whether the record exists), then the
     * metadata and the payload, each a read of the latest snapshot. */
    void *vp = PyArray_DATA((PyArrayObject *)vec);
    size_t plen = 0, tlen = 0;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_get(c, id, vp);
    if (rc == VEX_OK && (with & VEX_WITH_META))
        rc = vex_get_meta(c, id, m);
    if (rc == VEX_OK && (with & VEX_WITH_PAYLOAD)) {
        rc = vex_get_payload(c, id, NULL, 0, &plen);
        if (rc == VEX_OK && plen) {
            pbuf = malloc(plen);
            if (!pbuf)
                rc = VEX_NOMEM;
            else
                rc = vex_get_payload(c, id, pbuf, plen, &plen);
        }
    }
    if (rc == VEX_OK && (with & VEX_WITH_TEXT)) {
        rc = vex_get_text(c, id, NULL, 0, &tlen);
        if (rc == VEX_OK && tlen) {
            tbuf = malloc(tlen);
            if (!tbuf)
                rc = VEX_NOMEM;
            else
                rc = vex_get_text(c, id, tbuf, tlen, &tlen);
        }
    }
    if (rc != VEX_OK)
        vex_collection_errmsg_copy(c, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    if (rc != VEX_OK) {
        coll_raise(rc, msg);
        goto done;
    }
    if (with & VEX_WITH_META) {
        md = meta_to_dict(m);
        if (!md)
            goto done;
    }
    if ((with & VEX_WITH_PAYLOAD) && plen) {
        pay = PyBytes_FromStringAndSize(pbuf, (Py_ssize_t)plen);
        if (!pay)
            goto done;
    }
    if ((with & VEX_WITH_TEXT) && tlen) {
        txt = PyUnicode_DecodeUTF8(tbuf, (Py_ssize_t)tlen, "strict");
        if (!txt)
            goto done;
    }
    {
        RecordObject *rec = PyObject_New(RecordObject, &RecordType);
        if (!rec)
            goto done;
        rec->id = PyLong_FromUnsignedLongLong(id);
        if (with & VEX_WITH_VECTOR) {
            rec->vector = vec;
            vec = NULL;
        } else {
            rec->vector = Py_None;
            Py_INCREF(Py_None);
        }
        rec->metadata = md ? md : (Py_INCREF(Py_None), Py_None);
        rec->payload = pay ? pay : (Py_INCREF(Py_None), Py_None);
        rec->text = txt ? txt : (Py_INCREF(Py_None), Py_None);
        md = pay = txt = NULL;
        result = (PyObject *)rec;
        if (!rec->id)
            Py_CLEAR(result);
    }
done:
    free(pbuf);
    free(tbuf);
    vex_meta_free(m);
    Py_XDECREF(vec);
    Py_XDECREF(md);
    Py_XDECREF(pay);
    Py_XDECREF(txt);
    coll_leave(self);
    return result;
}

static PyObject *coll_contains_impl(CollObject *self, PyObject *id_o, int *out)
{
    uint64_t id;
    if (get_u64(id_o, "id", &id) < 0)
        return NULL;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    size_t len;
    int rc;
    /* The payload length probe is the cheapest existence check. */
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_get_payload(c, id, NULL, 0, &len);
    PyEval_RestoreThread(ts_);
    coll_leave(self);
    if (rc == VEX_OK || rc == VEX_NOTFOUND) {
        *out = rc == VEX_OK;
        Py_RETURN_NONE;
    }
    return coll_raise(rc, "checking for the id");
}

static int coll_contains(CollObject *self, PyObject *id_o)
{
    int found = 0;
    PyObject *r = coll_contains_impl(self, id_o, &found);
    if (!r)
        return -1;
    Py_DECREF(r);
    return found;
}

static PyObject *coll_count(CollObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"where", NULL};
    PyObject *where = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &where))
        return NULL;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    PyObject *result = NULL, *filt = NULL;
    const vex_filter *vf = NULL;
    if (where && where != Py_None) {
        filt = coll_compile(self, c, where);
        if (!filt)
            goto done;
        vf = ((FilterObject *)filt)->f;
    }
    uint64_t n = 0;
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_count_where(c, vf, &n);
    if (rc != VEX_OK)
        vex_collection_errmsg_copy(c, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    result =
        rc == VEX_OK ? PyLong_FromUnsignedLongLong(n) : coll_raise(rc, msg);
done:
    Py_XDECREF(filt);
    coll_leave(self);
    return result;
}

static Py_ssize_t coll_len(CollObject *self)
{
    vex_collection *c = coll_enter(self);
    if (!c)
        return -1;
    uint64_t n = vex_collection_count(c);
    coll_leave(self);
    return (Py_ssize_t)n;
}

/* flush / compact: no arguments, GIL released. */
static PyObject *coll_simple(CollObject *self, int (*fn)(vex_collection *))
{
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = fn(c);
    if (rc != VEX_OK)
        vex_collection_errmsg_copy(c, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    coll_leave(self);
    if (rc != VEX_OK)
        return coll_raise(rc, msg);
    Py_RETURN_NONE;
}

static PyObject *coll_flush(CollObject *self, PyObject *unused)
{
    (void)unused;
    return coll_simple(self, vex_flush);
}

static PyObject *coll_compact(CollObject *self, PyObject *unused)
{
    (void)unused;
    return coll_simple(self, vex_compact);
}

static int dict_set_u64(PyObject *d, const char *k, uint64_t v)
{
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    int r = o ? PyDict_SetItemString(d, k, o) : -1;
    Py_XDECREF(o);
    return r;
}

static int dict_set_str(PyObject *d, const char *k, const char *v)
{
    PyObject *o = PyUnicode_FromString(v);
    int r = o ? PyDict_SetItemString(d, k, o) : -1;
    Py_XDECREF(o);
    return r;
}

static PyObject *coll_stats(CollObject *self, PyObject *unused)
{
    (void)unused;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    vex_stats st;
    vex_stats_init(&st);
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_stats_get(c, &st);
    if (rc != VEX_OK)
        vex_collection_errmsg_copy(c, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    coll_leave(self);
    if (rc != VEX_OK)
        return coll_raise(rc, msg);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    const struct {
        const char *k;
        uint64_t v;
    } f[] = {{"live_rows", st.live_rows},
             {"deleted_rows", st.deleted_rows},
             {"memtable_rows", st.memtable_rows},
             {"memtable_bytes", st.memtable_bytes},
             {"memtables", st.memtables},
             {"frozen_memtables", st.frozen_memtables},
             {"unindexed_rows", st.unindexed_rows},
             {"segments", st.segments},
             {"segment_rows", st.segment_rows},
             {"segment_bytes", st.segment_bytes},
             {"disk_bytes", st.disk_bytes},
             {"last_seq", st.last_seq},
             {"flushed_seq", st.flushed_seq},
             {"flushes", st.flushes},
             {"compactions", st.compactions},
             {"compacted_rows", st.compacted_rows},
             {"write_stalls", st.write_stalls},
             {"payload_bytes", st.payload_bytes},
             {"diskann_segments", st.diskann_segments},
             {"diskann_resident_bytes", st.diskann_resident_bytes},
             {"diskann_cache_bytes", st.diskann_cache_bytes},
             {"flush_rows_done", st.flush_rows_done},
             {"flush_rows_total", st.flush_rows_total},
             {"compact_rows_done", st.compact_rows_done},
             {"compact_rows_total", st.compact_rows_total}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (dict_set_u64(d, f[i].k, f[i].v) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyObject *coll_config(CollObject *self, void *unused)
{
    (void)unused;
    vex_collection *c = coll_enter(self);
    if (!c)
        return NULL;
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    vex_collection_get_config(c, &cfg);
    PyObject *d = PyDict_New();
    PyObject *schema = PyDict_New();
    int bad = !d || !schema;
    for (uint32_t i = 0; !bad && i < cfg.n_schema_fields; i++) {
        const vex_schema_field *sf = &cfg.schema_fields[i];
        PyObject *t = Py_BuildValue("(sO)", vex_type_name(sf->type),
                                    sf->nullable ? Py_False : Py_True);
        bad = !t || PyDict_SetItemString(schema, sf->name, t) < 0;
        Py_XDECREF(t);
    }
    coll_leave(self);
    bad = bad || dict_set_u64(d, "dim", cfg.dim) < 0 ||
          dict_set_str(d, "elem", vex_elem_name(cfg.elem)) < 0 ||
          dict_set_str(d, "metric", vex_metric_name(cfg.metric)) < 0 ||
          dict_set_str(d, "index", kind_name(cfg.index_kind)) < 0 ||
          dict_set_u64(d, "M", cfg.hnsw_m) < 0 ||
          dict_set_u64(d, "ef_construction", cfg.hnsw_ef_construction) < 0 ||
          dict_set_u64(d, "ef_search", cfg.hnsw_ef_search) < 0 ||
          dict_set_u64(d, "seed", cfg.hnsw_seed) < 0 ||
          PyDict_SetItemString(
              d, "quant",
              cfg.quant == VEX_QUANT_NONE
                  ? Py_None
                  : PyUnicode_FromString(quant_names[cfg.quant])) < 0 ||
          PyDict_SetItemString(d, "schema", schema) < 0 ||
          PyDict_SetItemString(d, "schema_closed",
                               cfg.schema_closed ? Py_True : Py_False) < 0;
    bad = bad ||
          dict_set_u64(d, "diskann_min_rows", cfg.diskann_min_rows) < 0 ||
          dict_set_u64(d, "diskann_r", cfg.diskann_r) < 0 ||
          dict_set_u64(d, "diskann_l", cfg.diskann_l) < 0 ||
          dict_set_u64(d, "diskann_pq_m", cfg.diskann_pq_m) < 0;
    if (!bad) {
        PyObject *a = PyFloat_FromDouble((double)cfg.diskann_alpha);
        bad = !a || PyDict_SetItemString(d, "diskann_alpha", a) < 0;
        Py_XDECREF(a);
    }
    if (!bad && !cfg.text)
        bad = PyDict_SetItemString(d, "text", Py_None) < 0;
    else if (!bad)
        bad = dict_set_str(d, "text",
                           cfg.text_stemmer && cfg.text_stopwords
                               ? "porter,stopwords"
                           : cfg.text_stemmer   ? "porter"
                           : cfg.text_stopwords ? "stopwords"
                                                : "plain") < 0;
    Py_XDECREF(schema);
    if (bad) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *coll_close(CollObject *self, PyObject *unused)
{
    (void)unused;
    int rc = coll_close_impl(self);
    if (rc != VEX_OK)
        return raise_status(rc, "closing the collection (its log keeps "
                                "every acknowledged write)");
    Py_RETURN_NONE;
}

static PyObject *coll_enter_cm(CollObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->c)
        return coll_closed_error(self);
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *coll_exit_cm(CollObject *self, PyObject *args)
{
    (void)args;
    return coll_close(self, NULL);
}

static PyObject *coll_get_closed(CollObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->c == NULL);
}

static PyObject *coll_get_dim(CollObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLong(self->dim);
}

static PyObject *coll_get_metric(CollObject *self, void *unused)
{
    (void)unused;
    return PyUnicode_FromString(vex_metric_name(self->metric));
}

static PyObject *coll_repr(CollObject *self)
{
    return PyUnicode_FromFormat("<vexdb.Collection %R dim=%u metric=%s%s>",
                                self->name, (unsigned)self->dim,
                                vex_metric_name(self->metric),
                                self->c ? "" : " (closed)");
}

static PyMethodDef coll_methods[] = {
    {"upsert", (PyCFunction)(void (*)(void))coll_upsert,
     METH_VARARGS | METH_KEYWORDS,
     "upsert(ids, vectors, metadata=None, payloads=None, texts=None) -> "
     "int\n\n"
     "Insert records or replace them whole (vector, metadata, payload, "
     "text). "
     "ids: an int or a sequence/array of ints; vectors: one vector or an "
     "(n, dim) array (float32 C-contiguous arrays are used without a "
     "copy); metadata: a list of dicts or None per record (a dict for a "
     "single record); payloads: a list of bytes/str/None; texts: a list "
     "of str/None (a str for a single record), for a collection created "
     "with text=. Everything is "
     "checked before anything is written (vexdb.Invalid names the "
     "record); then records are committed in atomic, durable chunks. "
     "Returns the number written. The GIL is released while writing."},
    {"insert", (PyCFunction)(void (*)(void))coll_insert,
     METH_VARARGS | METH_KEYWORDS,
     "insert(ids, vectors, metadata=None, payloads=None, texts=None) -> "
     "int\n\n"
     "As upsert, but vexdb.Exists if an id is present (nothing is "
     "written then)."},
    {"delete", (PyCFunction)(void (*)(void))coll_delete,
     METH_VARARGS | METH_KEYWORDS,
     "delete(ids=None, *, where=None) -> int\n\n"
     "Delete records by id (atomically; vexdb.NotFound and nothing deleted "
     "if one is absent) or every record a filter matches (one atomic "
     "commit). Returns the number deleted."},
    {"update_metadata", (PyCFunction)coll_update_metadata, METH_VARARGS,
     "update_metadata(id, metadata)\n\nReplace the metadata of an "
     "existing record, keeping its vector and payload (vexdb.NotFound)."},
    {"search", (PyCFunction)(void (*)(void))coll_search,
     METH_FASTCALL | METH_KEYWORDS,
     "search(query, k=10, *, where=None, ef=0, include=(), threads=0, "
     "text=None, fusion='rrf', text_weight=1.0, vector_weight=1.0, "
     "beam_width=0) -> Hits\n\n"
     "k nearest records. A 1-D query gives hits.ids / hits.distances of "
     "shape (n,), n <= k; a 2-D array of queries is a batch: arrays of "
     "shape (nq, k) (missing hits: id 2**64-1, distance inf) and "
     "hits.counts. where: filter text (docs/FILTERS.md), a vexdb.Filter or "
     "a builder expression (vexdb.field). ef: HNSW candidate list (0 = "
     "the collection's default). include: any of 'metadata', 'payload', "
     "'vector', 'text'. threads: 1 = the calling thread only, 0 = the "
     "database's pool. text: BM25 keywords (collections created with "
     "text=): with query=None a keyword search, with a query a hybrid "
     "one, whose lists are fused by fusion='rrf' (reciprocal rank) or "
     "'sum' (weighted scores, text_weight and vector_weight); distances "
     "are then minus the score. beam_width: DiskANN segments' reads per "
     "step (0 = default; vexdb.Invalid without DiskANN segments). The GIL "
     "is released while searching."},
    {"get", (PyCFunction)(void (*)(void))coll_get, METH_VARARGS | METH_KEYWORDS,
     "get(id, include=('vector', 'metadata', 'payload')) -> Record\n\n"
     "Read one record (vexdb.NotFound if absent)."},
    {"count", (PyCFunction)(void (*)(void))coll_count,
     METH_VARARGS | METH_KEYWORDS,
     "count(where=None) -> int\n\nRecords a filter matches (all when "
     "None)."},
    {"filter", (PyCFunction)coll_filter, METH_O,
     "filter(where) -> Filter\n\nCompile filter text or a builder "
     "expression once, for reuse as where=."},
    {"flush", (PyCFunction)coll_flush, METH_NOARGS,
     "flush()\n\nWrite the memtables to a segment file and publish it; "
     "makes earlier writes durable under durability='none'."},
    {"compact", (PyCFunction)coll_compact, METH_NOARGS,
     "compact()\n\nMerge every segment into one, dropping deleted and "
     "overwritten rows (call flush() first to include the memtable)."},
    {"stats", (PyCFunction)coll_stats, METH_NOARGS,
     "stats() -> dict\n\nSizes and counters of the collection (vex_stats: "
     "live_rows, deleted_rows, segments, disk_bytes, ...)."},
    {"close", (PyCFunction)coll_close, METH_NOARGS,
     "close()\n\nClose this handle (flushing first unless the database "
     "was opened with flush_on_close=False). Waits for calls running in "
     "other threads; later calls raise vexdb.Misuse. Idempotent."},
    {"__enter__", (PyCFunction)coll_enter_cm, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)coll_exit_cm, METH_VARARGS,
     "Close the collection."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef coll_getset[] = {
    {"closed", (getter)coll_get_closed, NULL, "True once closed.", NULL},
    {"dim", (getter)coll_get_dim, NULL, "Vector dimension.", NULL},
    {"metric", (getter)coll_get_metric, NULL, "Distance metric name.", NULL},
    {"config", (getter)coll_config, NULL,
     "The stored configuration as a dict (resolved HNSW values, schema "
     "as {field: (type name, required)}).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef coll_members[] = {
    {"name", T_OBJECT, offsetof(CollObject, name), READONLY,
     "Collection name."},
    {"database", T_OBJECT, offsetof(CollObject, db), READONLY,
     "The Database this collection belongs to."},
    {NULL, 0, 0, 0, NULL}};

static PySequenceMethods coll_seq = {
    .sq_length = (lenfunc)coll_len,
    .sq_contains = (objobjproc)coll_contains,
};

static PyTypeObject CollType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vexdb.Collection",
    .tp_basicsize = sizeof(CollObject),
    .tp_dealloc = (destructor)coll_dealloc,
    .tp_repr = (reprfunc)coll_repr,
    .tp_as_sequence = &coll_seq,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A named collection of records (id, vector, metadata, "
              "payload); get one from Database.create_collection, "
              "collection or get_or_create_collection. Safe to use from "
              "many threads at once. len() counts records; `id in coll` "
              "tests one. Keeps its Database alive; closed by close(), a "
              "with-block, the database's close() or garbage collection.",
    .tp_methods = coll_methods,
    .tp_getset = coll_getset,
    .tp_members = coll_members,
};

/* ---------------------------------------------------------------------
 * Index
 * ------------------------------------------------------------------- */

static PyObject *index_closed_error(void)
{
    return raise_status(VEX_MISUSE, "the index is closed");
}

static vex_index *index_enter(IndexObject *self)
{
    if (!self->ix) {
        index_closed_error();
        return NULL;
    }
    self->active++;
    return self->ix;
}

static void index_leave(IndexObject *self)
{
    self->active--;
}

static PyObject *index_raise(vex_index *ix, int rc)
{
    char msg[MSG_MAX] = "";
    if (ix)
        vex_index_errmsg_copy(ix, msg, sizeof msg);
    return raise_status(rc, msg);
}

static void index_close_impl(IndexObject *self)
{
    vex_index *ix = self->ix;
    self->ix = NULL;
    if (ix) {
        wait_idle(&self->active);
        PyThreadState *ts_ = PyEval_SaveThread();
        vex_index_free(ix);
        PyEval_RestoreThread(ts_);
    }
    if (self->map) {
        munmap(self->map, self->map_size);
        self->map = NULL;
    }
}

static void index_dealloc(IndexObject *self)
{
    index_close_impl(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static void index_take(IndexObject *self, vex_index *ix)
{
    vex_index_options o;
    vex_index_options_init(&o);
    vex_index_get_options(ix, &o);
    self->ix = ix;
    self->dim = o.dim;
    self->elem = o.elem;
    self->metric = o.metric;
    self->kind = o.kind;
    self->vsize = vex_vector_size(o.elem, o.dim);
    self->row = o.elem == VEX_ELEM_BIT ? self->vsize : o.dim;
}

static int index_init(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {
        "dim",       "metric", "index", "M",       "ef_construction",
        "ef_search", "seed",   "quant", "threads", "capacity",
        "elem",      NULL};
    PyObject *dim = NULL, *metric = NULL, *index = NULL, *m = NULL, *efc = NULL,
             *efs = NULL, *seed = NULL, *quant = NULL, *threads = NULL,
             *cap = NULL, *elem = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO$OOOOOOOO", kwlist, &dim,
                                     &metric, &index, &m, &efc, &efs, &seed,
                                     &quant, &threads, &cap, &elem))
        return -1;
    if (self->ix) {
        raise_status(VEX_MISUSE, "Index.__init__ called twice");
        return -1;
    }
    vex_index_options o;
    vex_index_options_init(&o);
    o.kind = VEX_INDEX_HNSW;
    if (get_u32(dim, "dim", &o.dim) < 0 ||
        (metric && metric != Py_None && parse_metric(metric, &o.metric) < 0) ||
        (index && index != Py_None && parse_kind(index, &o.kind) < 0) ||
        get_u32(m, "M", &o.hnsw_m) < 0 ||
        get_u32(efc, "ef_construction", &o.hnsw_ef_construction) < 0 ||
        get_u32(efs, "ef_search", &o.hnsw_ef_search) < 0 ||
        get_u64(seed, "seed", &o.hnsw_seed) < 0 ||
        parse_quant(quant, &o.quant) < 0 ||
        get_u32(threads, "threads", &o.n_threads) < 0 ||
        get_u64(cap, "capacity", &o.capacity) < 0 ||
        parse_elem(elem, &o.elem) < 0)
        return -1;
    if (o.elem == VEX_ELEM_BIT && (!metric || metric == Py_None))
        o.metric = VEX_METRIC_HAMMING;
    vex_index *ix = NULL;
    int rc = vex_index_create(&o, &ix);
    if (rc != VEX_OK) {
        index_raise(ix, rc);
        vex_index_free(ix);
        return -1;
    }
    index_take(self, ix);
    return 0;
}

static PyObject *index_add(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ids", "vectors", NULL};
    PyObject *ids_o, *vec_o;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO", kwlist, &ids_o, &vec_o))
        return NULL;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    PyObject *result = NULL;
    npy_intp n, nv;
    int scalar, batch;
    PyArrayObject *ids = ids_from(ids_o, &n, &scalar);
    PyArrayObject *vecs =
        ids ? vectors_from(vec_o, self->elem, self->row, "vectors", &batch, &nv)
            : NULL;
    if (vecs && nv != n) {
        raise_invalid("%zd ids for %zd vectors", (Py_ssize_t)n, (Py_ssize_t)nv);
    } else if (vecs) {
        const uint64_t *pi = PyArray_DATA(ids);
        const void *pv = PyArray_DATA(vecs);
        char msg[MSG_MAX] = "";
        int rc = VEX_OK;
        PyThreadState *ts_ = PyEval_SaveThread();
        if (n > 0)
            rc = vex_index_add(ix, pi, pv, (size_t)n);
        if (rc != VEX_OK)
            vex_index_errmsg_copy(ix, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc != VEX_OK)
            raise_status(rc, msg);
        else {
            result = Py_None;
            Py_INCREF(result);
        }
    }
    Py_XDECREF(ids);
    Py_XDECREF(vecs);
    index_leave(self);
    return result;
}

static PyObject *index_search(IndexObject *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"query", "k", "ef", "threads"};
    PyObject *v[4] = {NULL, NULL, NULL, NULL};
    if (search_args(names, 4, args, nargs, kwnames, v) < 0)
        return NULL;
    size_t k = 10;
    vex_search_params sp;
    vex_search_params_init(&sp);
    if ((v[1] && get_k(v[1], &k) < 0) ||
        get_u32(v[2], "ef", &sp.ef_search) < 0 ||
        get_u32(v[3], "threads", &sp.n_threads) < 0)
        return NULL;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    PyObject *result = NULL;
    int batch;
    npy_intp nq;
    PyArrayObject *q =
        vectors_from(v[0], self->elem, self->row, "query", &batch, &nq);
    if (!q) {
        index_leave(self);
        return NULL;
    }
    const void *qp = PyArray_DATA(q);
    char msg[MSG_MAX] = "";
    int rc = VEX_OK;
    PyObject *ids = NULL, *dist = NULL;
    if (!batch) {
        vex_hit stack[STACK_HITS];
        vex_hit *hits = stack, *heap = NULL;
        if (k > STACK_HITS) {
            hits = heap = PyMem_Malloc(k * sizeof *hits);
            if (!heap) {
                PyErr_NoMemory();
                goto done;
            }
        }
        size_t n = 0;
        PyThreadState *ts_ = PyEval_SaveThread();
        rc = vex_index_search(ix, qp, k, &sp, hits, &n);
        if (rc != VEX_OK)
            vex_index_errmsg_copy(ix, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc == VEX_OK && hits_arrays_1(hits, n, &ids, &dist) == 0)
            result = PyTuple_Pack(2, ids, dist);
        PyMem_Free(heap);
    } else {
        vex_hit *hits = PyMem_Malloc(((size_t)nq * k + 1) * sizeof *hits);
        size_t *nh = PyMem_Malloc(((size_t)nq + 1) * sizeof *nh);
        if (!hits || !nh) {
            PyMem_Free(hits);
            PyMem_Free(nh);
            PyErr_NoMemory();
            goto done;
        }
        PyThreadState *ts_ = PyEval_SaveThread();
        if (nq > 0)
            rc = vex_index_search_batch(ix, qp, (size_t)nq, k, &sp, hits, nh);
        if (rc != VEX_OK)
            vex_index_errmsg_copy(ix, msg, sizeof msg);
        PyEval_RestoreThread(ts_);
        if (rc == VEX_OK &&
            hits_arrays_2(hits, nh, (size_t)nq, k, &ids, &dist, NULL) == 0)
            result = PyTuple_Pack(2, ids, dist);
        PyMem_Free(hits);
        PyMem_Free(nh);
    }
    if (rc != VEX_OK)
        raise_status(rc, msg);
done:
    Py_XDECREF(ids);
    Py_XDECREF(dist);
    Py_DECREF(q);
    index_leave(self);
    return result;
}

static PyObject *index_remove(IndexObject *self, PyObject *id_o)
{
    uint64_t id;
    if (get_u64(id_o, "id", &id) < 0)
        return NULL;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_index_remove(ix, id);
    if (rc != VEX_OK)
        vex_index_errmsg_copy(ix, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    index_leave(self);
    if (rc != VEX_OK)
        return raise_status(rc, msg);
    Py_RETURN_NONE;
}

static PyObject *index_get(IndexObject *self, PyObject *id_o)
{
    uint64_t id;
    if (get_u64(id_o, "id", &id) < 0)
        return NULL;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    npy_intp dims[1] = {(npy_intp)self->row};
    PyObject *vec = PyArray_SimpleNew(
        1, dims, self->elem == VEX_ELEM_BIT ? NPY_UINT8 : NPY_FLOAT32);
    if (vec) {
        int rc = vex_index_get(ix, id, PyArray_DATA((PyArrayObject *)vec));
        if (rc != VEX_OK) {
            Py_CLEAR(vec);
            index_raise(ix, rc);
        }
    }
    index_leave(self);
    return vec;
}

static PyObject *index_train(IndexObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"sample", NULL};
    PyObject *sample_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &sample_o))
        return NULL;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    PyArrayObject *s = NULL;
    npy_intp n = 0;
    int batch;
    if (sample_o && sample_o != Py_None) {
        if (self->elem != VEX_ELEM_F32) {
            index_leave(self);
            return raise_invalid("training needs float32 vectors");
        }
        s = vectors_from(sample_o, self->elem, self->row, "sample", &batch, &n);
        if (!s) {
            index_leave(self);
            return NULL;
        }
    }
    const float *sp = s ? PyArray_DATA(s) : NULL;
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    rc = vex_index_train(ix, sp, (size_t)n);
    if (rc != VEX_OK)
        vex_index_errmsg_copy(ix, msg, sizeof msg);
    PyEval_RestoreThread(ts_);
    Py_XDECREF(s);
    index_leave(self);
    if (rc != VEX_OK)
        return raise_status(rc, msg);
    Py_RETURN_NONE;
}

/* Write the serialised index to `path` (through path.tmp and a rename,
 * so a crash leaves the old file or the new one). */
static int write_file(const char *path, const void *buf, size_t size, char *msg,
                      size_t msg_size)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return VEX_NOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int rc = VEX_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(msg, msg_size, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return VEX_IOERR;
    }
    if (fwrite(buf, 1, size, f) != size || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        snprintf(msg, msg_size, "%s: %s", tmp, strerror(errno));
        rc = VEX_IOERR;
    }
    if (fclose(f) != 0 && rc == VEX_OK) {
        snprintf(msg, msg_size, "%s: %s", tmp, strerror(errno));
        rc = VEX_IOERR;
    }
    if (rc == VEX_OK && rename(tmp, path) != 0) {
        snprintf(msg, msg_size, "%s: %s", path, strerror(errno));
        rc = VEX_IOERR;
    }
    if (rc != VEX_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

static PyObject *index_save(IndexObject *self, PyObject *arg)
{
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    vex_index *ix = index_enter(self);
    if (!ix) {
        Py_DECREF(path);
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(path);
    char msg[MSG_MAX] = "";
    int rc;
    PyThreadState *ts_ = PyEval_SaveThread();
    uint64_t need = 0;
    void *buf = NULL;
    rc = vex_index_serialize(ix, NULL, 0, &need);
    /* VEX_FULL with the size, then again with room (an add in between
     * may grow it: retry until it fits). */
    while (rc == VEX_FULL) {
        free(buf);
        buf = malloc(need ? need : 1);
        if (!buf) {
            rc = VEX_NOMEM;
            break;
        }
        rc = vex_index_serialize(ix, buf, need, &need);
    }
    if (rc != VEX_OK && rc != VEX_NOMEM)
        vex_index_errmsg_copy(ix, msg, sizeof msg);
    if (rc == VEX_OK)
        rc = write_file(p, buf, (size_t)need, msg, sizeof msg);
    free(buf);
    PyEval_RestoreThread(ts_);
    index_leave(self);
    Py_DECREF(path);
    if (rc != VEX_OK)
        return raise_status(rc, msg);
    Py_RETURN_NONE;
}

static PyObject *index_load(PyObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "mmap", "threads", NULL};
    PyObject *path = NULL, *threads = NULL;
    int use_mmap = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$pO", kwlist,
                                     PyUnicode_FSConverter, &path, &use_mmap,
                                     &threads))
        return NULL;
    vex_open_options oo;
    vex_open_options_init(&oo);
    if (get_u32(threads, "threads", &oo.n_threads) < 0) {
        Py_DECREF(path);
        return NULL;
    }
    IndexObject *self =
        (IndexObject *)PyType_GenericNew((PyTypeObject *)cls, NULL, NULL);
    if (!self) {
        Py_DECREF(path);
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(path);
    char msg[MSG_MAX] = "";
    int rc = VEX_OK;
    vex_index *ix = NULL;
    void *map = NULL;
    size_t size = 0;
    PyThreadState *ts_ = PyEval_SaveThread();
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = errno == ENOENT ? VEX_NOTFOUND : VEX_IOERR;
        snprintf(msg, sizeof msg, "%s: %s", p, strerror(errno));
    } else if (st.st_size == 0) {
        rc = VEX_CORRUPT;
        snprintf(msg, sizeof msg, "%s: empty file, not an index", p);
    } else {
        size = (size_t)st.st_size;
        map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            rc = VEX_IOERR;
            snprintf(msg, sizeof msg, "%s: mmap: %s", p, strerror(errno));
        }
    }
    if (fd >= 0)
        close(fd);
    if (rc == VEX_OK) {
        /* mmap=False: the index copies the mapped bytes, which are
         * unmapped at once. */
        if (!use_mmap)
            oo.flags |= VEX_OPEN_COPY;
        rc = vex_index_open_buffer(map, size, &oo, &ix);
        if (rc != VEX_OK) {
            char inner[MSG_MAX] = "";
            if (ix)
                vex_index_errmsg_copy(ix, inner, sizeof inner);
            /* a long path or message is cut; using the return value
             * tells gcc the cut is meant (-Wformat-truncation) */
            if (snprintf(msg, sizeof msg, "%s: %s", p, inner) < 0)
                msg[0] = '\0';
            vex_index_free(ix);
            ix = NULL;
        }
        if (rc != VEX_OK || !use_mmap) {
            munmap(map, size);
            map = NULL;
        }
    }
    PyEval_RestoreThread(ts_);
    Py_DECREF(path);
    if (rc != VEX_OK) {
        Py_DECREF(self);
        return raise_status(rc, msg);
    }
    index_take(self, ix);
    self->map = map;
    self->map_size = size;
    return (PyObject *)self;
}

static Py_ssize_t index_len(IndexObject *self)
{
    vex_index *ix = index_enter(self);
    if (!ix)
        return -1;
    uint64_t n = vex_index_count(ix);
    index_leave(self);
    return (Py_ssize_t)n;
}

static PyObject *index_close(IndexObject *self, PyObject *unused)
{
    (void)unused;
    index_close_impl(self);
    Py_RETURN_NONE;
}

static PyObject *index_enter_cm(IndexObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->ix)
        return index_closed_error();
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *index_exit_cm(IndexObject *self, PyObject *args)
{
    (void)args;
    return index_close(self, NULL);
}

static PyObject *index_get_memory(IndexObject *self, void *unused)
{
    (void)unused;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    uint64_t m = vex_index_memory(ix);
    index_leave(self);
    return PyLong_FromUnsignedLongLong(m);
}

static PyObject *index_get_options(IndexObject *self, void *unused)
{
    (void)unused;
    vex_index *ix = index_enter(self);
    if (!ix)
        return NULL;
    vex_index_options o;
    vex_index_options_init(&o);
    vex_index_get_options(ix, &o);
    index_leave(self);
    PyObject *d = PyDict_New();
    if (!d || dict_set_u64(d, "dim", o.dim) < 0 ||
        dict_set_str(d, "elem", vex_elem_name(o.elem)) < 0 ||
        dict_set_str(d, "metric", vex_metric_name(o.metric)) < 0 ||
        dict_set_str(d, "index", kind_name(o.kind)) < 0 ||
        dict_set_u64(d, "M", o.hnsw_m) < 0 ||
        dict_set_u64(d, "ef_construction", o.hnsw_ef_construction) < 0 ||
        dict_set_u64(d, "ef_search", o.hnsw_ef_search) < 0 ||
        dict_set_u64(d, "seed", o.hnsw_seed) < 0 ||
        dict_set_str(d, "quant", quant_names[o.quant]) < 0 ||
        dict_set_u64(d, "threads", o.n_threads) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *index_get_closed(IndexObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->ix == NULL);
}

static PyObject *index_get_dim(IndexObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLong(self->dim);
}

static PyObject *index_get_metric(IndexObject *self, void *unused)
{
    (void)unused;
    return PyUnicode_FromString(vex_metric_name(self->metric));
}

static PyObject *index_get_mmapped(IndexObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->map != NULL);
}

static PyObject *index_repr(IndexObject *self)
{
    return PyUnicode_FromFormat("<vexdb.Index %s dim=%u metric=%s%s>",
                                kind_name(self->kind), (unsigned)self->dim,
                                vex_metric_name(self->metric),
                                self->ix ? "" : " (closed)");
}

static PyMethodDef index_methods[] = {
    {"add", (PyCFunction)(void (*)(void))index_add,
     METH_VARARGS | METH_KEYWORDS,
     "add(ids, vectors)\n\nAdd vectors with their ids, atomically "
     "(vexdb.Exists for an id present or repeated, vexdb.Invalid for a "
     "bad vector; nothing is added then). HNSW builds large adds in "
     "parallel. The GIL is released."},
    {"search", (PyCFunction)(void (*)(void))index_search,
     METH_FASTCALL | METH_KEYWORDS,
     "search(query, k=10, *, ef=0, threads=0) -> (ids, distances)\n\n"
     "k nearest neighbours: for a 1-D query two arrays of shape (n,), for "
     "a 2-D batch two of shape (nq, k) (missing hits: id 2**64-1, "
     "distance inf). ef: HNSW candidate list (0 = the index default). The "
     "GIL is released."},
    {"remove", (PyCFunction)index_remove, METH_O,
     "remove(id)\n\nRemove a vector (vexdb.NotFound if absent)."},
    {"get", (PyCFunction)index_get, METH_O,
     "get(id) -> numpy.ndarray\n\nA copy of the stored vector."},
    {"train", (PyCFunction)(void (*)(void))index_train,
     METH_VARARGS | METH_KEYWORDS,
     "train(sample=None)\n\nTrain the quantizer (quant=...) on a sample, or "
     "on the index's own vectors when None."},
    {"save", (PyCFunction)index_save, METH_O,
     "save(path)\n\nWrite the index to a file (docs/FORMAT.md blob), "
     "atomically through path.tmp."},
    {"load", (PyCFunction)(void (*)(void))index_load,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "Index.load(path, *, mmap=True, threads=0) -> Index\n\n"
     "Open a saved index. mmap=True maps the file and searches it in "
     "place (opens in about the time of one checksum pass, no graph "
     "rebuilt; the first add or remove copies it into memory); "
     "mmap=False reads it into memory. vexdb.Corrupt names what is wrong "
     "in a damaged file."},
    {"close", (PyCFunction)index_close, METH_NOARGS,
     "close()\n\nFree the index (and unmap its file). Waits for calls "
     "running in other threads. Idempotent."},
    {"__enter__", (PyCFunction)index_enter_cm, METH_NOARGS, "Return self."},
    {"__exit__", (PyCFunction)index_exit_cm, METH_VARARGS, "Close the index."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef index_getset[] = {
    {"closed", (getter)index_get_closed, NULL, "True once closed.", NULL},
    {"dim", (getter)index_get_dim, NULL, "Vector dimension.", NULL},
    {"metric", (getter)index_get_metric, NULL, "Distance metric name.", NULL},
    {"memory", (getter)index_get_memory, NULL,
     "Bytes of memory the index holds or its searches read.", NULL},
    {"options", (getter)index_get_options, NULL,
     "The options in effect (adaptive HNSW values resolved).", NULL},
    {"mmapped", (getter)index_get_mmapped, NULL,
     "True when the index reads a memory-mapped file in place.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods index_seq = {.sq_length = (lenfunc)index_len};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "vexdb.Index",
    .tp_basicsize = sizeof(IndexObject),
    .tp_dealloc = (destructor)index_dealloc,
    .tp_repr = (reprfunc)index_repr,
    .tp_as_sequence = &index_seq,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Index(dim, metric='l2', index='hnsw', *, M=0, "
              "ef_construction=0, ef_search=0, seed=0, quant=None, "
              "threads=0, capacity=0, elem='f32')\n\n"
              "An in-memory vector index without a database directory "
              "(like hnswlib): add(), search(), save(), Index.load(). "
              "index='flat' searches exactly. M, ef_construction, "
              "ef_search: 0 = chosen by the library. threads: worker "
              "threads for batch adds and searches (0 = all CPUs). Any "
              "number of threads may search and add at once.",
    .tp_methods = index_methods,
    .tp_getset = index_getset,
    .tp_init = (initproc)index_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------------
 * Module
 * ------------------------------------------------------------------- */

static PyObject *mod_simd(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyUnicode_FromString(vex_simd_name());
}

static PyMethodDef module_methods[] = {
    {"simd", (PyCFunction)mod_simd, METH_NOARGS,
     "simd() -> str\n\nThe distance kernel set in use (scalar, avx2, "
     "avx512, neon)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "vexdb._vexdb",
    "The C extension behind the vexdb package (import vexdb instead).",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

static int add_exceptions(PyObject *m)
{
    Error = PyErr_NewExceptionWithDoc(
        "vexdb.Error",
        "Base class of VexDB errors. .code is the status code, .status its "
        "name (e.g. 'VEX_INVALID'); str() is the library's message.",
        NULL, NULL);
    if (!Error || PyModule_AddObjectRef(m, "Error", Error) < 0)
        return -1;
    for (size_t i = 0; i < sizeof exc_table / sizeof exc_table[0]; i++) {
        char qual[64];
        snprintf(qual, sizeof qual, "vexdb.%s", exc_table[i].name);
        PyObject *bases;
        if (exc_table[i].code == VEX_INVALID)
            bases = PyTuple_Pack(2, Error, PyExc_ValueError);
        else if (exc_table[i].code == VEX_NOTFOUND)
            bases = PyTuple_Pack(2, Error, PyExc_KeyError);
        else if (exc_table[i].code == VEX_NOMEM)
            bases = PyTuple_Pack(2, Error, PyExc_MemoryError);
        else
            bases = PyTuple_Pack(1, Error);
        if (!bases)
            return -1;
        /* KeyError's str() quotes its argument; keep the message as it
         * is, as for every other vexdb.Error. */
        PyObject *dict = PyDict_New();
        PyObject *str = PyObject_GetAttrString(PyExc_Exception, "__str__");
        if (!dict || !str || PyDict_SetItemString(dict, "__str__", str) < 0) {
            Py_XDECREF(dict);
            Py_XDECREF(str);
            Py_DECREF(bases);
            return -1;
        }
        Py_DECREF(str);
        PyObject *e =
            PyErr_NewExceptionWithDoc(qual, exc_table[i].doc, bases, dict);
        Py_DECREF(bases);
        Py_DECREF(dict);
        if (!e || PyModule_AddObjectRef(m, exc_table[i].name, e) < 0)
            return -1;
        status_exc[exc_table[i].code] = e;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__vexdb(void);

PyMODINIT_FUNC PyInit__vexdb(void)
{
    import_array();
    PyTypeObject *types[] = {&DbType,    &CollType, &FilterType,
                             &IndexType, &HitsType, &RecordType};
    const char *names[] = {"Database", "Collection", "Filter",
                           "Index",    "Hits",       "Record"};
    for (size_t i = 0; i < 6; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    for (size_t i = 0; i < 6; i++) {
        if (PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0)
            goto fail;
    }
    if (add_exceptions(m) < 0 ||
        PyModule_AddStringConstant(m, "library_version", vex_version()) < 0 ||
        PyModule_AddIntConstant(m, "MAX_K", VEX_MAX_K) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DIM", VEX_MAX_DIM) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
