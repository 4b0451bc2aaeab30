/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter_parse.c - lexer and recursive-descent parser of the filter
 * language (grammar in docs/FILTERS.md). It builds the expression tree
 * through the same constructors as the C builder (filter_int.h), so text
 * and builder calls meet the same checks and give the same trees.
 *
 * Robustness: the text is checked to be UTF-8 first; every token carries
 * its byte offset, and every error names the offset and what was expected
 * and found. Recursion happens only for '(' and NOT, and each of those
 * counts against VMF_MAX_DEPTH before recursing, so 100000 '(' is an
 * error at the 65th, not a stack overflow. Operands of an AND/OR chain
 * and the values of a list are gathered on one growable stack per parse
 * (the only allocations besides the arena), released on every path.
 */
#include "meta/filter_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    T_END,
    T_IDENT,
    T_QIDENT,
    T_INT,
    T_DOUBLE,
    T_STRING,
    T_LP,
    T_RP,
    T_COMMA,
    T_OP,
    T_KW
};

enum {
    KW_AND,
    KW_OR,
    KW_NOT,
    KW_IN,
    KW_BETWEEN,
    KW_CONTAINS,
    KW_ANY,
    KW_ALL,
    KW_IS,
    KW_NULL,
    KW_TRUE,
    KW_FALSE
};

#define MAX_NUMBER 400 /* bytes of one number literal */

typedef struct tok {
    int type;
    int sub; /* T_OP: vmf_op; T_KW: KW_* */
    uint32_t pos, end;
    int64_t i;
    double d;
    vm_str s; /* T_IDENT (in the text), T_QIDENT, T_STRING (arena) */
} tok;

typedef struct parser {
    vmf_builder *b;
    const char *text;
    size_t len, at;
    tok t;
    unsigned depth;
    /* operand stack (AND/OR chains) and value stack (lists) */
    vmf_expr **ops;
    size_t n_ops, cap_ops;
    vm_value *vals;
    size_t n_vals, cap_vals;
} parser;

/* ---- lexer ------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
perr(parser *p, size_t pos, const char *fmt, ...)
{
    char msg[VEX_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vx_vmfi_fail(p->b, VEX_INVALID, (uint32_t)pos, "%s", msg);
    return -1;
}

/* "found ..." text for the current token: its source text, cut at a
 * character boundary when long (strings and quoted names keep their own
 * quotes, other tokens get single quotes). */
