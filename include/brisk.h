/*
 * brisk.h — the public C API of brisk, a local LLM inference engine.
 *
 * Everything the CLI, the server and the bindings do goes through this header.
 *
 * Conventions
 *  - Every object has a create/open and a free/close function; the caller owns
 *    what a create/open returns and frees it with the matching function.
 *  - Functions that can fail take a `brisk_error *err` (may be NULL) and return
 *    NULL or a non-zero brisk_status on failure; err->msg then says what went
 *    wrong and where (file offset, key, tensor name).
 *  - Nothing aborts on bad input.
 */
#ifndef BRISK_H
#define BRISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRISK_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum brisk_status {
    BRISK_OK = 0,
    BRISK_ERR_IO,          /* open/read/write/mmap failed */
    BRISK_ERR_FORMAT,      /* malformed or truncated input */
    BRISK_ERR_UNSUPPORTED, /* well-formed but not supported (version, type) */
    BRISK_ERR_NOMEM,       /* allocation failed */
    BRISK_ERR_ARG,         /* invalid argument from the caller */
} brisk_status;

typedef struct brisk_error {
    brisk_status status;
    char msg[512];
} brisk_error;

/* Human-readable name of a status ("format error", ...). */
const char *brisk_status_name(brisk_status s);

/* ------------------------------------------------------------------------ */
/* Tensor element types                                                      */
/* ------------------------------------------------------------------------ */

/* Values are those of the GGUF file format (ggml type ids). */
typedef enum brisk_type {
    BRISK_TYPE_F32 = 0,
    BRISK_TYPE_F16 = 1,
    BRISK_TYPE_Q4_0 = 2,
    BRISK_TYPE_Q4_1 = 3,
    BRISK_TYPE_Q5_0 = 6,
    BRISK_TYPE_Q5_1 = 7,
    BRISK_TYPE_Q8_0 = 8,
    BRISK_TYPE_Q8_1 = 9,
    BRISK_TYPE_Q2_K = 10,
    BRISK_TYPE_Q3_K = 11,
    BRISK_TYPE_Q4_K = 12,
    BRISK_TYPE_Q5_K = 13,
    BRISK_TYPE_Q6_K = 14,
    BRISK_TYPE_Q8_K = 15,
    BRISK_TYPE_IQ2_XXS = 16,
    BRISK_TYPE_IQ2_XS = 17,
    BRISK_TYPE_IQ3_XXS = 18,
    BRISK_TYPE_IQ1_S = 19,
    BRISK_TYPE_IQ4_NL = 20,
    BRISK_TYPE_IQ3_S = 21,
    BRISK_TYPE_IQ2_S = 22,
    BRISK_TYPE_IQ4_XS = 23,
    BRISK_TYPE_I8 = 24,
    BRISK_TYPE_I16 = 25,
    BRISK_TYPE_I32 = 26,
    BRISK_TYPE_I64 = 27,
    BRISK_TYPE_F64 = 28,
    BRISK_TYPE_IQ1_M = 29,
    BRISK_TYPE_BF16 = 30,
    BRISK_TYPE_TQ1_0 = 34,
    BRISK_TYPE_TQ2_0 = 35,
    BRISK_TYPE_MXFP4 = 39,
    BRISK_TYPE_COUNT = 40, /* one past the largest id brisk knows */
} brisk_type;

typedef struct brisk_type_info {
    const char *name;      /* "Q4_K" */
    uint32_t block_size;   /* elements per block (1 for plain types) */
    uint32_t block_bytes;  /* bytes per block */
    bool can_dequantize;   /* brisk can turn it into f32 */
    bool can_quantize;     /* brisk can make it from f32 */
} brisk_type_info;

/* Traits of a type, or NULL if brisk does not know the id. */
const brisk_type_info *brisk_type_get(uint32_t type);
/* Type id for a name such as "q4_k" or "Q4_K" (case-insensitive); -1 if unknown. */
int brisk_type_from_name(const char *name);
/* Bytes of n elements (n must be a multiple of the block size); 0 if unknown type. */
uint64_t brisk_type_row_bytes(brisk_type type, int64_t n);

/* Convert n elements of `type` at src to f32 at dst. n must be a multiple of
 * the type's block size. */
brisk_status brisk_dequantize(brisk_type type, const void *src, float *dst, int64_t n,
                              brisk_error *err);
/* Reference quantization of n f32 values into `type`; dst must hold
 * brisk_type_row_bytes(type, n) bytes. */
