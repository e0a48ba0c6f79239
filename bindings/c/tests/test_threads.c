/* One model shared by 8 threads, each with its own streams: every thread's outputs are
 * the bits a single-threaded run gives. Each thread steps one stream with recur_step and
 * two more with recur_step_many (alternating the thread cap between 1 and none), and
 * checks that recur_last_error is its own. */
#define _POSIX_C_SOURCE 200112L
#include "common.h"

#include <pthread.h>

#define NTHREADS 8
#define PER_THREAD 3

/* Threads of this process (Linux: /proc/self/status), or 0 if unknown. */
static long thread_count(void) {
    char line[256];
    long n = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) n = strtol(line + 8, NULL, 10);
    fclose(f);
    return n;
}

/* A cap of 1 runs on the calling thread and starts no thread pool. Runs first, while the
 * process has one thread. */
static void test_cap_one_spawns_nothing(recur_model *m) {
    recur_state *s[4];
    float xs[4 * 40], ys[4 * 12];
    size_t i, before = (size_t)thread_count();
    for (i = 0; i < 4; i++) s[i] = new_state(m);
    fill_inputs(xs, 4 * 40, 77);
    for (i = 0; i < 20; i++) EXPECT_OK(recur_step_many_threads(m, s, 4, xs, 4 * 40, ys, 4 * 12, 1));
    if (before > 0) CHECK((size_t)thread_count() == before);
    for (i = 0; i < 4; i++) recur_state_free(s[i]);
}

static const recur_model *g_model;
static size_t g_in, g_out, g_frames;

struct job {
    size_t index;
    float *xs;  /* [PER_THREAD][frames][in] */
    float *ys;  /* [PER_THREAD][frames][out] */
    int errors; /* failed calls and foreign messages */
};

static void *worker(void *arg) {
    struct job *j = (struct job *)arg;
    recur_state *s[PER_THREAD];
    float *xf = (float *)xmalloc(2 * g_in * sizeof(float)), *yf = (float *)xmalloc(2 * g_out * sizeof(float));
    size_t t, k, bad_len = j->index + 1; /* a wrong frame length unique to this thread */
    char want[64];
    for (k = 0; k < PER_THREAD; k++)
        if (recur_state_new(g_model, &s[k]) != RECUR_OK) j->errors++;
    for (t = 0; t < g_frames; t++) {
        const float *x0 = j->xs + t * g_in;
        if (recur_step(g_model, s[0], x0, g_in, j->ys + t * g_out, g_out) != RECUR_OK) j->errors++;
        for (k = 1; k < PER_THREAD; k++)
            memcpy(xf + (k - 1) * g_in, j->xs + (k * g_frames + t) * g_in, g_in * sizeof(float));
        if (recur_step_many_threads(g_model, s + 1, 2, xf, 2 * g_in, yf, 2 * g_out, t % 2) != RECUR_OK)
            j->errors++;
        for (k = 1; k < PER_THREAD; k++)
            memcpy(j->ys + (k * g_frames + t) * g_out, yf + (k - 1) * g_out, g_out * sizeof(float));
        /* a failure whose message only this thread can have written */
        if (t % 8 == 0) {
            if (recur_step(g_model, s[0], x0, bad_len, yf, g_out) != RECUR_INVALID_LENGTH) j->errors++;
            snprintf(want, sizeof want, "recur_step: input frame has %zu values", bad_len);
            if (strncmp(recur_last_error(), want, strlen(want)) != 0) j->errors++;
        }
    }
    snprintf(want, sizeof want, "recur_step: input frame has %zu values", bad_len);
    if (strncmp(recur_last_error(), want, strlen(want)) != 0) j->errors++;
    for (k = 0; k < PER_THREAD; k++) recur_state_free(s[k]);
    free(xf);
    free(yf);
    return NULL;
}

int main(int argc, char **argv) {
    recur_model *m;
    pthread_t th[NTHREADS];
    struct job jobs[NTHREADS];
    float *want;
    size_t i, k, t, per;
    parse_args(argc, argv);
    m = open_model("gru.recur");
    g_model = m;
    test_cap_one_spawns_nothing(m);
    g_in = recur_model_input_size(m);
    g_out = recur_model_output_size(m);
    g_frames = frames_or(64) / 2 + 1;
    per = PER_THREAD * g_frames;
    printf("%d threads x %d streams x %zu frames, kernel set %s\n", NTHREADS, PER_THREAD, g_frames,
           recur_model_isa(m));

    for (i = 0; i < NTHREADS; i++) {
        jobs[i].index = i;
        jobs[i].errors = 0;
        jobs[i].xs = (float *)xmalloc(per * g_in * sizeof(float));
        jobs[i].ys = (float *)xmalloc(per * g_out * sizeof(float));
        fill_inputs(jobs[i].xs, per * g_in, 1000 + (uint32_t)i);
    }
    for (i = 0; i < NTHREADS; i++) CHECK(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    for (i = 0; i < NTHREADS; i++) CHECK(pthread_join(th[i], NULL) == 0);

    /* the single-threaded reference: every stream on its own, one after another */
    want = (float *)xmalloc(g_frames * g_out * sizeof(float));
    for (i = 0; i < NTHREADS; i++) {
        CHECK(jobs[i].errors == 0);
        for (k = 0; k < PER_THREAD; k++) {
            recur_state *s = new_state(m);
            for (t = 0; t < g_frames; t++)
                EXPECT_OK(recur_step(m, s, jobs[i].xs + (k * g_frames + t) * g_in, g_in, want + t * g_out, g_out));
            CHECK(memcmp(want, jobs[i].ys + k * g_frames * g_out, g_frames * g_out * sizeof(float)) == 0);
            recur_state_free(s);
        }
        free(jobs[i].xs);
        free(jobs[i].ys);
    }
    free(want);
    recur_model_free(m);
    return finish("test_threads");
}
