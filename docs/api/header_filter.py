#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Doxygen INPUT_FILTER for include/vexdb.h: the header's comments as
Doxygen reads them, line for line.

    header_filter.py vexdb.h > what-doxygen-parses

include/vexdb.h is the manual and is written to be read as plain C: a
comment directly above a declaration documents it, a comment above a run
of declarations (no blank line between) documents all of them, and a
comment after a member or declaration on its line documents that. Doxygen
needs `/**`, `/**<` and member groups for the same meaning, so rather
than mark up the header this filter adds them on the fly (no line is
added or removed, so Doxygen's line numbers are the header's):

  - the header's first comment (after the SPDX line) becomes `/** @file`
    (without the "vexdb.h - " its first line starts with);
  - a comment (opening `/*` at the start of a line, not a `/* ----`
    section banner) followed directly by a declaration or #define opens
    with `/**`; when a run of two or more declarations follows it (up to
    a blank line or the next comment; no struct bodies), the run is a
    Doxygen member group (`/** @{ */` before the comment, `/** @} */`
    at the start of the line after the run) so with DISTRIBUTE_GROUP_DOC
    every declaration of it gets the comment;
  - `decl; /* text */` and `member; /* text */` become `/**< text */`;
  - `<word>` in comment text is escaped (`\\<op\\>`), since Doxygen would
    take it for an HTML tag.

Only the Python 3 standard library is used.
"""
import re
import sys

OPEN = re.compile(r"^(\s*)/\*(?![*@])(.*)$")
BANNER = re.compile(r"^\s*/\*\s*-{3,}")
TRAILING = re.compile(r"^(\s*[^\s/#*].*?[;,{(]\s*)/\*(?![*@<])(.*)$")


def is_decl_start(line):
    s = line.strip()
    return bool(s) and not s.startswith(("/*", "#if", "#endif", "#else",
                                         "#elif", "}", "*"))


def escape_tags(line):
    return re.sub(r"<([A-Za-z][^<>`]*)>", r"\\<\1\\>", line)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = list(lines)
    n = len(lines)
    pre = [[] for _ in lines]  # group markers to put before each line
    first_comment_done = False
    i = 0
    while i < n:
        ln = lines[i]
        m = OPEN.match(ln)
        if m and "SPDX-License-Identifier" not in ln:
            j = i
            while j < n and "*/" not in lines[j]:
                j += 1
            for k in range(i, min(j + 1, n)):
                out[k] = escape_tags(out[k])
            if not first_comment_done:
                first_comment_done = True
                out[i] = re.sub(r"/\*", "/** @file", out[i], count=1)
                # "vexdb.h - the whole public API": Doxygen names the file
                # itself, so the brief starts after the dash
                if i + 1 < n:
                    out[i + 1] = re.sub(r"^(\s*\*\s*)[\w.]+\.h - ", r"\1",
                                        out[i + 1])
                i = j + 1
                continue
            if BANNER.match(ln) or j + 1 >= n or \
                    not is_decl_start(lines[j + 1]):
                i = j + 1
                continue
            out[i] = re.sub(r"/\*", "/**", out[i], count=1)
            # the run of declarations the comment stands above
            k, last, n_decl, body = j + 1, j, 0, False
            while k < n and is_decl_start(lines[k]):
                s = lines[k].strip()
                if "{" in s and not s.startswith("#"):
                    body = True
                    break
                # one declaration: up to its ';' or the end of a #define
                if s.startswith("#"):
                    while lines[k].rstrip().endswith("\\") and k + 1 < n:
                        k += 1
                else:
                    while ";" not in re.sub(r"/\*.*", "", lines[k]) and \
                            k + 1 < n:
                        k += 1
                n_decl += 1
                last = k
                k += 1
            if n_decl >= 2 and not body:
                # both markers at the start of a line: a comment at the
                # end of a #define would be part of the macro
                pre[i].append("/** @{ */ ")
                pre[min(last + 1, n - 1)].append("/** @} */ ")
            i = j + 1
            continue
        t = TRAILING.match(ln)
        if t:
            out[i] = escape_tags(t.group(1) + "/**<" + t.group(2))
            j = i
            while "*/" not in lines[j] and j + 1 < n:
                j += 1
                out[j] = escape_tags(out[j])
            i = j + 1
            continue
        i += 1
    sys.stdout.write("\n".join("".join(p) + o for p, o in zip(pre, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
