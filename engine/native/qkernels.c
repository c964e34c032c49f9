/*
 * Matrix products over 4-bit and 8-bit block-quantized weights, for moodbot's decoder.
 *
 * Why this exists: on CPUs without AVX-512, torch's int4 kernel is compute-bound at about a third
 * of the memory bandwidth, and its bf16 matmuls run a reference GEMM, so decoding one token read
 * the weights at ~5 GB/s. Here weights are multiplied as llama.cpp does on such CPUs: each row of
 * activations is quantized to int8 per block (with the block's sums), and weight blocks are
 * multiplied with integer dot products (AVX2 maddubs), so a token reads ~0.6 bytes per weight.
 *
 * Formats (blocks of consecutive inputs of one output row):
 *   q4k: GGUF's Q4_K super-block of 256: 8 sub-blocks of 32 with 6-bit scales and minimums
 *        under fp16 super-scales (the packaged model's 4-bit weights, used as shipped). The
 *        sub-block scales multiply in integers, so floats are touched once per 256 inputs.
 *        Its activations: int8 per 256 with one scale and the sums of each 16 (Q8_K).
 *   q4:  32 inputs: fp16 scale d, fp16 offset m, 16 bytes of nibbles; w[j] = d * q[j] + m;
 *        byte j holds q[j] (low nibble) and q[j + 16] (high nibble); for input sizes that are
 *        not a multiple of 256.
 *   q8:  32 inputs: fp16 scale d, 32 signed bytes; w[j] = d * q[j], q in -127..127.
 *   q4 and q8 activations: int8 per 32 with a float scale and the block's sum times it.
 *
 * Every function has a portable C version and an AVX2/FMA/F16C one chosen at run time, so the
 * module builds and answers correctly on any x86-64 or ARM CPU. Work is split over output rows
 * between the calling thread and a small pool of worker threads; the GIL is released meanwhile.
 * Each output is computed by the same operations in the same order whatever the number of rows
 * in the call: a reply does not change with who else is in the batch.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define QK 32
#define MAX_THREADS 64
/* Rows of activations multiplied together with one unpacked weight block (register tile). */
#define ROW_TILE 4

typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[QK / 2];
} block_q4;

typedef struct {
    uint16_t d;
    int8_t qs[QK];
} block_q8;

/* GGUF's Q4_K super-block: 256 inputs in 8 sub-blocks of 32, each with a 6-bit scale and a
 * 6-bit minimum relative to the fp16 super-block scales d and dmin: w = d*sc*q - dmin*m. */
#define QK_K 256
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} block_q4_k;

/* Activations for Q4_K weights: int8 per 256 with one scale, and the sums of each 16. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_k;

_Static_assert(sizeof(block_q4) == 20, "q4 block layout");
_Static_assert(sizeof(block_q8) == 34, "q8 block layout");
_Static_assert(sizeof(block_q4_k) == 144, "q4_k block layout");
_Static_assert(sizeof(block_q8_k) == 292, "q8_k block layout");

/* The 8 scales and 8 minimums of a Q4_K super-block (ggml's get_scale_min_k4). */
static void q4_k_scales(const uint8_t *packed, uint8_t *scales, uint8_t *mins) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = packed[j] & 63;
            mins[j] = packed[j + 4] & 63;
        } else {
            scales[j] = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
            mins[j] = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* fp16 <-> fp32 (portable)                                                                  */

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            /* subnormal: normalise */
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) {
                mantissa <<= 1;
                exponent--;
            }
            mantissa &= 0x3FF;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* A small pool of worker threads sharing the work of the calling thread.                    */
/*                                                                                           */
/* A task is cut into chunks that threads claim one at a time: the caller works through them  */
/* and waits only for chunks a worker has begun. A worker that the OS has not scheduled (the */
/* machine is busy with other work) therefore never holds the caller up, where a fixed split  */
/* of the rows would stall every product until the late thread runs.                         */

typedef void (*task_fn)(const void *ctx, int64_t begin, int64_t end);

static struct {
    int threads; /* including the caller */
    int started; /* workers running */
    pthread_t handles[MAX_THREADS];
    pthread_mutex_t mutex; /* guards the task's claim state and the sleep */
    pthread_cond_t wake;
    atomic_uint generation;
    /* the task, valid while generation is unchanged */
    task_fn fn;
    const void *ctx;
    int64_t total;
    int64_t chunk;
    int64_t chunks;
    int64_t next;     /* the next chunk to claim (under the mutex) */
    atomic_llong done; /* chunks finished */
} pool = {.threads = 1, .mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Spins for the next task before sleeping: decoding calls back to back, and waking a sleeping
 * thread takes longer than a small product. */
#define SPIN_ROUNDS 4000

/* Claims and runs chunks of the task published as `generation` until none are left. */
static void work_on(unsigned generation) {
    for (;;) {
        pthread_mutex_lock(&pool.mutex);
        if (atomic_load(&pool.generation) != generation || pool.next >= pool.chunks) {
            pthread_mutex_unlock(&pool.mutex);
            return;
        }
        int64_t chunk = pool.next++;
        task_fn fn = pool.fn;
        const void *ctx = pool.ctx;
        int64_t begin = chunk * pool.chunk;
        int64_t end = begin + pool.chunk < pool.total ? begin + pool.chunk : pool.total;
        pthread_mutex_unlock(&pool.mutex);
        fn(ctx, begin, end);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    int index = (int)(intptr_t)arg;
    unsigned seen = atomic_load(&pool.generation);
    for (;;) {
        unsigned now;
        int spins = 0;
        while ((now = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ROUNDS) {
#if HAVE_X86
                _mm_pause();
#endif
                continue;
            }
            pthread_mutex_lock(&pool.mutex);
            while ((now = atomic_load(&pool.generation)) == seen)
                pthread_cond_wait(&pool.wake, &pool.mutex);
            pthread_mutex_unlock(&pool.mutex);
            break;
        }
        seen = now;
        if (index < pool.threads) work_on(now);
    }
    return NULL;
}

static int pool_start(int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    pthread_mutex_lock(&pool.mutex);
    int failed = 0;
    while (pool.started < threads - 1) {
        int index = pool.started + 1;
        if (pthread_create(&pool.handles[index], NULL, worker_main, (void *)(intptr_t)index) != 0) {
            failed = 1;
            break;
        }
        pthread_detach(pool.handles[index]);
        pool.started++;
    }
    pool.threads = failed ? pool.started + 1 : threads;
    pthread_mutex_unlock(&pool.mutex);
    return failed ? -1 : 0;
}

/* One task at a time: several engines in one process (tests) may call from their threads. */
static pthread_mutex_t task_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Runs fn over [0, total) in chunks of whole multiples of `grain`. */
static void parallel_for(task_fn fn, const void *ctx, int64_t total, int64_t grain) {
    int threads = pool.threads;
    if (threads <= 1 || total <= grain) {
        fn(ctx, 0, total);
        return;
    }
    /* About four chunks per thread: small enough to share out late, large enough to keep
     * each thread's weights contiguous. */
    int64_t chunk = (total + threads * 4 - 1) / (threads * 4);
    chunk = ((chunk + grain - 1) / grain) * grain;
    pthread_mutex_lock(&task_mutex);
    pthread_mutex_lock(&pool.mutex);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.total = total;
    pool.chunk = chunk;
    pool.chunks = (total + chunk - 1) / chunk;
    pool.next = 0;
    atomic_store(&pool.done, 0);
    unsigned generation = atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release) + 1;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);
    work_on(generation);
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < pool.chunks) {
#if HAVE_X86
        _mm_pause();
#else
        sched_yield();
#endif
    }
    pthread_mutex_unlock(&task_mutex);
}