static const char *found(parser *p, char *buf, size_t size)
{
    const tok *t = &p->t;
    const char *src = p->text + t->pos;
    size_t n = t->end - t->pos;
    const char *more = "";
    int quoted = t->type == T_STRING || t->type == T_QIDENT;
    if (t->type == T_END)
        return "end of input";
    if (n > 40) {
        n = 36;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
        more = "...";
    }
    snprintf(buf, size, quoted ? "%.*s%s" : "'%.*s%s'", (int)n, src, more);
    return buf;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_ident_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident_char(int c)
{
    return is_ident_start(c) || is_digit(c);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* 'single-quoted' string starting at p->at. Escapes: '' \' \" \\ \n \t
 * \r \uXXXX \UXXXXXXXX (a code point, not a surrogate, <= U+10FFFF). */
static int lex_string(parser *p, tok *t)
{
    const char *s = p->text;
    size_t start = p->at, i = p->at + 1, o = 0;
    char *out;
    /* The unescaped text is never longer than the raw text up to the
     * closing quote, which bounds the arena allocation. */
    size_t j = i;
    while (j < p->len) {
        if (s[j] == '\\') {
            j += 2;
        } else if (s[j] == '\'') {
            if (j + 1 < p->len && s[j + 1] == '\'')
                j += 2;
            else
                break;
        } else {
            j++;
        }
    }
    if (j > p->len)
        j = p->len;
    out = vx_vmfi_alloc(p->b, j - i + 1);
    if (out == NULL)
        return -1;
    for (;;) {
        char c;
        if (i >= p->len)
            return perr(p, start, "unterminated string literal");
        c = s[i];
        if (c == '\'') {
            if (i + 1 < p->len && s[i + 1] == '\'') {
                out[o++] = '\'';
                i += 2;
                continue;
            }
            i++;
            break;
        }
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        if (i + 1 >= p->len)
            return perr(p, start, "unterminated string literal");
        switch (s[i + 1]) {
        case '\'':
        case '"':
        case '\\':
            out[o++] = s[i + 1];
            i += 2;
            break;
        case 'n':
            out[o++] = '\n';
            i += 2;
            break;
        case 't':
            out[o++] = '\t';
            i += 2;
            break;
        case 'r':
            out[o++] = '\r';
            i += 2;
            break;
        case 'u':
        case 'U': {
            size_t nd = s[i + 1] == 'u' ? 4 : 8, k;
            uint32_t cp = 0;
            for (k = 0; k < nd; k++) {
                int h = i + 2 + k < p->len ? hexval(s[i + 2 + k]) : -1;
                if (h < 0)
                    return perr(p, i, "\\%c needs %lu hex digits", s[i + 1],
                                (unsigned long)nd);
                if (cp > 0x10FFFF) /* keep going without overflow */
                    continue;
                cp = cp << 4 | (uint32_t)h;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return perr(p, i, "\\%c escape is not a Unicode scalar value",
                            s[i + 1]);
            /* \uXXXX (6 bytes) writes at most 3, \U (10) at most 4. */
            o += put_utf8(out + o, cp);
            i += 2 + nd;
            break;
        }
        default:
            return perr(p, i,
                        "unknown escape in string literal (use \\' \\\" "
                        "\\\\ \\n \\t \\r \\uXXXX \\UXXXXXXXX or '')");
        }
    }
    if (o > VM_MAX_STRING)
        return perr(p, start, "string literal longer than %u bytes",
                    VM_MAX_STRING);
    t->type = T_STRING;
    t->s.p = out;
    t->s.len = (uint32_t)o;
    p->at = i;
    return 0;
}

/* "double-quoted" field name; "" stands for one ". */
static int lex_qident(parser *p, tok *t)
{
    const char *s = p->text;
    size_t start = p->at, i = p->at + 1, o = 0;
    char name[VM_MAX_NAME + 1];
    for (;;) {
        if (i >= p->len)
            return perr(p, start, "unterminated quoted field name");
        if (s[i] == '"') {
            if (i + 1 < p->len && s[i + 1] == '"') {
                if (o < sizeof name)
                    name[o] = '"';
                o++;
                i += 2;
                continue;
            }
            i++;
            break;
        }
        if (o < sizeof name)
            name[o] = s[i];
        o++;
        i++;
    }
    if (o > VM_MAX_NAME || !vx_vm_name_valid(name, o))
        return perr(p, start,
                    "invalid field name (1..%u bytes of UTF-8 without control "
                    "characters)",
                    VM_MAX_NAME);
    t->type = T_QIDENT;
    t->s.p = vx_vmfi_alloc(p->b, o);
    if (t->s.p == NULL)
        return -1;
    memcpy((char *)t->s.p, name, o);
    t->s.len = (uint32_t)o;
    p->at = i;
    return 0;
}

static int lex_number(parser *p, tok *t)
{
    const char *s = p->text;
    size_t start = p->at, i = p->at;
    int is_double = 0, neg = 0;
    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    while (i < p->len && is_digit(s[i]))
        i++;
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(s[i]))
            return perr(p, start, "malformed number (a digit must follow '.')");
        while (i < p->len && is_digit(s[i]))
            i++;
        is_double = 1;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(s[i]))
            return perr(p, start,
                        "malformed number (digits must follow the "
                        "exponent)");
        while (i < p->len && is_digit(s[i]))
            i++;
        is_double = 1;
    }
    if (i < p->len && (is_ident_char(s[i]) || s[i] == '.'))
        return perr(p, start, "malformed number");
    if (i - start > MAX_NUMBER)
        return perr(p, start, "number literal longer than %u bytes",
                    MAX_NUMBER);
    if (is_double) {
        double d = vx_vmfi_strtod(s + start, i - start);
        if (!isfinite(d))
            return perr(p, start, "double literal out of range");
        t->type = T_DOUBLE;
        t->d = d;
    } else {
        uint64_t m = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
        size_t k;
        for (k = start + (size_t)neg; k < i; k++) {
            unsigned dg = (unsigned)(s[k] - '0');
            if (m > (lim - dg) / 10)
                return perr(p, start,
                            "integer literal out of the int64 range (write "
                            "a double, e.g. 1e20, for larger numbers)");
            m = m * 10 + dg;
        }
        t->type = T_INT;
        if (neg && m == (uint64_t)INT64_MAX + 1)
            t->i = INT64_MIN;
        else
            t->i = neg ? -(int64_t)m : (int64_t)m;
    }
    p->at = i;
    return 0;
}

