#include "quant/target.h"

#include "base/error.h"

brisk_status quant_target_choose(quant_plan *p, const quant_target_params *tp, brisk_error *err) {
    (void)p; (void)tp;
    return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "--target-size is not implemented yet");
}
