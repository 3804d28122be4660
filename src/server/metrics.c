/* GET /metrics: Prometheus text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). */
#include <stdlib.h>

#include "server/server.h"

static const char *endpoint_names[EP_COUNT] = {"chat_completions", "completions", "messages", "embeddings",
                                               "models", "other"};

void api_metrics(server *s, api_response *out) {
    sched_stats st = sched_get_stats(s->sched);
    sbuf b = {0};
    sbuf_addf(&b, "# HELP brisk_requests_total HTTP requests received, by endpoint.\n# TYPE brisk_requests_total counter\n");
    for (int i = 0; i < EP_COUNT; i++)
        sbuf_addf(&b, "brisk_requests_total{endpoint=\"%s\"} %llu\n", endpoint_names[i],
                  (unsigned long long)atomic_load(&s->requests_total[i]));
    sbuf_addf(&b, "# HELP brisk_request_errors_total Requests answered with an error status.\n"
                  "# TYPE brisk_request_errors_total counter\nbrisk_request_errors_total %llu\n",
              (unsigned long long)atomic_load(&s->errors_total));
    sbuf_addf(&b, "# HELP brisk_requests_finished_total Generation and embedding requests finished.\n"
                  "# TYPE brisk_requests_finished_total counter\nbrisk_requests_finished_total %llu\n",
              (unsigned long long)st.requests_done);
    sbuf_addf(&b, "# HELP brisk_prompt_tokens_total Prompt tokens received.\n# TYPE brisk_prompt_tokens_total counter\n"
                  "brisk_prompt_tokens_total %llu\n", (unsigned long long)st.prompt_tokens);
    sbuf_addf(&b, "# HELP brisk_prompt_tokens_cached_total Prompt tokens served from the prefix cache.\n"
                  "# TYPE brisk_prompt_tokens_cached_total counter\nbrisk_prompt_tokens_cached_total %llu\n",
              (unsigned long long)st.cached_prompt_tokens);
    sbuf_addf(&b, "# HELP brisk_generated_tokens_total Tokens generated.\n# TYPE brisk_generated_tokens_total counter\n"
                  "brisk_generated_tokens_total %llu\n", (unsigned long long)st.generated_tokens);
    sbuf_addf(&b, "# HELP brisk_preemptions_total Generating requests swapped out of a full KV cache (they resume).\n"
                  "# TYPE brisk_preemptions_total counter\nbrisk_preemptions_total %llu\n",
              (unsigned long long)st.preemptions);
    sbuf_addf(&b, "# HELP brisk_queue_depth Requests waiting for a sequence slot.\n# TYPE brisk_queue_depth gauge\n"
                  "brisk_queue_depth %d\n", st.queued);
    sbuf_addf(&b, "# HELP brisk_running_requests Requests being prefilled or decoded.\n# TYPE brisk_running_requests gauge\n"
                  "brisk_running_requests %d\n", st.running);
    sbuf_addf(&b, "# HELP brisk_generation_tokens_per_second Generated tokens per second over the last 2 s window.\n"
                  "# TYPE brisk_generation_tokens_per_second gauge\nbrisk_generation_tokens_per_second %.2f\n",
              st.gen_tok_per_s);
    sbuf_addf(&b, "# HELP brisk_kv_cache_blocks KV cache blocks (of brisk_kv_cache_block_tokens tokens).\n"
                  "# TYPE brisk_kv_cache_blocks gauge\nbrisk_kv_cache_blocks %d\n", st.kv.n_blocks);
    sbuf_addf(&b, "# HELP brisk_kv_cache_block_tokens Tokens per KV cache block.\n# TYPE brisk_kv_cache_block_tokens gauge\n"
                  "brisk_kv_cache_block_tokens %d\n", st.kv.block_size);
    sbuf_addf(&b, "# HELP brisk_kv_cache_used_blocks KV blocks held by running sequences.\n"
                  "# TYPE brisk_kv_cache_used_blocks gauge\nbrisk_kv_cache_used_blocks %d\n", st.kv.used_blocks);
    sbuf_addf(&b, "# HELP brisk_kv_cache_cached_blocks Free KV blocks still holding a reusable prompt prefix.\n"
                  "# TYPE brisk_kv_cache_cached_blocks gauge\nbrisk_kv_cache_cached_blocks %d\n", st.kv.cached_blocks);
    sbuf_addf(&b, "# HELP brisk_kv_cache_usage_ratio Fraction of KV blocks held by running sequences.\n"
                  "# TYPE brisk_kv_cache_usage_ratio gauge\nbrisk_kv_cache_usage_ratio %.4f\n",
              st.kv.n_blocks ? (double)st.kv.used_blocks / st.kv.n_blocks : 0.0);
    out->status = 200;
    out->text_owned = b.p;
    out->text = b.p ? b.p : "";
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