static int keyword(const char *s, size_t n)
{
    size_t k, i;
    for (k = 0; k < vx_vmfi_n_keywords; k++) {
        const char *kw = vx_vmfi_keywords[k];
        if (strlen(kw) != n)
            continue;
        for (i = 0; i < n; i++) {
            char c = s[i];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            if (c != kw[i])
                break;
        }
        if (i == n)
            return (int)k;
    }
    return -1;
}

/* Read the next token into p->t. */
static int next(parser *p)
{
    const char *s = p->text;
    tok *t = &p->t;
    unsigned char c;
    while (p->at < p->len &&
           (s[p->at] == ' ' || s[p->at] == '\t' || s[p->at] == '\n' ||
            s[p->at] == '\r' || s[p->at] == '\f' || s[p->at] == '\v'))
        p->at++;
    memset(t, 0, sizeof *t);
    t->pos = (uint32_t)p->at;
    if (p->at >= p->len) {
        t->type = T_END;
        t->end = t->pos;
        return 0;
    }
    c = (unsigned char)s[p->at];
    switch (c) {
    case '(':
        t->type = T_LP;
        p->at++;
        break;
    case ')':
        t->type = T_RP;
        p->at++;
        break;
    case ',':
        t->type = T_COMMA;
        p->at++;
        break;
    case '=':
        t->type = T_OP;
        t->sub = VMF_EQ;
        p->at++;
        break;
    case '!':
        if (p->at + 1 < p->len && s[p->at + 1] == '=') {
            t->type = T_OP;
            t->sub = VMF_NE;
            p->at += 2;
            break;
        }
        return perr(p, p->at,
                    "unexpected character '!' (did you mean '!=' "
                    "or NOT?)");
    case '<':
        t->type = T_OP;
        t->sub = VMF_LT;
        p->at++;
        if (p->at < p->len && s[p->at] == '=') {
            t->sub = VMF_LE;
            p->at++;
        } else if (p->at < p->len && s[p->at] == '>') {
            t->sub = VMF_NE;
            p->at++;
        }
        break;
    case '>':
        t->type = T_OP;
        t->sub = VMF_GT;
        p->at++;
        if (p->at < p->len && s[p->at] == '=') {
            t->sub = VMF_GE;
            p->at++;
        }
        break;
    case '\'':
        if (lex_string(p, t) != 0)
            return -1;
        break;
    case '"':
        if (lex_qident(p, t) != 0)
            return -1;
        break;
    default:
        if (is_digit(c) ||
            (c == '-' && p->at + 1 < p->len && is_digit(s[p->at + 1]))) {
            if (lex_number(p, t) != 0)
                return -1;
        } else if (is_ident_start(c)) {
            size_t i = p->at;
            int kw;
            while (i < p->len && is_ident_char(s[i]))
                i++;
            kw = keyword(s + p->at, i - p->at);
            if (kw >= 0) {
                t->type = T_KW;
                t->sub = kw;
            } else {
                if (i - p->at > VM_MAX_NAME)
                    return perr(p, p->at, "field name longer than %u bytes",
                                VM_MAX_NAME);
                t->type = T_IDENT;
                t->s.p = s + p->at;
                t->s.len = (uint32_t)(i - p->at);
            }
            p->at = i;
        } else if (c < 0x20 || c == 0x7F) {
            return perr(p, p->at, "unexpected character 0x%02x", c);
        } else {
            /* One whole UTF-8 character (the text was checked). */
            size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            return perr(p, p->at, "unexpected character '%.*s'", (int)n,
                        s + p->at);
        }
    }
    t->end = (uint32_t)p->at;
    return 0;
}

