#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Seed programs for fuzz_ops (see fuzz/fuzz_ops.c for the byte format):
one per collection kind, each exercising every operation. Usage:
python3 fuzz/make_ops_corpus.py fuzz/corpus/ops"""
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/ops"
os.makedirs(out, exist_ok=True)
for kind in range(16):
    rnd = random.Random(kind)
    prog = [kind]
    for step in range(120):
        op = rnd.choice([0, 1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 13, 13]
                        + ([10, 11, 12] if step % 20 == 19 else []))
        prog.append(op)
        prog.extend(rnd.randrange(256) for _ in range(9))
    with open(os.path.join(out, "kind%02d" % kind), "wb") as f:
        f.write(bytes(prog))