brisk_status brisk_quantize(brisk_type type, const float *src, void *dst, int64_t n,
                            brisk_error *err);
/* The same, with importance weights importance[n] (one per value, >= 0; e.g.
 * the mean square of the activation each weight column meets): the K-quants
 * (Q2_K..Q6_K) and Q4_0, Q4_1, Q5_0, Q5_1 then minimize
 * sum importance_i (x_i - q_i)^2 instead of the plain squared error (for the
 * legacy types by a scale search instead of gguf's max-based rule); per block
 * the plain quantizer's result is kept when its weighted error is smaller.
 * Other types, or importance NULL: brisk_quantize. */
brisk_status brisk_quantize_weighted(brisk_type type, const float *src, void *dst, int64_t n,
                                     const float *importance, brisk_error *err);
/* True when brisk_quantize_weighted uses the importance for this type. */
bool brisk_type_takes_importance(brisk_type type);

/* ------------------------------------------------------------------------ */
/* GGUF files: reading                                                       */
/* ------------------------------------------------------------------------ */

/* Metadata value types, as stored in GGUF. */
typedef enum brisk_gguf_type {
    BRISK_GGUF_UINT8 = 0,
    BRISK_GGUF_INT8 = 1,
    BRISK_GGUF_UINT16 = 2,
    BRISK_GGUF_INT16 = 3,
    BRISK_GGUF_UINT32 = 4,
    BRISK_GGUF_INT32 = 5,
    BRISK_GGUF_FLOAT32 = 6,
    BRISK_GGUF_BOOL = 7,
    BRISK_GGUF_STRING = 8,
    BRISK_GGUF_ARRAY = 9,
    BRISK_GGUF_UINT64 = 10,
    BRISK_GGUF_INT64 = 11,
    BRISK_GGUF_FLOAT64 = 12,
    BRISK_GGUF_TYPE_COUNT = 13,
} brisk_gguf_type;

/* A string inside the file: not NUL-terminated, valid while the file is open. */
typedef struct brisk_str {
    const char *ptr;
    uint64_t len;
} brisk_str;

typedef struct brisk_gguf_value brisk_gguf_value;
struct brisk_gguf_value {
    brisk_gguf_type type;
    union {
        uint64_t u64;    /* UINT8/16/32/64 */
        int64_t i64;     /* INT8/16/32/64 */
        double f64;      /* FLOAT32/64 */
        bool b;          /* BOOL */
        brisk_str str;   /* STRING */
        struct {
            brisk_gguf_type elem_type;
            uint64_t n;
            /* Scalar elements: packed little-endian in the file (read them with
             * brisk_gguf_array_get). STRING elements: `strs`. ARRAY elements:
             * `items`. */
            const void *raw;
            const brisk_str *strs;
            const brisk_gguf_value *items;
        } arr;
    } v;
};

typedef struct brisk_gguf_kv {
    brisk_str key;
    brisk_gguf_value value;
    uint64_t offset; /* byte offset of the key in the file */
} brisk_gguf_kv;

#define BRISK_MAX_DIMS 4

