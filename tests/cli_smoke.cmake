# SPDX-License-Identifier: Apache-2.0
# cli_smoke.cmake - end-to-end test of the vex tool, run by ctest as
#   cmake -DVEX=<path of vex> -DWORK=<scratch dir> -DDATA=<corpus dir> -P cli_smoke.cmake
# `vex gen` writes a small seeded dataset, `vex bench --json` must report
# recall 1 for the flat index, with the generated ground truth and with the
# one it computes itself, and for a filtered search with metadata from a
# TSV; usage errors must exit 2 with a message on stderr
# and nothing on stdout; a malformed file must exit 1 naming the file.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run expect_rc)
  execute_process(COMMAND ${VEX} ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "vex ${ARGN}: exit ${rc}, wanted ${expect_rc}\nstdout: ${out}\nstderr: ${err}")
  endif()
  set(OUT "${out}" PARENT_SCOPE)
  set(ERR "${err}" PARENT_SCOPE)
endfunction()

function(expect var regex)
  if(NOT "${${var}}" MATCHES "${regex}")
    message(FATAL_ERROR "expected /${regex}/ in ${var}: ${${var}}")
  endif()
endfunction()

run(0 gen --n 3000 --dim 24 --queries 50 --seed 7 --out ${WORK}/s)
run(0 info ${WORK}/s_base.fvecs)
expect(OUT "fvecs, 3000 records of 24 float32")

foreach(metric l2 ip cosine)
  run(0 gen --n 3000 --dim 24 --queries 50 --seed 7 --metric ${metric} --out ${WORK}/${metric})
  run(0 bench --base ${WORK}/${metric}_base.fvecs --queries ${WORK}/${metric}_query.fvecs
      --gt ${WORK}/${metric}_groundtruth.ivecs --metric ${metric} --k 10 --json)
  expect(OUT "\"recall\":1\\.000000,\"recall_batch\":1\\.000000")
  expect(OUT "\"gt_source\":\"file\"")
endforeach()
run(0 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
    --metric l2 --max-queries 20 --threads 2)
expect(OUT "recall@10")
expect(OUT "computed exactly with the flat index")
expect(OUT "1\\.0000")

# usage errors: exit 2, message on stderr, nothing on stdout
run(2 frobnicate)
expect(ERR "unknown command 'frobnicate'")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs)
expect(ERR "--metric is required")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs --metric l2 --ef 10)
expect(ERR "apply to --index hnsw only")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs --metric l2 --index ivf)
expect(ERR "not available")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs --metric l2 --index hnsw --ef 10,,20)
expect(ERR "--ef")
# an HNSW sweep: one JSON line per ef, recall rising to (near) 1
run(0 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs --metric l2 --index hnsw --M 8 --ef 4,64 --json)
expect(OUT "\"ef\":4,")
expect(OUT "\"ef\":64,\"recall\":(1\\.0|0\\.9[5-9])")
# --serve: a ready line after the build, one pass per request read from
# stdin, and a bad request is a usage error naming it
file(WRITE ${WORK}/serve.in "ef 4\nef 64\nquit\n")
execute_process(COMMAND ${VEX} bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
                --metric l2 --index hnsw --M 8 --serve
                INPUT_FILE ${WORK}/serve.in RESULT_VARIABLE rc OUTPUT_VARIABLE OUT ERROR_VARIABLE ERR)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vex bench --serve: exit ${rc}\n${ERR}")
endif()
expect(OUT "\"ready\":true")
expect(OUT "\"ef\":4,\"recall\":")
expect(OUT "\"ef\":64,\"recall\":(1\\.0|0\\.9[5-9])")
file(WRITE ${WORK}/serve.in "ef 4\nef zero\n")
execute_process(COMMAND ${VEX} bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
                --metric l2 --index hnsw --M 8 --serve
                INPUT_FILE ${WORK}/serve.in RESULT_VARIABLE rc OUTPUT_VARIABLE OUT ERROR_VARIABLE ERR)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "vex bench --serve with a bad request: exit ${rc}, wanted 2")
