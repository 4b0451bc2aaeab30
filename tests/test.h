/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test.h - the tiny test harness every test binary uses.
 *
 * A test binary lists its cases in main() with TEST_RUN(fn); each CHECK that
 * fails prints file:line and the expression, marks the case failed and
 * continues, so one run shows every failure. The binary exits non-zero if
 * any case failed, which is what ctest records. Seeds come from the
 * VEX_TEST_SEED environment variable when set, so failures reproduce.
 */
#ifndef VEX_TEST_H
#define VEX_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int test_failures_;
static int test_case_failed_;
static const char *test_case_name_;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, test_case_name_, #cond);                         \
            test_case_failed_ = 1;                                             \
        }                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s: ", __FILE__,         \
                    __LINE__, test_case_name_, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            test_case_failed_ = 1;                                             \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            fprintf(stderr,                                                    \
                    "%s:%d: %s: CHECK failed: %s == %s (%lld vs %lld)\n",      \
                    __FILE__, __LINE__, test_case_name_, #a, #b, a_, b_);      \
            test_case_failed_ = 1;                                             \
        }                                                                      \
    } while (0)

#define CHECK_RC(expr, want)                                                   \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != (want)) {                                                   \
            fprintf(stderr, "%s:%d: %s: %s returned %d (%s), wanted %s\n",     \
                    __FILE__, __LINE__, test_case_name_, #expr, rc_,           \
                    vex_status_name(rc_), #want);                              \
            test_case_failed_ = 1;                                             \
        }                                                                      \
    } while (0)

/* 1 when `name` contains one of the comma-separated parts of `list`. */
static inline int test_listed_(const char *name, const char *list)
{
    const char *p;
    char part[128];
    for (p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof part) {
            memcpy(part, p, n);
            part[n] = '\0';
            if (strstr(name, part))
                return 1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

/* VEX_TEST_ONLY=a,b runs only the cases whose names contain a or b (the
 * TSan job uses it to run the concurrent cases of slow binaries);
 * VEX_TEST_SKIP=a,b skips those cases (ctest splits a slow binary into
 * entries that run in parallel). */
static inline int test_selected_(const char *name)
{
    const char *only = getenv("VEX_TEST_ONLY"), *skip = getenv("VEX_TEST_SKIP");
    if (skip != NULL && *skip != '\0' && test_listed_(name, skip))
        return 0;
    return only == NULL || *only == '\0' || test_listed_(name, only);
}

/* Isolation (as libuv's test runner does): a suite that defines
 * TEST_ISOLATE before including test.h runs each case in a child process
 * of its own with a time limit, so a crash, an abort or a hang in one case
 * is reported as that case's failure and the later cases still run.
 * VEX_TEST_ISOLATE=1 isolates the cases of every suite, =0 none;
 * VEX_TEST_CASE_TIMEOUT is the limit in seconds (default 600, the ctest
 * limit of a whole suite, so sanitizer builds are not cut short). Cases of an
 * isolated suite must not depend on state an earlier case left in memory
 * (on disk is fine). */
#ifdef TEST_ISOLATE
#define TEST_ISOLATE_DEFAULT_ 1
#else
#define TEST_ISOLATE_DEFAULT_ 0
#endif

static inline int test_isolated_(void)
{
    const char *e = getenv("VEX_TEST_ISOLATE");
    if (e != NULL && *e != '\0')
        return strcmp(e, "0") != 0;
    return TEST_ISOLATE_DEFAULT_;
}

/* Run fn in a child; 1 when it failed (its checks, a signal, a timeout). */
static inline int test_run_isolated_(void (*fn)(void), const char *name)
{
    const char *t = getenv("VEX_TEST_CASE_TIMEOUT");
    unsigned limit = t ? (unsigned)strtoul(t, NULL, 10) : 600;
    int status = 0;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        alarm(limit ? limit : 600);
        fn();
        fflush(NULL);
        exit(test_case_failed_ ? 1 : 0); /* exit: leak checkers run */
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    if (WIFEXITED(status))
        return WEXITSTATUS(status) != 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: %s (signal %d)\n", name,
                WTERMSIG(status) == SIGALRM ? "timed out" : "crashed",
                WTERMSIG(status));
    return 1;
}

#define TEST_RUN(fn)                                                           \
    do {                                                                       \
        if (!test_selected_(#fn))                                              \
            break;                                                             \
        test_case_name_ = #fn;                                                 \
        test_case_failed_ = 0;                                                 \
        if (test_isolated_())                                                  \
            test_case_failed_ = test_run_isolated_(fn, #fn);                   \
        else                                                                   \
            fn();                                                              \
        fprintf(stderr, "%s %s\n", test_case_failed_ ? "FAIL" : "ok  ", #fn);  \
        test_failures_ += test_case_failed_;                                   \
    } while (0)

#define TEST_EXIT() (test_failures_ ? 1 : 0)

static inline uint64_t test_seed(uint64_t dflt)
{
    const char *s = getenv("VEX_TEST_SEED");
    return s ? strtoull(s, NULL, 0) : dflt;
}

/* Remove a test's directory tree (best effort: a failure is reported and
 * the test goes on). */
static inline void rm_rf(const char *p)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", p);
}

#endif