/* ---- stacks ------------------------------------------------------------ */

static int push_op(parser *p, vmf_expr *e)
{
    if (p->n_ops == p->cap_ops) {
        size_t cap = p->cap_ops ? 2 * p->cap_ops : 16;
        vmf_expr **n = vx_mem_realloc(&p->b->mem, p->ops, cap * sizeof *n);
        if (n == NULL) {
            vx_vmfi_fail(p->b, VEX_NOMEM, VMF_NO_POS, "out of memory");
            return -1;
        }
        p->ops = n;
        p->cap_ops = cap;
    }
    p->ops[p->n_ops++] = e;
    return 0;
}

static int push_val(parser *p, vm_value v)
{
    if (p->n_vals == p->cap_vals) {
        size_t cap = p->cap_vals ? 2 * p->cap_vals : 16;
        vm_value *n = vx_mem_realloc(&p->b->mem, p->vals, cap * sizeof *n);
        if (n == NULL) {
            vx_vmfi_fail(p->b, VEX_NOMEM, VMF_NO_POS, "out of memory");
            return -1;
        }
        p->vals = n;
        p->cap_vals = cap;
    }
    p->vals[p->n_vals++] = v;
    return 0;
}

/* ---- parser ------------------------------------------------------------ */

static vmf_expr *parse_or(parser *p);

/* A literal value; `after` completes "expected a value after ...". */
static int parse_value(parser *p, const char *after, vm_value *v, uint32_t *pos)
{
    char fb[64];
    tok *t = &p->t;
    *pos = t->pos;
    switch (t->type) {
    case T_INT:
        *v = vx_vm_int(t->i);
        break;
    case T_DOUBLE:
        *v = vx_vm_double(t->d);
        break;
    case T_STRING:
        *v = vx_vm_string(t->s.p, t->s.len);
        break;
    case T_KW:
        if (t->sub == KW_TRUE || t->sub == KW_FALSE) {
            *v = vx_vm_bool(t->sub == KW_TRUE);
            break;
        }
        if (t->sub == KW_NULL)
            return perr(p, t->pos,
                        "NULL is not a value; use IS NULL or IS "
                        "NOT NULL");
        return perr(p, t->pos, "expected a value %s, found %s", after,
                    found(p, fb, sizeof fb));
    case T_QIDENT:
        return perr(p, t->pos,
                    "expected a value %s, found %s (string literals take "
                    "single quotes)",
                    after, found(p, fb, sizeof fb));
    default:
        return perr(p, t->pos, "expected a value %s, found %s", after,
                    found(p, fb, sizeof fb));
    }
    return next(p);
}

/* '(' value {',' value} ')' onto the value stack; `what` names the list.
 * `cls`: the class every value must have (VMF_CLS_NONE: the first one's). */