typedef struct brisk_gguf_tensor {
    brisk_str name;
    uint32_t n_dims;
    int64_t ne[BRISK_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    brisk_type type;
    uint64_t n_elements;
    uint64_t n_bytes;
    uint64_t offset;  /* absolute byte offset of the data in the file */
    const void *data; /* the mmapped bytes */
} brisk_gguf_tensor;

typedef struct brisk_gguf brisk_gguf;

/* Open and fully validate a GGUF file (v2 or v3). Tensor data stays mmapped. */
brisk_gguf *brisk_gguf_open(const char *path, brisk_error *err);
/* Same, over bytes owned by the caller (kept, not copied; must outlive the result). */
brisk_gguf *brisk_gguf_open_memory(const void *data, size_t size, brisk_error *err);
void brisk_gguf_close(brisk_gguf *g);

uint32_t brisk_gguf_version(const brisk_gguf *g);
uint64_t brisk_gguf_file_size(const brisk_gguf *g);
uint64_t brisk_gguf_alignment(const brisk_gguf *g);
uint64_t brisk_gguf_data_offset(const brisk_gguf *g); /* start of the tensor data section */

uint64_t brisk_gguf_n_kv(const brisk_gguf *g);
const brisk_gguf_kv *brisk_gguf_kv_at(const brisk_gguf *g, uint64_t i);
/* The value stored under key, or NULL. */
const brisk_gguf_value *brisk_gguf_find(const brisk_gguf *g, const char *key);

uint64_t brisk_gguf_n_tensors(const brisk_gguf *g);
const brisk_gguf_tensor *brisk_gguf_tensor_at(const brisk_gguf *g, uint64_t i);
const brisk_gguf_tensor *brisk_gguf_find_tensor(const brisk_gguf *g, const char *name);

/* Typed readers for one value. Integers convert between widths when the value
 * fits; floats accept any numeric type. Return false on a type mismatch. */
bool brisk_gguf_value_int(const brisk_gguf_value *v, int64_t *out);
bool brisk_gguf_value_uint(const brisk_gguf_value *v, uint64_t *out);
bool brisk_gguf_value_float(const brisk_gguf_value *v, double *out);
/* Element i of an array as a scalar value (elements of STRING and ARRAY arrays too). */
bool brisk_gguf_array_get(const brisk_gguf_value *arr, uint64_t i, brisk_gguf_value *out);

const char *brisk_gguf_type_name(brisk_gguf_type t); /* "uint32", "string", ... */
bool brisk_str_eq(brisk_str s, const char *cstr);

/* ------------------------------------------------------------------------ */
/* GGUF files: writing                                                       */
/* ------------------------------------------------------------------------ */

typedef struct brisk_gguf_writer brisk_gguf_writer;

/* version: 2 or 3. Alignment defaults to 32 (set general.alignment to change it). */
brisk_gguf_writer *brisk_gguf_writer_create(uint32_t version, brisk_error *err);
void brisk_gguf_writer_free(brisk_gguf_writer *w);

/* Set a metadata key; setting a key again replaces its value in place. */
brisk_status brisk_gguf_writer_set(brisk_gguf_writer *w, const char *key,
                                   const brisk_gguf_value *value, brisk_error *err);
brisk_status brisk_gguf_writer_set_u32(brisk_gguf_writer *w, const char *key, uint32_t v,
                                       brisk_error *err);
brisk_status brisk_gguf_writer_set_str(brisk_gguf_writer *w, const char *key, const char *s,
                                       brisk_error *err);
/* Array of n scalars of elem_type, packed little-endian at data. */
brisk_status brisk_gguf_writer_set_array(brisk_gguf_writer *w, const char *key,
                                         brisk_gguf_type elem_type, const void *data,
                                         uint64_t n, brisk_error *err);
brisk_status brisk_gguf_writer_set_str_array(brisk_gguf_writer *w, const char *key,
                                             const char *const *strs, uint64_t n,
                                             brisk_error *err);

/* Add a tensor; `data` (brisk_type_row_bytes(type, nelements) bytes) is not copied and
 * must stay valid until brisk_gguf_writer_write returns. ne[0] is the row dimension. */
brisk_status brisk_gguf_writer_add_tensor(brisk_gguf_writer *w, const char *name,
                                          brisk_type type, uint32_t n_dims, const int64_t *ne,
                                          const void *data, brisk_error *err);

/* Write the whole file (header, metadata, tensor infos, aligned data). */
brisk_status brisk_gguf_writer_write(brisk_gguf_writer *w, const char *path, brisk_error *err);


/* ------------------------------------------------------------------------ */
/* Vocabulary and tokenizer                                                  */
/* ------------------------------------------------------------------------ */

typedef int32_t brisk_token;
typedef struct brisk_vocab brisk_vocab;

/* Build the tokenizer described by a GGUF file's tokenizer.ggml.* metadata
 * (SentencePiece-style "llama" or byte-level BPE "gpt2" with the pre-tokenizer
 * named by tokenizer.ggml.pre). Copies what it needs: g may be closed after. */
brisk_vocab *brisk_vocab_load(const brisk_gguf *g, brisk_error *err);
void brisk_vocab_free(brisk_vocab *v);

int32_t brisk_vocab_size(const brisk_vocab *v);
brisk_token brisk_vocab_bos(const brisk_vocab *v); /* -1 when the model has none */
brisk_token brisk_vocab_eos(const brisk_vocab *v); /* -1 when the model has none */
/* True for tokens that end a generation (EOS, EOT, <|im_end|>, <end_of_turn>, ...). */
bool brisk_vocab_is_eog(const brisk_vocab *v, brisk_token t);
/* True for control tokens (rendered only when asked). */
bool brisk_vocab_is_control(const brisk_vocab *v, brisk_token t);

enum {
    BRISK_TOKENIZE_ADD_SPECIAL = 1u << 0,   /* add BOS/EOS where the model's metadata asks */
    BRISK_TOKENIZE_PARSE_SPECIAL = 1u << 1, /* text of control tokens ("<|im_start|>") becomes them */
};

/* Tokenize text[0..len). Writes at most max_out tokens to out and returns the
 * number of tokens the text needs (call again with a larger buffer when that
 * is more than max_out), or -1 on error. */
int64_t brisk_tokenize(const brisk_vocab *v, const char *text, size_t len, uint32_t flags,
                       brisk_token *out, int64_t max_out, brisk_error *err);

/* The bytes of one token (control tokens: empty unless render_special).
 * Returns the byte count; writes at most buf_size bytes. -1 for an invalid token. */
int64_t brisk_token_to_piece(const brisk_vocab *v, brisk_token t, bool render_special,
                             char *buf, size_t buf_size);

/* Text of a token sequence, as the model's reference tokenizer decodes it
 * (SentencePiece: leading space of the first piece removed, and so on).
 * Returns the byte count (may exceed buf_size; then call again), -1 on error. */
int64_t brisk_detokenize(const brisk_vocab *v, const brisk_token *tokens, int64_t n,
                         bool render_special, char *buf, size_t buf_size);

/* Streaming detokenizer: push tokens one at a time and get back only complete
 * UTF-8 text (a character split across tokens is held until it is whole). */
typedef struct brisk_detok brisk_detok;
brisk_detok *brisk_detok_create(const brisk_vocab *v, bool render_special);
void brisk_detok_free(brisk_detok *d);
/* Returns a NUL-terminated string of the newly completed text (valid until the
 * next call); "" when nothing is complete yet. */
const char *brisk_detok_push(brisk_detok *d, brisk_token t);
/* At the end of a stream: whatever is held, invalid bytes as U+FFFD. */
const char *brisk_detok_flush(brisk_detok *d);

/* ------------------------------------------------------------------------ */
/* Models and contexts                                                       */
/* ------------------------------------------------------------------------ */

typedef struct brisk_model brisk_model;
typedef struct brisk_context brisk_context;

/* Load a model (GGUF, mmapped; weights used in place). Fails with a clear error
 * for an unknown architecture, a missing tensor, a wrong shape or an
 * unsupported type. */
brisk_model *brisk_model_load(const char *path, brisk_error *err);
void brisk_model_free(brisk_model *m);

const brisk_vocab *brisk_model_vocab(const brisk_model *m);
const brisk_gguf *brisk_model_gguf(const brisk_model *m);
const char *brisk_model_arch(const brisk_model *m); /* "llama", "qwen2", "qwen3", "gemma3" */
int32_t brisk_model_n_vocab(const brisk_model *m);
int32_t brisk_model_n_ctx_train(const brisk_model *m);
uint64_t brisk_model_n_params(const brisk_model *m);
uint64_t brisk_model_n_bytes(const brisk_model *m);
int32_t brisk_model_n_layers(const brisk_model *m); /* transformer blocks */

/* The KV cache of the layers on the GPU: F16 (the default), or Q8_0: int8
 * values with an f16 scale per 32 elements of a row (~53% of the bytes, so
 * long-context decode reads half as much; lossy: logits move a little). The
 * host KV cache of CPU layers is always f16. */
typedef enum brisk_kv_type { BRISK_KV_F16 = 0, BRISK_KV_Q8_0 = 1 } brisk_kv_type;

typedef struct brisk_context_params {
    int32_t n_ctx;     /* KV cache length in tokens; 0 = the model's training context */
    int32_t n_threads; /* 0 = number of cores */
    bool exact;        /* reference mode: f32 activations everywhere (slower) */
    int32_t n_gpu_layers; /* as in brisk_engine_params (default -1: as many as fit; 0 = CPU only) */
    brisk_kv_type kv_type; /* as in brisk_engine_params (default F16) */
} brisk_context_params;

brisk_context_params brisk_context_default_params(void);
brisk_context *brisk_context_create(const brisk_model *m, const brisk_context_params *p,
                                    brisk_error *err);
void brisk_context_free(brisk_context *c);

int32_t brisk_context_n_ctx(const brisk_context *c);
/* Layers running on the GPU (0 without CUDA, or on the CPU only). */
int32_t brisk_context_n_gpu_layers(const brisk_context *c);
/* Tokens already in the KV cache. */
int32_t brisk_context_n_past(const brisk_context *c);
/* Forget the KV cache from position pos on (0 = everything). */
void brisk_context_truncate(brisk_context *c, int32_t pos);

/* Run the model on n tokens that follow what is in the KV cache. With
 * all_logits the logits of every token are kept, else only the last one's.
 * Fails (without changing the cache) when the tokens would not fit. */
brisk_status brisk_eval(brisk_context *c, const brisk_token *tokens, int32_t n, bool all_logits,
                        brisk_error *err);
/* Sees the input of every matrix multiplication of the forward pass: the rows
 * x[n_rows, n_cols] that meet the weight named weight_name (its GGUF name,
 * "blk.3.ffn_down.weight"; the output matrix of a tied model is
 * "token_embd.weight"). x is valid during the call only. For activation
 * statistics (brisk imatrix). */
typedef void (*brisk_matmul_observer)(void *user, const char *weight_name, const float *x, int32_t n_rows,
                                      int64_t n_cols);
/* Install (fn NULL: remove) the context's observer. */
void brisk_context_set_observer(brisk_context *c, brisk_matmul_observer fn, void *user);

/* Logits [n_vocab] of token i of the last eval (i = -1: its last token); NULL
 * when that token's logits were not kept. */
const float *brisk_logits(const brisk_context *c, int32_t i);

/* The CPU kernels this process uses, e.g. "avx512vnni kernels, 16-row weight
 * panels" (chosen at run time from the CPU; BRISK_ISA and BRISK_PANELS=0 in
 * the environment override). */
const char *brisk_cpu_kernels(void);

/* The first CUDA GPU (brisk_gpu_query). */
typedef struct brisk_gpu_info {
    char name[128];          /* "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90, 132 SMs" */
    uint64_t free_bytes, total_bytes;
    uint64_t reserve_bytes;  /* of the free memory, what automatic GPU layer placement leaves unused */
    double copy_gbps;        /* device-to-device copy bandwidth, bytes read + written (what GPU
                                decode speed is compared with); 0 unless measured */
} brisk_gpu_info;

/* Fill *out; with measure_bandwidth, also time copies between two 1 GiB device
 * buffers (~0.1 s). BRISK_ERR_UNSUPPORTED without a CUDA backend or device. */
brisk_status brisk_gpu_query(brisk_gpu_info *out, bool measure_bandwidth, brisk_error *err);

/* ------------------------------------------------------------------------ */
/* Many sequences at once (continuous batching)                              */
/* ------------------------------------------------------------------------ */

/* An engine runs many sequences through shared forward passes (the weights are
 * read once per pass for every sequence in it) over one paged KV cache:
 * fixed-size blocks, a block table per sequence, and prefix caching (a new
 * sequence whose prompt starts with whole blocks another sequence computed
 * takes those blocks instead of recomputing them). One thread uses an engine
 * at a time. brisk_context is an engine with one sequence. */
typedef struct brisk_engine brisk_engine;

typedef struct brisk_engine_params {
    int32_t n_ctx_seq;    /* most tokens one sequence holds; 0 = the model's training context, at most 4096 */
    int32_t n_kv_tokens;  /* KV cache rows shared by all sequences (rounded up to blocks); 0 = n_ctx_seq */
    int32_t n_seq_max;    /* sequences open at once; 0 = 1 */
    int32_t n_batch;      /* tokens per forward pass (longer evals are split); 0 = 512 */
    int32_t block_size;   /* tokens per KV block; 0 = 16 */
    int32_t n_threads;    /* 0 = number of cores */
    bool exact;           /* reference mode: f32 activations and KV cache */
    bool prefix_cache;    /* register filled blocks for reuse by later sequences */
    int32_t n_gpu_layers; /* CUDA builds: the first N layers run on the GPU; -1 = as many as fit
                             (the default), 0 = CPU only. Exact mode is CPU only. */
    brisk_kv_type kv_type;  /* KV cache of the GPU layers (default F16; CPU layers keep f16) */
} brisk_engine_params;

typedef enum brisk_output {
    BRISK_OUTPUT_NONE = 0, /* only fill the KV cache */
    BRISK_OUTPUT_LAST,     /* logits of the item's last token */
    BRISK_OUTPUT_ALL,      /* logits of every token of the item */
    BRISK_OUTPUT_EMBED,    /* mean over the item's tokens of the final-normed hidden state, L2-normalized */
} brisk_output;

/* Tokens appended to one open sequence by brisk_engine_eval. */
typedef struct brisk_batch_item {
    int32_t seq;
    const brisk_token *tokens;
    int32_t n_tokens;
    brisk_output output;
} brisk_batch_item;

brisk_engine_params brisk_engine_default_params(void);
brisk_engine *brisk_engine_create(const brisk_model *m, const brisk_engine_params *p, brisk_error *err);
void brisk_engine_free(brisk_engine *e);
const brisk_model *brisk_engine_model(const brisk_engine *e);
int32_t brisk_engine_n_ctx_seq(const brisk_engine *e);
int32_t brisk_engine_n_embd(const brisk_engine *e);
/* Layers placed on the GPU (the first ones; 0 = CPU only). */
int32_t brisk_engine_n_gpu_layers(const brisk_engine *e);

/* Open an empty sequence: its id (>= 0), or -1 (err set) when n_seq_max are open. */
int32_t brisk_seq_open(brisk_engine *e, brisk_error *err);
/* Close a sequence and release its KV blocks (registered ones stay cached). */
void brisk_seq_close(brisk_engine *e, int32_t seq);
/* Tokens in a sequence's KV cache; -1 for a sequence that is not open. */
int32_t brisk_seq_n_past(const brisk_engine *e, int32_t seq);
/* KV blocks a sequence still has to take from the free ones to append n_new
 * tokens (0 when its blocks have room); -1 when seq is not open. */
int32_t brisk_seq_blocks_needed(const brisk_engine *e, int32_t seq, int32_t n_new);
/* For an empty sequence about to eval tokens[0..n): take the cached blocks of
 * its longest whole-block prefix (at least one token is left to eval). Returns
 * the tokens now in its cache; eval the rest, tokens[returned..n). */
int32_t brisk_seq_reuse_prefix(brisk_engine *e, int32_t seq, const brisk_token *tokens, int32_t n);
/* Forget a sequence's cache from position pos on. Fails when a shared block
 * must be copied and no block is free. */
brisk_status brisk_seq_truncate(brisk_engine *e, int32_t seq, int32_t pos, brisk_error *err);

/* Append each item's tokens to its sequence, all in shared forward passes.
 * Fails without changing any sequence when an item is invalid (closed
 * sequence, the same sequence twice, token outside the vocabulary, more than
 * n_ctx_seq tokens) or the KV cache has too few free blocks. */
brisk_status brisk_engine_eval(brisk_engine *e, const brisk_batch_item *items, int32_t n_items,
                               brisk_error *err);
/* After brisk_engine_eval: logits [n_vocab] of token i of item `item` (i = -1:
 * its last token), or its embedding [n_embd] (BRISK_OUTPUT_EMBED); NULL when
 * that output was not asked for. Valid until the next eval. */
const float *brisk_engine_logits(const brisk_engine *e, int32_t item, int32_t i);
const float *brisk_engine_embedding(const brisk_engine *e, int32_t item);

typedef struct brisk_kv_stats {
    int32_t n_blocks, block_size;
    int32_t used_blocks;      /* held by open sequences */
    int32_t cached_blocks;    /* free but still holding a reusable prefix */
    int32_t open_seqs;
    uint64_t prefix_hit_tokens; /* tokens taken from the prefix cache so far */
} brisk_kv_stats;
brisk_kv_stats brisk_engine_kv_stats(const brisk_engine *e);

/* ------------------------------------------------------------------------ */
/* Sampling                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct brisk_sampler_params {
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off (divides positive logits, multiplies negative ones) */
    int32_t penalty_last_n;  /* how many recent tokens the penalties look at; -1 = all */
    float frequency_penalty; /* 0: off (subtract count * f) */
    float presence_penalty;  /* 0: off (subtract p if seen) */
    uint64_t seed;           /* 0: a seed from the clock */
} brisk_sampler_params;

