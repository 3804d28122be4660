/* cpu_matmul: y[t, :] = W x[t, :] with the kernels of cpu_kernels_best().
 *
 *   normal mode: x [n_tokens, n_in] f32 is converted once into the weight
 *     type's activation format (16-bit blocks for quantized weights, f32 for
 *     F32/F16/BF16) in the pool's workspace. The threads take contiguous
 *     chunks of weight panels (16 rows repacked, where the weight has them)
 *     and then of the remaining rows, and run the panel kernel on up to
 *     CPU_PANEL_MAX_COLS tokens at a time (the row dot kernel on CPU_MAX_COLS):
 *     the weights are read from memory once and each block decoded once per
 *     pass of tokens.
 *   exact mode (threadpool_exact): activations stay f32; quantized rows are
 *     dequantized to f32 (scratch) and dotted in f32 (SIMD where available). */

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"
#include "quant/quant.h"

typedef struct matmul_job {
    const cpu_kernels *k;
    const cpu_weight *w;
    cpu_dot_fn dot;          /* NULL: the exact (dequantize + f32 dot) path */
    cpu_panel_dot_fn panel_dot; /* NULL: rows only */
    int64_t n_panels;
    const void *act;         /* [n_tokens] rows of act_stride bytes */
    size_t act_stride;
    const float *x;          /* f32 activations, for the exact path */
    float *y;                /* [n_tokens, n_out] */
    int n_tokens;
    float *scratch;          /* [n_threads][n_in], exact path only */
    /* Quantized paths: panels, then the rows after the last panel, are
     * handed out in contiguous chunks from these counters (atomic), so a
     * thread that runs faster, or that the OS did not preempt, takes more;
     * each chunk is still one sequential stream of weights. */
    long next_panel, panel_chunk, next_row, row_chunk;
} matmul_job;

#define CHUNKS_PER_THREAD 16

/* [*begin, *end) of the next chunk of n items from *counter; false when none is left. */
static bool take_chunk(long *counter, long chunk, long n, long *begin, long *end) {
    *begin = __atomic_fetch_add(counter, chunk, __ATOMIC_RELAXED);
    if (*begin >= n) return false;
    *end = *begin + chunk < n ? *begin + chunk : n;
    return true;
}

static void matmul_worker(void *p, int ith, int nth) {
    matmul_job *job = p;
    const cpu_weight *w = job->w;
    const int64_t n_in = w->n_in, n_out = w->n_out;
    const uint8_t *rows = w->data;
    long r0, r1;
    if (job->dot) {
        long p0, p1;
        while (take_chunk(&job->next_panel, job->panel_chunk, (long)job->n_panels, &p0, &p1)) {
            for (long pi = p0; pi < p1; pi++) {
                const uint8_t *panel = (const uint8_t *)w->panels + (uint64_t)pi * w->panel_bytes;
                for (int t = 0; t < job->n_tokens; t += CPU_PANEL_MAX_COLS) {
                    int nc = job->n_tokens - t < CPU_PANEL_MAX_COLS ? job->n_tokens - t : CPU_PANEL_MAX_COLS;
                    job->panel_dot(n_in, panel, (const char *)job->act + (size_t)t * job->act_stride, job->act_stride,
                                   nc, job->y + (int64_t)t * n_out + pi * CPU_PANEL_ROWS, (size_t)n_out);
                }
            }
        }
        const long first = (long)(job->n_panels * CPU_PANEL_ROWS);
        while (take_chunk(&job->next_row, job->row_chunk, (long)n_out - first, &r0, &r1)) {
            for (long r = first + r0; r < first + r1; r++) {
                const void *wrow = rows + (uint64_t)r * w->row_bytes;
                for (int t = 0; t < job->n_tokens; t += CPU_MAX_COLS) {
                    int nc = job->n_tokens - t < CPU_MAX_COLS ? job->n_tokens - t : CPU_MAX_COLS;
                    job->dot(n_in, wrow, (const char *)job->act + (size_t)t * job->act_stride, job->act_stride, nc,
                             job->y + (int64_t)t * n_out + r, (size_t)n_out);
                }
            }
        }
        return;
    }
    threadpool_slice((long)n_out, ith, nth, &r0, &r1);
    float *row = job->scratch + (int64_t)ith * n_in;
    for (long r = r0; r < r1; r++) {
        cpu_weight_row(w, r, row);
        for (int t = 0; t < job->n_tokens; t++)
            job->y[(int64_t)t * n_out + r] = job->k->dot_f32(row, job->x + (int64_t)t * n_in, n_in);
    }
}

/* Items per chunk: CHUNKS_PER_THREAD chunks per thread, at least `min`. */
static long chunk_size(long n, int n_threads, long min) {
    long c = n / ((long)n_threads * CHUNKS_PER_THREAD);
    return c > min ? c : min;
}

void cpu_matmul(threadpool *tp, const cpu_weight *w, const float *x, float *y, int n_tokens,
                float *scratch) {
    const cpu_kernels *k = cpu_kernels_best();
    matmul_job job = {.k = k, .w = w, .dot = k->dot[w->type], .act = x, .act_stride = (size_t)w->n_in * sizeof(float),
                      .x = x, .y = y, .n_tokens = n_tokens, .scratch = scratch};
    cpu_act_format f = cpu_act_format_of(w->type);
    if (f == CPU_ACT_NONE || !job.dot) {
        job.dot = NULL;
    } else if (f != CPU_ACT_F32) {
        if (threadpool_exact(tp)) {
            job.dot = NULL;
        } else {
            /* [n_tokens] rows of 16-bit blocks */
            size_t stride = cpu_act_row_bytes(f, w->n_in);
            void *act = threadpool_workspace(tp, stride * (size_t)n_tokens);
            if (!act) {
                job.dot = NULL; /* out of memory: the exact path needs no workspace */
            } else {
                cpu_quant_act_fn q = f == CPU_ACT_Q16_32 ? k->quant_q16_32 : k->quant_q16_256;
                for (int t = 0; t < n_tokens; t++)
                    q(x + (int64_t)t * w->n_in, (char *)act + (size_t)t * stride, w->n_in);
                job.act = act;
                job.act_stride = stride;
                if (w->panels && k->panel_dot[w->type]) {
                    job.panel_dot = k->panel_dot[w->type];
                    job.n_panels = w->n_out / CPU_PANEL_ROWS;
                }
            }
        }
    }
    const int nth = threadpool_size(tp);
    job.panel_chunk = chunk_size((long)job.n_panels, nth, 1);
    job.row_chunk = chunk_size((long)(w->n_out - job.n_panels * CPU_PANEL_ROWS), nth, CPU_PANEL_ROWS);
    threadpool_run(tp, matmul_worker, &job);
}