/* ---------------------------------------------------------------------------------------- */
/* Activations: int8 per block of 32, with scale and scaled sum.                             */

typedef struct {
    const float *x;
    int64_t k;
    int8_t *q;
    float *d;
    float *s;
} quantize_ctx;

static void quantize_rows_ref(const void *arg, int64_t begin, int64_t end) {
    const quantize_ctx *c = arg;
    int64_t blocks = c->k / QK;
    for (int64_t row = begin; row < end; row++) {
        for (int64_t b = 0; b < blocks; b++) {
            const float *x = c->x + row * c->k + b * QK;
            float amax = 0.0f;
            for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f;
            float inverse = d > 0.0f ? 1.0f / d : 0.0f;
            int sum = 0;
            int8_t *q = c->q + row * c->k + b * QK;
            for (int j = 0; j < QK; j++) {
                int v = (int)nearbyintf(x[j] * inverse);
                v = v > 127 ? 127 : (v < -127 ? -127 : v);
                q[j] = (int8_t)v;
                sum += v;
            }
            c->d[row * blocks + b] = d;
            c->s[row * blocks + b] = d * (float)sum;
        }
    }
}

#if HAVE_X86
__attribute__((target("avx2,fma,f16c"))) static void quantize_rows_avx2(const void *arg,
                                                                         int64_t begin,
                                                                         int64_t end) {
    const quantize_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    for (int64_t row = begin; row < end; row++) {
        for (int64_t b = 0; b < blocks; b++) {
            const float *x = c->x + row * c->k + b * QK;
            __m256 v0 = _mm256_loadu_ps(x);
            __m256 v1 = _mm256_loadu_ps(x + 8);
            __m256 v2 = _mm256_loadu_ps(x + 16);
            __m256 v3 = _mm256_loadu_ps(x + 24);
            __m256 amax = _mm256_max_ps(_mm256_andnot_ps(sign_mask, v0),
                                        _mm256_andnot_ps(sign_mask, v1));
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v2));
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v3));
            __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            float max_scalar = _mm_cvtss_f32(m4);
            float d = max_scalar / 127.0f;
            float inverse = d > 0.0f ? 1.0f / d : 0.0f;
            __m256 scale = _mm256_set1_ps(inverse);
            /* Converted with the default rounding, to nearest even, as nearbyintf does. */
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, scale));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, scale));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, scale));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, scale));
            __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
            __m128i s4 = _mm_add_epi32(_mm256_extracti128_si256(sum, 1),
                                       _mm256_castsi256_si128(sum));
            s4 = _mm_hadd_epi32(s4, s4);
            s4 = _mm_hadd_epi32(s4, s4);
            /* int32 -> int16 -> int8 with saturation; packs interleave the 128-bit lanes, the
             * permute puts the 32 values back in order. */
            __m256i p01 = _mm256_packs_epi32(i0, i1);
            __m256i p23 = _mm256_packs_epi32(i2, i3);
            __m256i bytes = _mm256_packs_epi16(p01, p23);
            bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(c->q + row * c->k + b * QK), bytes);
            c->d[row * blocks + b] = d;
            c->s[row * blocks + b] = d * (float)_mm_cvtsi128_si32(s4);
        }
    }
}
#endif

/* Activations for Q4_K weights, per 256: one scale, the int8 values, the sums of each 16. */
typedef struct {
    const float *x;
    int64_t k;
    block_q8_k *out;
} quantize_k_ctx;

