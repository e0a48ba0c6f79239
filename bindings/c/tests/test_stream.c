/* Streaming through the C ABI: recur_step frame by frame equals recur_run bit for bit;
 * recur_step_many over 8 states equals 8 separate streams (whatever the thread cap);
 * save/load mid-stream continues exactly; a model loaded from bytes equals the mapped one;
 * a state outlives its model; a bidirectional model runs whole sequences. */
#include "common.h"

#define NSTREAMS 8

/* FNV-1a over bytes: .ci/capi.sh compares the digests printed under every kernel set. */
static unsigned long digest(const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    unsigned long h = 2166136261ul;
    size_t i;
    for (i = 0; i < n; i++) h = ((h ^ p[i]) * 16777619ul) & 0xfffffffful;
    return h;
}

/* Streams `frames` frames through recur_step from a fresh state. */
static void stream_steps(const recur_model *m, const float *xs, size_t frames, float *ys) {
    size_t in = recur_model_input_size(m), out = recur_model_output_size(m), t;
    recur_state *s = new_state(m);
    for (t = 0; t < frames; t++) EXPECT_OK(recur_step(m, s, xs + t * in, in, ys + t * out, out));
    recur_state_free(s);
}

static void test_step_equals_run(const char *name) {
    recur_model *m = open_model(name);
    size_t in = recur_model_input_size(m), out = recur_model_output_size(m);
    size_t frames = frames_or(64), split = frames / 3;
    float *xs = (float *)xmalloc(frames * in * sizeof(float));
    float *ys_step = (float *)xmalloc(frames * out * sizeof(float));
    float *ys_run = (float *)xmalloc(frames * out * sizeof(float));
    float *ys_mix = (float *)xmalloc(frames * out * sizeof(float));
    recur_state *s;
    size_t t;
    printf("%s: in %zu out %zu, kernel set %s, %zu frames\n", name, in, out, recur_model_isa(m), frames);
    CHECK(in > 0 && out > 0);
    CHECK(recur_model_is_streamable(m));
    fill_inputs(xs, frames * in, 1);

    stream_steps(m, xs, frames, ys_step);
    printf("digest %s %zu frames %08lx\n", name, frames, digest(ys_step, frames * out * sizeof(float)));

    s = new_state(m);
    EXPECT_OK(recur_run(m, s, frames, xs, frames * in, ys_run, frames * out));
    CHECK(memcmp(ys_step, ys_run, frames * out * sizeof(float)) == 0);

    /* run a first part, step the rest: the same bits. */
    EXPECT_OK(recur_state_reset(s));
    EXPECT_OK(recur_run(m, s, split, xs, split * in, ys_mix, split * out));
    for (t = split; t < frames; t++)
        EXPECT_OK(recur_step(m, s, xs + t * in, in, ys_mix + t * out, out));
    CHECK(memcmp(ys_step, ys_mix, frames * out * sizeof(float)) == 0);

    /* reset starts over: the first frame again gives the first output. */
    EXPECT_OK(recur_state_reset(s));
    EXPECT_OK(recur_step(m, s, xs, in, ys_mix, out));
    CHECK(memcmp(ys_step, ys_mix, out * sizeof(float)) == 0);

    /* zero steps: nothing, and NULL buffers are fine. */
    EXPECT_OK(recur_run(m, s, 0, NULL, 0, NULL, 0));

    recur_state_free(s);
    recur_model_free(m);
    free(xs);
    free(ys_step);
    free(ys_run);
    free(ys_mix);
}

/* A model from bytes equals the mapped one, and their states are interchangeable
 * (same weights). */
static void test_from_bytes(const char *name) {
    size_t len, in, out, frames = frames_or(64) / 2 + 1;
    uint8_t *data = read_file(model_path(name), &len);
    recur_model *mapped = open_model(name), *copied = NULL;
    float *xs, *a, *b;
    recur_state *s;
    size_t t;
    EXPECT_OK(recur_model_from_bytes(data, len, &copied));
    memset(data, 0, len); /* copied: the buffer may be reused at once */
    free(data);
    in = recur_model_input_size(copied);
    out = recur_model_output_size(copied);
    CHECK(in == recur_model_input_size(mapped) && out == recur_model_output_size(mapped));
    CHECK(strcmp(recur_model_isa(mapped), recur_model_isa(copied)) == 0);
    CHECK(recur_state_size(mapped) == recur_state_size(copied));
    xs = (float *)xmalloc(frames * in * sizeof(float));
    a = (float *)xmalloc(frames * out * sizeof(float));
    b = (float *)xmalloc(frames * out * sizeof(float));
    fill_inputs(xs, frames * in, 2);
    stream_steps(mapped, xs, frames, a);
    /* a state of `mapped` stepped by `copied`: the same weights, so accepted. */
    s = new_state(mapped);
    for (t = 0; t < frames; t++) EXPECT_OK(recur_step(copied, s, xs + t * in, in, b + t * out, out));
    CHECK(memcmp(a, b, frames * out * sizeof(float)) == 0);
    recur_state_free(s);
    recur_model_free(copied);
    recur_model_free(mapped);
    free(xs);
    free(a);
    free(b);
}

