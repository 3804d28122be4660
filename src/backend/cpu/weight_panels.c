/* Repacking a cpu_weight into panels (kernels.h, panels.c) and the memory
 * they live in: anonymous memory in 2 MiB-aligned huge pages where the kernel
 * allows (on the VMs measured here, streaming 4 KiB pages was TLB-bound at
 * about half the bandwidth of huge pages). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

#define HUGE_PAGE ((size_t)2 << 20)

void *cpu_huge_alloc(size_t bytes) {
    const size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    /* over-map by one huge page and trim both ends to an aligned range */
    uint8_t *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (p + size < raw + size + HUGE_PAGE) munmap(p + size, (size_t)(raw + size + HUGE_PAGE - (p + size)));
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void cpu_huge_free(void *p, size_t bytes) {
    if (p) munmap(p, (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
}

bool cpu_panels_enabled(void) {
    const char *env = getenv("BRISK_PANELS");
    return !(env && !strcmp(env, "0"));
}

uint64_t cpu_weight_panels_bytes(const cpu_weight *w) {
    const uint64_t per_panel = cpu_panel_bytes(w->type, w->n_in);
    if (!cpu_panels_enabled() || !per_panel || w->n_out < CPU_PANEL_ROWS ||
        !cpu_kernels_best()->panel_dot[w->type])
        return 0;
    return per_panel * (uint64_t)(w->n_out / CPU_PANEL_ROWS);
}

typedef struct pack_job {
    const cpu_weight *w;
    uint8_t *panels;
    int64_t n_panels;
} pack_job;

static void pack_worker(void *p, int ith, int nth) {
    const pack_job *job = p;
    const cpu_weight *w = job->w;
    long p0, p1;
    threadpool_slice((long)job->n_panels, ith, nth, &p0, &p1);
    for (long pi = p0; pi < p1; pi++)
        cpu_panel_pack(w->type, (const uint8_t *)w->data + (uint64_t)(pi * CPU_PANEL_ROWS) * w->row_bytes, w->row_bytes,
                       w->n_in, job->panels + (uint64_t)pi * w->panel_bytes);
}

void cpu_weight_pack_panels(cpu_weight *w, void *dst, threadpool *tp, bool drop_source) {
    w->panel_bytes = cpu_panel_bytes(w->type, w->n_in);
    pack_job job = {w, dst, w->n_out / CPU_PANEL_ROWS};
    if (tp) threadpool_run(tp, pack_worker, &job);
    else pack_worker(&job, 0, 1);
    w->panels = dst;
    /* The packed rows of a mapped file are not read again by the kernels:
     * drop them from this process (they stay in the page cache and fault back
     * in if anything else reads them: tied embeddings, exact mode). */
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)w->data + page - 1) / page * page;
    const uintptr_t hi = ((uintptr_t)w->data + (uintptr_t)(job.n_panels * CPU_PANEL_ROWS) * w->row_bytes) / page * page;
    if (drop_source && hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

bool cpu_weight_make_panels(cpu_weight *w, threadpool *tp, bool drop_source) {
    const uint64_t bytes = cpu_weight_panels_bytes(w);
    if (w->panels || !bytes) return true;
    void *dst = cpu_huge_alloc((size_t)bytes);
    if (!dst) return false;
    cpu_weight_pack_panels(w, dst, tp, drop_source);
    w->panels_owned = true;
    return true;
}

void cpu_weight_free_panels(cpu_weight *w) {
    if (w->panels && w->panels_owned)
        cpu_huge_free(w->panels, (size_t)(w->panel_bytes * (uint64_t)(w->n_out / CPU_PANEL_ROWS)));
    w->panels = NULL;
    w->panel_bytes = 0;
    w->panels_owned = false;
}
