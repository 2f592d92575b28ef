/*
 * config.c - the YAML configuration (libyaml document API).
 *
 * Invariants:
 *  - Input is bounded: at most GW_CONFIG_MAX_BYTES (1 MiB) of YAML, so the
 *    libyaml document built from it is bounded too. Aliases are node
 *    references in the document API (never expanded), and the schema is
 *    flat (sections of scalars or one sequence), so walking it is linear.
 *  - Every key is looked up in one constant table that carries its section,
 *    type, range and destination; anything not in the table is an error, as
 *    is a duplicate key, a wrong type or an out-of-range value. Messages
 *    carry the 1-based line:column of the offending node.
 *  - Values are applied to a private copy that starts from the defaults;
 *    the caller's struct is written only when the whole file was accepted.
 *  - Text from the file that ends up in a message is cut short and stripped
 *    of non-printable bytes.
 *  - `outputs:` is the one section that is a sequence (of small mappings).
 *    Its sink specs and record types are checked against the router's own
 *    tables (gw_router_check_spec, gw_router_event_type), so the config
 *    accepts exactly what -o and the router accept; nothing is opened here.
 */
#include "grpcwatch/config.h"
#include "grpcwatch/router.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#define GW_CONFIG_MAX_BYTES (1024 * 1024)

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

void gw_config_defaults(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->flow_max = 65536;
    cfg->flow_timeout_new = 30;
    cfg->flow_timeout_established = 600;
    cfg->flow_timeout_closed = 10;
    cfg->reasm_ooo_max_bytes = 262144;
    cfg->reasm_ooo_max_segments = 256;
    cfg->reasm_memcap = 256 * MIB;
    cfg->h2_max_streams = 512;
    cfg->h2_max_header_table = 65536;
    cfg->h2_max_header_list = 262144;
    cfg->frag_max_datagrams = 1024;
    cfg->frag_max_bytes = 4 * MIB;
    cfg->frag_timeout = 30;
    cfg->n_cred_keys = 0;
    cfg->stats_interval = 60;
}

enum key_kind {
    KIND_INT,  /* plain decimal integer */
    KIND_SIZE, /* decimal integer with an optional k/m/g (KiB/MiB/GiB) suffix */
    KIND_NAMES /* a sequence of metadata key names */
};

struct key_spec {
    const char *section, *key;
    enum key_kind kind;
    uint64_t min, max;
    size_t offset, width; /* destination field in struct gw_config */
};

#define FIELD(f) offsetof(struct gw_config, f), sizeof(((struct gw_config *)0)->f)

static const struct key_spec key_table[] = {
    { "flow", "max-flows", KIND_INT, 1, 16777216, FIELD(flow_max) },
    { "flow", "timeout-new", KIND_INT, 1, 86400, FIELD(flow_timeout_new) },
    { "flow", "timeout-established", KIND_INT, 1, 86400, FIELD(flow_timeout_established) },
    { "flow", "timeout-closed", KIND_INT, 1, 86400, FIELD(flow_timeout_closed) },
    /* reasm.h clamps a direction to 16 MiB anyway */
    { "reassembly", "ooo-max-bytes", KIND_SIZE, 1, 16 * MIB, FIELD(reasm_ooo_max_bytes) },
    { "reassembly", "ooo-max-segments", KIND_INT, 1, 65535, FIELD(reasm_ooo_max_segments) },
    { "reassembly", "memcap", KIND_SIZE, 64 * KIB, UINT64_MAX, FIELD(reasm_memcap) },
    { "http2", "max-streams", KIND_INT, 1, 65536, FIELD(h2_max_streams) },
    { "http2", "max-header-table", KIND_SIZE, 0, 16 * MIB, FIELD(h2_max_header_table) },
    { "http2", "max-header-list", KIND_SIZE, 1 * KIB, 64 * MIB, FIELD(h2_max_header_list) },
    /* decode.h's maxima */
    { "defrag", "max-datagrams", KIND_INT, 1, 65536, FIELD(frag_max_datagrams) },
    { "defrag", "max-bytes", KIND_SIZE, 64 * KIB, GIB, FIELD(frag_max_bytes) },
    { "defrag", "timeout", KIND_INT, 1, 3600, FIELD(frag_timeout) },
    { "policy", "credential-keys", KIND_NAMES, 0, 0, FIELD(cred_keys) },
    { "output", "stats-interval", KIND_INT, 0, 86400, FIELD(stats_interval) },
};

/* seen_keys is a 32-bit mask over key_table */
_Static_assert(sizeof key_table / sizeof key_table[0] <= 32, "key_table outgrew seen_keys");