/* step_many over 8 states equals 8 separate streams, for every thread cap and order. */
static void test_step_many(const char *name) {
    recur_model *m = open_model(name);
    size_t in = recur_model_input_size(m), out = recur_model_output_size(m);
    size_t frames = frames_or(64) / 2 + 1, i, t, c;
    const size_t caps[] = {0, 1, 2, 3};
    float *xs = (float *)xmalloc(NSTREAMS * frames * in * sizeof(float)); /* [stream][frame] */
    float *want = (float *)xmalloc(NSTREAMS * frames * out * sizeof(float));
    float *xf = (float *)xmalloc(NSTREAMS * in * sizeof(float)); /* one frame of every stream */
    float *yf = (float *)xmalloc(NSTREAMS * out * sizeof(float));
    recur_state *states[NSTREAMS], *rev[NSTREAMS];
    for (i = 0; i < NSTREAMS; i++) {
        fill_inputs(xs + i * frames * in, frames * in, 100 + (uint32_t)i);
        stream_steps(m, xs + i * frames * in, frames, want + i * frames * out);
    }
    for (c = 0; c < sizeof caps / sizeof caps[0] + 1; c++) {
        int ok = 1, reversed = c == sizeof caps / sizeof caps[0];
        for (i = 0; i < NSTREAMS; i++) states[i] = new_state(m);
        /* the last round passes the streams in reverse order */
        for (i = 0; i < NSTREAMS; i++) rev[i] = states[reversed ? NSTREAMS - 1 - i : i];
        for (t = 0; t < frames; t++) {
            for (i = 0; i < NSTREAMS; i++) {
                size_t src = reversed ? NSTREAMS - 1 - i : i;
                memcpy(xf + i * in, xs + (src * frames + t) * in, in * sizeof(float));
            }
            if (c == 0 || reversed)
                EXPECT_OK(recur_step_many(m, rev, NSTREAMS, xf, NSTREAMS * in, yf, NSTREAMS * out));
            else
                EXPECT_OK(recur_step_many_threads(m, rev, NSTREAMS, xf, NSTREAMS * in, yf,
                                                  NSTREAMS * out, caps[c]));
            for (i = 0; i < NSTREAMS; i++) {
                size_t src = reversed ? NSTREAMS - 1 - i : i;
                if (memcmp(yf + i * out, want + (src * frames + t) * out, out * sizeof(float)) != 0)
                    ok = 0;
            }
        }
        if (!ok) fprintf(stderr, "step_many round %zu differs\n", c);
        CHECK(ok);
        for (i = 0; i < NSTREAMS; i++) recur_state_free(states[i]);
    }
    /* nothing to do: fine, with NULL arrays. */
    EXPECT_OK(recur_step_many(m, NULL, 0, NULL, 0, NULL, 0));
    EXPECT_OK(recur_step_many_threads(m, NULL, 0, NULL, 0, NULL, 0, 1));
    recur_model_free(m);
    free(xs);
    free(want);
    free(xf);
    free(yf);
}

/* Saving mid-stream and loading into another state (of the same or another instance of
 * the model) continues exactly. */
static void test_save_load(const char *name) {
    recur_model *m = open_model(name), *m2 = open_model(name);
    size_t in = recur_model_input_size(m), out = recur_model_output_size(m);
    size_t frames = frames_or(64) / 2 + 2, cut = frames / 2, t;
    size_t size = recur_state_size(m);
    uint8_t *saved = (uint8_t *)xmalloc(size), *again = (uint8_t *)xmalloc(size);
    float *xs = (float *)xmalloc(frames * in * sizeof(float));
    float *want = (float *)xmalloc(frames * out * sizeof(float));
    float *got = (float *)xmalloc(frames * out * sizeof(float));
    recur_state *a = new_state(m), *b = new_state(m), *c = new_state(m2);
    CHECK(size > 16);
    fill_inputs(xs, frames * in, 3);
    stream_steps(m, xs, frames, want);
    for (t = 0; t < cut; t++) EXPECT_OK(recur_step(m, a, xs + t * in, in, got + t * out, out));
    EXPECT_OK(recur_state_save(a, saved, size));
    EXPECT_OK(recur_state_load(b, saved, size));
    EXPECT_OK(recur_state_load(c, saved, size));
    /* a loaded state saves to the same bytes */
    EXPECT_OK(recur_state_save(b, again, size));
    CHECK(memcmp(saved, again, size) == 0);
    for (t = cut; t < frames; t++) EXPECT_OK(recur_step(m, b, xs + t * in, in, got + t * out, out));
    CHECK(memcmp(want, got, frames * out * sizeof(float)) == 0);
    memset(got + cut * out, 0, (frames - cut) * out * sizeof(float));
    EXPECT_OK(recur_run(m2, c, frames - cut, xs + cut * in, (frames - cut) * in, got + cut * out,
                        (frames - cut) * out));
    CHECK(memcmp(want, got, frames * out * sizeof(float)) == 0);
    /* a fresh state saves as zeros after the header; reset brings a state back to it */
    EXPECT_OK(recur_state_reset(a));
    EXPECT_OK(recur_state_save(a, again, size));
    {
        size_t i;
        int zeros = 1;
        for (i = 16; i < size; i++) zeros &= again[i] == 0;
        CHECK(zeros);
    }
    recur_state_free(a);
    recur_state_free(b);
    recur_state_free(c);
    recur_model_free(m);
    recur_model_free(m2);
    free(saved);
    free(again);
    free(xs);
    free(want);
    free(got);
}

