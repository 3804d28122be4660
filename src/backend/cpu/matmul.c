/* cpu_matmul: y[t, :] = W x[t, :] with the kernels of cpu_kernels_best();
 * cpu_matmul_n: the same for a few weights that share x, as one job.
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

/* One weight of a job. */
typedef struct matmul_part {
    const cpu_weight *w;
    cpu_dot_fn dot;             /* NULL: the exact (dequantize + f32 dot) path */
    cpu_panel_dot_fn panel_dot; /* NULL: rows only */
    int64_t n_panels;
    const void *act;            /* [n_tokens] rows of act_stride bytes */
    size_t act_stride;
    float *y;                   /* [n_tokens, n_out] */
    long panel_base, row_base;  /* its first index in the job's panel / row spaces */
} matmul_part;

typedef struct matmul_job {
    const cpu_kernels *k;
    matmul_part part[CPU_MATMUL_MAX_WEIGHTS];
    int n_parts;
    const float *x;             /* f32 activations, for the exact path */
    int n_tokens;
    float *scratch;             /* [n_threads][n_in], exact path only */
    /* Quantized paths: the panels of all parts, then the rows after each
     * part's last panel, are handed out in contiguous chunks from these
     * counters (atomic), so a thread that runs faster, or that the OS did not
     * preempt, takes more; each chunk is still one sequential stream. */
    long n_panels, n_rows;
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

/* The part whose range of a job-wide index space (bases ascending) holds i. */
static const matmul_part *part_of(const matmul_job *job, long i, bool rows) {
    int k = 0;
    while (k + 1 < job->n_parts && (rows ? job->part[k + 1].row_base : job->part[k + 1].panel_base) <= i) k++;
    return &job->part[k];
}

static void run_panel(const matmul_part *pt, int n_tokens, long pi) {
    const cpu_weight *w = pt->w;
    const uint8_t *panel = (const uint8_t *)w->panels + (uint64_t)pi * w->panel_bytes;
    for (int t = 0; t < n_tokens; t += CPU_PANEL_MAX_COLS) {
        int nc = n_tokens - t < CPU_PANEL_MAX_COLS ? n_tokens - t : CPU_PANEL_MAX_COLS;
        pt->panel_dot(w->n_in, panel, (const char *)pt->act + (size_t)t * pt->act_stride, pt->act_stride, nc,
                      pt->y + (int64_t)t * w->n_out + pi * CPU_PANEL_ROWS, (size_t)w->n_out);
    }
}

static void run_row(const matmul_part *pt, int n_tokens, long r) {
    const cpu_weight *w = pt->w;
    const void *wrow = (const uint8_t *)w->data + (uint64_t)r * w->row_bytes;
    for (int t = 0; t < n_tokens; t += CPU_MAX_COLS) {
        int nc = n_tokens - t < CPU_MAX_COLS ? n_tokens - t : CPU_MAX_COLS;
        pt->dot(w->n_in, wrow, (const char *)pt->act + (size_t)t * pt->act_stride, pt->act_stride, nc,
                pt->y + (int64_t)t * w->n_out + r, (size_t)w->n_out);
    }
}

static void matmul_worker(void *p, int ith, int nth) {
    matmul_job *job = p;
    long b, e;
    while (take_chunk(&job->next_panel, job->panel_chunk, job->n_panels, &b, &e))
        for (long i = b; i < e; i++) {
            const matmul_part *pt = part_of(job, i, false);
            run_panel(pt, job->n_tokens, i - pt->panel_base);
        }
    while (take_chunk(&job->next_row, job->row_chunk, job->n_rows, &b, &e))
        for (long i = b; i < e; i++) {
            const matmul_part *pt = part_of(job, i, true);
            run_row(pt, job->n_tokens, pt->n_panels * CPU_PANEL_ROWS + (i - pt->row_base));
        }
    for (int k = 0; k < job->n_parts; k++) { /* the exact path: even slices of rows */
        const matmul_part *pt = &job->part[k];
        if (pt->dot) continue;
        const int64_t n_in = pt->w->n_in, n_out = pt->w->n_out;
        float *row = job->scratch + (int64_t)ith * n_in;
        threadpool_slice((long)n_out, ith, nth, &b, &e);
        for (long r = b; r < e; r++) {
            cpu_weight_row(pt->w, r, row);
            for (int t = 0; t < job->n_tokens; t++)
                pt->y[(int64_t)t * n_out + r] = job->k->dot_f32(row, job->x + (int64_t)t * n_in, n_in);
        }
    }
}

/* Items per chunk: CHUNKS_PER_THREAD chunks per thread, at least `min`. */
static long chunk_size(long n, int n_threads, long min) {
    long c = n / ((long)n_threads * CHUNKS_PER_THREAD);
    return c > min ? c : min;
}

void cpu_matmul_n(threadpool *tp, int n_w, const cpu_weight *const *w, const float *x, float *const *y, int n_tokens,
                  float *scratch) {
    const cpu_kernels *k = cpu_kernels_best();
    matmul_job job = {.k = k, .n_parts = n_w, .x = x, .n_tokens = n_tokens, .scratch = scratch};
    const int64_t n_in = w[0]->n_in;
    /* the activations in each quantized format the parts need, once:
     * [n_tokens] rows of 16-bit blocks per format, in the pool's workspace */
    const cpu_act_format formats[2] = {CPU_ACT_Q16_32, CPU_ACT_Q16_256};
    size_t offset[2] = {0, 0}, total = 0;
    bool need[2] = {false, false};
    for (int i = 0; i < n_w; i++) {
        const cpu_act_format f = cpu_act_format_of(w[i]->type);
        for (int j = 0; j < 2; j++)
            if (f == formats[j] && k->dot[w[i]->type] && !threadpool_exact(tp)) need[j] = true;
    }
    for (int j = 0; j < 2; j++)
        if (need[j]) {
            offset[j] = total;
            total += cpu_act_row_bytes(formats[j], n_in) * (size_t)n_tokens;
        }
    char *ws = total ? threadpool_workspace(tp, total) : NULL; /* NULL: out of memory, the exact path needs none */
    for (int j = 0; j < 2; j++) {
        if (!need[j] || !ws) continue;
        const size_t stride = cpu_act_row_bytes(formats[j], n_in);
        const cpu_quant_act_fn q = formats[j] == CPU_ACT_Q16_32 ? k->quant_q16_32 : k->quant_q16_256;
        for (int t = 0; t < n_tokens; t++) q(x + (int64_t)t * n_in, ws + offset[j] + (size_t)t * stride, n_in);
    }
    for (int i = 0; i < n_w; i++) {
        matmul_part *pt = &job.part[i];
        const cpu_act_format f = cpu_act_format_of(w[i]->type);
        *pt = (matmul_part){.w = w[i], .dot = k->dot[w[i]->type], .act = x, .act_stride = (size_t)n_in * sizeof(float),
                            .y = y[i], .panel_base = job.n_panels, .row_base = job.n_rows};
        if (f == CPU_ACT_NONE) pt->dot = NULL;
        for (int j = 0; j < 2; j++) {
            if (f != formats[j] || !pt->dot) continue;
            if (!need[j] || !ws) {
                pt->dot = NULL;
                continue;
            }
            pt->act = ws + offset[j];
            pt->act_stride = cpu_act_row_bytes(f, n_in);
            if (w[i]->panels && k->panel_dot[w[i]->type]) {
                pt->panel_dot = k->panel_dot[w[i]->type];
                pt->n_panels = w[i]->n_out / CPU_PANEL_ROWS;
            }
        }
        if (!pt->dot) continue;
        job.n_panels += (long)pt->n_panels;
        job.n_rows += (long)(w[i]->n_out - pt->n_panels * CPU_PANEL_ROWS);
    }
    const int nth = threadpool_size(tp);
    job.panel_chunk = chunk_size(job.n_panels, nth, 1);
    job.row_chunk = chunk_size(job.n_rows, nth, CPU_PANEL_ROWS);
    threadpool_run(tp, matmul_worker, &job);
}

void cpu_matmul(threadpool *tp, const cpu_weight *w, const float *x, float *y, int n_tokens, float *scratch) {
    cpu_matmul_n(tp, 1, &w, x, &y, n_tokens, scratch);
}
