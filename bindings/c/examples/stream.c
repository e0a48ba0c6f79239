/* stream.c: open a model, make one state, feed it frames one by one, save the stream and
 * resume it elsewhere. Build: cc -std=c99 stream.c $(pkg-config --cflags --libs recur) -lm */
#include <recur.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, recur_status s) {
    fprintf(stderr, "%s: %s (%s)\n", what, recur_status_str(s), recur_last_error());
    return 1;
}

int main(int argc, char **argv) {
    recur_model *model = NULL;
    recur_state *state = NULL, *resumed = NULL;
    float *x, *y;
    unsigned char *saved;
    size_t in, out, t, k, best;
    float last;
    recur_status s;

    if (argc != 2) {
        fprintf(stderr, "usage: %s model.recur\n", argv[0]);
        return 2;
    }
    s = recur_model_open(argv[1], &model);
    if (s != RECUR_OK) return fail("open", s);
    in = recur_model_input_size(model);
    out = recur_model_output_size(model);
    printf("librecur %s: %zu floats in, %zu out per frame, kernel set %s\n", recur_version(), in, out,
           recur_model_isa(model));

    s = recur_state_new(model, &state);
    if (s != RECUR_OK) return fail("state", s);
    x = malloc(in * sizeof *x);
    y = malloc(out * sizeof *y);
    saved = malloc(recur_state_size(model));
    if (!x || !y || !saved) return 1;

    for (t = 0; t < 100; t++) {
        for (k = 0; k < in; k++) x[k] = (float)sin(0.1 * (double)(t + 3 * k)); /* a frame */
        s = recur_step(model, state, x, in, y, out);
        if (s != RECUR_OK) return fail("step", s);
        if (t == 49) { /* checkpoint the stream halfway */
            s = recur_state_save(state, saved, recur_state_size(model));
            if (s != RECUR_OK) return fail("save", s);
        }
    }
    for (best = 0, k = 1; k < out; k++)
        if (y[k] > y[best]) best = k;
    last = y[best];
    printf("after 100 frames: output %zu is the largest (%g)\n", best, (double)last);

    /* resume the checkpoint in a new state: frames 50..99 again give the same output */
    s = recur_state_new(model, &resumed);
    if (s != RECUR_OK) return fail("state", s);
    s = recur_state_load(resumed, saved, recur_state_size(model));
    if (s != RECUR_OK) return fail("load", s);
    for (t = 50; t < 100; t++) {
        for (k = 0; k < in; k++) x[k] = (float)sin(0.1 * (double)(t + 3 * k));
        s = recur_step(model, resumed, x, in, y, out);
        if (s != RECUR_OK) return fail("step", s);
    }
    printf("resumed from frame 50: output %zu is %g (%s)\n", best, (double)y[best],
           y[best] == last ? "the same bits" : "DIFFERENT");
    if (y[best] != last) return 1;

    recur_state_free(resumed);
    recur_state_free(state);
    recur_model_free(model);
    free(x);
    free(y);
    free(saved);
    return 0;
}
