/* cpu_matmul: y[t, :] = W x[t, :] with the kernels of cpu_kernels_best();
 * cpu_matmul_n: the same for a few weights that share x, as one job.
 *
 *   normal mode: x [n_tokens, n_in] f32 is converted once into the weight
 *     type's activation format (16-bit blocks for quantized weights, f32 for
 *     F32/F16/BF16) in the pool's workspace, by slice 0 (the caller's thread,
 *     after the caller's prologue, which may write x). The threads take
 *     contiguous chunks of weight panels (16 rows repacked, where the weight
 *     has them) from their own share and then from the others', then of the
 *     remaining rows, and run the panel kernel on up to CPU_PANEL_MAX_COLS
 *     tokens at a time (the row dot kernel on CPU_MAX_COLS): the weights are
 *     read from memory once and each block decoded once per pass of tokens.
 *     While slice 0 prepares, the other threads load the front of their
 *     shares into their caches (decode: a one-token matmul is ~10-20 us, and
 *     the norm + conversion before it would otherwise leave them idle; with
 *     this and the shares, llama3.2-1b Q4_K_M decode went 83% -> 92% of the
 *     read bandwidth in the VM's fast phases).
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

typedef struct act_conversion {
    cpu_quant_act_fn fn;
    char *dst; /* [n_tokens] rows of stride bytes */
    size_t stride;
} act_conversion;

/* A thread's share of the job's panels, [lo, hi) packed in one word so that
 * the owner taking chunks from the front and a thief taking the back half
 * (when its own share is done) can each update it with one CAS. One per
 * cache line: the owner's updates stay in its own core's cache. */
typedef struct panel_share {
    _Alignas(64) uint64_t range; /* atomic: lo | hi << 32 */
} panel_share;

typedef struct matmul_job {
    const cpu_kernels *k;
    matmul_part part[CPU_MATMUL_MAX_WEIGHTS];
    int n_parts;
    const float *x;             /* [n_tokens, n_in] f32 activations (the exact path reads them as they are) */
    int64_t n_in;
    int n_tokens;
    float *scratch;             /* [n_threads][n_in], exact path only */
    const cpu_prologue *before; /* run by slice 0 before the activations are converted */
    act_conversion conv[2];     /* x into each quantized format the parts need */
    int n_conv;
    int ready;                  /* atomic: slice 0 has converted the activations */
    /* Quantized paths: the panels of all parts are split into one share per
     * thread (shares[nth]); a thread runs its own share in shrinking chunks,
     * then the back halves of the others' (a thread that runs faster, or that
     * the OS did not preempt, takes more; each chunk is still one sequential
     * stream). The rows after each part's last panel are handed out in chunks
     * from one atomic counter. */
    long n_panels, n_rows;
    panel_share *shares;
    long max_chunk;             /* panels a thread takes at once */
    long next_row, row_chunk;
} matmul_job;

#define ROW_CHUNKS_PER_THREAD 16
#define OWN_CHUNK_DIV 4               /* the owner takes a quarter of what is left of its share, */
#define MAX_CHUNKS_PER_THREAD 8       /* but at most this share of a thread's even part: what a preempted
                                         thread holds, the others cannot take */
#define PREREAD_BYTES (512 << 10)     /* weights a thread loads while slice 0 prepares the activations */

static uint64_t share_pack(uint32_t lo, uint32_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }

/* The next chunk from the front of my share, at most `most` panels (0: no
 * limit); false when my share is empty. */
