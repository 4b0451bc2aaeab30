/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_text.c - the text module through its headers: the tokenizer
 * (folding, separators, diacritics, invalid UTF-8, long tokens, stop
 * words), the Porter stemmer on the paper's examples.
 */
#include "test.h"

#include "text/text.h"

typedef struct tt_terms {
    char out[2048]; /* terms joined by '|' */
    size_t n;
    int count;
    int stop_at; /* return 99 at this term (0: never) */
} tt_terms;

static int tt_collect(void *ctx, const char *t, size_t len)
{
    tt_terms *c = ctx;
    c->count++;
    if (c->stop_at && c->count == c->stop_at)
        return 99;
    if (c->n + len + 2 < sizeof c->out) {
        if (c->n)
            c->out[c->n++] = '|';
        memcpy(c->out + c->n, t, len);
        c->n += len;
        c->out[c->n] = '\0';
    }
    return 0;
}

static int tt_tok(int stem, int stop, const char *text, size_t len, tt_terms *c)
{
    vt_analyzer a = {(uint8_t)stem, (uint8_t)stop};
    memset(c, 0, sizeof *c);
    return vx_text_tokenize(&a, text, len, tt_collect, c, NULL);
}

#define EXPECT_TERMS(stem, stop, text, want)                                   \
    do {                                                                       \
        tt_terms c_;                                                           \
        int rc__ = tt_tok(stem, stop, text, strlen(text), &c_);                \
        CHECK_RC(rc__, VEX_OK);                                                \
        CHECK_MSG(strcmp(c_.out, want) == 0, "%s -> '%s', wanted '%s'", text,  \
                  c_.out, want);                                               \
    } while (0)

static void test_ascii(void)
{
    EXPECT_TERMS(0, 0, "Hello, World! foo_bar x2y 3.14",
                 "hello|world|foo|bar|x2y|3|14");
    EXPECT_TERMS(0, 0, "", "");
    EXPECT_TERMS(0, 0, "  \t\n ", "");
    EXPECT_TERMS(0, 0, "a", "a");
    EXPECT_TERMS(0, 0, "don't e-mail@EXAMPLE.com", "don|t|e|mail|example|com");
}

static void test_unicode(void)
{
    /* Latin with diacritics folded to ASCII, ß and æ kept. */
    EXPECT_TERMS(0, 0, "Crème Brûlée ÆSIR Straße ÇA",
                 "creme|brulee|æsir|straße|ca");
    /* Greek: case folding (final sigma too), accents kept as FTS5 does. */
    EXPECT_TERMS(0, 0, "ΑΘΗΝΑ Οδυσσεύς ΣΟΦΟΣ", "αθηνα|οδυσσεύσ|σοφοσ");
    /* Cyrillic. */
    EXPECT_TERMS(0, 0, "Москва ПРИВЕТ Ёлка", "москва|привет|ёлка");
    /* Combining marks: Latin diacritics dropped inside a token. */
    EXPECT_TERMS(0, 0, "Cre\xcc\x80me", "creme");
    /* Unicode separators: no-break space, em dash, ideographic space,
     * right double quote, bullet. */
    EXPECT_TERMS(0, 0,
                 "a\xc2\xa0"
                 "b\xe2\x80\x94"
                 "c\xe3\x80\x80"
                 "d\xe2\x80\x9d"
                 "e\xe2\x80\xa2"
                 "f",
                 "a|b|c|d|e|f");
    /* CJK ideographs are letters; a 4-byte letter (Deseret) folds too. */
    EXPECT_TERMS(0, 0, "\xe4\xb8\xad\xe6\x96\x87 \xf0\x90\x90\x80",
                 "\xe4\xb8\xad\xe6\x96\x87|\xf0\x90\x90\xa8");
    /* NUL separates. */
    {
        tt_terms c;
        CHECK_RC(tt_tok(0, 0, "ab\0cd", 5, &c), VEX_OK);
        CHECK(strcmp(c.out, "ab|cd") == 0);
    }
    CHECK_EQ_INT(vx_text_fold_cp('Q'), 'q');
    CHECK_EQ_INT(vx_text_fold_cp('_'), -1);
    CHECK_EQ_INT(vx_text_fold_cp(0x301), 0); /* combining acute: dropped */
    CHECK_EQ_INT(vx_text_fold_cp(0x1EA4),
                 'a');                         /* A with circumflex and acute */
    CHECK_EQ_INT(vx_text_fold_cp(0x130), 'i'); /* I with dot above */
    CHECK_EQ_INT(vx_text_fold_cp(0x3A3), 0x3C3);
    CHECK_EQ_INT(vx_text_fold_cp(0x3C2), 0x3C3); /* final sigma */
    CHECK_EQ_INT(vx_text_fold_cp(0x2014), -1);
    CHECK_EQ_INT(vx_text_fold_cp(0xD800), -1);
    CHECK_EQ_INT(vx_text_fold_cp(0x110000), -1);
}