static int parse_list(parser *p, const char *what, int cls, uint32_t *lpos)
{
    char fb[64], after[48];
    size_t n = 0;
    if (p->t.type != T_LP)
        return perr(p, p->t.pos, "expected '(' after %s, found %s", what,
                    found(p, fb, sizeof fb));
    if (next(p) != 0)
        return -1;
    for (;;) {
        vm_value v;
        uint32_t pos;
        int c;
        snprintf(after, sizeof after, "in the %s list", what);
        if (parse_value(p, after, &v, &pos) != 0)
            return -1;
        c = vx_vmfi_class(v.type);
        if (n == 0)
            *lpos = pos;
        if (cls == VMF_CLS_NONE)
            cls = c;
        if (c != cls)
            return perr(p, pos, "the %s list takes %s, found %s", what,
                        cls == VMF_CLS_NUM   ? "numbers"
                        : cls == VMF_CLS_STR ? "strings"
                                             : "bools",
                        c == VMF_CLS_NUM   ? "a number"
                        : c == VMF_CLS_STR ? "a string"
                                           : "a bool");
        if (++n > VMF_MAX_LIST)
            return perr(p, pos, "more than %u values in one list",
                        VMF_MAX_LIST);
        if (push_val(p, v) != 0)
            return -1;
        if (p->t.type == T_RP)
            break;
        if (p->t.type != T_COMMA)
            return perr(p, p->t.pos,
                        "expected ',' or ')' in the %s list, "
                        "found %s",
                        what, found(p, fb, sizeof fb));
        if (next(p) != 0)
            return -1;
    }
    return next(p);
}

/* BETWEEN lo AND hi, the current token being BETWEEN. */
static vmf_expr *parse_between(parser *p, vm_str field, uint32_t fpos)
{
    char fb[64];
    vm_value v[2];
    uint32_t lpos, hpos;
    if (next(p) != 0 || parse_value(p, "after BETWEEN", &v[0], &lpos) != 0)
        return NULL;
    if (v[0].type == VM_BOOL) {
        perr(p, lpos, "BETWEEN needs two numbers or two strings");
        return NULL;
    }
    if (p->t.type != T_KW || p->t.sub != KW_AND) {
        perr(p, p->t.pos,
             "expected AND after the lower bound of BETWEEN, found %s",
             found(p, fb, sizeof fb));
        return NULL;
    }
    if (next(p) != 0 ||
        parse_value(p, "after BETWEEN ... AND", &v[1], &hpos) != 0)
        return NULL;
    if (vx_vmfi_class(v[1].type) != vx_vmfi_class(v[0].type)) {
        perr(p, hpos, "BETWEEN needs two numbers or two strings");
        return NULL;
    }
    return vx_vmfi_leaf(p->b, VMF_BETWEEN, 0, field, fpos, v, 2, lpos);
}