static bool take_own(panel_share *me, long most, long *begin, long *end) {
    uint64_t old = __atomic_load_n(&me->range, __ATOMIC_ACQUIRE);
    for (;;) {
        const uint32_t lo = (uint32_t)old, hi = (uint32_t)(old >> 32);
        if (lo >= hi) return false;
        uint32_t c = (hi - lo) / OWN_CHUNK_DIV;
        if (c < 1) c = 1;
        if (most > 0 && c > most) c = (uint32_t)most;
        if (__atomic_compare_exchange_n(&me->range, &old, share_pack(lo + c, hi), false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            *begin = lo, *end = lo + c;
            return true;
        }
    }
}

/* Moves the back half of the fullest other share into mine (empty); false
 * when every share is empty. */
static bool steal(panel_share *shares, int nth, int ith) {
    for (;;) {
        int victim = -1;
        uint32_t most = 0;
        for (int i = 0; i < nth; i++) {
            const uint64_t r = __atomic_load_n(&shares[i].range, __ATOMIC_ACQUIRE);
            const uint32_t n = (uint32_t)(r >> 32) > (uint32_t)r ? (uint32_t)(r >> 32) - (uint32_t)r : 0;
            if (i != ith && n > most) most = n, victim = i;
        }
        if (victim < 0) return false;
        uint64_t old = __atomic_load_n(&shares[victim].range, __ATOMIC_ACQUIRE);
        const uint32_t lo = (uint32_t)old, hi = (uint32_t)(old >> 32);
        if (lo >= hi) continue;
        const uint32_t half = (hi - lo + 1) / 2;
        if (__atomic_compare_exchange_n(&shares[victim].range, &old, share_pack(lo, hi - half), false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&shares[ith].range, share_pack(hi - half, hi), __ATOMIC_RELEASE);
            return true;
        }
    }
}

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

/* Loads every cache line of panels [b, e) (while slice 0 still prepares the
 * activations, the weights can already be on their way). */
static void touch_panels(const matmul_job *job, long b, long e) {
    uint64_t sum = 0;
    for (long i = b; i < e; i++) {
        const matmul_part *pt = part_of(job, i, false);
        const uint64_t *w = (const uint64_t *)((const uint8_t *)pt->w->panels +
                                               (uint64_t)(i - pt->panel_base) * pt->w->panel_bytes);
        for (size_t o = 0; o < pt->w->panel_bytes / 8; o += 8) sum += w[o];
    }
    __asm__ __volatile__("" ::"r"(sum)); /* keep the loads */
}

static void run_panels(const matmul_job *job, long b, long e) {
    for (long i = b; i < e; i++) {
        const matmul_part *pt = part_of(job, i, false);
        run_panel(pt, job->n_tokens, i - pt->panel_base);
    }
}

/* Slice 0: the caller's prologue, then the activations in each format the
 * parts need; then the other slices may read them. */
static void prepare(matmul_job *job) {
    if (job->before) job->before->fn(job->before->arg);
    for (int j = 0; j < job->n_conv; j++)
        for (int t = 0; t < job->n_tokens; t++)
            job->conv[j].fn(job->x + (int64_t)t * job->n_in, job->conv[j].dst + (size_t)t * job->conv[j].stride,
                            job->n_in);
    __atomic_store_n(&job->ready, 1, __ATOMIC_RELEASE);
}

#define PREREAD_CHUNKS 64

static void matmul_worker(void *p, int ith, int nth) {
    matmul_job *job = p;
    long b, e;
    panel_share *me = job->shares ? &job->shares[ith] : NULL;
    if (ith == 0) {
        prepare(job);
    } else if (!__atomic_load_n(&job->ready, __ATOMIC_ACQUIRE)) {
        /* load the front of my share (a few panels at a time) until slice 0 is done */
        long pre[PREREAD_CHUNKS][2];
        int n_pre = 0;
        size_t bytes = 0;
        while (me && n_pre < PREREAD_CHUNKS && bytes < PREREAD_BYTES && !__atomic_load_n(&job->ready, __ATOMIC_ACQUIRE) &&
               take_own(me, 2, &b, &e)) {
            touch_panels(job, b, e);
            pre[n_pre][0] = b, pre[n_pre][1] = e, n_pre++;
            bytes += (size_t)(e - b) * part_of(job, b, false)->w->panel_bytes;
        }
        while (!__atomic_load_n(&job->ready, __ATOMIC_ACQUIRE)) threadpool_cpu_relax();
        for (int i = 0; i < n_pre; i++) run_panels(job, pre[i][0], pre[i][1]);
    }
    if (me) do {
            while (take_own(me, job->max_chunk, &b, &e)) run_panels(job, b, e);
        } while (steal(job->shares, nth, ith));
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

/* Rows per chunk: ROW_CHUNKS_PER_THREAD chunks per thread, at least `min`. */
static long chunk_size(long n, int n_threads, long min) {
    long c = n / ((long)n_threads * ROW_CHUNKS_PER_THREAD);
    return c > min ? c : min;
}

void cpu_matmul_n(threadpool *tp, int n_w, const cpu_weight *const *w, const float *x, float *const *y, int n_tokens,
                  float *scratch, const cpu_prologue *before) {
    const cpu_kernels *k = cpu_kernels_best();
    const int nth = threadpool_size(tp);
    const int64_t n_in = w[0]->n_in;
    matmul_job job = {.k = k, .n_parts = n_w, .x = x, .n_in = n_in, .n_tokens = n_tokens, .scratch = scratch,
                      .before = before};
    /* the activations in each quantized format the parts need, once:
     * [n_tokens] rows of 16-bit blocks per format in the pool's workspace,
     * then the threads' panel shares */
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
    const size_t shares_at = (total + 63) / 64 * 64;
    /* NULL: out of memory, the exact path needs none */
    char *ws = total ? threadpool_workspace(tp, shares_at + (size_t)nth * sizeof(panel_share)) : NULL;
    for (int j = 0; j < 2; j++) {
        if (!need[j] || !ws) continue;
        const size_t stride = cpu_act_row_bytes(formats[j], n_in);
        job.conv[job.n_conv++] = (act_conversion){formats[j] == CPU_ACT_Q16_32 ? k->quant_q16_32 : k->quant_q16_256,
                                                  ws + offset[j], stride};
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
    job.max_chunk = job.n_panels / ((long)nth * MAX_CHUNKS_PER_THREAD);
    if (job.max_chunk < 1) job.max_chunk = 1;
    if (job.n_panels > 0) { /* panels need quantized activations, so ws is there */
        job.shares = (panel_share *)(ws + shares_at);
        for (int i = 0; i < nth; i++) {
            long b, e;
            threadpool_slice(job.n_panels, i, nth, &b, &e);
            job.shares[i].range = share_pack((uint32_t)b, (uint32_t)e);
        }
    }
    job.row_chunk = chunk_size(job.n_rows, nth, CPU_PANEL_ROWS);
    threadpool_run(tp, matmul_worker, &job);
}

void cpu_matmul(threadpool *tp, const cpu_weight *w, const float *x, float *y, int n_tokens, float *scratch) {
    cpu_matmul_n(tp, 1, &w, x, &y, n_tokens, scratch, NULL);
}
