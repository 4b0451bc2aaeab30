#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make_text_corpus.sh - writes the seed corpora of the CSV and JSON
# fuzzers (fuzz/corpus/csv/, fuzz/corpus/json/): small valid and broken
# files made with printf, so the seeds are reviewable and reproducible.
# Crashers found by fuzzing are added next to them under crash-* names.
set -eu
c=$(dirname "$0")/corpus/csv
j=$(dirname "$0")/corpus/json
mkdir -p "$c" "$j"
printf 'id,vector,year,lang\n1,"0.1,0.2",2021,en\n2,"[1, 2]",,de\n' > "$c/valid_basic.csv"
printf 'id,vector,note\r\n1,"1,2","say ""hi"", then\r\nleave"\r\n' > "$c/valid_crlf_quotes.csv"
printf '\357\273\277a,b\n\n1,2\n\n' > "$c/valid_bom_blank.csv"
printf 'a,b\n1,2,3\n4\n5,6\n' > "$c/field_count.csv"
printf 'a,b\n"open,2\n' > "$c/unterminated.csv"
printf 'a,b\nx"y,2\n"q"z,3\n7,8\n' > "$c/stray_quotes.csv"
printf 'a,a\n1,2\n' > "$c/dup_header.csv"
printf ',b\n1,2\n' > "$c/empty_name.csv"
printf 'a\n1\000\n' > "$c/nul.csv"
printf 'a,b\n1,2' > "$c/no_final_newline.csv"
: > "$c/empty"
printf '{"id": 7, "vector": [0.5, -1e3, 2E+2], "year": 2021, "tags": ["a", "b"], "payload": "x\\n\\u00e9\\ud83d\\ude00"}\n' > "$j/valid_record.jsonl"
printf '{"a": null, "b": true, "c": false, "d": -0, "e": 18446744073709551615, "f": -9223372036854775808, "g": 1.5e-7, "h": {"i": []}}\n' > "$j/valid_types.jsonl"
printf '{"a": 1}\n\n  {"b": [1, [2, [3]]]}  \r\n' > "$j/valid_lines.jsonl"
printf '{"a": 1,}\n{"a" 1}\n[1 2]\n{"a": 01}\n{"a": 1.}\n{"a": .5}\n' > "$j/syntax_errors.jsonl"
printf '{"a": "\\ud800"}\n{"a": "\\udc00x"}\n{"a": "\\u12"}\n{"a": "\\q"}\n' > "$j/bad_escapes.jsonl"
printf '{"a": "\377"}\n{"a": "\300\200"}\n{"a": "tab\there"}\n' > "$j/bad_utf8.jsonl"
printf '{"a": 1, "a": 2}\n' > "$j/dup_key.jsonl"
printf "{'a': 1}\n" > "$j/single_quotes.jsonl"
printf '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n' > "$j/too_deep.json"
printf '{"n": 123456789012345678901234567890, "m": -99999999999999999999, "x": 1e999}\n' > "$j/big_numbers.jsonl"
: > "$j/empty"