static void quantize_rows_k(const void *arg, int64_t begin, int64_t end) {
    const quantize_k_ctx *c = arg;
    int64_t blocks = c->k / QK_K;
    for (int64_t row = begin; row < end; row++) {
        for (int64_t b = 0; b < blocks; b++) {
            const float *x = c->x + row * c->k + b * QK_K;
            block_q8_k *y = c->out + row * blocks + b;
            float amax = 0.0f;
            for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f;
            float inverse = d > 0.0f ? 1.0f / d : 0.0f;
            for (int j = 0; j < QK_K; j++) {
                int v = (int)nearbyintf(x[j] * inverse);
                y->qs[j] = (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
            }
            for (int g = 0; g < QK_K / 16; g++) {
                int sum = 0;
                for (int j = 0; j < 16; j++) sum += y->qs[g * 16 + j];
                y->bsums[g] = (int16_t)sum;
            }
            y->d = d;
        }
    }
}

#if HAVE_X86
/* quantize_rows_k with AVX2: the same values (maximum ignoring NaN as fmaxf does, products
 * rounded to nearest even as nearbyintf does, clamped to -127..127), 8 inputs at a time. */
__attribute__((target("avx2,fma,f16c"))) static void quantize_rows_k_avx2(const void *arg,
                                                                           int64_t begin,
                                                                           int64_t end) {
    const quantize_k_ctx *c = arg;
    int64_t blocks = c->k / QK_K;
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i lowest = _mm256_set1_epi8(-127);
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int64_t row = begin; row < end; row++) {
        for (int64_t b = 0; b < blocks; b++) {
            const float *x = c->x + row * c->k + b * QK_K;
            block_q8_k *y = c->out + row * blocks + b;
            /* max(|x|, amax) keeps amax where x is NaN, as fmaxf does */
            __m256 amax = _mm256_setzero_ps();
            for (int j = 0; j < QK_K; j += 8)
                amax = _mm256_max_ps(_mm256_andnot_ps(sign_mask, _mm256_loadu_ps(x + j)), amax);
            __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            float d = _mm_cvtss_f32(m4) / 127.0f;
            float inverse = d > 0.0f ? 1.0f / d : 0.0f;
            __m256 scale = _mm256_set1_ps(inverse);
            /* The int8 levels, 32 at a time; then the sums of each 16 from them. */
            __m256i quads[8];
            for (int j = 0; j < QK_K; j += 32) {
                __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), scale));
                __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), scale));
                __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), scale));
                __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), scale));
                /* int32 -> int16 -> int8 saturating (so at most 127); the permute undoes the
                 * packs' interleaving of 128-bit lanes. NaN and overflow arrive as INT_MIN,
                 * -127 as in the scalar version. */
                __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1),
                                                   _mm256_packs_epi32(i2, i3));
                bytes = _mm256_max_epi8(_mm256_permutevar8x32_epi32(bytes, order), lowest);
                _mm256_storeu_si256((__m256i *)(y->qs + j), bytes);
                /* the sums of each 4 levels: 16 at bytes j.., 16 at j + 16.. in the high lane */
                quads[j / 32] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, bytes), ones16);
            }
            /* Sums of 16: lanes hold groups 0, 2, 4, 6 | 1, 3, 5, 7 (and 8.. for the second). */
            __m256i first = _mm256_hadd_epi32(_mm256_hadd_epi32(quads[0], quads[1]),
                                              _mm256_hadd_epi32(quads[2], quads[3]));
            __m256i second = _mm256_hadd_epi32(_mm256_hadd_epi32(quads[4], quads[5]),
                                               _mm256_hadd_epi32(quads[6], quads[7]));
            __m256i sums = _mm256_packs_epi32(first, second); /* even groups | odd groups */
            __m128i even = _mm256_castsi256_si128(sums), odd = _mm256_extracti128_si256(sums, 1);
            _mm_storeu_si128((__m128i *)y->bsums, _mm_unpacklo_epi16(even, odd));
            _mm_storeu_si128((__m128i *)(y->bsums + 8), _mm_unpackhi_epi16(even, odd));
            y->d = d;
        }
    }
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* Products: out[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]).                                */

typedef struct {
    const void *w; /* block_q4 or block_q8, N rows of K / 32 blocks */
    int64_t k;
    int64_t n;
    const int8_t *xq;
    const float *xd;
    const float *xs;
    int64_t m;
    float *out;
    int64_t ldo; /* distance between output rows: several products may fill one output */
    const float *bias;
} matmul_ctx;

static void q4_rows_ref(const void *arg, int64_t begin, int64_t end) {
    const matmul_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const block_q4 *w = c->w;
    for (int64_t n = begin; n < end; n++) {
        for (int64_t m = 0; m < c->m; m++) {
            float total = 0.0f;
            for (int64_t b = 0; b < blocks; b++) {
                const block_q4 *block = w + n * blocks + b;
                const int8_t *x = c->xq + m * c->k + b * QK;
                int dot = 0;
                for (int j = 0; j < QK / 2; j++) {
                    dot += (block->qs[j] & 0x0F) * x[j];
                    dot += (block->qs[j] >> 4) * x[j + QK / 2];
                }
                total += half_to_float(block->d) * c->xd[m * blocks + b] * (float)dot +
                         half_to_float(block->m) * c->xs[m * blocks + b];
            }
            c->out[m * c->ldo + n] = total + (c->bias ? c->bias[n] : 0.0f);
        }
    }
}

static void q8_rows_ref(const void *arg, int64_t begin, int64_t end) {
    const matmul_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const block_q8 *w = c->w;
    for (int64_t n = begin; n < end; n++) {
        for (int64_t m = 0; m < c->m; m++) {
            float total = 0.0f;
            for (int64_t b = 0; b < blocks; b++) {
                const block_q8 *block = w + n * blocks + b;
                const int8_t *x = c->xq + m * c->k + b * QK;
                int dot = 0;
                for (int j = 0; j < QK; j++) dot += block->qs[j] * x[j];
                total += half_to_float(block->d) * c->xd[m * blocks + b] * (float)dot;
            }
            c->out[m * c->ldo + n] = total + (c->bias ? c->bias[n] : 0.0f);
        }
    }
}

#if HAVE_X86
#define AVX2 __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* How far ahead of its multiplies a single row of activations asks for the weights: decoding
 * reads each weight once, and the hardware prefetcher alone left the memory bus idle part of
 * the time (20 to 30 % slower on one core). */
#define PREFETCH_BYTES 8192

/* Asks for the `lines` cache lines PREFETCH_BYTES past p (past the weights' end near it: a
 * prefetch never faults). */
AVX2 void prefetch_ahead(const void *p, int lines) {
    uintptr_t ahead = (uintptr_t)p + PREFETCH_BYTES;
    for (int i = 0; i < lines; i++) _mm_prefetch((const char *)(ahead + 64 * i), _MM_HINT_T0);
}

AVX2 float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    __m128i low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
    __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
    return _mm256_set_m128i(high, low);
}

/* One weight row against `tile` rows of activations (tile is a constant where inlined).
 * Tiles of two weight rows, as for Q4_K below, were no faster for q4 and q8: their float work
 * per 32 inputs, not the loads, sets the pace. */
AVX2 void q4_row_tile(const block_q4 *w, int64_t blocks, const matmul_ctx *c, int64_t m0,
                      int tile, float *results) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[ROW_TILE];
    float offsets[ROW_TILE];
    for (int t = 0; t < tile; t++) {
        acc[t] = _mm256_setzero_ps();
        offsets[t] = 0.0f;
    }
    for (int64_t b = 0; b < blocks; b++) {
        if (tile == 1) prefetch_ahead(w + b, 1);
        __m256i q = unpack_nibbles(w[b].qs);
        float d = _cvtsh_ss(w[b].d);
        float offset = _cvtsh_ss(w[b].m);
        for (int t = 0; t < tile; t++) {
            int64_t row = m0 + t;
            __m256i x = _mm256_loadu_si256((const __m256i *)(c->xq + row * c->k + b * QK));
            __m256i pairs = _mm256_maddubs_epi16(q, x);
            __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[t] = _mm256_fmadd_ps(dot, _mm256_set1_ps(d * c->xd[row * blocks + b]), acc[t]);
            offsets[t] += offset * c->xs[row * blocks + b];
        }
    }
    for (int t = 0; t < tile; t++) results[t] = hsum(acc[t]) + offsets[t];
}