/* The condition after a field name. */
static vmf_expr *parse_predicate(parser *p)
{
    char fb[64], after[64];
    vm_str field = p->t.s;
    uint32_t fpos = p->t.pos, lpos = VMF_NO_POS;
    size_t base = p->n_vals;
    vmf_expr *e = NULL;
    vm_value v[2];
    int kind = 0, op = 0;

    if (next(p) != 0)
        return NULL;
    if (p->t.type == T_OP) {
        op = p->t.sub;
        snprintf(after, sizeof after, "after '%.*s'",
                 (int)(p->t.end - p->t.pos), p->text + p->t.pos);
        if (next(p) != 0 || parse_value(p, after, &v[0], &lpos) != 0)
            goto done;
        if (op >= VMF_LT && v[0].type == VM_BOOL) {
            perr(p, lpos, "'%s' cannot order bools; use = or !=",
                 op == VMF_LT   ? "<"
                 : op == VMF_LE ? "<="
                 : op == VMF_GT ? ">"
                                : ">=");
            goto done;
        }
        e = vx_vmfi_leaf(p->b, VMF_CMP, op, field, fpos, v, 1, lpos);
        goto done;
    }
    if (p->t.type != T_KW)
        goto bad_op;
    switch (p->t.sub) {
    case KW_NOT:
        if (next(p) != 0)
            goto done;
        if (p->t.type == T_KW && p->t.sub == KW_IN) {
            if (next(p) != 0 ||
                parse_list(p, "NOT IN", VMF_CLS_NONE, &lpos) != 0)
                goto done;
            e = vx_vmfi_leaf(p->b, VMF_NOT_IN, 0, field, fpos, p->vals + base,
                             p->n_vals - base, lpos);
        } else if (p->t.type == T_KW && p->t.sub == KW_BETWEEN) {
            e = parse_between(p, field, fpos);
            if (e)
                e = vx_vmfi_node(p->b, VMF_NOT, &e, 1, fpos);
        } else {
            perr(p, p->t.pos, "expected IN or BETWEEN after NOT, found %s",
                 found(p, fb, sizeof fb));
        }
        goto done;
    case KW_BETWEEN:
        e = parse_between(p, field, fpos);
        goto done;
    case KW_IN:
        if (next(p) != 0 || parse_list(p, "IN", VMF_CLS_NONE, &lpos) != 0)
            goto done;
        e = vx_vmfi_leaf(p->b, VMF_IN, 0, field, fpos, p->vals + base,
                         p->n_vals - base, lpos);
        goto done;
    case KW_CONTAINS:
        if (next(p) != 0)
            goto done;
        if (p->t.type == T_STRING) {
            if (parse_value(p, "after CONTAINS", &v[0], &lpos) != 0)
                goto done;
            e = vx_vmfi_leaf(p->b, VMF_CONTAINS, 0, field, fpos, v, 1, lpos);
            goto done;
        }
        if (p->t.type == T_KW && (p->t.sub == KW_ANY || p->t.sub == KW_ALL)) {
            int any = p->t.sub == KW_ANY;
            if (next(p) != 0 ||
                parse_list(p, any ? "CONTAINS ANY" : "CONTAINS ALL",
                           VMF_CLS_STR, &lpos) != 0)
                goto done;
            e = vx_vmfi_leaf(p->b, any ? VMF_CONTAINS_ANY : VMF_CONTAINS_ALL, 0,
                             field, fpos, p->vals + base, p->n_vals - base,
                             lpos);
            goto done;
        }
        perr(p, p->t.pos,
             "expected a string, ANY or ALL after CONTAINS, "
             "found %s",
             found(p, fb, sizeof fb));
        goto done;
    case KW_IS:
        if (next(p) != 0)
            goto done;
        kind = VMF_IS_NULL;
        if (p->t.type == T_KW && p->t.sub == KW_NOT) {
            kind = VMF_IS_NOT_NULL;
            if (next(p) != 0)
                goto done;
        }
        if (p->t.type != T_KW || p->t.sub != KW_NULL) {
            perr(p, p->t.pos, "expected %s after IS%s, found %s",
                 kind == VMF_IS_NULL ? "NULL or NOT NULL" : "NULL",
                 kind == VMF_IS_NULL ? "" : " NOT", found(p, fb, sizeof fb));
            goto done;
        }
        if (next(p) != 0)
            goto done;
        e = vx_vmfi_leaf(p->b, kind, 0, field, fpos, NULL, 0, VMF_NO_POS);
        goto done;
    default:
        break;
    }
bad_op:
    perr(p, p->t.pos,
         "expected an operator after field \"%.*s\" (=, !=, <, <=, >, >=, "
         "IN, NOT IN, BETWEEN, CONTAINS, IS), found %s",
         (int)field.len, field.p, found(p, fb, sizeof fb));
done:
    p->n_vals = base;
    return p->b->rc == VEX_OK ? e : NULL;
}

static int enter(parser *p, uint32_t pos)
{
    if (++p->depth > VMF_MAX_DEPTH)
        return perr(p, pos, "nesting deeper than %u levels", VMF_MAX_DEPTH);
    return 0;
}

