#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ctest check_doc_snippets: the C examples in the docs compile, and the
filter examples parse, so they cannot rot.

    check_doc_snippets.py --root SRC --work DIR --cc CC
                          [--lib LIBVEXDB.a --libs "-lzstd -lpthread -lm"]
                          [FILE...]

FILEs (relative to SRC or absolute) default to README.md, docs/*.md and
include/vexdb.h. In Markdown,
fenced blocks are read; in vexdb.h, fenced blocks inside comments (the
leading " * " of each comment line is dropped). Blocks with other info
strings (sh, cmake, none) are not checked. The convention, by the fence's
info string (GitHub shows the first word, `c`, as the language):

  ```c                        a complete translation unit (includes,
                              functions, main): compiled as it is, and
                              linked with --lib when it defines main().
  ```c fragment               statements (and declarations) only: they
  ```c fragment PARAMS        become the body of
                                  int fragment(PARAMS) { ...; return 0; }
                              after <stdint.h>, <stdio.h>, <stdlib.h>,
                              <string.h> and "vexdb.h"; PARAMS is a C
                              parameter list (`vex_collection *c, const
                              float *query`) naming what the fragment
                              uses without making it, so a fragment may
                              `return 1;` on an error.
  ```filter                   filter-language examples, one per
                              non-empty line: each must parse
                              (vex_filter_parse on a collection without a
                              schema, in a program linked with --lib).

Compilation uses -std=c11 -Wall -Wextra -Werror and #line directives, so
an error names the document and its line. Every failing block is reported;
the exit status is 1 if any failed or if no C block was found at all.
Only the Python 3 standard library is used.
"""
import argparse
import glob
import os
import re
import shlex
import subprocess
import sys

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)\s*(.*?)\s*$")
WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wstrict-prototypes",
        "-Wmissing-prototypes"]


def blocks(path, rel):
    """(rel, first_line, info_word, info_rest, [lines]) for each fence."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_comment_doc = path.endswith(".h")
    out = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if in_comment_doc:
            m = re.match(r"^\s*\*( ?)(.*)$", ln)
            if not m:
                i += 1
                continue
            ln = m.group(2)
        m = FENCE.match(ln)
        if not m:
            i += 1
            continue
        marker, word, rest = m.group(2), m.group(3), m.group(4)
        body, j = [], i + 1
        while j < len(lines):
            b = lines[j]
            if in_comment_doc:
                cm = re.match(r"^\s*\*( ?)(.*)$", b)
                b = cm.group(2) if cm else b
            cm = FENCE.match(b)
            if cm and cm.group(2)[0] == marker[0] and \
                    len(cm.group(2)) >= len(marker) and not cm.group(3):
                break
            body.append(b)
            j += 1
        if j == len(lines):
            sys.exit("%s:%d: fence never closed" % (rel, i + 1))
        out.append((rel, i + 2, word, rest, body))
        i = j + 1
    return out


def param_names(params):
    names = []
    for p in params.split(","):
        p = p.strip()
        if not p or p == "void":
            continue
        m = re.search(r"([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$", p)
        if not m:
            sys.exit("bad fragment parameter: %r" % p)
        names.append(m.group(1))
    return names


def source_for(rel, line, rest, body):
    """The translation unit to compile, and whether it has a main()."""
    text = "\n".join(body) + "\n"
    if not rest:
        return '#line %d "%s"\n%s' % (line, rel, text), \
            re.search(r"\bint\s+main\s*\(", text) is not None
    m = re.match(r"fragment\b\s*(.*)$", rest)
    if not m:
        raise ValueError("unknown info string after c: %r (the convention "
                         "knows `c` and `c fragment [PARAMS]`)" % rest)
    params = m.group(1) or "void"
    voids = "".join("    (void)%s;\n" % n for n in param_names(params))
    return ("#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
            "#include <string.h>\n\n#include \"vexdb.h\"\n\n"
            "int fragment(%s);\nint fragment(%s)\n{\n%s"
            "#line %d \"%s\"\n%s#line 1 \"(fragment wrapper)\"\n"
            "return 0;\n}\n"
            % (params, params, voids, line, rel, text)), False


FILTER_PROGRAM = r"""
#include <stdio.h>
#include <string.h>

#include "vexdb.h"

static const char *const texts[] = {
%(texts)s
};
static const char *const where[] = {
%(where)s
};

int main(int argc, char **argv)
{
    vex_db_options o;
    vex_collection_config cfg;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    int failed = 0;
    if (argc != 2)
        return 2;
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    vex_collection_config_init(&cfg);
    cfg.dim = 2;
    if (vex_db_open(argv[1], &o, &db) != VEX_OK ||
        vex_collection_create(db, "docs", &cfg, &c) != VEX_OK) {
        fprintf(stderr, "setup: %%s\n", db ? vex_db_errmsg(db) : "no handle");
        vex_db_close(db);
        return 2;
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        vex_filter *f = NULL;
        if (vex_filter_parse(c, texts[i], &f) != VEX_OK) {
            printf("FAILED %%s: filter example does not parse: %%s\n",
                   where[i], vex_collection_errmsg(c));
            failed = 1;
        } else {
            printf("ok     %%s (filter)\n", where[i]);
        }
        vex_filter_free(f);
    }
    vex_db_close(db);
    return failed;
}
"""


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(cmd, log):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        log.append("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n" +
                   p.stdout)
    return p.returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--lib", help="static libvexdb to link programs with")
    ap.add_argument("--libs", default="-lpthread -lm",
                    help="libraries after --lib")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    files = a.files or (["README.md"] + sorted(
        os.path.relpath(p, root)
        for p in glob.glob(os.path.join(root, "docs", "*.md"))) +
        ["include/vexdb.h"])
    os.makedirs(a.work, exist_ok=True)
    inc = ["-I", os.path.join(root, "include")]
    libs = shlex.split(a.libs)

    found = []
    for rel in files:
        found += blocks(rel if os.path.isabs(rel) else
                        os.path.join(root, rel), rel)
    n_c = failed = 0
    filters = []
    for k, (rel, line, word, rest, body) in enumerate(found):
        if word == "filter":
            filters += [(t.strip(), "%s:%d" % (rel, line + i))
                        for i, t in enumerate(body) if t.strip()]
            continue
        if word != "c":
            continue
        n_c += 1
        where = "%s:%d" % (rel, line)
        log = []
        try:
            src, has_main = source_for(rel, line, rest, body)
        except ValueError as e:
            print("FAILED %s: %s" % (where, e))
            failed += 1
            continue
        base = os.path.join(a.work, "snippet%02d" % k)
        with open(base + ".c", "w", encoding="utf-8") as f:
            f.write(src)
        ok = run([a.cc] + WARN + inc + ["-c", base + ".c", "-o", base + ".o"],
                 log)
        if ok and has_main and a.lib:
            ok = run([a.cc, base + ".o", a.lib] + libs + ["-o", base], log)
        kind = "fragment" if rest else ("program" if has_main else "unit")
        if ok:
            print("ok     %s (%s)" % (where, kind))
        else:
            print("FAILED %s (%s):\n%s" % (where, kind, "".join(log)))
            failed += 1

    if filters:
        if not a.lib:
            print("FAILED: %d filter examples and no --lib to parse them"
                  % len(filters))
            failed += 1
        else:
            base = os.path.join(a.work, "filters")
            with open(base + ".c", "w", encoding="utf-8") as f:
                f.write(FILTER_PROGRAM % {
                    "texts": ",\n".join("    " + c_string(t)
                                        for t, _ in filters),
                    "where": ",\n".join("    " + c_string(w)
                                        for _, w in filters)})
            log = []
            db = os.path.join(a.work, "filterdb")
            subprocess.run(["rm", "-rf", db])
            if not (run([a.cc] + WARN + inc + [base + ".c", a.lib] + libs +
                        ["-o", base], log)):
                print("FAILED: the filter program:\n" + "".join(log))
                failed += 1
            else:
                p = subprocess.run([base, db], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT,
                                   universal_newlines=True)
                sys.stdout.write(p.stdout)
                if p.returncode != 0:
                    failed += 1
            subprocess.run(["rm", "-rf", db])

    if n_c == 0:
        print("FAILED: no ```c block found in %s" % ", ".join(files))
        return 1
    print("%d C blocks, %d filter examples, %d failed"
          % (n_c, len(filters), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
