/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unitab.h - the generated Unicode tables of the tokenizer (unitab.c,
 * written by gen_unitab.py; the rules are in that script's header).
 * Private to src/text.
 */
#ifndef VEX_TEXT_UNITAB_H
#define VEX_TEXT_UNITAB_H

#include <stddef.h>
#include <stdint.h>

/* Ranges [lo, hi] of non-ASCII code points that separate tokens,
 * ascending and disjoint. */
extern const uint32_t vx_text_sep[][2];
extern const size_t vx_text_n_sep;

/* (code point, folding) pairs, ascending by code point, for every
 * non-ASCII token character that folds to another; a folding of 0 means
 * the character is dropped from the token (a diacritic mark). */
extern const uint32_t vx_text_fold[][2];
extern const size_t vx_text_n_fold;

#endif