static const char *const section_names[] = { "flow",   "reassembly", "http2",  "defrag",
                                              "policy", "output",     "outputs" };
#define SECTION_OUTPUTS 6 /* a sequence, not a mapping of keys */
#define SECTION_LIST "flow, reassembly, http2, defrag, policy, output or outputs"

_Static_assert(GW_CONFIG_MAX_OUTPUTS == GW_ROUTER_MAX_SINKS, "every configured output must fit the router");

struct loader {
    const char *name;
    char *err;
    size_t errlen;
    yaml_document_t *doc;
    struct gw_config cfg;
    uint32_t seen_keys;     /* bit i: key_table[i] was set */
    uint32_t seen_sections; /* bit i: section_names[i] appeared */
};

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "name:line:col: message" at a node; returns GW_ERR_MALFORMED. */
__attribute__((format(printf, 3, 4)))
static int fail_at(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(l->err, l->errlen, "%s:%zu:%zu: %s", l->name, n->start_mark.line + 1,
            n->start_mark.column + 1, msg);
    return GW_ERR_MALFORMED;
}

/* Copies file text into out for a message: printable ASCII only, cut. */
static const char *clean_text(const unsigned char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0, keep = outlen - 4; /* room for "..." and NUL */
    for (size_t i = 0; i < n && o < keep; i++) out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (n > keep) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static const char *scalar_text(const yaml_node_t *n, char *out, size_t outlen)
{
    return clean_text(n->data.scalar.value, n->data.scalar.length, out, outlen);
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    size_t len = strlen(s);
    return n->data.scalar.length == len && memcmp(n->data.scalar.value, s, len) == 0;
}

/* An empty value: "key:" with nothing after it, "~" or "null". */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    return n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
           scalar_is(n, "Null") || scalar_is(n, "NULL");
}

static const char *node_kind_str(const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a sequence";
    if (is_null(n)) return "nothing";
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return "a quoted string";
    return "a scalar";
}

/* Parses decimal digits with an optional k/m/g suffix (when allowed).
 * Returns 0, -1 if it is not such a number, -2 if it does not fit 64 bits. */
static int parse_size(const unsigned char *s, size_t n, bool suffix_ok, uint64_t *out)
{
    uint64_t v = 0, mult = 1;
    size_t i = 0;

    if (n == 0) return -1;
    if (suffix_ok) {
        switch (s[n - 1]) {
        case 'k': case 'K': mult = KIB; n--; break;
        case 'm': case 'M': mult = MIB; n--; break;
        case 'g': case 'G': mult = GIB; n--; break;
        default: break;
        }
        if (n == 0) return -1;
    }
    bool too_big = false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) too_big = true; /* keep scanning: "9999x" is not a number */
        else v = v * 10 + d;
    }
    if (too_big || v > UINT64_MAX / mult) return -2;
    *out = v * mult;
    return 0;
}

static int apply_number(struct loader *l, const struct key_spec *k, const yaml_node_t *v)
{
    bool size = k->kind == KIND_SIZE;
    const char *want = size ? "a size (integer, optional k/m/g suffix)" : "an integer";
    char text[48];
    uint64_t val = 0;

    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || is_null(v))
        return fail_at(l, v, "%s.%s: expected %s, got %s", k->section, k->key, want, node_kind_str(v));
    int rc = parse_size(v->data.scalar.value, v->data.scalar.length, size, &val);
    if (rc == -1)
        return fail_at(l, v, "%s.%s: expected %s, got '%s'", k->section, k->key, want,
                       scalar_text(v, text, sizeof text));
    if (rc == -2 || val < k->min || val > k->max) {
        if (k->max == UINT64_MAX)
            return fail_at(l, v, "%s.%s: '%s' out of range (minimum %llu)", k->section, k->key,
                           scalar_text(v, text, sizeof text), (unsigned long long)k->min);
        return fail_at(l, v, "%s.%s: '%s' out of range (%llu..%llu)", k->section, k->key,
                       scalar_text(v, text, sizeof text), (unsigned long long)k->min,
                       (unsigned long long)k->max);
    }
    unsigned char *dst = (unsigned char *)&l->cfg + k->offset;
    if (k->width == sizeof(uint64_t)) {
        uint64_t v64 = val;
        memcpy(dst, &v64, sizeof v64);
    } else {
        uint32_t v32 = (uint32_t)val; /* every uint32_t field has max <= UINT32_MAX */
        memcpy(dst, &v32, sizeof v32);
    }
    return GW_OK;
}

