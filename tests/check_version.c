/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_version.c - one version number everywhere. include/vexdb.h is the
 * source (VEX_VERSION_MAJOR/MINOR/PATCH); CMakeLists.txt reads those three
 * numbers into project(VERSION), and this program, compiled with
 * VEX_CMAKE_VERSION="${PROJECT_VERSION}" and linked against the shared
 * library, checks that the header's string and number, the linked
 * library's vex_version()/vex_version_number(), CMake's project version and
 * the shared library's file name all say the same, and that the newest
 * release in CHANGELOG.md (its first "## [x.y.z]" heading, an
 * "## [Unreleased]" one skipped) is this version, and that every
 * "find_package(VexDB X.Y" and "find_package(VexDB X.Y)" the README shows
 * asks for this MAJOR.MINOR (the package accepts its own minor version
 * only, so a stale number there is a snippet that fails for every reader).
 *   check_version <shared library file name> <CHANGELOG.md> [README.md]
 */
#include "test.h"
#include "vexdb.h"

#ifndef VEX_CMAKE_VERSION
#error "compile with -DVEX_CMAKE_VERSION=\"<CMake PROJECT_VERSION>\""
#endif

static const char *lib_file_name_;
static const char *changelog_path_;
static const char *readme_path_;

static void test_header_agrees_with_itself(void)
{
    char s[64];
    /* the number encoding MAJOR*10000 + MINOR*100 + PATCH is exact only
     * while MINOR and PATCH stay below 100 */
    CHECK(VEX_VERSION_MINOR < 100);
    CHECK(VEX_VERSION_PATCH < 100);
    snprintf(s, sizeof s, "%d.%d.%d", VEX_VERSION_MAJOR, VEX_VERSION_MINOR,
             VEX_VERSION_PATCH);
    CHECK_MSG(strcmp(s, VEX_VERSION_STRING) == 0,
              "VEX_VERSION_STRING \"%s\" but MAJOR.MINOR.PATCH %s",
              VEX_VERSION_STRING, s);
    CHECK_EQ_INT(VEX_VERSION_NUMBER, VEX_VERSION_MAJOR * 10000 +
                                         VEX_VERSION_MINOR * 100 +
                                         VEX_VERSION_PATCH);
}

static void test_library_agrees_with_header(void)
{
    CHECK_MSG(strcmp(vex_version(), VEX_VERSION_STRING) == 0,
              "linked library is %s, header %s", vex_version(),
              VEX_VERSION_STRING);
    CHECK_EQ_INT(vex_version_number(), VEX_VERSION_NUMBER);
}

static void test_cmake_agrees_with_header(void)
{
    CHECK_MSG(strcmp(VEX_CMAKE_VERSION, VEX_VERSION_STRING) == 0,
              "CMake project version %s, vexdb.h %s", VEX_CMAKE_VERSION,
              VEX_VERSION_STRING);
}

/* The shared library is named for the version (libvexdb.so.MAJOR.MINOR.PATCH
 * on ELF, libvexdb.MAJOR.MINOR.PATCH.dylib on macOS). */
static void test_library_file_name(void)
{
    CHECK_MSG(lib_file_name_ != NULL, "usage: check_version <library file>");
    if (lib_file_name_ == NULL)
        return;
    CHECK_MSG(strstr(lib_file_name_, VEX_VERSION_STRING) != NULL,
              "shared library file %s does not carry version %s",
              lib_file_name_, VEX_VERSION_STRING);
}

/* A release is written down when it is made: the first release heading of
 * the changelog names the header's version. */
static void test_changelog_names_version(void)
{
    char line[256], want[64];
    FILE *f;
    int found = 0;
    CHECK_MSG(changelog_path_ != NULL,
              "usage: check_version <library file> <CHANGELOG.md>");
    if (changelog_path_ == NULL)
        return;
    f = fopen(changelog_path_, "r");
    CHECK_MSG(f != NULL, "cannot open %s", changelog_path_);
    if (f == NULL)
        return;
    snprintf(want, sizeof want, "## [%s]", VEX_VERSION_STRING);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "## [", 4) != 0 ||
            strncmp(line, "## [Unreleased]", 15) == 0)
            continue;
        found = 1;
        line[strcspn(line, "\r\n")] = '\0';
        CHECK_MSG(strncmp(line, want, strlen(want)) == 0,
                  "%s: newest release is \"%s\", vexdb.h says %s",
                  changelog_path_, line, VEX_VERSION_STRING);
        break;
    }
    fclose(f);
    CHECK_MSG(found, "%s: no release heading \"## [x.y.z]\"", changelog_path_);
}

/* Every version the README passes to find_package(VexDB ...) or names as
 * what find_package(VexDB X.Y) accepts is MAJOR.MINOR of this release. */
static void test_readme_find_package(void)
{
    static const char key[] = "find_package(VexDB ";
    char line[512], want[32];
    FILE *f;
    int n = 0, lineno = 0;
    if (readme_path_ == NULL)
        return; /* not asked to check one */
    f = fopen(readme_path_, "r");
    CHECK_MSG(f != NULL, "cannot open %s", readme_path_);
    if (f == NULL)
        return;
    snprintf(want, sizeof want, "%d.%d", VEX_VERSION_MAJOR, VEX_VERSION_MINOR);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = line;
        lineno++;
        while ((p = strstr(p, key)) != NULL) {
            const char *v = p + sizeof key - 1;
            size_t len = strspn(v, "0123456789.");
            p = v;
            if (len == 0)
                continue; /* find_package(VexDB REQUIRED): no version */
            n++;
            CHECK_MSG(len == strlen(want) && strncmp(v, want, len) == 0,
                      "%s:%d: find_package(VexDB %.*s ...), but this is %s "
                      "(the package accepts %s.x only)",
                      readme_path_, lineno, (int)len, v, VEX_VERSION_STRING,
                      want);
        }
    }
    fclose(f);
    CHECK_MSG(n > 0, "%s: no find_package(VexDB X.Y) to check", readme_path_);
}

int main(int argc, char **argv)
{
    lib_file_name_ = argc > 1 ? argv[1] : NULL;
    changelog_path_ = argc > 2 ? argv[2] : NULL;
    readme_path_ = argc > 3 ? argv[3] : NULL;
    TEST_RUN(test_header_agrees_with_itself);
    TEST_RUN(test_library_agrees_with_header);
    TEST_RUN(test_cmake_agrees_with_header);
    TEST_RUN(test_library_file_name);
    TEST_RUN(test_changelog_names_version);
    TEST_RUN(test_readme_find_package);
    return TEST_EXIT();
}
