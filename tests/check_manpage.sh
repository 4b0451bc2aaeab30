#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# check_manpage.sh VEX MANPAGE - the manual page of the vex tool names
# every command `vex --help` lists (a command added without its manual
# section fails here), and renders without warnings with groff, or with
# man -l when groff is missing (when neither is installed the rendering
# part is skipped and says so; the names are still checked in the source).
set -u
VEX=$1
PAGE=$2
cmds=$("$VEX" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p')
[ -n "$cmds" ] || { echo "no commands in vex --help"; exit 1; }
status=0
for c in $cmds; do
    if ! grep -q "^\.SS \"vex $c[ \"]" "$PAGE"; then
        echo "$PAGE: no section .SS \"vex $c ...\" for the command '$c'"
        status=1
    fi
done
text=""
if command -v groff > /dev/null 2>&1; then
    warn=$(groff -man -ww -z "$PAGE" 2>&1)
    if [ -n "$warn" ]; then
        echo "groff warnings:"
        echo "$warn"
        status=1
    fi
    text=$(groff -man -Tutf8 -P-cbou "$PAGE" 2>&1) || status=1
elif command -v man > /dev/null 2>&1; then
    text=$(MANWIDTH=80 man -l "$PAGE" 2>&1) || status=1
else
    echo "rendering skipped: neither groff nor man is installed"
fi
if [ -n "$text" ]; then
    for c in $cmds; do
        echo "$text" | grep -q "vex $c" || {
            echo "rendered page does not show 'vex $c'"
            status=1
        }
    done
fi
[ $status -eq 0 ] && echo "vex.1 names all $(echo $cmds | wc -w) commands"
exit $status