static vmf_expr *parse_not(parser *p)
{
    char fb[64];
    uint32_t pos = p->t.pos;
    vmf_expr *e;
    if (p->t.type == T_KW && p->t.sub == KW_NOT) {
        if (enter(p, pos) != 0 || next(p) != 0)
            return NULL;
        e = parse_not(p);
        p->depth--;
        return e ? vx_vmfi_node(p->b, VMF_NOT, &e, 1, pos) : NULL;
    }
    if (p->t.type == T_LP) {
        if (enter(p, pos) != 0 || next(p) != 0)
            return NULL;
        e = parse_or(p);
        p->depth--;
        if (e == NULL)
            return NULL;
        if (p->t.type != T_RP) {
            perr(p, p->t.pos,
                 "expected AND, OR or ')' to close '(' at offset %lu, found "
                 "%s",
                 (unsigned long)pos, found(p, fb, sizeof fb));
            return NULL;
        }
        return next(p) == 0 ? e : NULL;
    }
    if (p->t.type == T_IDENT || p->t.type == T_QIDENT)
        return parse_predicate(p);
    perr(p, p->t.pos,
         "expected a condition (a field name, '(' or NOT), "
         "found %s",
         found(p, fb, sizeof fb));
    return NULL;
}

/* chain of `sub` (AND/OR) operands parsed by `operand` */
static vmf_expr *parse_chain(parser *p, int kw, int kind,
                             vmf_expr *(*operand)(parser *))
{
    size_t base = p->n_ops;
    uint32_t pos = p->t.pos;
    vmf_expr *e = operand(p);
    if (e == NULL)
        return NULL;
    if (!(p->t.type == T_KW && p->t.sub == kw))
        return e;
    if (push_op(p, e) != 0)
        goto fail;
    while (p->t.type == T_KW && p->t.sub == kw) {
        if (next(p) != 0 || (e = operand(p)) == NULL || push_op(p, e) != 0)
            goto fail;
    }
    e = vx_vmfi_node(p->b, kind, p->ops + base, p->n_ops - base, pos);
    p->n_ops = base;
    return e;
fail:
    p->n_ops = base;
    return NULL;
}

static vmf_expr *parse_and(parser *p)
{
    return parse_chain(p, KW_AND, VMF_AND, parse_not);
}

static vmf_expr *parse_or(parser *p)
{
    return parse_chain(p, KW_OR, VMF_OR, parse_and);
}

vmf_expr *vx_vmfi_parse(vmf_builder *b, const char *text, size_t len)
{
    parser p;
    vmf_expr *e = NULL;
    char fb[64];
    size_t bad;
    if (b->rc != VEX_OK)
        return NULL;
    if (text == NULL && len > 0)
        return vx_vmfi_fail(b, VEX_INVALID, VMF_NO_POS, "text is NULL");
    if (len > VMF_MAX_TEXT)
        return vx_vmfi_fail(b, VEX_INVALID, VMF_NO_POS,
                            "text of %lu bytes (at most %u)",
                            (unsigned long)len, VMF_MAX_TEXT);
    bad = vx_vm_utf8_prefix(text, len);
    if (bad != len)
        return vx_vmfi_fail(b, VEX_INVALID, (uint32_t)bad, "invalid UTF-8");
    memset(&p, 0, sizeof p);
    p.b = b;
    p.text = text;
    p.len = len;
    if (next(&p) != 0)
        goto done;
    if (p.t.type == T_END) {
        vx_vmfi_fail(b, VEX_INVALID, p.t.pos,
                     "expected a condition (a field name, '(' or NOT), found "
                     "end of input");
        goto done;
    }
    e = parse_or(&p);
    if (e && p.t.type != T_END) {
        perr(&p, p.t.pos, "expected AND, OR or end of input, found %s",
             found(&p, fb, sizeof fb));
        e = NULL;
    }
done:
    vx_mem_free(&b->mem, p.ops);
    vx_mem_free(&b->mem, p.vals);
    return b->rc == VEX_OK ? e : NULL;
}
