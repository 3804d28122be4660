/* Stop strings over streamed text. The reference, from the definition: the
 * stream ends at the first stop string to complete (earliest end; at equal
 * ends, the longest); the text before it is what gets out. Every text is fed
 * split at every position (and every pair of positions, and byte by byte);
 * after each feed the text out so far must be exactly what was fed minus the
 * longest tail that starts some stop string. */
#include <stdlib.h>
#include <string.h>

#include "brisk.h"
#include "test.h"

/* Bytes of text[0..n) that get out: n when no stop string occurs. */
static size_t ref_before_stop(const char *text, size_t n, const char *const *stops, int ns,
                              bool *found) {
    for (size_t end = 1; end <= n; end++) {
        size_t best = 0;
        for (int i = 0; i < ns; i++) {
            const size_t m = strlen(stops[i]);
            if (m <= end && m > best && memcmp(text + end - m, stops[i], m) == 0) best = m;
        }
        if (best) {
            *found = true;
            return end - best;
        }
    }
    *found = false;
    return n;
}

/* Longest tail of text[0..n) that is a proper prefix of some stop string. */
static size_t ref_hold(const char *text, size_t n, const char *const *stops, int ns) {
    size_t hold = 0;
    for (int i = 0; i < ns; i++) {
        const size_t m = strlen(stops[i]);
        for (size_t k = 1; k < m && k <= n; k++)
            if (k > hold && memcmp(text + n - k, stops[i], k) == 0) hold = k;
    }
    return hold;
}

/* Feed text cut at cuts[0..n_cuts) (increasing) and check every step against
 * the reference. Returns the number of wrong steps. */
static int run_split(const char *text, size_t n, const char *const *stops, int ns,
                     const size_t *cuts, int n_cuts) {
    brisk_error err = {0};
    brisk_stop *s = brisk_stop_create(stops, ns, &err);
    if (!s) {
        test_fail_at(__FILE__, __LINE__, "stop_create: %s", err.msg);
        return 1;
    }
    bool want_found;
    const size_t want = ref_before_stop(text, n, stops, ns, &want_found);
    char *out = malloc(n + 1);
    size_t out_len = 0, from = 0;
    int wrong = 0;
    bool stopped = false;
    for (int c = 0; c <= n_cuts; c++) {
        const size_t to = c < n_cuts ? cuts[c] : n;
        const char *emit = NULL;
        size_t emit_len = 99;
        const bool r = brisk_stop_feed(s, text + from, to - from, &emit, &emit_len);
        if (!emit || out_len + emit_len > n) {
            wrong++;
            break;
        }
        memcpy(out + out_len, emit, emit_len);
        out_len += emit_len;
        from = to;
        if (stopped) { /* after the stop: nothing more */
            wrong += !r || emit_len != 0;
            continue;
        }
        bool found_so_far;
        ref_before_stop(text, to, stops, ns, &found_so_far);
        if (found_so_far) { /* the stop completed in this feed */
            wrong += !r || out_len != want;
            stopped = true;
        } else {
            wrong += r || out_len != to - ref_hold(text, to, stops, ns);
        }
    }
    const char *emit = NULL;
    size_t emit_len = 99;
    brisk_stop_flush(s, &emit, &emit_len);
    if (emit && out_len + emit_len <= n) {
        memcpy(out + out_len, emit, emit_len);
        out_len += emit_len;
    } else {
        wrong++;
    }
    /* in total: the text before the stop, or all of it */
    wrong += stopped != want_found || out_len != want || memcmp(out, text, out_len) != 0;
    free(out);
    brisk_stop_free(s);
    return wrong;
}

/* Every split into one, two and three pieces, and one byte per feed. */
static int run_all_splits(const char *text, const char *const *stops, int ns) {
    const size_t n = strlen(text);
    int wrong = run_split(text, n, stops, ns, NULL, 0);
    for (size_t a = 0; a <= n; a++) {
        wrong += run_split(text, n, stops, ns, (size_t[]){a}, 1);
        for (size_t b = a; b <= n; b++) wrong += run_split(text, n, stops, ns, (size_t[]){a, b}, 2);
    }
    size_t *bytes = malloc((n + 1) * sizeof *bytes);
    for (size_t i = 0; i < n; i++) bytes[i] = i + 1;
    wrong += run_split(text, n, stops, ns, bytes, (int)n);
    free(bytes);
    return wrong;
}

