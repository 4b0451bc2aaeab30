#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make_readers_corpus.sh - writes the seed corpus of the readers fuzzer
# (fuzz/corpus/readers/): tiny valid and broken .fvecs/.bvecs/.ivecs/.npy
# files made with printf, so the seeds are reviewable and reproducible.
# Crashers found by fuzzing are added next to them under crash-* names.
set -eu
d=$(dirname "$0")/corpus/readers
mkdir -p "$d"
# npy helper: npy VERSION HEADER DATA-PRINTF
npy() {
    hl=$(printf '%s' "$2" | wc -c)
    if [ "$1" = 1 ]; then
        printf '\223NUMPY\001\000'
        printf "\\$(printf %03o $((hl % 256)))\\$(printf %03o $((hl / 256)))"
    else
        printf "\\223NUMPY\\$(printf %03o "$1")\\000"
        printf "\\$(printf %03o $((hl % 256)))\\$(printf %03o $((hl / 256)))\\000\\000"
    fi
    printf '%s' "$2"
    printf "$3"
}
f2='\000\000\200\077\000\000\000\100'   # float32 1.0, 2.0
printf "\\002\\000\\000\\000$f2\\002\\000\\000\\000$f2" > "$d/valid_2x2.fvecs"
printf '\003\000\000\000\001\002\003\003\000\000\000\004\005\006' > "$d/valid_2x3.bvecs"
printf '\002\000\000\000\001\000\000\000\002\000\000\000' > "$d/valid_1x2.ivecs"
printf "\\002\\000\\000\\000$f2\\002\\000\\000\\000\\000\\000" > "$d/trunc_record.fvecs"
printf '\002\000' > "$d/trunc_header.fvecs"
printf "\\002\\000\\000\\000$f2\\003\\000\\000\\000$f2\\000\\000\\000\\000" > "$d/dim_mismatch.fvecs"
printf '\373\377\377\377\000\000\000\000' > "$d/neg_dim.fvecs"
printf '\377\377\377\177\000\000\000\000' > "$d/huge_dim.fvecs"
: > "$d/empty"
npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }      
" "$f2" > "$d/valid_v1_f4.npy"
npy 2 "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }
" '\001\000\000\000\000\000\000\000' > "$d/valid_v2_i8_1d.npy"
npy 3 "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }
" '\000\000\000\000\000\000\360\077' > "$d/valid_v3_f8.npy"
npy 1 "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }
" '\001\002\003\004' > "$d/valid_u1.npy"
npy 1 "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }
" "$f2" > "$d/fortran.npy"
npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1), }
" "$f2" > "$d/shape_mismatch.npy"
npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }
" "$f2" > "$d/three_dims.npy"
npy 1 "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 1) }
" "$f2" > "$d/bad_dict.npy"
npy 1 "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 1), }
" "$f2" > "$d/big_endian.npy"
printf '\223NUMPY\001\000\377\177{' > "$d/bad_header_len.npy"