__attribute__((target("avx2,fma,f16c"))) static void q4_rows_avx2(const void *arg, int64_t begin,
                                                                   int64_t end) {
    const matmul_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const block_q4 *w = c->w;
    float results[ROW_TILE];
    for (int64_t n = begin; n < end; n++) {
        const block_q4 *row = w + n * blocks;
        float bias = c->bias ? c->bias[n] : 0.0f;
        int64_t m0 = 0;
        for (; m0 + ROW_TILE <= c->m; m0 += ROW_TILE) {
            q4_row_tile(row, blocks, c, m0, ROW_TILE, results);
            for (int t = 0; t < ROW_TILE; t++) c->out[(m0 + t) * c->ldo + n] = results[t] + bias;
        }
        int rest = (int)(c->m - m0);
        switch (rest) {
        case 3: q4_row_tile(row, blocks, c, m0, 3, results); break;
        case 2: q4_row_tile(row, blocks, c, m0, 2, results); break;
        case 1: q4_row_tile(row, blocks, c, m0, 1, results); break;
        default: break;
        }
        for (int t = 0; t < rest; t++) c->out[(m0 + t) * c->ldo + n] = results[t] + bias;
    }
}

AVX2 void q8_row_tile(const block_q8 *w, int64_t blocks, const matmul_ctx *c, int64_t m0,
                      int tile, float *results) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[ROW_TILE];
    for (int t = 0; t < tile; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        if (tile == 1) prefetch_ahead(w + b, 1);
        __m256i q = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i magnitude = _mm256_sign_epi8(q, q);
        float d = _cvtsh_ss(w[b].d);
        for (int t = 0; t < tile; t++) {
            int64_t row = m0 + t;
            __m256i x = _mm256_loadu_si256((const __m256i *)(c->xq + row * c->k + b * QK));
            /* |w| * (x * sign(w)): maddubs wants one unsigned operand. */
            __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(x, q));
            __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[t] = _mm256_fmadd_ps(dot, _mm256_set1_ps(d * c->xd[row * blocks + b]), acc[t]);
        }
    }
    for (int t = 0; t < tile; t++) results[t] = hsum(acc[t]);
}

__attribute__((target("avx2,fma,f16c"))) static void q8_rows_avx2(const void *arg, int64_t begin,
                                                                   int64_t end) {
    const matmul_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const block_q8 *w = c->w;
    float results[ROW_TILE];
    for (int64_t n = begin; n < end; n++) {
        const block_q8 *row = w + n * blocks;
        float bias = c->bias ? c->bias[n] : 0.0f;
        int64_t m0 = 0;
        for (; m0 + ROW_TILE <= c->m; m0 += ROW_TILE) {
            q8_row_tile(row, blocks, c, m0, ROW_TILE, results);
            for (int t = 0; t < ROW_TILE; t++) c->out[(m0 + t) * c->ldo + n] = results[t] + bias;
        }
        int rest = (int)(c->m - m0);
        switch (rest) {
        case 3: q8_row_tile(row, blocks, c, m0, 3, results); break;
        case 2: q8_row_tile(row, blocks, c, m0, 2, results); break;
        case 1: q8_row_tile(row, blocks, c, m0, 1, results); break;
        default: break;
        }
        for (int t = 0; t < rest; t++) c->out[(m0 + t) * c->ldo + n] = results[t] + bias;
    }
}
#endif

/* Q4_K weights against Q8_K activations. */
typedef struct {
    const block_q4_k *w;
    int64_t k;
    int64_t n;
    const block_q8_k *x;
    int64_t m;
    float *out;
    int64_t ldo;
    const float *bias;
} matmul_k_ctx;

static float q4_k_dot_ref(const block_q4_k *w, const block_q8_k *x, int64_t blocks) {
    float total = 0.0f;
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t scales[8], mins[8];
        q4_k_scales(w[b].scales, scales, mins);
        int dot = 0, offset = 0;
        for (int j = 0; j < 4; j++) {
            int low = 0, high = 0;
            for (int l = 0; l < 32; l++) {
                low += (w[b].qs[32 * j + l] & 0x0F) * x[b].qs[64 * j + l];
                high += (w[b].qs[32 * j + l] >> 4) * x[b].qs[64 * j + 32 + l];
            }
            dot += scales[2 * j] * low + scales[2 * j + 1] * high;
        }
        for (int j = 0; j < 8; j++) offset += mins[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
        total += x[b].d * (half_to_float(w[b].d) * (float)dot - half_to_float(w[b].dmin) * (float)offset);
    }
    return total;
}

static void q4_k_rows_ref(const void *arg, int64_t begin, int64_t end) {
    const matmul_k_ctx *c = arg;
    int64_t blocks = c->k / QK_K;
    for (int64_t n = begin; n < end; n++)
        for (int64_t m = 0; m < c->m; m++)
            c->out[m * c->ldo + n] = q4_k_dot_ref(c->w + n * blocks, c->x + m * blocks, blocks) +
                                     (c->bias ? c->bias[n] : 0.0f);
}

#if HAVE_X86
/* Broadcasts 16-bit scale i of a register to all lanes (ggml's get_scale_shuffle_k4). */
AVX2 __m256i scale_shuffle(int i) {
    static const uint8_t table[8][32] = {
#define PAIR(a) a, a + 1
#define ROW(a) PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), \
               PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a), PAIR(a)
        {ROW(0)}, {ROW(2)}, {ROW(4)}, {ROW(6)}, {ROW(8)}, {ROW(10)}, {ROW(12)}, {ROW(14)},
#undef ROW
#undef PAIR
    };
    return _mm256_loadu_si256((const __m256i *)table[i]);
}

/* A Q4_K super-block's scales unpacked: the 8 sub-block scales and minimums as 16-bit
 * integers (in both 128-bit lanes) and the super-scales in every lane. */
