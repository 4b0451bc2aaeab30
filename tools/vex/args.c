/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c - the option parser and help printer of the vex tool (args.h).
 * Table driven and strict: numbers are plain decimal with overflow and
 * range checks, nothing is silently clamped, ignored or guessed.
 */
#include "args.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return -1;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static const vex_opt *find_opt(const vex_cmd *cmd, const char *name, size_t len,
                               size_t *index)
{
    size_t i;
    for (i = 0; i < cmd->n_opts; i++) {
        if (strlen(cmd->opts[i].name) == len &&
            memcmp(cmd->opts[i].name, name, len) == 0) {
            *index = i;
            return &cmd->opts[i];
        }
    }
    return NULL;
}

size_t vex_args_index(const vex_cmd *cmd, const char *name)
{
    size_t i;
    if (!find_opt(cmd, name, strlen(name), &i)) {
        fprintf(stderr, "vex: internal error: no option --%s in '%s'\n", name,
                cmd->name);
        abort();
    }
    return i;
}

int vex_args_parse(const vex_cmd *cmd, int argc, char **argv,
                   vex_optval vals[VEX_MAX_OPTS], char *pos[VEX_MAX_POS],
                   int *n_pos)
{
    int i, only_pos = 0;
    size_t j;
    memset(vals, 0, sizeof(vex_optval) * VEX_MAX_OPTS);
    *n_pos = 0;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *value;
        const vex_opt *o;
        size_t idx;
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (*n_pos >= VEX_MAX_POS && cmd->max_pos >= VEX_MAX_POS) {
                fprintf(stderr,
                        "vex %s: more than %d arguments; give at most %d "
                        "(for more records, a --where filter or several "
                        "runs)\n",
                        cmd->name, VEX_MAX_POS, VEX_MAX_POS);
                return VEX_EXIT_USAGE;
            }
            if ((unsigned)*n_pos >= cmd->max_pos || *n_pos >= VEX_MAX_POS) {
                fprintf(stderr,
                        "vex %s: unexpected argument '%s' (see 'vex help "
                        "%s')\n",
                        cmd->name, a, cmd->name);
                return VEX_EXIT_USAGE;
            }
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (a[1] != '-') {
            fprintf(stderr,
                    "vex %s: unknown option '%s' (options are long, like "
                    "--help; see 'vex help %s')\n",
                    cmd->name, a, cmd->name);
            return VEX_EXIT_USAGE;
        }
        name = a + 2;
        eq = strchr(name, '=');
        o = find_opt(cmd, name, eq ? (size_t)(eq - name) : strlen(name), &idx);
        if (!o) {
            fprintf(stderr,
                    "vex %s: unknown option '%.*s' (see 'vex help %s')\n",
                    cmd->name, (int)(eq ? (size_t)(eq - a) : strlen(a)), a,
                    cmd->name);
            return VEX_EXIT_USAGE;
        }
        if (vals[idx].given) {
            fprintf(stderr, "vex %s: option --%s given twice\n", cmd->name,
                    o->name);
            return VEX_EXIT_USAGE;
        }
        vals[idx].given = 1;
        if (o->kind == VEX_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "vex %s: option --%s takes no value\n",
                        cmd->name, o->name);
                return VEX_EXIT_USAGE;
            }
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            fprintf(stderr, "vex %s: option --%s needs a value (%s)\n",
                    cmd->name, o->name, o->metavar);
            return VEX_EXIT_USAGE;
        }
        if (!*value) {
            fprintf(stderr, "vex %s: option --%s needs a non-empty value\n",
                    cmd->name, o->name);
            return VEX_EXIT_USAGE;
        }
        vals[idx].str = value;
        if (o->kind == VEX_OPT_UINT_LIST) {
            const char *p = value;
            char item[32];
            while (*p) {
                size_t n = strcspn(p, ",");
                uint64_t u;
                if (n == 0 || n >= sizeof item ||
                    vals[idx].n_list == VEX_MAX_LIST) {
                    fprintf(stderr,
                            "vex %s: option --%s takes 1..%d comma-separated "
                            "integers, not '%s'\n",
                            cmd->name, o->name, VEX_MAX_LIST, value);
                    return VEX_EXIT_USAGE;
                }
                memcpy(item, p, n);
                item[n] = '\0';
                if (parse_uint(item, &u) != 0 || u < o->min || u > o->max) {
                    fprintf(stderr,
                            "vex %s: option --%s: '%s' is not an integer in "
                            "%" PRIu64 "..%" PRIu64 "\n",
                            cmd->name, o->name, item, o->min, o->max);
                    return VEX_EXIT_USAGE;
                }
                vals[idx].list[vals[idx].n_list++] = u;
                p += n;
                if (*p == ',') {
                    p++;
                    if (!*p) {
                        fprintf(stderr,
                                "vex %s: option --%s ends with a "
                                "comma\n",
                                cmd->name, o->name);
                        return VEX_EXIT_USAGE;
                    }
                }
            }
            vals[idx].u = vals[idx].list[0];
            continue;
        }
        if (o->kind == VEX_OPT_UINT &&
            (parse_uint(value, &vals[idx].u) != 0 || vals[idx].u < o->min ||
             vals[idx].u > o->max)) {
            fprintf(stderr,
                    "vex %s: option --%s must be an integer in %" PRIu64
                    "..%" PRIu64 ", not '%s'\n",
                    cmd->name, o->name, o->min, o->max, value);
            return VEX_EXIT_USAGE;
        }
    }
    for (j = 0; j < cmd->n_opts; j++) {
        if (cmd->opts[j].required && !vals[j].given) {
            fprintf(stderr,
                    "vex %s: missing required option --%s %s (see 'vex help "
                    "%s')\n",
                    cmd->name, cmd->opts[j].name, cmd->opts[j].metavar,
                    cmd->name);
            return VEX_EXIT_USAGE;
        }
    }
    if ((unsigned)*n_pos < cmd->min_pos) {
        fprintf(stderr, "vex %s: missing argument %s (see 'vex help %s')\n",
                cmd->name, cmd->positionals, cmd->name);
        return VEX_EXIT_USAGE;
    }
    return VEX_EXIT_OK;
}

void vex_args_help(const vex_cmd *cmd, FILE *out)
{
    size_t i;
    fprintf(out, "usage: vex %s%s%s [options]\n\n%s\n", cmd->name,
            *cmd->positionals ? " " : "", cmd->positionals, cmd->summary);
    fprintf(out, "\noptions:\n");
    for (i = 0; i < cmd->n_opts; i++) {
        const vex_opt *o = &cmd->opts[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name,
                 o->kind == VEX_OPT_FLAG ? "" : " ",
                 o->kind == VEX_OPT_FLAG ? "" : o->metavar);
        fprintf(out, "  %-24s %s%s\n", left, o->help,
                o->required ? " (required)" : "");
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
    if (cmd->description && *cmd->description)
        fprintf(out, "\n%s", cmd->description);
}
