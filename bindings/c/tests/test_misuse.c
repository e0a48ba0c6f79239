/* Every misuse of the C ABI returns its own status and a fresh message naming the function,
 * and leaves the caller's outputs and states untouched: NULL everywhere, wrong lengths,
 * foreign and repeated states, overlapping and misaligned buffers, missing, corrupted and
 * truncated files, unknown kernel sets, and saved states that are truncated, damaged or
 * from another model. */
#define _POSIX_C_SOURCE 200112L /* setenv, unsetenv */
#include "common.h"

static recur_model *g_gru, *g_other, *g_lstm, *g_bi;

static void test_open(void) {
    recur_model *sentinel = (recur_model *)&g_pass, *m = sentinel;
    size_t len;
    uint8_t *bad = read_file(model_path("lstm2_corrupt.recur"), &len);
    uint8_t one = 0;

    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_model_open", recur_model_open(NULL, &m));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_model_open", recur_model_open(model_path("gru.recur"), NULL));
    EXPECT_FAIL(RECUR_IO_ERROR, "recur_model_open", recur_model_open(model_path("missing.recur"), &m));
    EXPECT_FAIL(RECUR_IO_ERROR, "recur_model_open", recur_model_open(g_dir, &m)); /* a folder */
    EXPECT_FAIL(RECUR_INVALID_FILE, "recur_model_open", recur_model_open(model_path("lstm2_corrupt.recur"), &m));
    EXPECT_FAIL(RECUR_INVALID_FILE, "recur_model_open", recur_model_open(model_path("lstm2_truncated.recur"), &m));
    EXPECT_FAIL(RECUR_INVALID_FILE, "recur_model_open", recur_model_open(model_path("not_a_model.recur"), &m));
    EXPECT_FAIL(RECUR_IO_ERROR, "recur_model_open", recur_model_open("", &m));
    CHECK(m == sentinel); /* *out written only on success */
    if (getenv("RECUR_TEST_VERBOSE")) printf("  corrupted file: %s\n", recur_last_error());

    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_model_from_bytes", recur_model_from_bytes(NULL, 10, &m));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_model_from_bytes", recur_model_from_bytes(bad, len, NULL));
    EXPECT_FAIL(RECUR_INVALID_FILE, "recur_model_from_bytes", recur_model_from_bytes(bad, len, &m));
    EXPECT_FAIL(RECUR_INVALID_FILE, "recur_model_from_bytes", recur_model_from_bytes(NULL, 0, &m));
    EXPECT_FAIL(RECUR_INVALID_FILE, "recur_model_from_bytes", recur_model_from_bytes(&one, 1, &m));
    CHECK(m == sentinel);
    free(bad);
}

/* RECUR_ISA forcing a kernel set that does not exist, or that this CPU lacks. */
static void test_isa(void) {
    recur_model *m = NULL;
    const char *names[] = {"scalar", "portable", "avx2", "avx512", "neon"};
    size_t i, missing = 0;
    setenv("RECUR_ISA", "bogus", 1);
    EXPECT_FAIL(RECUR_UNSUPPORTED_ISA, "recur_model_open", recur_model_open(model_path("gru.recur"), &m));
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        recur_status s;
        setenv("RECUR_ISA", names[i], 1);
        s = recur_model_open(model_path("gru.recur"), &m);
        if (s == RECUR_OK) {
            CHECK(strcmp(recur_model_isa(m), names[i]) == 0);
            recur_model_free(m);
        } else {
            CHECK(s == RECUR_UNSUPPORTED_ISA && strstr(recur_last_error(), names[i]) != NULL);
            missing++;
        }
    }
    CHECK(missing >= 1); /* no CPU has both NEON and AVX2 */
    unsetenv("RECUR_ISA");
}