typedef struct {
    __m256i scales;
    __m256i mins;
    __m256 d, dmin;
} q4_k_head;

/* ggml's utmp shuffle of the 12 packed bytes of 6-bit scales and minimums. */
AVX2 void q4_k_unpack_head(const block_q4_k *w, q4_k_head *h) {
    uint32_t packed[4];
    memcpy(packed, w->scales, 12);
    const uint32_t mask6 = 0x3f3f3f3f, mask4 = 0x0f0f0f0f, mask2 = 0x03030303;
    packed[3] = ((packed[2] >> 4) & mask4) | (((packed[1] >> 6) & mask2) << 4);
    uint32_t mins_low = packed[1] & mask6;
    packed[1] = (packed[2] & mask4) | (((packed[0] >> 6) & mask2) << 4);
    packed[2] = mins_low;
    packed[0] &= mask6;
    /* 8 scales then 8 minimums, as 16-bit integers */
    __m256i scales_mins = _mm256_cvtepu8_epi16(
        _mm_set_epi32((int)packed[3], (int)packed[2], (int)packed[1], (int)packed[0]));
    __m128i mins = _mm256_extracti128_si256(scales_mins, 1);
    __m128i scales = _mm256_castsi256_si128(scales_mins);
    h->scales = _mm256_set_m128i(scales, scales);
    h->mins = _mm256_set_m128i(mins, mins);
    h->d = _mm256_set1_ps(_cvtsh_ss(w->d));
    h->dmin = _mm256_set1_ps(_cvtsh_ss(w->dmin));
}

/* A Q4_K super-block unpacked, for weight rows that meet many rows of activations: unpacked
 * once, not once per tile. (Keeping each sub-block's scale broadcast as well was slower: more
 * to read back from L2 than the shuffles it saved.) */
typedef struct {
    q4_k_head head;
    __m256i q[8]; /* sub-block s's levels, a byte each */
} q4_k_unpacked;

AVX2 void q4_k_unpack(const block_q4_k *w, q4_k_unpacked *u) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    q4_k_unpack_head(w, &u->head);
    for (int j = 0; j < 4; j++) {
        __m256i bits = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * j));
        u->q[2 * j] = _mm256_and_si256(bits, low_mask);
        u->q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low_mask);
    }
}

/* The sums of each 32 activations of a Q8_K block (pairs of its sums of 16), as 16-bit
 * integers: what the sub-block minimums multiply. */
AVX2 __m128i q8_k_pair_sums(const block_q8_k *x) {
    __m256i bsums = _mm256_loadu_si256((const __m256i *)x->bsums);
    return _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
}

/* A Q8_K block's pair sums and scale (in 4 lanes), found once per pass over many weight rows. */
typedef struct {
    __m128i pair_sums;
    __m128 d;
} q8_k_sums;

/* A register tile of the Q4_K product: up to Q4K_TILE_N weight rows by Q4K_TILE_M rows of
 * activations. Each weight vector serves the tile's rows of activations and each activation
 * vector its weight rows (from L1 the second time): with one weight row at a time, every row
 * of activations was read again from L2 for every weight row. */
#define Q4K_TILE_N 2
#define Q4K_TILE_M 4

/* A tile's float accumulators between passes over parts of K. */
typedef struct {
    __m256 acc[Q4K_TILE_N][Q4K_TILE_M];
    __m256 acc_min[Q4K_TILE_N][(Q4K_TILE_M + 1) / 2];
} q4_k_state;

/* Hides a register's value from the optimizer: gcc otherwise reassociates a running integer
 * sum into a tree over all its terms, keeping every product alive and spilling them to the
 * stack, which took more time than the multiplies. */
#define OPAQUE(v) __asm__("" : "+x"(v))

/* Weight rows `nt` from n0 against activation rows `mt` from m0 (both constants where
 * inlined), over super-blocks [b0, b1):
 * - `unpacked` holds the weights unpacked ([nt][b1 - b0]), or is NULL: unpacked here;
 * - `sums` the activations' pair sums ([b1 - b0][stride], the tile's first row first), or is
 *   NULL: found here;
 * - `state` keeps the accumulators from and for the other super-blocks (NULL: all of K here).
 * Every output takes the same operations in the same order whatever the tile's size, its place
 * in it and the passes over K: integer sums per super-block (exact in any order), then one
 * fmadd per super-block into 8 float lanes, and one into 4 for the minimums (two rows of
 * activations share a 256-bit register there, each in its own lanes), summed at the end. */