static void test_invalid_utf8(void)
{
    static const struct {
        const char *s;
        size_t len, off;
    } bad[] = {
        {"ab\x80", 3, 2},               /* lone continuation */
        {"\xc0\xaf", 2, 0},             /* overlong '/' */
        {"x\xe0\x80\xaf", 4, 1},        /* overlong, 3 bytes */
        {"\xed\xa0\x80", 3, 0},         /* surrogate */
        {"ok \xf4\x90\x80\x80", 7, 3},  /* above U+10FFFF */
        {"\xe2\x82", 2, 0},             /* truncated */
        {"\xf8\x88\x80\x80\x80", 5, 0}, /* 5-byte form */
        {"a\xc3(", 3, 1},               /* bad continuation */
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vex_err e;
        tt_terms c;
        char want[64];
        vt_analyzer a = {0, 0};
        vx_err_init(&e);
        memset(&c, 0, sizeof c);
        CHECK_RC(vx_text_tokenize(&a, bad[i].s, bad[i].len, tt_collect, &c, &e),
                 VEX_INVALID);
        snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", bad[i].off);
        CHECK_MSG(strstr(e.msg, want) != NULL, "case %zu: %s", i, e.msg);
        CHECK_RC(vx_text_check_utf8(bad[i].s, bad[i].len, "text", NULL),
                 VEX_INVALID);
        vx_err_destroy(&e);
    }
    CHECK_RC(vx_text_check_utf8("h\xc3\xa9 \xf0\x9f\x98\x80", 8, "t", NULL),
             VEX_OK);
}

static void test_long_and_stop(void)
{
    char buf[1000];
    tt_terms c;
    size_t i;
    /* A 600-letter token is cut to VT_MAX_TERM bytes; a 2-byte letter
     * that would straddle the limit is left out whole. */
    for (i = 0; i < 600; i++)
        buf[i] = 'x';
    CHECK_RC(tt_tok(0, 0, buf, 600, &c), VEX_OK);
    CHECK_EQ_INT(c.count, 1);
    CHECK_EQ_INT(c.n, VT_MAX_TERM);
    buf[0] = 'y';
    memcpy(buf + 1, "\xc3\xa6", 2);
    for (i = 3; i < 260; i++)
        buf[i] = (char)(i % 2 ? 'a' : '\xc3');
    buf[VT_MAX_TERM - 1] = '\xce';
    buf[VT_MAX_TERM] = '\xb1'; /* alpha straddling byte 255 */
    {
        vt_analyzer a = {0, 0};
        /* Just a clean result: every term is valid UTF-8 and short. */
        for (i = 3; i + 1 < VT_MAX_TERM - 1; i += 2) {
            buf[i] = '\xc3';
            buf[i + 1] = '\xa9';
        }
        memset(&c, 0, sizeof c);
        CHECK_RC(
            vx_text_tokenize(&a, buf, VT_MAX_TERM + 1, tt_collect, &c, NULL),
            VEX_OK);
        CHECK(c.n <= VT_MAX_TERM);
        CHECK_RC(vx_text_check_utf8(c.out, c.n, "term", NULL), VEX_OK);
    }
    /* Stop words go, and do not count. */
    EXPECT_TERMS(0, 1, "The cat and THE hat of it", "cat|hat");
    EXPECT_TERMS(0, 0, "The cat", "the|cat");
    CHECK(vx_text_is_stopword("the", 3));
    CHECK(!vx_text_is_stopword("th", 2));
    CHECK(!vx_text_is_stopword("thee", 4));
    /* A callback's non-zero return stops the walk. */
    {
        vt_analyzer a = {0, 0};
        memset(&c, 0, sizeof c);
        c.stop_at = 2;
        CHECK_EQ_INT(vx_text_tokenize(&a, "a b c d", 7, tt_collect, &c, NULL),
                     99);
        CHECK_EQ_INT(c.count, 2);
    }
}

