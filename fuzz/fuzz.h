/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h - the libFuzzer entry point every fuzz target defines; the
 * regression driver (regression_driver.c) calls the same function on each
 * corpus file, so corpora are replayed in ordinary builds without libFuzzer.
 */
#ifndef VEX_FUZZ_H
#define VEX_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
