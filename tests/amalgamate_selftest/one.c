/* SPDX-License-Identifier: Apache-2.0 */
/* amalgamate_selftest: with two.c, each kind of name collision that
 * tools/amalgamate must refuse; never compiled. */
#define PANEL      8
#define LOCAL_ONLY 1
#undef LOCAL_ONLY

static int counter;
static const int table[4] = {1, 2, 3, 4};

typedef struct job {
    int n;
} job;

static inline __attribute__((always_inline)) int helper(int x)
{
    return x + PANEL;
}

int one_uses(void)
{
    return helper(counter) + table[0];
}