/* RFC 9110 token characters: what an HTTP field name may hold. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int apply_name(struct loader *l, const yaml_node_t *item, char *dst)
{
    char text[48];

    if (item->type != YAML_SCALAR_NODE || is_null(item))
        return fail_at(l, item, "policy.credential-keys: expected a name, got %s", node_kind_str(item));
    size_t n = item->data.scalar.length;
    const unsigned char *s = item->data.scalar.value;
    if (n == 0 || n >= GW_CONFIG_NAME_MAX)
        return fail_at(l, item, "policy.credential-keys: '%s' must be 1..%d characters long",
                       scalar_text(item, text, sizeof text), GW_CONFIG_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar(s[i]))
            return fail_at(l, item, "policy.credential-keys: '%s' is not a valid header name",
                           scalar_text(item, text, sizeof text));
        /* metadata names are compared lowercase */
        dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
    }
    dst[n] = '\0';
    return GW_OK;
}

/* A bounded sequence (`what` in messages): each item goes through one(),
 * which gets its index; *count ends as the number of items kept. */
typedef int (*item_fn)(struct loader *l, const yaml_node_t *item, uint32_t i);

static int apply_sequence(struct loader *l, const yaml_node_t *v, const char *what,
                          const char *expected, const char *noun, uint32_t max, uint32_t *count,
                          item_fn one)
{
    *count = 0;
    if (is_null(v)) return GW_OK; /* every item commented out */
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(l, v, "%s: expected %s, got %s", what, expected, node_kind_str(v));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        const yaml_node_t *item = yaml_document_get_node(l->doc, *it);
        if (!item) continue;
        if (*count >= max) return fail_at(l, item, "%s: at most %u %s", what, (unsigned)max, noun);
        int rc = one(l, item, *count);
        if (rc != GW_OK) return rc;
        (*count)++;
    }
    return GW_OK;
}

static int name_item(struct loader *l, const yaml_node_t *item, uint32_t i)
{
    return apply_name(l, item, l->cfg.cred_keys[i]);
}

static int apply_names(struct loader *l, const yaml_node_t *v)
{
    memset(l->cfg.cred_keys, 0, sizeof l->cfg.cred_keys);
    return apply_sequence(l, v, "policy.credential-keys", "a sequence of names", "names",
                          GW_CONFIG_MAX_CRED_KEYS, &l->cfg.n_cred_keys, name_item);
}

static int apply_key(struct loader *l, const char *section, const yaml_node_t *key, const yaml_node_t *val)
{
    char text[72];

    if (key->type != YAML_SCALAR_NODE)
        return fail_at(l, key, "expected a key in section '%s', got %s", section, node_kind_str(key));
    for (size_t i = 0; i < GW_ARRAY_LEN(key_table); i++) {
        const struct key_spec *k = &key_table[i];
        if (strcmp(k->section, section) != 0 || !scalar_is(key, k->key)) continue;
        if (l->seen_keys & (UINT32_C(1) << i))
            return fail_at(l, key, "duplicate key '%s' in section '%s'", k->key, section);
        l->seen_keys |= UINT32_C(1) << i;
        return k->kind == KIND_NAMES ? apply_names(l, val) : apply_number(l, k, val);
    }
    return fail_at(l, key, "unknown key '%s' in section '%s'", scalar_text(key, text, sizeof text),
                   section);
}

/* outputs[].sink: a spec as -o takes it. */
static int apply_sink(struct loader *l, const yaml_node_t *v, struct gw_config_output *out)
{
    char text[72], why[160];
    if (v->type != YAML_SCALAR_NODE || is_null(v))
        return fail_at(l, v, "outputs.sink: expected a sink such as json:PATH, got %s", node_kind_str(v));
    size_t n = v->data.scalar.length;
    if (n >= sizeof out->sink || memchr(v->data.scalar.value, '\0', n))
        return fail_at(l, v, "outputs.sink: '%s' is not a sink (at most %zu characters)",
                       scalar_text(v, text, sizeof text), sizeof out->sink - 1);
    memcpy(out->sink, v->data.scalar.value, n);
    out->sink[n] = '\0';
    if (gw_router_check_spec(out->sink, why, sizeof why) != GW_OK)
        return fail_at(l, v, "outputs.sink: %s", why);
    return GW_OK;
}