endif()
expect(ERR "expected \"ef N\".*ef zero")
# filtered search through a collection: metadata from a TSV (3000 rows),
# flat is exact (recall 1), the match count and share are reported, and
# a malformed filter is a usage error naming the offset
set(tsv "row\tcat\tname\n")
foreach(i RANGE 0 2999)
  math(EXPR c "${i} % 7")
  string(APPEND tsv "${i}\t${c}\tn${c}\n")
endforeach()
file(WRITE ${WORK}/s_meta.tsv "${tsv}")
run(0 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
    --metric l2 --meta ${WORK}/s_meta.tsv --filter "cat = 3 AND name = 'n3'"
    --max-queries 20 --threads 2 --json)
expect(OUT "\"matches\":429,")
expect(OUT "\"recall\":1\\.0000")
run(0 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
    --metric l2 --index hnsw --M 8 --ef 64 --meta ${WORK}/s_meta.tsv
    --filter "row_mod100 < 10" --max-queries 20 --threads 2)
expect(OUT "rows match")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
    --metric l2 --meta ${WORK}/s_meta.tsv --filter "cat >")
expect(ERR "offset 5")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
    --metric l2 --filter "cat = 1")
expect(ERR "--filter needs --meta")
# --collection: loaded as an application would (a 1 MiB memtable gives
# several segments), compacted into one, searched with vex_search; flat is
# exact, so recall is 1 against the generated ground truth
run(0 gen --n 30000 --dim 24 --queries 20 --seed 5 --out ${WORK}/c)
run(0 bench --base ${WORK}/c_base.fvecs --queries ${WORK}/c_query.fvecs
    --gt ${WORK}/c_groundtruth.ivecs --metric l2 --collection --memtable-mb 1 --json)
expect(OUT "\"recall\":1\\.0000,")
expect(OUT "\"segments_flushed\":[2-9],\"segments\":1}")
run(2 bench --base ${WORK}/c_base.fvecs --queries ${WORK}/c_query.fvecs
    --metric l2 --memtable-mb 1)
expect(ERR "--memtable-mb applies with --collection")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
    --metric l2 --collection --quant sq8)
expect(ERR "--quant and --refine apply to a standalone index")
# --collection --serve: "where EXPR" sets a filter (its matches reported),
# a refused one keeps it, a bare "where" clears it
file(WRITE ${WORK}/serve.in "ef 64\nwhere cat = 3\nef 64\nwhere cat >\nwhere\nef 64\nquit\n")
execute_process(COMMAND ${VEX} bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs
                --metric l2 --index hnsw --M 8 --collection --meta ${WORK}/s_meta.tsv --serve
                INPUT_FILE ${WORK}/serve.in RESULT_VARIABLE rc OUTPUT_VARIABLE OUT ERROR_VARIABLE ERR)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vex bench --collection --serve: exit ${rc}\n${ERR}")
endif()
expect(OUT "\"ready\":true,\"collection\":true,\"n\":3000,")
expect(OUT "^[^\n]*\n\\{\"lib\":\"vexdb\",\"where\":null,[^\n]*\"matches\":3000,[^\n]*\"recall\":(1\\.0|0\\.9[5-9])")
expect(OUT "\n\\{\"where\":\"cat = 3\",\"matches\":429,")
expect(OUT "\"where\":\"cat = 3\",[^\n]*\"matches\":429,[^\n]*\"recall\":(1\\.0|0\\.9[5-9])")
expect(OUT "\\{\"where\":\"cat = 3\",\"error\":")
expect(OUT "\\{\"where\":\"\",\"matches\":3000,")
expect(ERR "offset 5")
run(2 bench --base ${WORK}/s_base.fvecs --queries ${WORK}/s_query.fvecs --metric l2 --k 0)
expect(ERR "--k must be an integer in 1..")
run(2 gen --n 10 --dim 4)
expect(ERR "missing required option --out")
if(NOT "${OUT}" STREQUAL "")
  message(FATAL_ERROR "usage error printed to stdout: ${OUT}")
endif()
run(0 help bench)
expect(OUT "usage: vex bench")
run(0 gen --help)
expect(OUT "usage: vex gen")
run(0 --version)
expect(OUT "vex [0-9]+\\.[0-9]+\\.[0-9]+")
expect(OUT "simd: [a-z0-9]+ \\(this CPU runs: scalar")
# the optional parts compiled in (vex_features), or none
expect(OUT "features: (none|(zstd|io_uring)( (zstd|io_uring))*)\n")