static void test_porter(void)
{
    /* Full-pipeline results of the published algorithm. */
    static const char *const pairs[][2] = {
        {"caresses", "caress"},
        {"ponies", "poni"},
        {"ties", "ti"},
        {"caress", "caress"},
        {"cats", "cat"},
        {"feed", "feed"},
        {"agreed", "agre"},
        {"plastered", "plaster"},
        {"bled", "bled"},
        {"motoring", "motor"},
        {"sing", "sing"},
        {"conflated", "conflat"},
        {"troubled", "troubl"},
        {"sized", "size"},
        {"hopping", "hop"},
        {"tanned", "tan"},
        {"falling", "fall"},
        {"hissing", "hiss"},
        {"fizzed", "fizz"},
        {"failing", "fail"},
        {"filing", "file"},
        {"happy", "happi"},
        {"sky", "sky"},
        {"relational", "relat"},
        {"conditional", "condit"},
        {"rational", "ration"},
        {"digitizer", "digit"},
        {"operator", "oper"},
        {"feudalism", "feudal"},
        {"decisiveness", "decis"},
        {"hopefulness", "hope"},
        {"callousness", "callous"},
        {"formality", "formal"},
        {"sensitivity", "sensit"},
        {"triplicate", "triplic"},
        {"formative", "form"},
        {"electrical", "electr"},
        {"goodness", "good"},
        {"revival", "reviv"},
        {"allowance", "allow"},
        {"inference", "infer"},
        {"airliner", "airlin"},
        {"adjustable", "adjust"},
        {"defensible", "defens"},
        {"irritant", "irrit"},
        {"replacement", "replac"},
        {"adjustment", "adjust"},
        {"dependent", "depend"},
        {"adoption", "adopt"},
        {"communism", "commun"},
        {"activate", "activ"},
        {"effective", "effect"},
        {"bowdlerize", "bowdler"},
        {"probate", "probat"},
        {"rate", "rate"},
        {"cease", "ceas"},
        {"controlling", "control"},
        {"roll", "roll"},
        {"generalizations", "gener"},
        {"oscillators", "oscil"},
        {"connections", "connect"},
        {"cement", "cement"},
        {"is", "is"},
        {"as", "as"},
        {"vietnamization", "vietnam"},
        {"conformably", "conform"},
    };
    size_t i;
    for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char w[64];
        size_t n = strlen(pairs[i][0]);
        memcpy(w, pairs[i][0], n);
        n = vx_text_porter(w, n);
        w[n] = '\0';
        CHECK_MSG(strcmp(w, pairs[i][1]) == 0, "%s -> %s, wanted %s",
                  pairs[i][0], w, pairs[i][1]);
    }
    /* Porter's own two changes to the paper: BLI -> BLE, LOGI -> LOG. */
    {
        static const char *const more[][2] = {
            {"conformabli", "conform"},
            {"assembly", "assembl"},
            {"topology", "topolog"},
            {"archaeology", "archaeolog"},
        };
        for (i = 0; i < sizeof more / sizeof more[0]; i++) {
            char w[64];
            size_t n = strlen(more[i][0]);
            memcpy(w, more[i][0], n);
            n = vx_text_porter(w, n);
            w[n] = '\0';
            CHECK_MSG(strcmp(w, more[i][1]) == 0, "%s -> %s, wanted %s",
                      more[i][0], w, more[i][1]);
        }
    }
    /* Through the tokenizer: digits and other bytes are consonants; terms
     * over 64 bytes are left alone. */
    EXPECT_TERMS(1, 0, "Running runners ran x86s naïvely",
                 "run|runner|ran|x86|naiv");
    EXPECT_TERMS(1, 0, "ölkännchens", "olkannchen");
    {
        char w[80];
        tt_terms c;
        memset(w, 'a', 61);
        memcpy(w + 61, "ings", 4); /* 65 bytes: untouched */
        CHECK_RC(tt_tok(1, 0, w, 65, &c), VEX_OK);
        CHECK_EQ_INT(c.n, 65);
        CHECK_RC(tt_tok(1, 0, w + 1, 64, &c), VEX_OK);
        CHECK_EQ_INT(c.n, 60); /* 64 bytes: stemmed */
    }
}

int main(void)
{
    TEST_RUN(test_ascii);
    TEST_RUN(test_unicode);
    TEST_RUN(test_invalid_utf8);
    TEST_RUN(test_long_and_stop);
    TEST_RUN(test_porter);
    return TEST_EXIT();
}