TEST(stop_create_args) {
    brisk_error err = {0};
    const char *empty[] = {"ok", ""};
    CHECK(brisk_stop_create(empty, 2, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    const char *null_entry[] = {"ok", NULL};
    err.status = BRISK_OK;
    CHECK(brisk_stop_create(null_entry, 2, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    err.status = BRISK_OK;
    CHECK(brisk_stop_create(NULL, 1, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    err.status = BRISK_OK;
    CHECK(brisk_stop_create(empty, -1, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_ARG);
    brisk_stop *s = brisk_stop_create(NULL, 0, &err); /* no stop strings */
    CHECK(s != NULL);
    brisk_stop_free(s);
    brisk_stop_free(NULL);
}

TEST(stop_passthrough_without_stops) {
    brisk_stop *s = brisk_stop_create(NULL, 0, NULL);
    if (!s) return;
    const char *pieces[] = {"Hello", "", " wor", "ld\n", "<"};
    for (int i = 0; i < 5; i++) {
        const char *emit;
        size_t len;
        CHECK(!brisk_stop_feed(s, pieces[i], strlen(pieces[i]), &emit, &len));
        CHECK(len == strlen(pieces[i]) && memcmp(emit, pieces[i], len) == 0);
    }
    const char *emit;
    size_t len = 1;
    brisk_stop_flush(s, &emit, &len);
    CHECK_EQ_INT(len, 0);
    brisk_stop_free(s);
    CHECK_EQ_INT(run_all_splits("any text <at all>", NULL, 0), 0);
}

/* One stop string, step by step: what is held and when. */
TEST(stop_holds_only_possible_starts) {
    const char *stops[] = {"</s>"};
    brisk_stop *s = brisk_stop_create(stops, 1, NULL);
    if (!s) return;
    const char *emit;
    size_t len;
    CHECK(!brisk_stop_feed(s, "Hello <", 7, &emit, &len));
    CHECK(len == 6 && memcmp(emit, "Hello ", 6) == 0);
    CHECK(!brisk_stop_feed(s, "b>", 2, &emit, &len)); /* "<b>" is not "</s>" */
    CHECK(len == 3 && memcmp(emit, "<b>", 3) == 0);
    CHECK(!brisk_stop_feed(s, " </", 3, &emit, &len));
    CHECK(len == 1 && memcmp(emit, " ", 1) == 0);
    CHECK(brisk_stop_feed(s, "s>tail", 6, &emit, &len));
    CHECK_EQ_INT(len, 0);
    CHECK(brisk_stop_feed(s, "more", 4, &emit, &len)); /* stays stopped */
    CHECK_EQ_INT(len, 0);
    brisk_stop_flush(s, &emit, &len); /* the tail after the stop is dropped */
    CHECK_EQ_INT(len, 0);
    brisk_stop_free(s);

    s = brisk_stop_create(stops, 1, NULL);
    if (!s) return;
    CHECK(!brisk_stop_feed(s, "end </", 6, &emit, &len));
    CHECK_EQ_INT(len, 4);
    brisk_stop_flush(s, &emit, &len); /* no stop: the held "</" comes out */
    CHECK(len == 2 && memcmp(emit, "</", 2) == 0);
    brisk_stop_flush(s, &emit, &len);
    CHECK_EQ_INT(len, 0);
    brisk_stop_free(s);
}

TEST(stop_every_split_hand_cases) {
    static const struct {
        const char *text;
        const char *stops[3];
        int ns;
    } cases[] = {
        {"Hello</s>world", {"</s>"}, 1},
        {"Hello world", {"</s>"}, 1},
        {"Hello world </", {"</s>"}, 1},
        {"</s>", {"</s>"}, 1},
        {"a</s></s>", {"</s>"}, 1},
        {"xxabcd", {"abcd", "c"}, 2},         /* the shorter completes first */
        {"zab", {"ab", "b"}, 2},              /* same end: the longer one */
        {"xaaab", {"aab"}, 1},                /* held "aa" shifts by one */
        {"abababac", {"ababac"}, 1},
        {"User: hi\n\nUser:", {"\n\n", "User:"}, 2},
        {"one two three", {"two", "three", "one two three four"}, 3},
        {"<|im_end|> <|im_start|>", {"<|im_start|>", "<|im_end|>"}, 2},
        {"abcabcab", {"cabd", "bcax", "abcabcabx"}, 3},
        {"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 done", {"\xc3\xb6", "\xe2\x9c\x93"}, 2},
        {"h\xc3\xa9llo \xe2\x9c\x93", {"\xe2\x9c\x94", "\xc3\xa9l"}, 2},
        {"caf\xc3\xa9", {"\xc3\xa9x"}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int wrong = run_all_splits(cases[i].text, cases[i].stops, cases[i].ns);
        CHECK_MSG(wrong == 0, "case %zu (\"%s\"): %d wrong steps", i, cases[i].text, wrong);
    }
}

/* Random texts over a tiny alphabet, with short random stop strings: many
 * overlaps, partial matches and stop strings inside others. */
TEST(stop_every_split_random) {
    test_seed(77);
    char text[26], stop_buf[3][6];
    for (int trial = 0; trial < 600; trial++) {
        const size_t n = test_rand_u64() % 25;
        for (size_t i = 0; i < n; i++) text[i] = "abc"[test_rand_u64() % 3];
        text[n] = 0;
        const int ns = 1 + (int)(test_rand_u64() % 3);
        const char *stops[3];
        for (int j = 0; j < ns; j++) {
            const size_t m = 1 + test_rand_u64() % 5;
            for (size_t i = 0; i < m; i++) stop_buf[j][i] = "abc"[test_rand_u64() % 3];
            stop_buf[j][m] = 0;
            stops[j] = stop_buf[j];
        }
        const int wrong = run_all_splits(text, stops, ns);
        CHECK_MSG(wrong == 0, "text \"%s\", %d stop strings (\"%s\"...): %d wrong steps", text,
                  ns, stops[0], wrong);
    }
}

/* A long text in one feed and then in many pieces of odd sizes: the buffer grows. */
TEST(stop_long_text) {
    enum { N = 100000 };
    char *text = malloc(N + 1);
    for (int i = 0; i < N; i++) text[i] = "xy<"[test_rand_u64() % 3];
    memcpy(text + N - 20, "<stop>", 6);
    text[N] = 0;
    const char *stops[] = {"<stop>", "<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<"};
    size_t cuts[2000];
    int n_cuts = 0;
    for (size_t at = 0; n_cuts < 2000 && at < N; n_cuts++) {
        at += 1 + test_rand_u64() % 97;
        cuts[n_cuts] = at < N ? at : N;
    }
    CHECK_EQ_INT(run_split(text, N, stops, 2, NULL, 0), 0);
    CHECK_EQ_INT(run_split(text, N, stops, 2, cuts, n_cuts), 0);
    free(text);
}