AVX2 void q4_k_tile(const matmul_k_ctx *c, int64_t blocks, int64_t b0, int64_t b1, int64_t n0,
                    int nt, int64_t m0, int mt, const q4_k_unpacked *unpacked,
                    const q8_k_sums *sums, int64_t stride, q4_k_state *state) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const int pairs = (mt + 1) / 2;
    __m256 acc[Q4K_TILE_N][Q4K_TILE_M];
    __m256 acc_min[Q4K_TILE_N][(Q4K_TILE_M + 1) / 2];
    for (int n = 0; n < nt; n++) {
        for (int m = 0; m < mt; m++)
            acc[n][m] = state && b0 > 0 ? state->acc[n][m] : _mm256_setzero_ps();
        for (int p = 0; p < pairs; p++)
            acc_min[n][p] = state && b0 > 0 ? state->acc_min[n][p] : _mm256_setzero_ps();
    }
    for (int64_t b = b0; b < b1; b++) {
        if (!unpacked)
            for (int n = 0; n < nt; n++) prefetch_ahead(c->w + (n0 + n) * blocks + b, 3);
        q4_k_head here[Q4K_TILE_N];
        const q4_k_head *h[Q4K_TILE_N];
        const q4_k_unpacked *u[Q4K_TILE_N];
        const uint8_t *qs[Q4K_TILE_N];
        for (int n = 0; n < nt; n++) {
            const block_q4_k *w = c->w + (n0 + n) * blocks + b;
            qs[n] = w->qs;
            if (unpacked) {
                u[n] = unpacked + n * (b1 - b0) + (b - b0);
                h[n] = &u[n]->head;
            } else {
                u[n] = NULL;
                q4_k_unpack_head(w, &here[n]);
                h[n] = &here[n];
            }
        }
        const int8_t *xq[Q4K_TILE_M];
        __m256 dx[Q4K_TILE_M];
        __m128i pair_sums[Q4K_TILE_M];
        for (int m = 0; m < mt; m++) {
            const block_q8_k *x = c->x + (m0 + m) * blocks + b;
            xq[m] = x->qs;
            dx[m] = _mm256_broadcast_ss(&x->d);
            if (!sums) pair_sums[m] = q8_k_pair_sums(x);
        }
        /* The minimums' part, activation rows 2p and 2p + 1 in the low and high lanes (a lone
         * last row in both: its high lanes are dropped). */
        for (int p = 0; p < pairs; p++) {
            int high = 2 * p + 1 < mt ? 2 * p + 1 : 2 * p;
            __m256i sums2;
            __m256 dx2;
            if (sums) {
                const q8_k_sums *at = sums + (b - b0) * stride;
                sums2 = _mm256_set_m128i(at[high].pair_sums, at[2 * p].pair_sums);
                dx2 = _mm256_set_m128(at[high].d, at[2 * p].d);
            } else {
                sums2 = _mm256_set_m128i(pair_sums[high], pair_sums[2 * p]);
                dx2 = _mm256_blend_ps(dx[2 * p], dx[high], 0xF0);
            }
            for (int n = 0; n < nt; n++)
                acc_min[n][p] = _mm256_fmadd_ps(
                    _mm256_mul_ps(h[n]->dmin, dx2),
                    _mm256_cvtepi32_ps(_mm256_madd_epi16(h[n]->mins, sums2)), acc_min[n][p]);
        }
        __m256i dots[Q4K_TILE_N][Q4K_TILE_M];
        for (int n = 0; n < nt; n++)
            for (int m = 0; m < mt; m++) dots[n][m] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            for (int n = 0; n < nt; n++) {
                __m256i bits = _mm256_setzero_si256();
                if (!u[n]) bits = _mm256_loadu_si256((const __m256i *)(qs[n] + 32 * j));
                /* Low nibbles (sub-block 2j) against inputs 64j.., then high ones (2j + 1). */
                for (int half = 0; half < 2; half++) {
                    int s = 2 * j + half;
                    __m256i q = u[n] ? u[n]->q[s]
                                     : _mm256_and_si256(half ? _mm256_srli_epi16(bits, 4) : bits,
                                                        low_mask);
                    __m256i scale = _mm256_shuffle_epi8(h[n]->scales, scale_shuffle(s));
                    for (int m = 0; m < mt; m++) {
                        __m256i x = _mm256_loadu_si256((const __m256i *)(xq[m] + 32 * s));
                        dots[n][m] = _mm256_add_epi32(
                            dots[n][m], _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q, x)));
                        OPAQUE(dots[n][m]);
                    }
                }
            }
        }
        for (int n = 0; n < nt; n++)
            for (int m = 0; m < mt; m++)
                acc[n][m] = _mm256_fmadd_ps(_mm256_mul_ps(h[n]->d, dx[m]),
                                            _mm256_cvtepi32_ps(dots[n][m]), acc[n][m]);
    }
    if (state && b1 < blocks) {
        for (int n = 0; n < nt; n++) {
            for (int m = 0; m < mt; m++) state->acc[n][m] = acc[n][m];
            for (int p = 0; p < pairs; p++) state->acc_min[n][p] = acc_min[n][p];
        }
        return;
    }
    for (int n = 0; n < nt; n++) {
        float bias = c->bias ? c->bias[n0 + n] : 0.0f;
        for (int m = 0; m < mt; m++) {
            __m128 m4 = m % 2 ? _mm256_extractf128_ps(acc_min[n][m / 2], 1)
                              : _mm256_castps256_ps128(acc_min[n][m / 2]);
            m4 = _mm_add_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_add_ss(m4, _mm_movehdup_ps(m4));
            float result = hsum(acc[n][m]) - _mm_cvtss_f32(m4);
            c->out[(m0 + m) * c->ldo + n0 + n] = result + bias;
        }
    }
}

/* Activation rows [m0, m1) in tiles against weight rows n0.. (nt of them, a constant where
 * inlined) over super-blocks [b0, b1); sums, if any, [b1 - b0][m1 - m0]; states, if any, one
 * per tile. */
AVX2 void q4_k_rows_tiled(const matmul_k_ctx *c, int64_t blocks, int64_t b0, int64_t b1,
                          int64_t n0, int nt, int64_t m0, int64_t m1,
                          const q4_k_unpacked *unpacked, const q8_k_sums *sums,
                          q4_k_state *states) {
    int64_t stride = m1 - m0;
    for (int64_t m = m0; m < m1; m += Q4K_TILE_M) {
        const q8_k_sums *at = sums ? sums + (m - m0) : NULL;
        q4_k_state *state = states ? states + (m - m0) / Q4K_TILE_M : NULL;
        switch (m1 - m < Q4K_TILE_M ? m1 - m : Q4K_TILE_M) {
        case 4: q4_k_tile(c, blocks, b0, b1, n0, nt, m, 4, unpacked, at, stride, state); break;
        case 3: q4_k_tile(c, blocks, b0, b1, n0, nt, m, 3, unpacked, at, stride, state); break;
        case 2: q4_k_tile(c, blocks, b0, b1, n0, nt, m, 2, unpacked, at, stride, state); break;
        default: q4_k_tile(c, blocks, b0, b1, n0, nt, m, 1, unpacked, at, stride, state); break;
        }
    }
}

/* Super-blocks per pass over K where weights are unpacked beforehand (0.4 KB each): one pass
 * for the model's rows (at most 35 super-blocks). Passes of 8, whose unpacked weights stayed in
 * L1, were slower: the accumulators' loads and stores and more tiles' set-up cost more. */
#define Q4K_CHUNK 40
/* Activations read per pass over a slice of weight rows: what stays in L2 (512 KB on the
 * machine these were tuned on) beside the weights; at most Q4K_PANEL_ROWS rows. */
#define PANEL_BYTES (192 * 1024)
#define Q4K_PANEL_ROWS 64
/* Activation pair sums kept per pass (else found per tile): a panel's worth. With the above,
 * about 60 KB of stack in all. */
#define Q4K_SUMS (PANEL_BYTES / sizeof(block_q8_k))