/* outputs[].types: a sequence of record types, kept as "grpc,alert". */
static int apply_types(struct loader *l, const yaml_node_t *v, struct gw_config_output *out)
{
    char text[48];
    uint32_t seen = 0;
    size_t len = 0;
    out->types[0] = '\0';
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(l, v, "outputs.types: expected a sequence of record types (" GW_ROUTER_EVENT_TYPES
                       "), got %s", node_kind_str(v));
    if (v->data.sequence.items.start == v->data.sequence.items.top)
        return fail_at(l, v, "outputs.types: an empty list takes no record (leave types out for all)");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        const yaml_node_t *item = yaml_document_get_node(l->doc, *it);
        if (!item) continue;
        int t = item->type == YAML_SCALAR_NODE
                    ? gw_router_event_type((const char *)item->data.scalar.value, item->data.scalar.length)
                    : -1;
        if (t < 0 && item->type != YAML_SCALAR_NODE)
            return fail_at(l, item, "outputs.types: expected a record type, got %s", node_kind_str(item));
        if (t < 0)
            return fail_at(l, item, "outputs.types: unknown record type '%s' (expected " GW_ROUTER_EVENT_TYPES ")",
                           scalar_text(item, text, sizeof text));
        if (seen & (UINT32_C(1) << t))
            return fail_at(l, item, "outputs.types: '%s' listed twice", scalar_text(item, text, sizeof text));
        seen |= UINT32_C(1) << t;
        /* five distinct known names always fit GW_CONFIG_TYPES_MAX */
        int k = snprintf(out->types + len, sizeof out->types - len, "%s%.*s", len ? "," : "",
                         (int)item->data.scalar.length, (const char *)item->data.scalar.value);
        GW_ASSERT(k > 0 && (size_t)k < sizeof out->types - len);
        len += (size_t)k;
    }
    return GW_OK;
}

/* One outputs entry: {sink: SPEC, types: [...]}, sink required. */
static int apply_output(struct loader *l, const yaml_node_t *entry, struct gw_config_output *out)
{
    char text[72];
    bool have_sink = false, have_types = false;
    if (entry->type != YAML_MAPPING_NODE)
        return fail_at(l, entry, "outputs: expected an entry such as {sink: json:PATH}, got %s",
                       node_kind_str(entry));
    for (yaml_node_pair_t *p = entry->data.mapping.pairs.start; p < entry->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
        if (!k || !v) continue;
        bool *seen = k->type != YAML_SCALAR_NODE ? NULL
                     : scalar_is(k, "sink")      ? &have_sink
                     : scalar_is(k, "types")     ? &have_types
                                                 : NULL;
        if (!seen)
            return fail_at(l, k, "outputs: unknown key '%s' (expected sink or types)",
                           k->type == YAML_SCALAR_NODE ? scalar_text(k, text, sizeof text) : node_kind_str(k));
        if (*seen) return fail_at(l, k, "outputs: duplicate key '%s'", seen == &have_sink ? "sink" : "types");
        *seen = true;
        int rc = seen == &have_sink ? apply_sink(l, v, out) : apply_types(l, v, out);
        if (rc != GW_OK) return rc;
    }
    if (!have_sink) return fail_at(l, entry, "outputs: entry without a sink");
    return GW_OK;
}

static int output_item(struct loader *l, const yaml_node_t *item, uint32_t i)
{
    return apply_output(l, item, &l->cfg.outputs[i]);
}

static int apply_outputs(struct loader *l, const yaml_node_t *v)
{
    return apply_sequence(l, v, "outputs", "a sequence of entries such as - sink: json:PATH",
                          "entries", GW_CONFIG_MAX_OUTPUTS, &l->cfg.n_outputs, output_item);
}

static int apply_section(struct loader *l, const yaml_node_t *key, const yaml_node_t *val)
{
    char text[72];
    size_t s;

    if (key->type != YAML_SCALAR_NODE)
        return fail_at(l, key, "expected a section name, got %s", node_kind_str(key));
    for (s = 0; s < GW_ARRAY_LEN(section_names); s++)
        if (scalar_is(key, section_names[s])) break;
    if (s == GW_ARRAY_LEN(section_names))
        return fail_at(l, key, "unknown section '%s' (expected " SECTION_LIST ")",
                       scalar_text(key, text, sizeof text));
    if (l->seen_sections & (UINT32_C(1) << s))
        return fail_at(l, key, "duplicate section '%s'", section_names[s]);
    l->seen_sections |= UINT32_C(1) << s;
    if (s == SECTION_OUTPUTS) return apply_outputs(l, val);

    if (is_null(val)) return GW_OK; /* a section with every key commented out */
    if (val->type != YAML_MAPPING_NODE)
        return fail_at(l, val, "section '%s' must be a mapping, got %s", section_names[s],
                       node_kind_str(val));
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
        if (!k || !v) continue;
        int rc = apply_key(l, section_names[s], k, v);
        if (rc != GW_OK) return rc;
    }
    return GW_OK;
}

