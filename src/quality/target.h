/* --target-size / --target-bpw: per-tensor types chosen from measured
 * sensitivity (see target.c for the method). */
#ifndef BRISK_QUALITY_TARGET_H
#define BRISK_QUALITY_TARGET_H

#include "quality/plan.h"

typedef struct quant_target_params {
    double target_bytes;    /* of all output tensors; 0 = use target_bpw */
    double target_bpw;      /* bits per weight of the matrices */
    const char *model_path; /* the input model (run to measure sensitivity) */
    const char *calib_path; /* calibration text */
    const char *sens_path;  /* optional cache of the measured sensitivities: read if it exists, else written */
    int calib_tokens;
    int n_threads;
    bool quiet, force_progress;
} quant_target_params;

/* Replace the matrices' types in p by the choice that minimizes the
 * estimated KL divergence within the size. */
brisk_status quant_target_choose(quant_plan *p, const quant_target_params *tp, brisk_error *err);

#endif