__attribute__((target("avx2,fma,f16c"))) static void q4_k_rows_avx2(const void *arg,
                                                                     int64_t begin, int64_t end) {
    const matmul_k_ctx *c = arg;
    int64_t blocks = c->k / QK_K;
    if (c->m <= Q4K_TILE_M) {
        /* One tile per weight row: unpacking the weights beforehand would not pay, and one
         * weight row a tile was faster than two here. */
        for (int64_t n = begin; n < end; n++)
            q4_k_rows_tiled(c, blocks, 0, blocks, n, 1, 0, c->m, NULL, NULL, NULL);
        return;
    }
    q4_k_unpacked unpacked[Q4K_TILE_N * Q4K_CHUNK];
    q8_k_sums sums[Q4K_SUMS];
    q4_k_state states[Q4K_PANEL_ROWS / Q4K_TILE_M];
    int64_t panel = PANEL_BYTES / (blocks * (int64_t)sizeof(block_q8_k));
    panel = panel > Q4K_PANEL_ROWS ? Q4K_PANEL_ROWS : panel;
    panel = panel < Q4K_TILE_M ? Q4K_TILE_M : panel / Q4K_TILE_M * Q4K_TILE_M;
    int keep_sums = blocks * panel <= (int64_t)Q4K_SUMS;
    for (int64_t m0 = 0; m0 < c->m; m0 += panel) {
        int64_t m1 = m0 + panel < c->m ? m0 + panel : c->m;
        if (keep_sums)
            for (int64_t b = 0; b < blocks; b++)
                for (int64_t m = m0; m < m1; m++) {
                    const block_q8_k *x = c->x + m * blocks + b;
                    sums[b * (m1 - m0) + m - m0].pair_sums = q8_k_pair_sums(x);
                    sums[b * (m1 - m0) + m - m0].d = _mm_broadcast_ss(&x->d);
                }
        for (int64_t n0 = begin; n0 < end; n0 += Q4K_TILE_N) {
            int nt = end - n0 < Q4K_TILE_N ? (int)(end - n0) : Q4K_TILE_N;
            for (int64_t b0 = 0; b0 < blocks; b0 += Q4K_CHUNK) {
                int64_t b1 = b0 + Q4K_CHUNK < blocks ? b0 + Q4K_CHUNK : blocks;
                for (int n = 0; n < nt; n++)
                    for (int64_t b = b0; b < b1; b++)
                        q4_k_unpack(c->w + (n0 + n) * blocks + b, &unpacked[n * (b1 - b0) + b - b0]);
                const q8_k_sums *at = keep_sums ? sums + b0 * (m1 - m0) : NULL;
                q4_k_state *kept = blocks > Q4K_CHUNK ? states : NULL;
                if (nt == Q4K_TILE_N)
                    q4_k_rows_tiled(c, blocks, b0, b1, n0, Q4K_TILE_N, m0, m1, unpacked, at, kept);
                else
                    q4_k_rows_tiled(c, blocks, b0, b1, n0, 1, m0, m1, unpacked, at, kept);
            }
        }
    }
}
#endif

static void q4_k_dequantize_rows(const void *arg, int64_t begin, int64_t end);

/* ---------------------------------------------------------------------------------------- */
/* Dequantization of whole rows (embedding lookups, tests).                                  */

typedef struct {
    const void *w;
    int64_t k;
    const int64_t *rows;
    float *out;
} dequantize_ctx;

static void q4_dequantize_rows(const void *arg, int64_t begin, int64_t end) {
    const dequantize_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const block_q4 *w = c->w;
    for (int64_t i = begin; i < end; i++) {
        const block_q4 *row = w + c->rows[i] * blocks;
        float *out = c->out + i * c->k;
        for (int64_t b = 0; b < blocks; b++) {
            float d = half_to_float(row[b].d), m = half_to_float(row[b].m);
            for (int j = 0; j < QK / 2; j++) {
                out[b * QK + j] = d * (float)(row[b].qs[j] & 0x0F) + m;
                out[b * QK + j + QK / 2] = d * (float)(row[b].qs[j] >> 4) + m;
            }
        }
    }
}

static void q8_dequantize_rows(const void *arg, int64_t begin, int64_t end) {
    const dequantize_ctx *c = arg;
    int64_t blocks = c->k / QK;
    const block_q8 *w = c->w;
    for (int64_t i = begin; i < end; i++) {
        const block_q8 *row = w + c->rows[i] * blocks;
        float *out = c->out + i * c->k;
        for (int64_t b = 0; b < blocks; b++) {
            float d = half_to_float(row[b].d);
            for (int j = 0; j < QK; j++) out[b * QK + j] = d * (float)row[b].qs[j];
        }
    }
}