static int apply_root(struct loader *l, const yaml_node_t *root)
{
    if (is_null(root)) return GW_OK; /* "---" alone */
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(l, root, "expected a mapping of sections at the top level, got %s",
                       node_kind_str(root));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
        if (!k || !v) continue;
        int rc = apply_section(l, k, v);
        if (rc != GW_OK) return rc;
    }
    return GW_OK;
}

/* Line and column (1-based) of a byte offset, for reader errors that carry
 * only an offset. */
static void offset_position(const char *yaml, size_t len, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (yaml[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int parser_error(struct loader *l, const yaml_parser_t *p, const char *yaml, size_t len)
{
    size_t line, col;

    if (p->error == YAML_MEMORY_ERROR) {
        set_err(l->err, l->errlen, "%s: out of memory", l->name);
        return GW_ERR_NOMEM;
    }
    if (p->error == YAML_READER_ERROR) {
        offset_position(yaml, len, p->problem_offset, &line, &col);
    } else {
        line = p->problem_mark.line + 1;
        col = p->problem_mark.column + 1;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        set_err(l->err, l->errlen, "%s:%zu:%zu: %s (%s)", l->name, line, col, problem, p->context);
    else
        set_err(l->err, l->errlen, "%s:%zu:%zu: %s", l->name, line, col, problem);
    return GW_ERR_MALFORMED;
}

/* Loads the first document and refuses a second one. */
static int load_documents(struct loader *l, yaml_parser_t *parser, const char *yaml, size_t len)
{
    yaml_document_t doc;

    if (!yaml_parser_load(parser, &doc)) return parser_error(l, parser, yaml, len);
    l->doc = &doc;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root ? apply_root(l, root) : GW_OK;
    yaml_document_delete(&doc);
    l->doc = NULL;
    if (rc != GW_OK || !root) return rc;

    if (!yaml_parser_load(parser, &doc)) return parser_error(l, parser, yaml, len);
    root = yaml_document_get_root_node(&doc);
    if (root) {
        l->doc = &doc;
        rc = fail_at(l, root, "more than one YAML document");
        l->doc = NULL;
    }
    yaml_document_delete(&doc);
    return rc;
}

int gw_config_load_buffer(const char *name, const char *yaml, size_t len,
                          struct gw_config *cfg, char *err, size_t errlen)
{
    struct loader l;
    yaml_parser_t parser;

    if (err && errlen) err[0] = '\0';
    if (!name) name = "(config)";
    if (!cfg || (!yaml && len > 0)) {
        set_err(err, errlen, "%s: invalid argument", name);
        return GW_ERR_ARG;
    }
    if (len > GW_CONFIG_MAX_BYTES) {
        set_err(err, errlen, "%s: config file larger than 1 MiB", name);
        return GW_ERR_LIMIT;
    }
    memset(&l, 0, sizeof l);
    l.name = name;
    l.err = err;
    l.errlen = errlen;
    gw_config_defaults(&l.cfg);

    if (!yaml_parser_initialize(&parser)) {
        set_err(err, errlen, "%s: out of memory", name);
        return GW_ERR_NOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
    int rc = load_documents(&l, &parser, yaml ? yaml : "", len);
    yaml_parser_delete(&parser);
    if (rc == GW_OK) *cfg = l.cfg;
    return rc;
}

int gw_config_load(const char *path, struct gw_config *cfg, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!path || !cfg) {
        set_err(err, errlen, "config: invalid argument");
        return GW_ERR_ARG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return GW_ERR_IO;
    }
    /* One byte more than allowed tells "exactly 1 MiB" from "larger". */
    char *buf = malloc(GW_CONFIG_MAX_BYTES + 1);
    if (!buf) {
        close(fd);
        set_err(err, errlen, "%s: out of memory", path);
        return GW_ERR_NOMEM;
    }
    size_t len = 0;
    int rc = GW_OK;
    while (len < GW_CONFIG_MAX_BYTES + 1) {
        ssize_t r = read(fd, buf + len, GW_CONFIG_MAX_BYTES + 1 - len);
        if (r > 0) {
            len += (size_t)r;
        } else if (r == 0) {
            break;
        } else if (errno != EINTR) {
            set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
            rc = GW_ERR_IO;
            break;
        }
    }
    close(fd);
    if (rc == GW_OK) rc = gw_config_load_buffer(path, buf, len, cfg, err, errlen);
    free(buf);
    return rc;
}
