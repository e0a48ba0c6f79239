/* Independent cross-check of the memory term of `recur bench`'s bound, outside Rust.
 *
 *   gcc -O3 -march=x86-64-v4 -o /tmp/l2_read benches/probes/l2_read.c
 *   /tmp/l2_read sweep 270336     # sum a 264 KB buffer as 2..16 interleaved streams
 *   /tmp/l2_read w1               # W1's exact panel reads (tiles, passes) with FMAs
 *   /tmp/l2_read w4               # W4's frame: R tiles, then with the riding projection
 *
 * `sweep BYTES` reads a buffer of BYTES as N streams (N = 2, 4, 8, 12, 16; each
 * stream's start padded by 192 bytes so no two streams share an L1 set), two 64-byte
 * loads per stream per step, each into its own accumulator, and prints GB/s for the best
 * of 9 timed passes. On the 2-core Zen 4 VM this repository is measured on it tops out at
 * 113-117 GB/s for 264 KB (L2).
 *
 * `w1` replays one W1 step's weight reads (GRU in=40 H=128, linear_before_reset = 0, as
 * the AVX-512 kernels walk them: pass 1 in tiles of 3, 3 and 2 blocks, each the 9 W
 * panels' 40 rows then the z and r R panels' 128 rows; pass 2 in tiles of 4 candidate R
 * panels; then the dense layer's one panel as a single FMA chain, as recur must) with one
 * FMA per 64-byte row, and prints microseconds per step. It leaves out everything but the
 * weight reads and their FMAs (no activations, no state).
 *
 * `w4` replays a frame of W4's `run` (GRU in=256 H=256, linear_before_reset = 1, as
 * compare.py's export has it), as the AVX-512 kernels walk it: 8 tiles of 2 blocks, each
 * 256 rows of the 6 R panels (one FMA each); then the same with the projection riding
 * along (one W row times 8 frames' inputs, 8 FMAs with broadcast inputs, after each own
 * row until the 8 frames' 48 W panels are done, every 8 frames). It prints microseconds
 * per frame for both: the floor of recur's design for W4 on this machine, without its
 * activations, state or outputs.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define SWEEP(NS)                                                                          \
    __attribute__((noinline)) static float sweep##NS(const float *b, size_t stride, size_t n, \
                                                      int reps) {                          \
        __m512 acc[NS];                                                                    \
        for (int i = 0; i < NS; i++) acc[i] = _mm512_setzero_ps();                         \
        for (int r = 0; r < reps; r++)                                                     \
            for (size_t k = 0; k < n; k += 32) {                                           \
                _Pragma("GCC unroll 16") for (int s = 0; s < NS; s++) {                    \
                    acc[s] = _mm512_add_ps(acc[s], _mm512_load_ps(b + s * stride + k));    \
                    acc[s] = _mm512_add_ps(acc[s], _mm512_load_ps(b + s * stride + k + 16)); \
                }                                                                          \
            }                                                                              \
        __m512 t = acc[0];                                                                 \
        for (int i = 1; i < NS; i++) t = _mm512_add_ps(t, acc[i]);                         \
        return _mm512_reduce_add_ps(t);                                                    \
    }
SWEEP(2) SWEEP(4) SWEEP(8) SWEEP(12) SWEEP(16)

static void sweep(size_t total) {
    int counts[] = {2, 4, 8, 12, 16};
    for (int c = 0; c < 5; c++) {
        int ns = counts[c];
        size_t len = (total / ns) & ~(size_t)1023, stride = len + 192;
        float *b = aligned_alloc(4096, stride * ns + 4096);
        memset(b, 0, stride * ns + 4096);
        int reps = (int)(3e9 / total);
        double best = 1e9;
        float sink = 0;
        for (int i = 0; i < 9; i++) {
            double t0 = now();
            size_t sf = stride / 4, nf = len / 4;
            switch (ns) {
            case 2: sink += sweep2(b, sf, nf, reps); break;
            case 4: sink += sweep4(b, sf, nf, reps); break;
            case 8: sink += sweep8(b, sf, nf, reps); break;
            case 12: sink += sweep12(b, sf, nf, reps); break;
            default: sink += sweep16(b, sf, nf, reps); break;
            }
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("%zu bytes as %2d streams: %6.1f GB/s%s\n", len * ns, ns,
               (double)len * ns * reps / best / 1e9, sink == 1.0f ? " " : "");
        free(b);
    }
}

static float *W, *R, *D;

/* Pass 1 over one tile of `tb` blocks (a constant at each call, so the accumulators stay
 * in registers). */
__attribute__((always_inline)) static inline void w1_pass1_tile(int b0, int tb, __m512 x, __m512 *a) {
    const float *wb = W + (size_t)b0 * 3 * 40 * 16, *rb = R + (size_t)b0 * 3 * 128 * 16;
    for (int k = 0; k < 40; k++)
        for (int p = 0; p < tb * 3; p++)
            a[p] = _mm512_fmadd_ps(_mm512_load_ps(wb + (size_t)p * 40 * 16 + k * 16), x, a[p]);
    for (int k = 0; k < 128; k++)
        for (int t = 0; t < tb; t++)
            for (int g = 0; g < 2; g++)
                a[t * 2 + g] =
                    _mm512_fmadd_ps(_mm512_load_ps(rb + (size_t)(t * 3 + g) * 128 * 16 + k * 16), x, a[t * 2 + g]);
}