static void test_null_handles(void) {
    recur_state *s = NULL;
    float x[64] = {0}, y[64] = {0};
    uint8_t buf[16] = {0};

    /* functions without a status: a neutral value and a message */
    SENTINEL();
    CHECK(recur_model_output_size(NULL) == 0 && strncmp(recur_last_error(), "recur_model_output_size:", 24) == 0);
    CHECK(recur_model_input_size(NULL) == 0);
    CHECK(strcmp(recur_model_isa(NULL), "") == 0 && strncmp(recur_last_error(), "recur_model_isa:", 16) == 0);
    CHECK(!recur_model_is_streamable(NULL));
    CHECK(recur_state_size(NULL) == 0 && strncmp(recur_last_error(), "recur_state_size:", 17) == 0);
    recur_model_free(NULL);
    recur_state_free(NULL);

    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_new", recur_state_new(NULL, &s));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_new", recur_state_new(g_gru, NULL));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_reset", recur_state_reset(NULL));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_save", recur_state_save(NULL, buf, sizeof buf));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_load", recur_state_load(NULL, buf, sizeof buf));
    s = new_state(g_gru);
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step", recur_step(NULL, s, x, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step", recur_step(g_gru, NULL, x, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step", recur_step(g_gru, s, NULL, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step", recur_step(g_gru, s, x, 40, NULL, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_run", recur_run(NULL, s, 1, x, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_run", recur_run(g_gru, NULL, 1, x, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_run", recur_run(g_gru, s, 1, NULL, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_run", recur_run(g_gru, s, 1, x, 40, NULL, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step_many", recur_step_many(NULL, &s, 1, x, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step_many", recur_step_many(g_gru, NULL, 1, x, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step_many", recur_step_many(g_gru, &s, 1, NULL, 40, y, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step_many", recur_step_many(g_gru, &s, 1, x, 40, NULL, 12));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step_many_threads",
                recur_step_many_threads(g_gru, NULL, 1, x, 40, y, 12, 1));
    {
        recur_state *two[2];
        two[0] = s;
        two[1] = NULL;
        EXPECT_FAIL(RECUR_NULL_POINTER, "recur_step_many", recur_step_many(g_gru, two, 2, x, 80, y, 24));
    }
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_save", recur_state_save(s, NULL, recur_state_size(g_gru)));
    EXPECT_FAIL(RECUR_NULL_POINTER, "recur_state_load", recur_state_load(s, NULL, recur_state_size(g_gru)));
    recur_state_free(s);
}

/* Fills y with a pattern, to see that a failing call leaves it alone. */
static void poison(float *y, size_t n) { memset(y, 0xA5, n * sizeof(float)); }
static int poisoned(const float *y, size_t n) {
    size_t i;
    const unsigned char *b = (const unsigned char *)y;
    for (i = 0; i < n * sizeof(float); i++)
        if (b[i] != 0xA5) return 0;
    return 1;
}

static void test_lengths(void) {
    recur_state *s = new_state(g_gru), *many[3];
    size_t size = recur_state_size(g_gru);
    float x[3 * 40], y[3 * 12];
    uint8_t *saved = (uint8_t *)xmalloc(size + 1), *after = (uint8_t *)xmalloc(size);
    fill_inputs(x, 3 * 40, 7);
    EXPECT_OK(recur_step(g_gru, s, x, 40, y, 12)); /* a state that is not all zeros */
    EXPECT_OK(recur_state_save(s, saved, size));
    poison(y, 3 * 12);

    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step", recur_step(g_gru, s, x, 39, y, 12));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step", recur_step(g_gru, s, x, 41, y, 12));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step", recur_step(g_gru, s, x, 40, y, 11));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step", recur_step(g_gru, s, x, 40, y, 13));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step", recur_step(g_gru, s, x, 0, y, 12));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_run", recur_run(g_gru, s, 2, x, 40, y, 24));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_run", recur_run(g_gru, s, 2, x, 80, y, 12));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_run", recur_run(g_gru, s, 1, x, 80, y, 24));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_run", recur_run(g_gru, s, (size_t)-1, x, 40, y, 12));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_run", recur_run(g_gru, s, 0, x, 40, y, 0));
    many[0] = s;
    many[1] = new_state(g_gru);
    many[2] = new_state(g_gru);
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step_many", recur_step_many(g_gru, many, 3, x, 80, y, 36));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step_many", recur_step_many(g_gru, many, 3, x, 120, y, 24));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step_many", recur_step_many(g_gru, many, 2, x, 120, y, 36));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_step_many_threads",
                recur_step_many_threads(g_gru, many, 3, x, 121, y, 36, 2));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_save", recur_state_save(s, after, size - 1));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_save", recur_state_save(s, saved, size + 1));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_save", recur_state_save(s, after, 0));

    CHECK(poisoned(y, 3 * 12));
    EXPECT_OK(recur_state_save(s, after, size));
    CHECK(memcmp(saved, after, size) == 0); /* the state did not move */
    recur_state_free(many[1]);
    recur_state_free(many[2]);
    recur_state_free(s);
    free(saved);
    free(after);
}

