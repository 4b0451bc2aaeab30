#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make_import_corpus.sh DIR - seeds for fuzz_import: CSV and JSON Lines
# files like those of tests/cli_db.sh, each after the byte fuzz_import.c
# reads first (bit 0 JSON Lines, bit 1 --upsert, bit 2 --skip-bad, bit 3
# --start-id, bits 4-5 the collection: 0 typed, 1 bits, 2 closed+text).
set -eu
d=${1:?usage: make_import_corpus.sh DIR}
mkdir -p "$d"
seed() { # NAME FLAGS-BYTE-OCTAL: the file from stdin
    { printf "\\$2"; cat; } > "$d/$1"
}
printf 'id,vector,year,lang,tags,score,draft,note,payload\r\n1,"0.1,0.2,0.3,0.4",2021,en,"news,sport",1.5,false,plain,"text one"\r\n2,"[1, 2, 3, 4]",2019,de,,2,true,"with ""quotes"", and commas",\r\n3,"4,3,2,1",,fr,"[""a,b"",""c""]",,,"two\nlines","multi\nline payload"\r\n' | seed csv_typed 000
printf 'id,vector,year\n20,"1,2,3,4",2000\n21,"1,2,3,4",two\n1,"1,1,1,1",3\n' | seed csv_bad_skip 004
printf 'vector,lang\n"1,0,0,0",pt\n"0,1,0,0",pt\n' | seed csv_start_id 010
printf '{"id": 10, "vector": [0, 0, 1, 0], "year": 2020, "lang": "en", "tags": ["x", "y"], "ratio": 0.5, "n": 3}\n\n{"id": "11", "vector": [0, 1, 0, 0], "meta": {"id": "inner", "vector": 1}, "payload_base64": "/wA="}\r\n' | seed jsonl_typed 001
printf '{"id":1,"vector":[5,5,5,5],"lang":"xx"}\n{"id":30,"vector":[1,1,1,1]}\n{"id":30,"vector":[2,2,2,2]}\n' | seed jsonl_upsert 003
printf '{"id":1,"vector":[1,0,0,0,0,0,0,0,1,1],"k":"a"}\n{"id":2,"vector":[0,0,0,0,0,0,0,0,2,0]}\n' | seed jsonl_bits 025
printf 'id,vector\n3,"0,1,1,1,1,1,1,1,1,0"\n' | seed csv_bits 020
printf '{"id":1,"vector":[1,0,0],"text":"The running foxes","k":"a","v":1}\n{"id":2,"vector":[0,0,0],"k":"b"}\n{"id":3,"vector":[0,1,0],"text":7,"v":2}\n' | seed jsonl_closed 045
printf 'id,vector,text,k,m\n4,"1,1,0",Crème brûlée,x,1\n' | seed csv_closed 044