typedef struct brisk_sampler brisk_sampler;

brisk_sampler_params brisk_sampler_default_params(void);
/* p NULL: the defaults. Bad parameters (non-finite temperature, ...) give BRISK_ERR_ARG. */
brisk_sampler *brisk_sampler_create(const brisk_sampler_params *p, int32_t n_vocab,
                                    brisk_error *err);
void brisk_sampler_free(brisk_sampler *s);
/* Pick a token from logits [n_vocab] (not modified). Filters always keep the most
 * likely token. Returns -1 when every logit is -inf/NaN or an argument is NULL. */
brisk_token brisk_sampler_sample(brisk_sampler *s, const float *logits);
/* Record a token of the context (prompt or generated) for the penalties
 * (ids outside the vocabulary are ignored). */
void brisk_sampler_accept(brisk_sampler *s, brisk_token t);
void brisk_sampler_reset(brisk_sampler *s);

/* Stop strings over streamed text: text that might be the start of a stop
 * string is held back until it is known not to be. */
typedef struct brisk_stop brisk_stop;
brisk_stop *brisk_stop_create(const char *const *stops, int n_stops, brisk_error *err);
void brisk_stop_free(brisk_stop *s);
/* Feed text; *emit (valid until the next call) gets the text that is safe to
 * show now. Returns true when a stop string has matched: *emit then holds the
 * text before it, and generation should end. The first stop string to complete
 * wins (the longest if several end at the same byte); after a stop, feeds
 * return true with nothing to emit. */