static void test_foreign_and_aliased(void) {
    recur_state *s = new_state(g_gru), *lstm = new_state(g_lstm), *other = new_state(g_other);
    recur_state *many[40];
    float x[40 * 40], y[40 * 12];
    size_t size = recur_state_size(g_gru), i;
    uint8_t *saved = (uint8_t *)xmalloc(size), *after = (uint8_t *)xmalloc(size);
    fill_inputs(x, 40 * 40, 8);
    EXPECT_OK(recur_state_save(s, saved, size));
    poison(y, 40 * 12);

    /* a state of another model: another shape, or the same shape with other weights */
    EXPECT_FAIL(RECUR_FOREIGN_STATE, "recur_step", recur_step(g_gru, lstm, x, 40, y, 12));
    EXPECT_FAIL(RECUR_FOREIGN_STATE, "recur_step", recur_step(g_gru, other, x, 40, y, 12));
    EXPECT_FAIL(RECUR_FOREIGN_STATE, "recur_run", recur_run(g_gru, other, 1, x, 40, y, 12));
    many[0] = s;
    many[1] = other;
    EXPECT_FAIL(RECUR_FOREIGN_STATE, "recur_step_many", recur_step_many(g_gru, many, 2, x, 80, y, 24));
    /* the same state twice (two pairs of hands on one stream), few and many states */
    many[1] = s;
    EXPECT_FAIL(RECUR_ALIASED_STATE, "recur_step_many", recur_step_many(g_gru, many, 2, x, 80, y, 24));
    for (i = 0; i < 40; i++) many[i] = new_state(g_gru);
    EXPECT_OK(recur_step_many(g_gru, many, 40, x, 40 * 40, y, 40 * 12));
    poison(y, 40 * 12);
    recur_state_free(many[39]);
    many[39] = many[7];
    EXPECT_FAIL(RECUR_ALIASED_STATE, "recur_step_many", recur_step_many(g_gru, many, 40, x, 40 * 40, y, 40 * 12));
    EXPECT_FAIL(RECUR_ALIASED_STATE, "recur_step_many_threads",
                recur_step_many_threads(g_gru, many, 40, x, 40 * 40, y, 40 * 12, 1));
    for (i = 0; i < 39; i++) recur_state_free(many[i]);

    CHECK(poisoned(y, 40 * 12));
    EXPECT_OK(recur_state_save(s, after, size));
    CHECK(memcmp(saved, after, size) == 0);
    recur_state_free(s);
    recur_state_free(lstm);
    recur_state_free(other);
    free(saved);
    free(after);
}

static void test_buffers(void) {
    recur_state *s = new_state(g_gru), *many[2];
    float buf[200];
    union {
        float f[64];
        unsigned char b[64 * sizeof(float)];
    } raw;
    float *odd = (float *)(void *)(raw.b + 1); /* never dereferenced by the test */
    fill_inputs(buf, 200, 9);
    many[0] = s;
    many[1] = new_state(g_gru);
    /* output inside the input (or the reverse) */
    EXPECT_FAIL(RECUR_OVERLAPPING_BUFFERS, "recur_step", recur_step(g_gru, s, buf, 40, buf + 30, 12));
    EXPECT_FAIL(RECUR_OVERLAPPING_BUFFERS, "recur_step", recur_step(g_gru, s, buf + 5, 40, buf, 12));
    EXPECT_FAIL(RECUR_OVERLAPPING_BUFFERS, "recur_run", recur_run(g_gru, s, 2, buf, 80, buf + 79, 24));
    EXPECT_FAIL(RECUR_OVERLAPPING_BUFFERS, "recur_step_many", recur_step_many(g_gru, many, 2, buf, 80, buf + 60, 24));
    EXPECT_OK(recur_step(g_gru, s, buf, 40, buf + 40, 12)); /* adjacent is fine */
    EXPECT_FAIL(RECUR_MISALIGNED_POINTER, "recur_step", recur_step(g_gru, s, odd, 40, buf, 12));
    EXPECT_FAIL(RECUR_MISALIGNED_POINTER, "recur_step", recur_step(g_gru, s, buf, 40, odd, 12));
    raw.f[0] = 0.0f;
    recur_state_free(many[1]);
    recur_state_free(s);
}

