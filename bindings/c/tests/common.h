/* Helpers shared by the C tests of librecur: checks that count passes and failures,
 * deterministic inputs, file reading and model paths. Header-only: each test program is
 * one translation unit. */
#ifndef RECUR_TEST_COMMON_H
#define RECUR_TEST_COMMON_H

#include "recur.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass = 0;
static int g_fail = 0;
static const char *g_dir = ".";

static inline void check_(int ok, const char *what, const char *file, int line) {
    if (ok) {
        g_pass++;
    } else {
        g_fail++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
}

/* CHECK(cond): one check. */
#define CHECK(cond) check_((cond) ? 1 : 0, #cond, __FILE__, __LINE__)

/* EXPECT_OK(call): the call returns RECUR_OK. */
#define EXPECT_OK(call) expect_ok_((call), #call, __FILE__, __LINE__)

static inline void expect_ok_(recur_status got, const char *expr, const char *file, int line) {
    if (got == RECUR_OK) {
        g_pass++;
        return;
    }
    g_fail++;
    fprintf(stderr, "FAIL %s:%d: %s returned %s (%s)\n", file, line, expr, recur_status_str(got),
            recur_last_error());
}

/* Checks a failure: the status, and a fresh, non-empty detail that names the function.
 * Freshness: right before the call, a failing call of another function (the sentinel)
 * replaces the thread's last error, so a message naming `fn` was written by `call`. */
static inline void expect_fail_(recur_status got, recur_status want, const char *fn, const char *expr,
                         const char *file, int line) {
    const char *msg = recur_last_error();
    size_t n = strlen(fn);
    if (got != want) {
        g_fail++;
        fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s (%s)\n", file, line, expr,
                recur_status_str(got), recur_status_str(want), msg);
    } else if (strncmp(msg, fn, n) != 0 || msg[n] != ':' || strlen(msg) < n + 4) {
        g_fail++;
        fprintf(stderr, "FAIL %s:%d: %s: detail \"%s\" does not come from %s\n", file, line, expr,
                msg, fn);
    } else {
        g_pass++;
        if (getenv("RECUR_TEST_VERBOSE")) printf("  %-26s %s\n", recur_status_str(got), msg);
    }
}

#define SENTINEL() ((void)recur_model_input_size(NULL))
/* EXPECT_FAIL(status, "recur_fn", call) */
#define EXPECT_FAIL(want, fn, call)                                    \
    do {                                                               \
        SENTINEL();                                                    \
        expect_fail_((call), (want), (fn), #call, __FILE__, __LINE__); \
    } while (0)

/* The test's closing line (the form CI reads). Returns the exit status. */
static inline int finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}

/* Frames per stream: RECUR_TEST_FRAMES or the default (smaller under valgrind). */
static inline size_t frames_or(size_t dflt) {
    const char *s = getenv("RECUR_TEST_FRAMES");
    if (s && *s) {
        long v = strtol(s, NULL, 10);
        if (v > 0) return (size_t)v;
    }
    return dflt;
}

/* Deterministic inputs in [-1, 1) (a 32-bit LCG; the seed picks the stream). */
static inline void fill_inputs(float *x, size_t n, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 12345u;
    size_t i;
    for (i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
}

static inline void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* The path of a test model in the models folder (a static buffer per call slot). */
static inline const char *model_path(const char *name) {
    static char buf[4][1024];
    static int slot = 0;
    char *p = buf[slot];
    slot = (slot + 1) % 4;
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

/* Reads a whole file; exits on failure. */
static inline uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *data;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = (uint8_t *)xmalloc((size_t)n);
    if (fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* Opens a test model; exits on failure. */
static inline recur_model *open_model(const char *name) {
    recur_model *m = NULL;
    recur_status s = recur_model_open(model_path(name), &m);
    if (s != RECUR_OK) {
        fprintf(stderr, "cannot open %s: %s: %s\n", name, recur_status_str(s), recur_last_error());
        exit(2);
    }
    return m;
}

static inline recur_state *new_state(const recur_model *m) {
    recur_state *s = NULL;
    if (recur_state_new(m, &s) != RECUR_OK) {
        fprintf(stderr, "recur_state_new: %s\n", recur_last_error());
        exit(2);
    }
    return s;
}

static inline void parse_args(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODELS_DIR (made by: cargo run -p recur-capi --example gen_models -- DIR)\n",
                argv[0]);
        exit(2);
    }
    g_dir = argv[1];
}

#endif /* RECUR_TEST_COMMON_H */
