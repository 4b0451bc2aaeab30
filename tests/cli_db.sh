#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cli_db.sh - the vex tool's database commands end to end, run by ctest
# one part at a time:
#   sh cli_db.sh VEX WORKDIR PART
# PART is catalog, import, roundtrip, records, errors, concurrent, text,
# terminal (progress on a terminal, none elsewhere) or backup (backups
# while a writer writes). Every
# run checks the exit status; every failing run must also print a message
# on stderr (errors are never silent) and, for usage errors, nothing on
# stdout. Data is made here (printf, vex gen with fixed seeds).
set -u
VEX=$1
WORK=$2
PART=$3
rm -rf "$WORK"
mkdir -p "$WORK" || exit 1
cd "$WORK" || exit 1
DB=$WORK/db

writer=""
fail() {
    echo "FAIL [$PART]: $*" >&2
    # a writer blocked on its FIFO would otherwise wait forever
    if [ -n "$writer" ]; then kill "$writer" 2> /dev/null; fi
    exit 1
}

# run RC ARGS...: run vex, check its exit status; stdout in out, stderr in err
run() {
    want=$1
    shift
    "$VEX" "$@" >out 2>err
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "vex $*: exit $rc, wanted $want
stdout: $(cat out)
stderr: $(cat err)"
    fi
    if [ "$want" -ne 0 ] && [ ! -s err ]; then
        fail "vex $*: exit $rc without a message on stderr"
    fi
    if [ "$want" -eq 2 ] && [ -s out ]; then
        fail "vex $*: usage error printed to stdout: $(cat out)"
    fi
}

has() { # has FILE TEXT: fixed-string match
    grep -qF -- "$2" "$1" || fail "expected '$2' in $1:
$(cat "$1")"
}

hasnt() {
    if grep -qF -- "$2" "$1"; then
        fail "did not expect '$2' in $1:
$(cat "$1")"
    fi
}