bool brisk_stop_feed(brisk_stop *s, const char *text, size_t len, const char **emit,
                     size_t *emit_len);
/* End of stream: release the held-back text. */
void brisk_stop_flush(brisk_stop *s, const char **emit, size_t *emit_len);

/* ------------------------------------------------------------------------ */
/* GGUF files: streaming writes                                              */
/* ------------------------------------------------------------------------ */

/* Produces the n_bytes bytes of tensor number `index` (in the order added) into
 * dst. Returns BRISK_OK, or a status with err set to abort the write. */
typedef brisk_status (*brisk_gguf_fill_fn)(void *user, uint64_t index, void *dst, uint64_t n_bytes,
                                           brisk_error *err);

/* Add a tensor whose data is produced at write time by the fill function of
 * brisk_gguf_writer_write_stream (brisk_gguf_writer_write refuses such tensors). */
brisk_status brisk_gguf_writer_add_tensor_deferred(brisk_gguf_writer *w, const char *name,
                                                   brisk_type type, uint32_t n_dims,
                                                   const int64_t *ne, brisk_error *err);
/* Like brisk_gguf_writer_write, calling fill for each deferred tensor in file
 * order with one reused buffer: memory stays at the largest deferred tensor. */
brisk_status brisk_gguf_writer_write_stream(brisk_gguf_writer *w, const char *path,
                                            brisk_gguf_fill_fn fill, void *user, brisk_error *err);

