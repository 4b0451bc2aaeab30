#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ctest cli_session: the worked session of docs/cli.md runs as written.

    cli_session.py VEX DOC WORKDIR

The section "## A worked session" of DOC is read block by block (fenced
with ```): the first block without a "$ " line is the CSV file the
session imports (written as books.csv); in every other block, a line
starting with "$ " is a command (continued on the next line after a
trailing backslash) and the lines up to the next command are what it
prints, standard output then standard error. Each command runs in
WORKDIR through sh, with `vex` meaning the binary under test, and its
output must equal the document's, except that an expected last line of
"  ..." accepts any further lines. So the transcript in the manual cannot
drift from what the tool does. Only the Python 3 standard library is used.
"""
import os
import shutil
import subprocess
import sys


def session_blocks(doc):
    with open(doc, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        start = lines.index("## A worked session")
    except ValueError:
        sys.exit(f"cli_session: {doc} has no '## A worked session'")
    blocks, cur = [], None
    for no, line in enumerate(lines[start + 1:], start + 2):
        if line.startswith("## "):
            break
        if line.startswith("```"):
            if cur is None:
                cur = (no, [])
            else:
                blocks.append(cur)
                cur = None
        elif cur is not None:
            cur[1].append(line)
    return blocks


def commands(block):
    """(line number, command, expected output lines) of a block."""
    no, lines = block
    out, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            sys.exit(f"cli_session: line {no + 1 + i}: output before a command")
        at = no + 1 + i
        cmd = lines[i][2:]
        while cmd.endswith("\\"):
            i += 1
            cmd = cmd[:-1] + " " + lines[i].strip()
        i += 1
        want = []
        while i < len(lines) and not lines[i].startswith("$ "):
            want.append(lines[i])
            i += 1
        out.append((at, cmd, want))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    vex, doc, work = (os.path.abspath(a) for a in sys.argv[1:4])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    blocks = session_blocks(doc)
    fails = n = 0
    wrote_csv = False
    for block in blocks:
        if not any(line.startswith("$ ") for line in block[1]):
            if wrote_csv:
                sys.exit(f"cli_session: {doc}:{block[0]}: a second data block")
            with open(os.path.join(work, "books.csv"), "w", encoding="utf-8") as f:
                f.write("\n".join(block[1]) + "\n")
            wrote_csv = True
            continue
        for at, cmd, want in commands(block):
            n += 1
            p = subprocess.run(["sh", "-c", 'vex() { "$VEX" "$@"; }\n' + cmd],
                               cwd=work, env=dict(os.environ, VEX=vex),
                               capture_output=True, text=True)
            got = (p.stdout + p.stderr).split("\n")
            if got and got[-1] == "":
                got.pop()
            ok = got == want
            if want and want[-1] == "  ...":
                ok = got[:len(want) - 1] == want[:-1]
            if not ok:
                fails += 1
                print(f"FAIL {doc}:{at}: $ {cmd}\n  exit {p.returncode}\n"
                      "  the document says:\n    " + "\n    ".join(want) +
                      "\n  the tool printed:\n    " + "\n    ".join(got))
    if not wrote_csv or n == 0:
        sys.exit(f"cli_session: no data block or no command in {doc}")
    if fails:
        sys.exit(f"cli_session: {fails} of {n} commands differ from {doc}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"cli_session: {n} commands of {doc} print what it says")


main()