static void q4_k_dequantize_rows(const void *arg, int64_t begin, int64_t end) {
    const dequantize_ctx *c = arg;
    int64_t blocks = c->k / QK_K;
    const block_q4_k *w = c->w;
    for (int64_t i = begin; i < end; i++) {
        const block_q4_k *row = w + c->rows[i] * blocks;
        float *out = c->out + i * c->k;
        for (int64_t b = 0; b < blocks; b++) {
            uint8_t scales[8], mins[8];
            q4_k_scales(row[b].scales, scales, mins);
            float d = half_to_float(row[b].d), dmin = half_to_float(row[b].dmin);
            for (int j = 0; j < 4; j++) {
                float d_low = d * scales[2 * j], m_low = dmin * mins[2 * j];
                float d_high = d * scales[2 * j + 1], m_high = dmin * mins[2 * j + 1];
                for (int l = 0; l < 32; l++) {
                    out[b * QK_K + 64 * j + l] = d_low * (float)(row[b].qs[32 * j + l] & 0x0F) - m_low;
                    out[b * QK_K + 64 * j + 32 + l] =
                        d_high * (float)(row[b].qs[32 * j + l] >> 4) - m_high;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Python bindings: pointers arrive as integers (tensor.data_ptr()), the caller checks shapes. */

static int use_simd = 0;

static int simd_available(void) {
#if HAVE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

static PyObject *py_set_threads(PyObject *Py_UNUSED(self), PyObject *args) {
    int threads;
    if (!PyArg_ParseTuple(args, "i", &threads)) return NULL;
    if (pool_start(threads) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "could not start the kernel's worker threads");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_set_simd(PyObject *Py_UNUSED(self), PyObject *args) {
    int wanted;
    if (!PyArg_ParseTuple(args, "p", &wanted)) return NULL;
    use_simd = wanted && simd_available();
    return PyBool_FromLong(use_simd);
}

static PyObject *py_quantize_activations(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long x, q, d, s;
    long long rows, k;
    if (!PyArg_ParseTuple(args, "KLLKKK", &x, &rows, &k, &q, &d, &s)) return NULL;
    quantize_ctx ctx = {(const float *)x, k, (int8_t *)q, (float *)d, (float *)s};
    task_fn fn = quantize_rows_ref;
#if HAVE_X86
    if (use_simd) fn = quantize_rows_avx2;
#endif
    Py_BEGIN_ALLOW_THREADS;
    parallel_for(fn, &ctx, rows, 1);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

static PyObject *matmul(PyObject *args, task_fn portable, task_fn simd) {
    unsigned long long w, xq, xd, xs, out, bias;
    long long n, k, m, ldo;
    if (!PyArg_ParseTuple(args, "KLLKKKLKLK", &w, &n, &k, &xq, &xd, &xs, &m, &out, &ldo, &bias))
        return NULL;
    matmul_ctx ctx = {(const void *)w, k, n, (const int8_t *)xq, (const float *)xd,
                      (const float *)xs, m, (float *)out, ldo, (const float *)bias};
    task_fn fn = use_simd && simd ? simd : portable;
    Py_BEGIN_ALLOW_THREADS;
    /* Output rows in grains that keep each thread's slice of weights contiguous. */
    parallel_for(fn, &ctx, n, 16);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

static PyObject *py_q4_matmul(PyObject *Py_UNUSED(self), PyObject *args) {
#if HAVE_X86
    return matmul(args, q4_rows_ref, q4_rows_avx2);
#else
    return matmul(args, q4_rows_ref, NULL);
#endif
}

static PyObject *py_q8_matmul(PyObject *Py_UNUSED(self), PyObject *args) {
#if HAVE_X86
    return matmul(args, q8_rows_ref, q8_rows_avx2);
#else
    return matmul(args, q8_rows_ref, NULL);
#endif
}

static PyObject *py_quantize_activations_k(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long x, out;
    long long rows, k;
    if (!PyArg_ParseTuple(args, "KLLK", &x, &rows, &k, &out)) return NULL;
    quantize_k_ctx ctx = {(const float *)x, k, (block_q8_k *)out};
    task_fn fn = quantize_rows_k;
#if HAVE_X86
    if (use_simd) fn = quantize_rows_k_avx2;
#endif
    Py_BEGIN_ALLOW_THREADS;
    parallel_for(fn, &ctx, rows, 1);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

static PyObject *py_q4_k_matmul(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long w, x, out, bias;
    long long n, k, m, ldo;
    if (!PyArg_ParseTuple(args, "KLLKLKLK", &w, &n, &k, &x, &m, &out, &ldo, &bias)) return NULL;
    matmul_k_ctx ctx = {(const block_q4_k *)w, k, n, (const block_q8_k *)x, m, (float *)out, ldo,
                        (const float *)bias};
    task_fn fn = q4_k_rows_ref;
#if HAVE_X86
    if (use_simd) fn = q4_k_rows_avx2;
#endif
    Py_BEGIN_ALLOW_THREADS;
    parallel_for(fn, &ctx, n, 16);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

static PyObject *dequantize(PyObject *args, task_fn fn) {
    unsigned long long w, rows, out;
    long long k, count;
    if (!PyArg_ParseTuple(args, "KLKLK", &w, &k, &rows, &count, &out)) return NULL;
    dequantize_ctx ctx = {(const void *)w, k, (const int64_t *)rows, (float *)out};
    Py_BEGIN_ALLOW_THREADS;
    parallel_for(fn, &ctx, count, 1);
    Py_END_ALLOW_THREADS;
    Py_RETURN_NONE;
}

static PyObject *py_q4_dequantize(PyObject *Py_UNUSED(self), PyObject *args) {
    return dequantize(args, q4_dequantize_rows);
}

static PyObject *py_q8_dequantize(PyObject *Py_UNUSED(self), PyObject *args) {
    return dequantize(args, q8_dequantize_rows);
}

static PyObject *py_q4_k_dequantize(PyObject *Py_UNUSED(self), PyObject *args) {
    return dequantize(args, q4_k_dequantize_rows);
}

static PyMethodDef methods[] = {
    {"set_threads", py_set_threads, METH_VARARGS, "set_threads(n): threads for the products"},
    {"set_simd", py_set_simd, METH_VARARGS,
     "set_simd(wanted) -> bool: use the AVX2 kernels when the CPU has them"},
    {"quantize_activations", py_quantize_activations, METH_VARARGS,
     "quantize_activations(x, rows, k, q, d, s): int8 blocks of fp32 rows"},
    {"q4_matmul", py_q4_matmul, METH_VARARGS,
     "q4_matmul(w, n, k, xq, xd, xs, m, out, ldo, bias): out[m, :n] = x @ w.T (+ bias)"},
    {"q8_matmul", py_q8_matmul, METH_VARARGS,
     "q8_matmul(w, n, k, xq, xd, xs, m, out, ldo, bias): out[m, :n] = x @ w.T (+ bias)"},
    {"quantize_activations_k", py_quantize_activations_k, METH_VARARGS,
     "quantize_activations_k(x, rows, k, out): Q8_K blocks (292 bytes per 256) of fp32 rows"},
    {"q4_k_matmul", py_q4_k_matmul, METH_VARARGS,
     "q4_k_matmul(w, n, k, x_k, m, out, ldo, bias): out[m, :n] = x @ w.T (+ bias)"},
    {"q4_k_dequantize", py_q4_k_dequantize, METH_VARARGS,
     "q4_k_dequantize(w, k, rows, count, out): fp32 copies of the given rows"},
    {"q4_dequantize", py_q4_dequantize, METH_VARARGS,
     "q4_dequantize(w, k, rows, count, out): fp32 copies of the given rows"},
    {"q8_dequantize", py_q8_dequantize, METH_VARARGS,
     "q8_dequantize(w, k, rows, count, out): fp32 copies of the given rows"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "engine._qkernels",
                                    "Block-quantized matrix products for moodbot's decoder.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__qkernels(void) {
    use_simd = simd_available();
    return PyModule_Create(&module);
}