/* ------------------------------------------------------------------------ */
/* Chat templates (brisk's own Jinja2 engine, src/template)                  */
/* ------------------------------------------------------------------------ */

typedef struct brisk_chat_message {
    const char *role;    /* "system", "user", "assistant", ... */
    const char *content; /* UTF-8 text */
} brisk_chat_message;

/* Render a conversation with the model's tokenizer.chat_template (or tmpl when
 * non-NULL; or brisk's fallback when the model has none, see below), the way
 * Hugging Face's apply_chat_template does: variables messages, bos_token,
 * eos_token (text of the vocab's BOS/EOS), add_generation_prompt; tools is
 * undefined. add_generation_prompt appends the assistant turn's opening.
 * *out is malloc'd text (free with free()). Tokenize it with
 * BRISK_TOKENIZE_PARSE_SPECIAL and without ADD_SPECIAL: the template places
 * BOS itself.
 * Fallback (model without a template): ChatML, "<|im_start|>ROLE\nCONTENT<|im_end|>\n"
 * per message and "<|im_start|>assistant\n" as the generation prompt, preceded
 * by bos_token when the model's tokenizer.ggml.add_bos_token is true. */
brisk_status brisk_chat_render(const brisk_model *m, const char *tmpl,
                               const brisk_chat_message *msgs, size_t n_msgs,
                               bool add_generation_prompt, char **out, brisk_error *err);
/* True when the model's GGUF carries tokenizer.chat_template (else
 * brisk_chat_render uses the fallback above). */
bool brisk_chat_has_template(const brisk_model *m);

/* Lower level: render any template with a JSON object as its variables, in
 * Hugging Face's environment (trim_blocks, lstrip_blocks, loop controls,
 * tojson, raise_exception, strftime_now). Errors name the template line and
 * column. *out is malloc'd (free with free()). */
brisk_status brisk_template_render_json(const char *tmpl, const char *vars_json,
                                        char **out, brisk_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BRISK_H */