# bad data: exit 1 with the file and offset
run(1 info ${DATA}/dim_mismatch.fvecs)
expect(ERR "dim_mismatch.fvecs: record 1 at byte 12: dimension 3 differs from 2")
run(1 bench --base ${DATA}/trunc_record.fvecs --queries ${WORK}/s_query.fvecs --metric l2)
expect(ERR "trunc_record.fvecs: truncated")

# vex stats over a database the demo made (when the demo was built)
if(DEMO)
  execute_process(COMMAND ${DEMO} ${WORK}/demo-db 3000 16 RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "vex-demo: exit ${rc}\n${out}\n${err}")
  endif()
  run(0 stats --segments ${WORK}/demo-db)
  expect(OUT "live rows +3000")
  expect(OUT "seg-[0-9a-f]+\\.vseg +hnsw")
  run(0 stats --json ${WORK}/demo-db demo)
  expect(OUT "\"live_rows\":3000,")
  run(1 stats ${WORK}/demo-db nosuch)
  expect(ERR "nosuch")
  run(1 stats ${WORK}/no-such-db)
  expect(ERR "no such database")
  # stats and search open read-only: they work while another process
  # holds the database's LOCK (as an application that has it open does)
  find_program(FLOCK flock)
  if(FLOCK)
    run(0 stats ${WORK}/demo-db demo) # (LOCK exists after the demo)
    execute_process(COMMAND ${FLOCK} -x ${WORK}/demo-db/LOCK
                            ${VEX} stats --json ${WORK}/demo-db demo
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0 OR NOT "${out}" MATCHES "\"live_rows\":3000,")
      message(FATAL_ERROR "vex stats beside a holder of LOCK: exit ${rc}\n${out}\n${err}")
    endif()
    execute_process(COMMAND ${FLOCK} -x ${WORK}/demo-db/LOCK
                            ${VEX} search ${WORK}/demo-db demo --k 2 --vector
                            1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0 OR NOT "${out}" MATCHES "id [0-9]+")
      message(FATAL_ERROR "vex search beside a holder of LOCK: exit ${rc}\n${out}\n${err}")
    endif()
  endif()
  # vex search with a metadata filter over the demo's records (lang is
  # en/de/fr/ja by id; year 2000..2024)
  set(Q "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1")
  run(0 search ${WORK}/demo-db demo --vector ${Q} --k 3 --meta
      --filter "lang = 'fr' AND year < 2003")
  expect(OUT "1  id [0-9]+ +distance [0-9.]+ +\\{\"lang\":\"fr\",\"year\":200[0-2]\\}")
  run(0 search ${WORK}/demo-db demo --vector ${Q} --k 2 --json)
  expect(OUT "^\\{\"query\":0,\"hits\":\\[\\{\"id\":[0-9]+,\"distance\":")
  # a field no record has: searched (nothing matches), with a warning
  run(0 search ${WORK}/demo-db demo --vector ${Q} --k 2 --filter "lnag = 'fr'")
  expect(ERR "warning: no record has the field \"lnag\"")
  # range search: everything within a huge radius, cut at --k
  run(0 search ${WORK}/demo-db demo --vector ${Q} --k 2 --radius 1e30 --json)
  expect(OUT "^\\{\"query\":0,\"truncated\":true,\"hits\":\\[\\{\"id\":[0-9]+,\"distance\":[^]]*\\},\\{[^]]*\\}\\]\\}")
  run(0 search ${WORK}/demo-db demo --vector ${Q} --k 3 --radius 0 --meta)
  expect(OUT "^$")
  run(2 search ${WORK}/demo-db demo --vector ${Q} --radius -1)
  expect(ERR "never negative")
  run(2 search ${WORK}/demo-db demo --vector ${Q} --radius abc)
  expect(ERR "--radius must be a finite number")
  run(2 search ${WORK}/demo-db demo --vector ${Q} --filter "lang = = 'x'")
  expect(ERR "filter: at offset 7")
  run(2 search ${WORK}/demo-db demo --vector 1,2)
  expect(ERR "--vector has 2 numbers; the collection.s vectors have 16")
endif()
file(REMOVE_RECURSE ${WORK})