static void test_not_streamable(void) {
    recur_state *s = new_state(g_bi), *two[2];
    float x[16] = {0}, y[8];
    poison(y, 8);
    two[0] = s;
    two[1] = new_state(g_bi);
    EXPECT_FAIL(RECUR_NOT_STREAMABLE, "recur_step", recur_step(g_bi, s, x, 8, y, 4));
    EXPECT_FAIL(RECUR_NOT_STREAMABLE, "recur_step_many", recur_step_many(g_bi, two, 2, x, 16, y, 8));
    CHECK(poisoned(y, 8));
    EXPECT_OK(recur_run(g_bi, s, 1, x, 8, y, 4));
    recur_state_free(two[1]);
    recur_state_free(s);
}

static void test_saved_states(void) {
    recur_state *s = new_state(g_gru), *other = new_state(g_other), *lstm = new_state(g_lstm);
    size_t size = recur_state_size(g_gru), lsize = recur_state_size(g_lstm);
    uint8_t *mine = (uint8_t *)xmalloc(size), *theirs = (uint8_t *)xmalloc(size);
    uint8_t *ltheirs = (uint8_t *)xmalloc(lsize), *after = (uint8_t *)xmalloc(size);
    float x[40], y[12];
    fill_inputs(x, 40, 10);
    CHECK(size == recur_state_size(g_other) && size != lsize);
    EXPECT_OK(recur_step(g_gru, s, x, 40, y, 12));
    EXPECT_OK(recur_step(g_other, other, x, 40, y, 12));
    EXPECT_OK(recur_state_save(s, mine, size));
    EXPECT_OK(recur_state_save(other, theirs, size));
    EXPECT_OK(recur_state_save(lstm, ltheirs, lsize));

    /* truncated */
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_load", recur_state_load(s, mine, size - 1));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_load", recur_state_load(s, mine, 8));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_load", recur_state_load(s, NULL, 0));
    /* from another model: the same shape with other weights, or another shape */
    EXPECT_FAIL(RECUR_INVALID_STATE_DATA, "recur_state_load", recur_state_load(s, theirs, size));
    EXPECT_FAIL(RECUR_INVALID_LENGTH, "recur_state_load", recur_state_load(s, ltheirs, lsize));
    /* damaged header */
    theirs[0] ^= 1;
    memcpy(theirs + 8, mine + 8, size - 8);
    EXPECT_FAIL(RECUR_INVALID_STATE_DATA, "recur_state_load", recur_state_load(s, theirs, size));
    memcpy(theirs, mine, size);
    theirs[4] ^= 1; /* the float count */
    EXPECT_FAIL(RECUR_INVALID_STATE_DATA, "recur_state_load", recur_state_load(s, theirs, size));

    EXPECT_OK(recur_state_save(s, after, size));
    CHECK(memcmp(mine, after, size) == 0); /* a refused load leaves the state alone */
    recur_state_free(s);
    recur_state_free(other);
    recur_state_free(lstm);
    free(mine);
    free(theirs);
    free(ltheirs);
    free(after);
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    g_gru = open_model("gru.recur");
    g_other = open_model("gru_other.recur");
    g_lstm = open_model("lstm2.recur");
    g_bi = open_model("bigru.recur");
    test_open();
    test_isa();
    test_null_handles();
    test_lengths();
    test_foreign_and_aliased();
    test_buffers();
    test_not_streamable();
    test_saved_states();
    recur_model_free(g_gru);
    recur_model_free(g_other);
    recur_model_free(g_lstm);
    recur_model_free(g_bi);
    return finish("test_misuse");
}