/* A state keeps its weights alive: it can be saved, reset, loaded and freed after its
 * model is freed (valgrind and ASan check the memory). */
static void test_state_outlives_model(void) {
    recur_model *m = open_model("gru.recur");
    size_t in = recur_model_input_size(m), out = recur_model_output_size(m);
    size_t size = recur_state_size(m);
    float *x = (float *)xmalloc(in * sizeof(float)), *y = (float *)xmalloc(out * sizeof(float));
    uint8_t *buf = (uint8_t *)xmalloc(size);
    recur_state *s = new_state(m);
    fill_inputs(x, in, 4);
    EXPECT_OK(recur_step(m, s, x, in, y, out));
    recur_model_free(m);
    EXPECT_OK(recur_state_save(s, buf, size));
    EXPECT_OK(recur_state_reset(s));
    EXPECT_OK(recur_state_load(s, buf, size));
    recur_state_free(s);
    free(x);
    free(y);
    free(buf);
}

/* A bidirectional model cannot be stepped but runs whole sequences, deterministically;
 * a sequence split in two is a different computation (the backward pass sees less). */
static void test_bidirectional(void) {
    recur_model *m = open_model("bigru.recur");
    size_t in = recur_model_input_size(m), out = recur_model_output_size(m), frames = 20;
    float *xs = (float *)xmalloc(frames * in * sizeof(float));
    float *a = (float *)xmalloc(frames * out * sizeof(float));
    float *b = (float *)xmalloc(frames * out * sizeof(float));
    recur_state *s = new_state(m);
    CHECK(!recur_model_is_streamable(m));
    CHECK(in == 8 && out == 4);
    fill_inputs(xs, frames * in, 5);
    EXPECT_OK(recur_run(m, s, frames, xs, frames * in, a, frames * out));
    EXPECT_OK(recur_state_reset(s));
    EXPECT_OK(recur_run(m, s, frames, xs, frames * in, b, frames * out));
    CHECK(memcmp(a, b, frames * out * sizeof(float)) == 0);
    recur_state_free(s);
    recur_model_free(m);
    free(xs);
    free(a);
    free(b);
}

static void test_strings(void) {
    char buf[8];
    size_t n;
    const char *v = recur_version();
    CHECK(v != NULL && strlen(v) >= 5 && strchr(v, '.') != NULL);
    CHECK(strcmp(recur_status_str(RECUR_OK), "RECUR_OK") == 0);
    CHECK(strcmp(recur_status_str(RECUR_FOREIGN_STATE), "RECUR_FOREIGN_STATE") == 0);
    CHECK(strcmp(recur_status_str(RECUR_OTHER_ERROR), "RECUR_OTHER_ERROR") == 0);
    CHECK(strcmp(recur_status_str((recur_status)99), "RECUR_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(recur_status_str((recur_status)-1), "RECUR_UNKNOWN_STATUS") == 0);
    CHECK(RECUR_OK == 0 && RECUR_NULL_POINTER == 1 && RECUR_PANIC == 13);
    /* last error copy: the length, truncation, NUL termination */
    SENTINEL();
    n = recur_last_error_copy(NULL, 0);
    CHECK(n == strlen(recur_last_error()) && n > sizeof buf);
    memset(buf, 'x', sizeof buf);
    CHECK(recur_last_error_copy(buf, sizeof buf) == n);
    CHECK(buf[7] == '\0' && strncmp(buf, recur_last_error(), 7) == 0);
    CHECK(recur_last_error_copy(buf, 1) == n && buf[0] == '\0');
    /* a successful call leaves the message alone */
    {
        recur_model *m = open_model("gru.recur");
        CHECK(strncmp(recur_last_error(), "recur_model_input_size:", 23) == 0);
        recur_model_free(m);
    }
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    printf("librecur %s\n", recur_version());
    test_strings();
    test_step_equals_run("lstm2.recur");
    test_step_equals_run("gru.recur");
    test_from_bytes("lstm2.recur");
    test_from_bytes("gru.recur");
    test_step_many("lstm2.recur");
    test_step_many("gru.recur");
    test_save_load("lstm2.recur");
    test_save_load("gru.recur");
    test_state_outlives_model();
    test_bidirectional();
    return finish("test_stream");
}