count_is() { # count_is COLLECTION N [WHERE]
    if [ $# -ge 3 ]; then
        run 0 count "$DB" "$1" --where "$3"
    else
        run 0 count "$DB" "$1"
    fi
    [ "$(cat out)" = "$2" ] || fail "count of $1 ${3:-}: $(cat out), wanted $2"
}

SCHEMA='year:int,lang:string,tags:tags,score:double,draft:bool'

# a CSV with everything RFC 4180 allows: quoted commas, "" quotes, a line
# break inside a field, CRLF, empty fields (null)
make_csv() {
    printf 'id,vector,year,lang,tags,score,draft,note,payload\r\n' > docs.csv
    printf '1,"0.1,0.2,0.3,0.4",2021,en,"news,sport",1.5,false,plain,"text one"\r\n' >> docs.csv
    printf '2,"[1, 2, 3, 4]",2019,de,,2,true,"with ""quotes"", and commas",\r\n' >> docs.csv
    printf '3,"4,3,2,1",,fr,"[""a,b"",""c""]",,,"two\nlines","multi\nline payload"\r\n' >> docs.csv
    printf '4,"1,1,1,1",2024,en,draft,0.25,true,12,\r\n' >> docs.csv
    printf '5,"2,2,2,2",2023,ja,news,3e2,false,abc,\r\n' >> docs.csv
}

part_catalog() {
    run 0 create "$DB" docs --dim 4 --metric l2 --index flat --schema "$SCHEMA"
    [ -d "$DB" ] || fail "create made no database"
    run 0 create "$DB" vecs --dim 8 --metric cosine --index hnsw --M 8 --ef-search 32
    run 0 create "$DB" bits --dim 64 --metric hamming
    run 0 create "$DB" strict --dim 2 --metric ip --schema 'n:int!' --closed
    run 0 collections "$DB"
    has out "docs"
    has out "draft:bool,lang:string,score:double,tags:tags,year:int"
    has out "vecs"
    has out "hamming"
    has out "n:int! (closed)"
    run 0 collections --json "$DB"
    has out '{"collection":"docs","dim":4,"elem":"f32","metric":"l2","index":"flat","quant":"none","compression":"none","rows":0,"schema":['
    has out '"collection":"bits","dim":64,"elem":"bit","metric":"hamming"'
    has out '{"name":"n","type":"int64","nullable":false}],"schema_closed":true,"diskann_min_rows":0}'
    run 1 create "$DB" docs --dim 4 --metric l2
    has err "exists"
    run 2 create "$DB" x --dim 4 --metric manhattan
    has err 'unknown --metric "manhattan"'
    run 2 create "$DB" x --dim 4 --metric l2 --schema 'year:integer'
    has err 'unknown type "integer"'
    run 2 create "$DB" x --dim 4 --metric l2 --schema 'year'
    has err 'is not NAME:TYPE'
    run 2 create "$DB" x --dim 4 --metric l2 --index flat --M 8
    has err "apply to --index hnsw only"
    run 2 create "$DB" x --dim 4 --metric l2 --closed
    has err "--closed needs --schema"
    run 2 create "$DB" x --dim 0 --metric l2
    has err "--dim"
    run 2 create "$DB" x --dim 4 --metric l2 --quant zip
    has err 'unknown --quant "zip"'
    run 2 create "$DB" x --dim 4 --metric l2 --compression lz4
    has err 'unknown --compression "lz4" (none, zstd)'
    # zstd: created by a build with it, refused by name without it
    if "$VEX" --version | grep -q '^features:.*zstd'; then
        run 0 create "$DB" z --dim 4 --metric l2 --compression zstd
        run 0 collections --json "$DB"
        has out '"collection":"z","dim":4,"elem":"f32","metric":"l2","index":"hnsw","quant":"none","compression":"zstd"'
        run 0 drop "$DB" z
    else
        run 1 create "$DB" z --dim 4 --metric l2 --compression zstd
        has err "built without zstd"
    fi
    # DiskANN segments: stored, shown, and refused where they cannot apply
    run 0 create "$DB" big --dim 4 --metric l2 --diskann-min-rows 1000 --diskann-r 16
    run 0 collections --json "$DB"
    has out '"schema_closed":false,"diskann_min_rows":1000}'
    run 0 stats "$DB" big
    has out "diskann          segments of 1000+ rows (R 16, L 100, alpha 1.2"
    run 0 drop "$DB" big
    run 2 create "$DB" x --dim 4 --metric l2 --diskann-r 16
    has err "need --diskann-min-rows"
    run 2 create "$DB" x --dim 4 --metric ip --diskann-min-rows 10
    has err "DiskANN segments hold float32 vectors under l2 or cosine"
    run 2 create "$DB" x --dim 4 --metric l2 --diskann-min-rows 10 --diskann-alpha 3
    has err '--diskann-alpha "3" is not a number in 1..2'
    run 2 create "$DB" "bad/name" --dim 4 --metric l2
    has err 'collection name "bad/name"'
    # a create the library refuses makes no database: a new one is built
    # under a temporary name and renamed when its collection exists
    run 2 create "$WORK/new.db" x --dim 4 --metric ip --diskann-min-rows 10
    has err "DiskANN segments hold float32 vectors"
    run 2 create "$WORK/new.db" "bad/name" --dim 4 --metric l2
    has err 'collection name "bad/name"'
    left=$(ls -d "$WORK"/new.db* 2> /dev/null)
    [ -z "$left" ] || fail "a refused create left $left behind"
    run 1 create "$WORK/no/such/dir/db" x --dim 4 --metric l2
    has err "cannot create $WORK/no/such/dir/db"
    run 0 create "$WORK/new.db" x --dim 4 --metric l2
    left=$(ls -d "$WORK"/new.db* 2> /dev/null)
    [ "$left" = "$WORK/new.db" ] || fail "create left $left"
    run 0 collections "$WORK/new.db"
    has out "x                         4 f32  l2"
    # an empty directory is a new database too: left empty on failure
    mkdir "$WORK/empty.db"
    run 2 create "$WORK/empty.db" x --dim 4 --metric ip --diskann-min-rows 10
    [ -z "$(ls -A "$WORK/empty.db")" ] || fail "a refused create wrote into an empty directory"
    run 0 create "$WORK/empty.db" x --dim 4 --metric l2
    run 0 collections "$WORK/empty.db"
    has out "x                         4 f32  l2"
    run 0 create "$WORK/slash.db/" x --dim 4 --metric l2
    run 0 collections "$WORK/slash.db"
    has out "x                         4 f32  l2"
    run 0 stats "$DB" docs
    has out "vectors          4 x f32, metric l2"
    has out "index            flat, quantizer none"
    has out "schema           draft:bool,lang:string,score:double,tags:tags,year:int"
    has out "on disk          "
    run 0 stats --json "$DB" vecs
    has out '"dim":8,"elem":"f32","metric":"cosine","index":"hnsw"'
    run 0 drop "$DB" strict
    run 0 collections "$DB"
    hasnt out "strict"
    run 1 drop "$DB" strict
    has err 'has no collection "strict"'
    run 2 drop "$DB"
    has err "missing argument"
}

part_import() {
    run 0 create "$DB" docs --dim 4 --metric l2 --index flat --schema "$SCHEMA"
    make_csv
    run 0 import "$DB" docs docs.csv
    has out "docs.csv: 5 records inserted"
    count_is docs 5
    run 0 get --json "$DB" docs 1 2 3
    has out '{"id":1,"vector":[0.100000001,0.200000003,0.300000012,0.400000006],"draft":false,"lang":"en","note":"plain","score":1.5,"tags":["news","sport"],"year":2021,"payload":"text one"}'
    has out '{"id":2,"vector":[1,2,3,4],"draft":true,"lang":"de","note":"with \"quotes\", and commas","score":2.0,"tags":null,"year":2019}'
    has out '{"id":3,"vector":[4,3,2,1],"draft":null,"lang":"fr","note":"two\nlines","score":null,"tags":["a,b","c"],"year":null,"payload":"multi\nline payload"}'
    # undeclared "note": typed per value (12 an int, abc a string), never
    # by flipping the column
    count_is docs 1 "note = 12"
    count_is docs 1 "note = 'abc'"
    count_is docs 2 "tags CONTAINS 'news'"
    count_is docs 2 "draft = TRUE"
    count_is docs 1 "year IS NULL OR score IS NULL"
    count_is docs 4 "year IS NOT NULL AND score IS NOT NULL AND draft IS NOT NULL"

    # JSON Lines: native types, tags, a nested meta object for reserved
    # names, a payload that is not UTF-8 (base64), ids as strings
    printf '{"id": 10, "vector": [0, 0, 1, 0], "year": 2020, "lang": "en", "tags": ["x", "y"], "extra": {"no": 1}}\n' > bad_obj.jsonl
    run 1 import "$DB" docs bad_obj.jsonl
    has err 'bad_obj.jsonl:1: field "extra": an object is not a metadata value'
    printf '{"id": 10, "vector": [0, 0, 1, 0], "year": 2020, "lang": "en", "tags": ["x", "y"], "ratio": 0.5, "n": 3}\n' > more.jsonl
    printf '\n{"id": "11", "vector": [0, 1, 0, 0], "meta": {"id": "inner", "vector": 1}, "payload_base64": "/wA="}\r\n' >> more.jsonl
    run 0 import "$DB" docs more.jsonl
    has out "more.jsonl: 2 records inserted"
    run 0 get --json "$DB" docs 10 11
    has out '{"id":10,"vector":[0,0,1,0],"lang":"en","n":3,"ratio":0.5,"tags":["x","y"],"year":2020}'
    has out '{"id":11,"vector":[0,1,0,0],"meta":{"id":"inner","vector":1},"payload_base64":"/wA="}'

    # --upsert replaces; a plain insert of an existing id is a bad record
    printf '{"id": 10, "vector": [5, 5, 5, 5], "lang": "xx"}\n' > up.jsonl
    run 1 import "$DB" docs up.jsonl
    has err 'up.jsonl:1: field "id": id 10 is already in the collection'
    count_is docs 1 "lang = 'en' AND year = 2020"
    run 0 import --upsert "$DB" docs up.jsonl
    has out "1 records upserted"
    count_is docs 1 "lang = 'xx'"
    count_is docs 7

    # a bad record stops the import and NOTHING of its file is written,
    # even the good records before it
    printf 'id,vector,year\n20,"1,2,3,4",2000\n21,"1,2,3,4",2001\n22,"1,2,3,4",two\n' > bad.csv
    run 1 import "$DB" docs bad.csv
    has err 'bad.csv:4: field "year": expected int, got "two"'
    has err "nothing of bad.csv was imported"
    count_is docs 7
    # ... or with --skip-bad, is reported, counted and skipped
    run 0 import --skip-bad "$DB" docs bad.csv
    has out "bad.csv: 2 records inserted, 1 bad records skipped"
    has err "skipped bad.csv:4"
    count_is docs 9
    # repeated ids within a file
    printf '{"id":30,"vector":[1,1,1,1]}\n{"id":30,"vector":[2,2,2,2]}\n' > dup.jsonl
    run 1 import "$DB" docs dup.jsonl
    has err 'dup.jsonl:2: field "id": id 30 repeats the record of line 1'
    count_is docs 9
    run 0 import --upsert "$DB" docs dup.jsonl
    run 0 get --json "$DB" docs 30
    has out '"vector":[2,2,2,2]'
    # several files: the first stays imported when the second fails
    printf '{"id":40,"vector":[1,1,1,1]}\n' > ok1.jsonl
    printf '{"id":41,"vector":[1,1,1]}\n' > short.jsonl
    run 1 import "$DB" docs ok1.jsonl short.jsonl
    has out "ok1.jsonl: 1 records inserted"
    has err 'short.jsonl:1: field "vector": 3 numbers, the collection'"'"'s dimension is 4'
    has err "the files before short.jsonl were imported"
    count_is docs 11
    # a UTF-8 byte order mark before the first line is skipped (CSV too)
    printf '\357\273\277{"id":60,"vector":[6,6,6,6],"lang":"bom"}\n' > bom.jsonl
    printf '\357\273\277id,vector,lang\n61,"6,6,6,6",bom\n' > bom.csv
    run 0 import "$DB" docs bom.jsonl bom.csv
    count_is docs 2 "lang = 'bom'"
    # stdin
    printf '{"id":50,"vector":[3,3,3,3],"lang":"it"}\n' | "$VEX" import --format jsonl "$DB" docs - > out 2> err || fail "import from stdin: $(cat err)"
    count_is docs 1 "lang = 'it'"
    # without ids: --start-id numbers the records, across files
    printf 'vector,lang\n"1,0,0,0",pt\n"0,1,0,0",pt\n' > noid.csv
    run 1 import "$DB" docs noid.csv
    has err "noid.csv:2: no id"
    run 0 import --start-id 1000 "$DB" docs noid.csv noid.csv
    count_is docs 4 "lang = 'pt'"
    run 0 get "$DB" docs 1003
    has out "id 1003"
    # schema: required and closed
    run 0 create "$DB" strict --dim 2 --metric l2 --schema 'n:int!' --closed
    printf 'id,vector,n\n1,"1,2",\n' > req.csv
    run 1 import "$DB" strict req.csv
    has err 'req.csv:2: field "n": required by the schema but null'
    printf 'id,vector,n,m\n1,"1,2",1,2\n' > closed.csv
    run 1 import "$DB" strict closed.csv
    has err "column \"m\" is not in the collection's closed schema"
    printf '{"id":1,"vector":[1,2],"n":1.5}\n' > notint.jsonl
    run 1 import "$DB" strict notint.jsonl
    has err 'field "n": expected int, got a number that is not an int64 integer'
    count_is strict 0

    # vector files: fvecs with --start-id, npy with an id file
    run 0 create "$DB" vecs --dim 8 --metric l2
    run 0 gen --n 500 --dim 8 --queries 5 --seed 3 --out g
    run 2 import "$DB" vecs g_base.fvecs
    has err "give --start-id N or --ids FILE"
    run 0 import --start-id 100000 "$DB" vecs g_base.fvecs
    has out "g_base.fvecs: 500 records inserted"
    count_is vecs 500
    run 0 get "$DB" vecs 100499
    i=0
    : > ids.txt
    while [ $i -lt 5 ]; do echo $((7000 + i * 3)) >> ids.txt; i=$((i + 1)); done
    run 2 import --ids ids.txt "$DB" vecs g_query.fvecs g_query.fvecs
    has err "--ids goes with one vector file"
    run 0 import --ids ids.txt "$DB" vecs g_query.fvecs
    run 0 get "$DB" vecs 7012
    count_is vecs 505
    run 2 import "$DB" vecs data.parquet
    has err "unknown file type"
    # .bvecs: each byte a component; --json summaries; with stderr not a
    # terminal, a successful import prints nothing there (no progress)
    printf '\004\000\000\000\000\001\002\377\004\000\000\000\003\004\005\006' > b.bvecs
    run 0 create "$DB" bytes --dim 4 --metric l2
    run 0 import --start-id 7 --json "$DB" bytes b.bvecs
    has out '{"file":"b.bvecs","imported":2,"skipped":0}'
    [ ! -s err ] || fail "import wrote to stderr, which is not a terminal: $(cat err)"
    run 0 get --json "$DB" bytes 7 8
    has out '{"id":7,"vector":[0,1,2,255]}'
    has out '{"id":8,"vector":[3,4,5,6]}'
    printf '\004\000\000\000\001\002' > cut.bvecs
    run 1 import --start-id 9 "$DB" bytes cut.bvecs
    has err "cut.bvecs: truncated"
    count_is bytes 2
    # (20 and 21 are in the collection by now: bad records too)
    run 0 import --skip-bad --json "$DB" docs bad.csv
    has out '{"file":"bad.csv","imported":0,"skipped":3}'
}

part_roundtrip() {
    run 0 create "$DB" docs --dim 4 --metric l2 --index flat --schema "$SCHEMA"
    make_csv
    run 0 import "$DB" docs docs.csv
    printf '{"id":11,"vector":[0,1,0,0],"meta":{"id":"inner"},"payload_base64":"/wA=","n":-3,"big":1e300,"t":[]}\n' > extra.jsonl
    run 0 import "$DB" docs extra.jsonl
    run 0 export "$DB" docs --out e1.jsonl
    [ -f e1.jsonl ] || fail "export wrote no file"
    has e1.jsonl '"t":[]'
    # the same schema, and no schema at all (per-value inference must
    # give the same types back: 2.0 stays a double)
    run 0 create "$DB" copy --dim 4 --metric l2 --schema "$SCHEMA"
    run 0 create "$DB" loose --dim 4 --metric l2
    run 0 import "$DB" copy e1.jsonl
    run 0 import "$DB" loose e1.jsonl
    "$VEX" export "$DB" copy > e2.jsonl || fail "export copy"
    "$VEX" export "$DB" loose > e3.jsonl || fail "export loose"
    cmp e1.jsonl e2.jsonl || fail "export, import, export differs (schema)"
    cmp e1.jsonl e3.jsonl || fail "export, import, export differs (no schema)"
    # after a flush the records come from a segment: still the same
    run 0 flush "$DB" copy
    "$VEX" export "$DB" copy > e4.jsonl || fail "export after flush"
    cmp e1.jsonl e4.jsonl || fail "export after flush differs"
    # --where and --no-vector
    run 0 export "$DB" docs --where "lang = 'en'" --no-vector
    has out '{"id":1,"draft":false'
    hasnt out '"vector"'
    hasnt out '"id":2,'
    # bit vectors: arrays of 0 and 1, packed by import, unpacked by export
    run 0 create "$DB" bits --dim 10 --metric hamming
    printf '{"id":1,"vector":[1,0,0,0,0,0,0,0,1,1],"k":"a"}\n{"id":2,"vector":[0,0,0,0,0,0,0,0,0,0]}\n' > bits.jsonl
    printf 'id,vector\n3,"0,1,1,1,1,1,1,1,1,0"\n' > bits.csv
    run 0 import "$DB" bits bits.jsonl bits.csv
    run 0 export "$DB" bits --out b1.jsonl
    has b1.jsonl '{"id":1,"vector":[1,0,0,0,0,0,0,0,1,1],"k":"a"}'
    has b1.jsonl '{"id":3,"vector":[0,1,1,1,1,1,1,1,1,0]}'
    run 0 create "$DB" bits2 --dim 10 --metric hamming
    run 0 import "$DB" bits2 b1.jsonl
    "$VEX" export "$DB" bits2 > b2.jsonl || fail "export bits2"
    cmp b1.jsonl b2.jsonl || fail "bit vectors differ after the round trip"
    # searched with queries of 0 and 1 (inline, or a vector file)
    run 0 search "$DB" bits --vector 1,0,0,0,0,0,0,0,1,0 --k 3
    has out "  1  id 1            distance 1"
    has out "  3  id 3            distance 8"
    run 2 search "$DB" bits --vector 1,0,0,0,0,0,0,0,2,0
    has err "--vector: element 9 is 2, not 0 or 1 (bits holds bit vectors)"
    z='\000\000\000\000'
    o='\000\000\200\077'
    printf "\012\000\000\000$z$o$o$o$o$o$o$o$o$o" > bq.fvecs
    run 0 search "$DB" bits --queries bq.fvecs --k 1 --json
    has out '{"query":0,"hits":[{"id":3,"distance":1}]}'
    printf "\012\000\000\000$z$o$o$o$o$o$o$o$o$o\012\000\000\000$z$z$z\000\000\000\077$z$z$z$z$z$z" > bq2.fvecs
    run 1 search "$DB" bits --queries bq2.fvecs
    has err "bq2.fvecs: vector 1 element 4 is 0.5, not 0 or 1"
    printf '{"id":9,"vector":[1,0,0,0,0,0,0,0,2,1]}\n' > badbit.jsonl
    run 1 import "$DB" bits badbit.jsonl
    has err 'badbit.jsonl:1: field "vector": element 9 is not 0 or 1'
    # npy: vectors and ids round trip through import
    run 0 create "$DB" vecs --dim 8 --metric l2
    run 0 gen --n 300 --dim 8 --queries 5 --seed 4 --out g
    run 0 import --start-id 5 "$DB" vecs g_base.fvecs
    run 0 export "$DB" vecs --format npy --out n1
    [ -f n1.npy ] && [ -f n1.ids.npy ] && [ -f n1.jsonl ] || fail "npy export files"
    run 0 create "$DB" vecs2 --dim 8 --metric l2
    run 0 import --ids n1.ids.npy "$DB" vecs2 n1.npy
    run 0 export "$DB" vecs2 --format npy --out n2
    cmp n1.npy n2.npy || fail "npy vectors differ after the round trip"
    cmp n1.ids.npy n2.ids.npy || fail "npy ids differ after the round trip"
    "$VEX" export "$DB" vecs > v1.jsonl && "$VEX" export "$DB" vecs2 > v2.jsonl || fail "export vecs"
    cmp v1.jsonl v2.jsonl || fail "jsonl of the npy round trip differs"
    run 2 export "$DB" vecs --format npy
    has err "--format npy needs --out PREFIX"
    run 2 export "$DB" vecs --format parquet
    has err 'unknown --format "parquet"'
    # csv for PostgreSQL's COPY: header, vector in brackets, metadata as a
    # JSON object with CSV-doubled quotes, payload as bytea hex
    run 0 export "$DB" docs --format csv --out c1.csv
    [ "$(head -1 c1.csv)" = "id,vector,meta,payload" ] || fail "csv header: $(head -1 c1.csv)"
    has c1.csv '11,"[0,1,0,0]","{""big"":1.0000000000000001e+300,""id"":""inner"",""n"":-3,""t"":[]}",\xff00'
    [ "$(wc -l < c1.csv)" = "$(($(wc -l < e1.jsonl) + 1))" ] || fail "csv: one line per record"
    run 0 export "$DB" docs --format csv --where "lang = 'en'"
    has out '1,"['
    hasnt out '2,"['
    run 2 export "$DB" docs --format csv --no-vector
    has err "--format csv writes the vectors"
    run 1 export "$DB" bits --format csv
    has err "holds bit vectors (use jsonl)"
    # a failed export leaves no file behind
    run 1 export "$DB" vecs --out "$WORK/no/such/dir/x.jsonl"
    [ ! -e "$WORK/no" ] || fail "export made a directory"
}

part_records() {
    run 0 create "$DB" docs --dim 4 --metric l2 --schema "$SCHEMA"
    make_csv
    run 0 import "$DB" docs docs.csv
    run 0 get "$DB" docs 3
    has out "id 3"
    has out '  meta     {"draft":null,"lang":"fr"'
    has out "  payload  18 bytes"
    run 1 get "$DB" docs 1 999 2
    has err "id 999: not found"
    has out "id 1"
    has out "id 2"
    run 0 get --no-vector --json "$DB" docs 1
    hasnt out '"vector"'
    run 2 get "$DB" docs x1
    has err '"x1" is not an id'
    # search: --where, --meta, --stats, --json
    run 0 search "$DB" docs --vector 1,1,1,1 --k 2 --meta --where "lang = 'en'"
    has out '1  id 4 '
    has out '"lang":"en"'
    hasnt out '"lang":"de"'
    run 0 search "$DB" docs --vector 1,1,1,1 --k 3 --where "year >= 2020" --stats --json
    has out '"plan":{"sources":'
    has out '"ms":'
    run 0 search "$DB" docs --vector 1,1,1,1 --k 3 --stats
    has out "sources searched"
    run 0 search "$DB" docs --vector "[1, 1, 1, 1]" --k 1 --filter "draft = TRUE"
    has out "id 4"
    run 2 search "$DB" docs --vector 1,1,1,1 --filter "draft = TRUE" --where "draft = TRUE"
    has err "older name of --where"
    # delete by ids is atomic: one missing id deletes nothing
    run 1 delete "$DB" docs 1 999
    has err "999"
    has err "nothing was deleted"
    count_is docs 5
    run 0 delete "$DB" docs 1 2
    has out "deleted 2 records"
    count_is docs 3
    run 1 get "$DB" docs 1
    run 0 delete --json "$DB" docs --where "lang = 'en' OR lang = 'ja'"
    has out '{"deleted":2}'
    count_is docs 1
    run 0 delete "$DB" docs --where "lang = 'nobody'"
    has out "deleted 0 records"
    run 2 delete "$DB" docs
    has err "give ids or --where"
    run 2 delete "$DB" docs 3 --where "year > 1"
    run 0 count --json "$DB" docs
    has out '{"count":1}'
    # flush and compact
    run 0 create "$DB" vecs --dim 8 --metric l2 --index hnsw
    run 0 gen --n 2000 --dim 8 --queries 5 --seed 5 --out g
    run 0 import --start-id 0 "$DB" vecs g_base.fvecs
    run 0 flush "$DB" vecs
    has out "vecs: 2000 rows in 1 segment"
    run 0 import --start-id 5000 "$DB" vecs g_base.fvecs
    run 0 flush "$DB" vecs
    has out "vecs: 4000 rows in 2 segments"
    run 0 delete "$DB" vecs $(seq 0 49)
    has out "deleted 50 records"
    run 0 delete "$DB" vecs --where "id_missing = 1"
    has out "deleted 0 records"
    has err 'warning: no record has the field "id_missing"'
    run 0 flush "$DB" vecs
    run 0 stats "$DB" vecs
    has out "deleted rows     50"
    run 0 compact --json "$DB" vecs
    has out '{"collection":"vecs","rows":3950,"segments":1,"disk_bytes":'
    run 0 stats --segments "$DB" vecs
    has out "deleted rows     0"
    # sizes for people, with the exact byte count beside the total
    grep -Eq '^  segments +1, 3950 rows, [0-9]+\.[0-9] (KiB|MiB)$' out ||
        fail "stats: segment size not in KiB or MiB: $(cat out)"
    grep -Eq '^  on disk +[0-9]+\.[0-9] (KiB|MiB) \([0-9]+ bytes\)$' out ||
        fail "stats: on-disk size not in KiB or MiB: $(cat out)"
    has out "hnsw  3950 rows, 3950 live"
    run 0 search "$DB" vecs --queries g_query.fvecs --k 1 --json
    has out '{"query":4,"hits":[{"id":'
    # explain: one source per line with its plan and work; metrics
    run 0 search "$DB" vecs --vector 1,1,1,1,1,1,1,1 --k 3 --explain
    has out "(explain: 3 hits in"
    has out "unfiltered rows 3950"
    has out "graph nodes"
    has out "why: no filter: graph walk"
    run 0 search "$DB" docs --vector 1,1,1,1 --k 1 --explain --json
    has out '"explain":[{"source":"memtable"'
    run 0 metrics "$DB"
    has out '# TYPE vex_searches_total counter'
    has out 'vex_rows{db="'"$DB"'",collection="vecs"} 3950'
    has out 'vex_segments{db="'"$DB"'",collection="vecs"} 1'
    has out 'vex_rows{db="'"$DB"'",collection="docs"} 1'
    run 0 metrics "$DB" docs
    hasnt out 'collection="vecs"'
    run 1 metrics "$DB" nosuch
    has err "nosuch"
    # many ids on one command line: 100 gets, 2000 deletes in one batch,
    # and past the limit a message that says it
    run 0 get "$DB" vecs $(seq 100 199)
    [ "$(grep -c '^id ' out)" = 100 ] || fail "get of 100 ids: $(grep -c '^id ' out) records"
    run 0 delete "$DB" vecs $(seq 5000 6999)
    has out "deleted 2000 records"
    count_is vecs 1950
    run 2 delete "$DB" vecs $(seq 1 4095)
    has err "more than 4096 arguments; give at most 4096"
    run 1 flush "$DB" nosuch
    has err 'has no collection "nosuch"'
}

part_errors() {
    run 0 create "$DB" docs --dim 4 --metric l2 --schema "$SCHEMA"
    make_csv
    run 0 import "$DB" docs docs.csv
    # filters: message, the expression with a caret, hints
    run 2 count "$DB" docs --where "year == 2020 && lang = \"en\""
    has err "filter: at offset 6"
    has err "  year == 2020 && lang = \"en\""
    has err "        ^"
    has err "hint: write AND instead of &&"
    has err "hint: write = instead of =="
    has err "hint: string values take single quotes"
    run 2 search "$DB" docs --vector 1,1,1,1 --where "year > 'x' || lang = 'en'"
    has err "hint: write OR instead of ||"
    run 2 count "$DB" docs --where "lang = en"
    has err "        ^"
    has err "hint: a string value takes single quotes: 'en'"
    run 2 delete "$DB" docs --where "year >"
    has err "      ^"
    count_is docs 5
    run 2 export "$DB" docs --where "("
    # unknown fields warn and still run
    run 0 count "$DB" docs --where "lnag = 'en'"
    has err 'warning: no record has the field "lnag"'
    [ "$(cat out)" = 0 ] || fail "count of an unknown field"
    run 0 export "$DB" docs --where "lnag = 'en'" --out none.jsonl
    has err 'vex export: warning: no record has the field "lnag"'
    run 0 search "$DB" docs --vector 1,1,1,1 --where "lnag = 'en'"
    has err 'vex search: warning: no record has the field "lnag"'
    # vectors
    run 2 search "$DB" docs --vector 1,2,x,4
    has err 'element 3 is "x", not a finite number'
    run 2 search "$DB" docs --vector 1,2
    has err "--vector has 2 numbers; the collection's vectors have 4"
    run 2 search "$DB" docs --vector 1,2,3,nan
    has err "element 4"
    # missing database and collection
    # every command that takes a database says which command makes one
    for args in "count docs" "stats" "collections" "export docs" \
        "import docs docs.csv" "get docs 1" "delete docs 1" \
        "search docs --vector 1,1,1,1" "flush docs" "compact docs" \
        "drop docs" "metrics" "verify" "dump" "backup $WORK/nodb.copy"; do
        # shellcheck disable=SC2086 # ARGS split on purpose
        set -- $args
        cmd=$1
        shift
        run 1 "$cmd" "$WORK/nodb" "$@"
        has err "vex $cmd: $WORK/nodb: no such database (vex create DB COLLECTION --dim D --metric M creates one)"
    done
    [ ! -e "$WORK/nodb" ] || fail "a command other than create made a database"
    [ ! -e "$WORK/nodb.copy" ] || fail "a failed backup made its destination"
    run 1 search "$DB" nosuch --vector 1,1,1,1
    has err 'has no collection "nosuch" (vex collections'
    run 1 get "$DB" nosuch 1
    # malformed input files: file, line (and column) named, nothing written
    printf 'id,vector\n1,"1,2,3,4\n' > open.csv
    run 1 import "$DB" docs open.csv
    has err "open.csv:2: the quote opened on line 2 is never closed"
    printf 'id,vector\n1,x"y\n' > stray.csv
    run 1 import "$DB" docs stray.csv
    has err "stray.csv:2: a quote inside an unquoted field"
    printf 'id,vector,a\n1,"1,2,3,4"\n' > short.csv
    run 1 import "$DB" docs short.csv
    has err "short.csv:2: 2 fields, the header has 3"
    printf 'id,id\n' > dup.csv
    run 1 import "$DB" docs dup.csv
    has err 'column name "id" appears twice'
    printf 'id,lang\n1,en\n' > novec.csv
    run 1 import "$DB" docs novec.csv
    has err 'no "vector" column'
    printf '{"id": 90, "vector": [1,2,3,4], "lang": '"'"'en'"'"'}\n' > sq.jsonl
    run 1 import "$DB" docs sq.jsonl
    has err "sq.jsonl:1:41: strings take double quotes in JSON"
    printf '{"id": 91, "vector": [1,2,3,4]}\n{"id": -1, "vector": [1,2,3,4]}\n' > neg.jsonl
    run 1 import "$DB" docs neg.jsonl
    has err 'neg.jsonl:2: field "id": not an id'
    printf '{"id": 92, "vector": [1,2,1e39,4]}\n' > huge.jsonl
    run 1 import "$DB" docs huge.jsonl
    has err 'element 3 is not a finite float32 number'
    printf '{"id": 93, "vector": [1,2,3,4], "tags": ["a", 1]}\n' > tags.jsonl
    run 1 import "$DB" docs tags.jsonl
    has err 'tags.jsonl:1: field "tags": element 2 of the array is not a string'
    printf '[\n  {"id": 1, "vector": [1,2,3,4]}\n]\n' > array.json
    run 1 import "$DB" docs array.json
    has err "array.json: starts with '[': JSON Lines holds one object per line"
    run 1 import "$DB" docs "$WORK/missing.csv"
    has err "missing.csv"
    count_is docs 5
    run 0 create "$DB" cos --dim 2 --metric cosine
    printf '{"id": 1, "vector": [0, 0]}\n' > zero.jsonl
    run 1 import "$DB" cos zero.jsonl
    has err "the zero vector has no direction"
    run 1 import "$DB" docs "$WORK"/../no-such.fvecs --start-id 1
    # usage errors
    run 2 import "$DB" docs
    has err "missing argument"
    run 2 count "$DB" docs --frob
    has err "unknown option '--frob'"
    run 2 create "$DB" x --dim 4
    has err "missing required option --metric"
    # every command has --help, listed by vex help
    for cmd in $("$VEX" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p'); do
        run 0 $cmd --help
        has out "usage: vex $cmd"
    done
}

part_concurrent() {
    # A writer process holds the database open (vex import waiting on a
    # FIFO for its input holds the LOCK): read-only commands work beside
    # it, writing commands say what holds the lock.
    command -v mkfifo > /dev/null 2>&1 || {
        echo "cli_db concurrent: skipped (no mkfifo)"
        exit 0
    }
    run 0 create "$DB" docs --dim 4 --metric l2 --schema "$SCHEMA"
    make_csv
    run 0 import "$DB" docs docs.csv
    mkfifo feed.jsonl || fail "mkfifo"
    # Wait until the writer holds the lock: a write attempt (a drop of a
    # collection that does not exist) is then refused. The attempt itself
    # takes the lock for a moment when the writer has not yet, and the
    # writer then fails with that message: start it again.
    "$VEX" import "$DB" docs feed.jsonl > writer.out 2> writer.err &
    writer=$!
    i=0
    while :; do
        if ! kill -0 "$writer" 2> /dev/null; then
            wait "$writer"
            grep -q "holds the database open" writer.err ||
                fail "the writer failed: $(cat writer.err)"
            "$VEX" import "$DB" docs feed.jsonl > writer.out 2> writer.err &
            writer=$!
        fi
        "$VEX" drop "$DB" nosuch > out 2> err
        if grep -q "holds the database open" err; then break; fi
        i=$((i + 1))
        [ $i -lt 300 ] || fail "the writer never took the lock: $(cat err)"
        sleep 0.1
    done
    run 0 stats "$DB" docs
    has out "live rows        5"
    count_is docs 5
    count_is docs 2 "lang = 'en'"
    run 0 search "$DB" docs --vector 1,1,1,1 --k 1 --where "year > 2020"
    has out "id 4"
    run 0 get "$DB" docs 1
    run 0 collections "$DB"
    run 0 export "$DB" docs --out beside.jsonl
    run 0 metrics "$DB" docs
    has out 'collection="docs"} 5'
    run 0 verify "$DB"
    has out "ok: 1 collections"
    run 0 dump "$DB"
    has out "== VEXDB"
    run 0 backup "$DB" "$WORK/copy"
    run 0 count "$WORK/copy" docs
    [ "$(cat out)" = 5 ] || fail "the backup beside the writer holds $(cat out) rows"
    run 1 create "$DB" other --dim 4 --metric l2
    has err "another process holds the database open for writing"
    run 1 delete "$DB" docs 1
    has err "another process holds the database open for writing"
    # release the writer
    printf '{"id": 77, "vector": [7,7,7,7], "lang": "xx"}\n' > feed.jsonl
    wait $writer || fail "the writer failed: $(cat writer.err)"
    writer=""
    has writer.out "feed.jsonl: 1 records inserted"
    count_is docs 6
    count_is docs 1 "lang = 'xx'"
}

part_text() {
    # A collection with a text field: import of the text column (CSV) and
    # member (JSON Lines), keyword and hybrid search, get and export.
    run 0 create "$DB" docs --dim 3 --metric cosine --text porter,stopwords
    run 0 collections "$DB" --json
    has out '"text":"porter,stopwords"'
    printf '{"id":1,"vector":[1,0,0],"text":"The running foxes jumped","lang":"en"}\n' > t.jsonl
    printf '{"id":2,"vector":[0,1,0],"text":"A fox runs fast"}\n' >> t.jsonl
    printf '{"id":3,"vector":[0,0,1],"payload":"no text"}\n' >> t.jsonl
    run 0 import "$DB" docs t.jsonl
    printf 'id,vector,text,lang\n4,"1,1,0",Crème brûlée,fr\n' > t.csv
    run 0 import "$DB" docs t.csv
    run 0 search "$DB" docs --text "runs" --show-text --json --stats
    has out '"text":"The running foxes jumped"'
    has out '"text":"A fox runs fast"'
    has out '"legs":{"vector":false,"text":true}'
    hasnt out '"id":3'
    run 0 search "$DB" docs --text "CREME" --k 1
    has out "id 4 "
    run 0 search "$DB" docs --vector 0,0,1 --text "fox" --fusion sum --json --stats
    has out '"legs":{"vector":true,"text":true}'
    has out '"id":3'
    run 2 search "$DB" docs --vector 0,0,1 --text "fox" --fusion max
    has err "--fusion is rrf or sum"
    run 2 search "$DB" docs --text "fox" --radius 0.5
    run 0 get "$DB" docs 4 --json
    has out '"text":"Crème brûlée"'
    run 0 export "$DB" docs
    has out '{"id":2,"vector":[0,1,0],"text":"A fox runs fast"}'
    # CSV for PostgreSQL's COPY: a fifth column, empty without a text
    run 0 export "$DB" docs --format csv
    has out 'id,vector,meta,payload,text'
    has out '2,"[0,1,0]","{}",,"A fox runs fast"'
    has out '3,"[0,0,1]","{}",\x6e6f2074657874,'
    # a bad text is a bad record with the field named
    printf '{"id":9,"vector":[1,0,0],"text":7}\n' > bad.jsonl
    run 1 import "$DB" docs bad.jsonl
    has err 'field "text": expected a string'
    # in a collection without a text field, "text" stays metadata
    run 0 create "$DB" plain --dim 3 --metric cosine
    run 0 import "$DB" plain t.jsonl
    run 0 get "$DB" plain 1 --json
    has out '"text":"The running foxes jumped"'
    run 2 search "$DB" plain --text "fox"
    has err "no text field"
    run 2 create "$DB" bad --dim 3 --metric l2 --text snowball
    has err 'unknown --text "snowball"'
}

part_terminal() {
    # Progress is drawn only when stderr is a terminal: script(1) gives the
    # command one. The write meter's first report comes after the first
    # chunk of 65,536 records, so with more records than that it shows a
    # count, a rate and an ETA.
    if ! script -qec true /dev/null > /dev/null 2>&1; then
        echo "cli_db terminal: skipped (no util-linux script)"
        exit 0
    fi
    run 0 create "$DB" vecs --dim 2 --metric l2 --index flat
    run 0 gen --n 140000 --dim 2 --queries 1 --seed 7 --out g
    script -qec "'$VEX' import --start-id 0 '$DB' vecs g_base.fvecs" /dev/null \
        > tty.out 2>&1 || fail "import on a terminal: $(cat tty.out)"
    has tty.out "writing 65536/140000 records  46%"
    has tty.out "/s  ETA "
    has tty.out "building the index of vecs..."
    has tty.out "g_base.fvecs: 140000 records inserted"
    script -qec "'$VEX' export '$DB' vecs --out e.jsonl" /dev/null \
        > tty.out 2>&1 || fail "export on a terminal: $(cat tty.out)"
    has tty.out "exporting "
    has tty.out " records "
    # flush and compact draw the graph build's progress (vex_stats'
    # compact_rows_*, polled while it runs): two segments of an HNSW
    # collection merged into one graph of 30,000 rows
    run 0 create "$DB" h --dim 8 --metric l2 --index hnsw
    run 0 gen --n 15000 --dim 8 --queries 1 --seed 8 --out h
    run 0 import --start-id 0 "$DB" h h_base.fvecs
    run 0 import --start-id 15000 "$DB" h h_base.fvecs
    script -qec "'$VEX' compact '$DB' h" /dev/null > tty.out 2>&1 ||
        fail "compact on a terminal: $(cat tty.out)"
    has tty.out "compacting h "
    has tty.out "/30000 rows "
    has tty.out "/s  ETA "
    has tty.out "h: 30000 rows in 1 segment"
    script -qec "'$VEX' compact '$DB' vecs" /dev/null > tty.out 2>&1 ||
        fail "compact on a terminal: $(cat tty.out)"
    has tty.out "vecs: 140000 rows in 1 segment"
    run 0 compact "$DB" vecs
    [ ! -s err ] || fail "compact wrote to a stderr that is not a terminal: $(cat err)"
    script -qec "'$VEX' backup '$DB' copy" /dev/null > tty.out 2>&1 ||
        fail "backup on a terminal: $(cat tty.out)"
    has tty.out "backup of $DB in copy"
    # the same commands with stderr a file: nothing there
    run 0 export "$DB" vecs --out e2.jsonl
    hasnt err "exporting"
    run 0 create "$DB" v2 --dim 2 --metric l2 --index flat
    run 0 import --start-id 0 "$DB" v2 g_base.fvecs
    [ ! -s err ] || fail "import drew on a stderr that is not a terminal: $(cat err)"
}

part_backup() {
    # vex backup while another process keeps writing: a writer imports one
    # 20-record file after another (each file one atomic commit, flushed
    # to a segment when the import closes), and backups are taken all the
    # while. Every copy must verify, open, and hold whole files only, ids
    # 0..n-1, never fewer than the copy before.
    run 0 create "$DB" docs --dim 4 --metric l2 --index flat
    awk 'BEGIN { for (f = 0; f < 80; f++) {
        fn = sprintf("w%02d.jsonl", f)
        for (i = 0; i < 20; i++) {
            id = f * 20 + i
            printf "{\"id\":%d,\"vector\":[%d,1,2,3],\"f\":%d}\n", id, id, f > fn
        }
        close(fn) } }'
    : > writer.err
    (
        for f in w*.jsonl; do
            "$VEX" import "$DB" docs "$f" > /dev/null 2>> writer.err ||
                echo "import of $f failed" >> writer.err
        done
        : > writer.done
    ) &
    writer=$!
    n=0
    last=0
    during=0
    while :; do
        done_before=0
        [ -e writer.done ] && done_before=1
        n=$((n + 1))
        run 0 backup "$DB" "b$n"
        run 0 verify "b$n"
        has out "ok: 1 collections"
        run 0 count "b$n" docs
        c=$(cat out)
        [ $((c % 20)) -eq 0 ] || fail "backup $n holds $c rows: part of a file"
        [ "$c" -ge "$last" ] || fail "backup $n holds $c rows, the one before $last"
        if [ "$c" -gt 0 ]; then
            run 0 get "b$n" docs 0 $((c - 1))
            count_in=$(grep -c '^id ' out)
            [ "$count_in" -eq 2 ] || fail "backup $n lacks id 0 or $((c - 1))"
            run 0 count "b$n" docs --where "f >= $((c / 20))"
            [ "$(cat out)" = 0 ] || fail "backup $n holds records of later files"
        fi
        if [ "$c" -gt 0 ] && [ "$c" -lt 1600 ]; then during=$((during + 1)); fi
        last=$c
        rm -rf "b$n"
        [ $done_before -eq 0 ] || break
        [ $n -lt 200 ] || fail "the writer did not finish"
    done
    wait "$writer"
    writer=""
    [ ! -s writer.err ] || fail "the writer failed: $(cat writer.err)"
    [ "$during" -gt 0 ] || fail "no backup was taken while the writer wrote"
    [ "$last" -eq 1600 ] || fail "the last backup, after the writer, holds $last rows"
    count_is docs 1600
    echo "cli_db backup: $n backups, $during while the writer wrote"
}

case "$PART" in
catalog | import | roundtrip | records | errors | concurrent | text | terminal | backup) part_$PART ;;
*) fail "unknown part $PART" ;;
esac
cd / && rm -rf "$WORK"
echo "cli_db $PART: ok"