/* One W1 step's reads. `xv` keeps the compiler from hoisting the step out of the loop. */
__attribute__((noinline)) static float w1_step(float xv) {
    __m512 a[9], x = _mm512_set1_ps(xv);
    for (int i = 0; i < 9; i++) a[i] = _mm512_setzero_ps();
    w1_pass1_tile(0, 3, x, a);
    w1_pass1_tile(3, 3, x, a);
    w1_pass1_tile(6, 2, x, a);
    for (int b = 0; b < 8; b += 4) {
        const float *rb = R + (size_t)b * 3 * 128 * 16;
        for (int k = 0; k < 128; k++)
            for (int t = 0; t < 4; t++)
                a[t] = _mm512_fmadd_ps(_mm512_load_ps(rb + (size_t)(t * 3 + 2) * 128 * 16 + k * 16), x, a[t]);
    }
    /* The dense layer 128 -> 12: one panel, one FMA chain (a row's sum is never split). */
    __m512 d = _mm512_setzero_ps();
    for (int k = 0; k < 128; k++) d = _mm512_fmadd_ps(_mm512_load_ps(D + k * 16), x, d);
    __m512 s = d;
    for (int i = 0; i < 9; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

static void w1(void) {
    size_t wn = 24 * 40 * 16, rn = 24 * 128 * 16;
    size_t dn = 128 * 16;
    W = aligned_alloc(64, wn * 4);
    R = aligned_alloc(64, rn * 4);
    D = aligned_alloc(64, dn * 4);
    for (size_t i = 0; i < wn; i++) W[i] = 1e-7f;
    for (size_t i = 0; i < rn; i++) R[i] = 1e-7f;
    for (size_t i = 0; i < dn; i++) D[i] = 1e-7f;
    double best = 1e9;
    float s = 0;
    for (int r = 0; r < 9; r++) {
        double t0 = now();
        for (int i = 0; i < 100000; i++) s += w1_step(s * 1e-30f + 1.0f);
        double t = (now() - t0) / 100000;
        if (t < best) best = t;
    }
    printf("W1 weight reads: %.3f us per step, %.1f GB/s%s\n", best * 1e6, (wn + rn + dn) * 4 / best / 1e9,
           s == 1.0f ? " " : "");
}

static float *XT, RIDE_ACC[8][16] __attribute__((aligned(64)));
static size_t ride_panel; /* next W panel of the current ride (48 = done) */

/* One W4 tile of 2 blocks x 3 gates, with the ride along when RIDE is set. */
__attribute__((always_inline)) static inline void w4_tile(int b0, __m512 x, __m512 *a, int ride) {
    const float *rb = R + (size_t)b0 * 3 * 256 * 16;
    if (ride && ride_panel < 48) {
        const float *w = W + ride_panel * 256 * 16;
        __m512 r[8];
        for (int j = 0; j < 8; j++) r[j] = _mm512_load_ps(RIDE_ACC[j]);
        for (int k = 0; k < 256; k++) {
            for (int p = 0; p < 6; p++)
                a[p] = _mm512_fmadd_ps(_mm512_load_ps(rb + (size_t)p * 256 * 16 + k * 16), x, a[p]);
            __m512 wv = _mm512_load_ps(w + k * 16);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) r[j] = _mm512_fmadd_ps(wv, _mm512_set1_ps(XT[k * 8 + j]), r[j]);
        }
        for (int j = 0; j < 8; j++) _mm512_store_ps(RIDE_ACC[j], r[j]);
        ride_panel++;
        return;
    }
    for (int k = 0; k < 256; k++)
        for (int p = 0; p < 6; p++)
            a[p] = _mm512_fmadd_ps(_mm512_load_ps(rb + (size_t)p * 256 * 16 + k * 16), x, a[p]);
}

__attribute__((noinline)) static float w4_frame(float xv, int ride) {
    __m512 a[6], x = _mm512_set1_ps(xv);
    for (int i = 0; i < 6; i++) a[i] = _mm512_setzero_ps();
    for (int b = 0; b < 16; b += 2) w4_tile(b, x, a, ride);
    __m512 s = a[0];
    for (int i = 1; i < 6; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

static void w4(void) {
    size_t n = 48 * 256 * 16;
    W = aligned_alloc(64, n * 4);
    R = aligned_alloc(64, n * 4);
    XT = aligned_alloc(64, 256 * 8 * 4);
    for (size_t i = 0; i < n; i++) W[i] = R[i] = 1e-7f;
    for (size_t i = 0; i < 256 * 8; i++) XT[i] = 1e-7f;
    for (int ride = 0; ride < 2; ride++) {
        double best = 1e9;
        float s = 0;
        for (int r = 0; r < 9; r++) {
            double t0 = now();
            for (int i = 0; i < 16000; i++) {
                if (i % 8 == 0) ride_panel = 0;
                s += w4_frame(s * 1e-30f + 1.0f, ride);
            }
            double t = (now() - t0) / 16000;
            if (t < best) best = t;
        }
        printf("W4 frame, %s: %.3f us%s\n", ride ? "R tiles with the projection riding" : "R tiles only",
               best * 1e6, s == 1.0f ? " " : "");
    }
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "sweep") == 0) {
        sweep((size_t)atol(argv[2]));
    } else if (argc >= 2 && strcmp(argv[1], "w1") == 0) {
        w1();
    } else if (argc >= 2 && strcmp(argv[1], "w4") == 0) {
        w4();
    } else {
        fprintf(stderr, "usage: %s sweep BYTES | w1 | w4\n", argv[0]);
        return 2;
    }
    return 0;
}
