/* SPDX-License-Identifier: Apache-2.0 */
/* amalgamate_selftest: see one.c. LOCAL_ONLY is #undef-ed there, so
 * defining it again here is fine; everything else collides. */
#define LOCAL_ONLY 2

static int counter;
static const char *table[2];

typedef struct job {
    double d;
} job;

static int helper(int x, int y)
{
    int panel_width = x + y;
    return panel_width + LOCAL_ONLY;
}

int two_uses(int PANEL)
{
    return helper(counter, PANEL) + (table[0] != 0);
}
