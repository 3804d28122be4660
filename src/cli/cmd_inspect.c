/* brisk inspect FILE.gguf [--json] [--full]
 * Prints the header, all metadata (long arrays and strings abbreviated unless
 * --full), a tensor table and totals (parameters, bytes, bits per weight). */
#include <inttypes.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/inspect.h"

inspect_totals inspect_compute_totals(const brisk_gguf *g) {
    inspect_totals t = {0};
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g); i++) {
        const brisk_gguf_tensor *ti = brisk_gguf_tensor_at(g, i);
        t.n_params += ti->n_elements;
        t.n_bytes += ti->n_bytes;
    }
    t.bits_per_weight = t.n_params ? 8.0 * (double)t.n_bytes / (double)t.n_params : 0.0;
    return t;
}

uint64_t inspect_utf8_prefix(brisk_str s, uint64_t max) {
    if (s.len <= max) return s.len;
    uint64_t n = max;
    /* back off continuation bytes so the cut lands on a character boundary */
    while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80) n--;
    return n;
}

static void print_escaped(FILE *out, brisk_str s, bool full) {
    uint64_t n = full ? s.len : inspect_utf8_prefix(s, INSPECT_MAX_STRING_BYTES);
    fputc('"', out);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        switch (c) {
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(out, "\\x%02x", c);
            else fputc(c, out);
        }
    }
    fputc('"', out);
    if (n < s.len) fprintf(out, "... (%" PRIu64 " bytes)", s.len);
}

static void print_value(FILE *out, const brisk_gguf_value *v, bool full) {
    switch (v->type) {
    case BRISK_GGUF_UINT8: case BRISK_GGUF_UINT16: case BRISK_GGUF_UINT32: case BRISK_GGUF_UINT64:
        fprintf(out, "%" PRIu64, v->v.u64);
        break;
    case BRISK_GGUF_INT8: case BRISK_GGUF_INT16: case BRISK_GGUF_INT32: case BRISK_GGUF_INT64:
        fprintf(out, "%" PRId64, v->v.i64);
        break;
    case BRISK_GGUF_FLOAT32: fprintf(out, "%.9g", v->v.f64); break;
    case BRISK_GGUF_FLOAT64: fprintf(out, "%.17g", v->v.f64); break;
    case BRISK_GGUF_BOOL: fputs(v->v.b ? "true" : "false", out); break;
    case BRISK_GGUF_STRING: print_escaped(out, v->v.str, full); break;
    case BRISK_GGUF_ARRAY: {
        uint64_t n = v->v.arr.n;
        uint64_t shown = full || n <= INSPECT_MAX_ARRAY_ITEMS ? n : INSPECT_MAX_ARRAY_ITEMS;
        fprintf(out, "[%" PRIu64 " x %s] [", n, brisk_gguf_type_name(v->v.arr.elem_type));
        for (uint64_t i = 0; i < shown; i++) {
            brisk_gguf_value e;
            brisk_gguf_array_get(v, i, &e);
            if (i) fputs(", ", out);
            print_value(out, &e, full);
        }
        if (shown < n) fprintf(out, ", ... %" PRIu64 " more", n - shown);
        fputc(']', out);
        break;
    }
    default: fputs("?", out);
    }
}

static void print_human_bytes(FILE *out, uint64_t b) {
    if (b >= (1ull << 30)) fprintf(out, "%.2f GiB", (double)b / (1ull << 30));
    else if (b >= (1ull << 20)) fprintf(out, "%.2f MiB", (double)b / (1ull << 20));
    else if (b >= 1024) fprintf(out, "%.2f KiB", (double)b / 1024);
    else fprintf(out, "%" PRIu64 " B", b);
}

static void print_text(FILE *out, const brisk_gguf *g, const char *path, bool full) {
    fprintf(out, "file:        %s\n", path);
    fprintf(out, "format:      GGUF v%u, alignment %" PRIu64 ", tensor data at offset %" PRIu64 "\n",
            brisk_gguf_version(g), brisk_gguf_alignment(g), brisk_gguf_data_offset(g));
    fprintf(out, "file size:   %" PRIu64 " bytes (", brisk_gguf_file_size(g));
    print_human_bytes(out, brisk_gguf_file_size(g));
    fprintf(out, ")\n\nmetadata (%" PRIu64 " keys):\n", brisk_gguf_n_kv(g));
    for (uint64_t i = 0; i < brisk_gguf_n_kv(g); i++) {
        const brisk_gguf_kv *kv = brisk_gguf_kv_at(g, i);
        fprintf(out, "  %-42.*s %-8s ", (int)kv->key.len, kv->key.ptr,
                brisk_gguf_type_name(kv->value.type));
        print_value(out, &kv->value, full);
        fputc('\n', out);
    }

    fprintf(out, "\ntensors (%" PRIu64 "):\n", brisk_gguf_n_tensors(g));
    fprintf(out, "  %5s  %-40s %-7s %-24s %14s %14s\n", "#", "name", "type", "shape", "bytes",
            "offset");
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g); i++) {
        const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, i);
        char shape[96];
        int len = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims && len < (int)sizeof shape; d++)
            len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%" PRId64, d ? ", " : "",
                            t->ne[d]);
        if (len < (int)sizeof shape) snprintf(shape + len, sizeof shape - (size_t)len, "]");
        const brisk_type_info *ti = brisk_type_get(t->type);
        fprintf(out, "  %5" PRIu64 "  %-40.*s %-7s %-24s %14" PRIu64 " %14" PRIu64 "\n", i,
                (int)t->name.len, t->name.ptr, ti ? ti->name : "?", shape, t->n_bytes, t->offset);
    }

    inspect_totals tot = inspect_compute_totals(g);
    fprintf(out, "\ntotals:      %" PRIu64 " parameters (%.3f B), %" PRIu64 " bytes of tensor data (",
            tot.n_params, (double)tot.n_params / 1e9, tot.n_bytes);
    print_human_bytes(out, tot.n_bytes);
    fprintf(out, "), %.3f bits per weight\n", tot.bits_per_weight);
}

static void inspect_usage(FILE *out) {
    fprintf(out, "usage: brisk inspect FILE.gguf [--json] [--full]\n"
                 "  --json   print the same information as JSON\n"
                 "  --full   do not abbreviate long arrays and strings\n");
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool json = false, full = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--full")) full = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { inspect_usage(stdout); return 0; }
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "brisk inspect: unknown option '%s'\n", argv[i]);
            inspect_usage(stderr);
            return 2;
        } else if (!path) path = argv[i];
        else {
            fprintf(stderr, "brisk inspect: more than one file given\n");
            return 2;
        }
    }
    if (!path) {
        inspect_usage(stderr);
        return 2;
    }
    brisk_error err;
    brisk_gguf *g = brisk_gguf_open(path, &err);
    if (!g) {
        fprintf(stderr, "brisk inspect: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (json) rc = inspect_print_json(stdout, g, path, full);
    else print_text(stdout, g, path, full);
    brisk_gguf_close(g);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
