// The exports of the `kws:scheduler/plugin` world for a C policy; see
// kws_policy.h. Ownership follows the canonical ABI as `wit-bindgen c`
// generates it: every argument belongs to the callee (freed here, or kept, as
// the node records are), and every result is malloc'd here and freed by the
// generated post-return functions.
#include <stdlib.h>
#include <string.h>

#include "kws_policy.h"

// ---- Messages ----

static void text_append(kws_text_t *text, const void *bytes, size_t len) {
  if (text->len + len > text->cap) {
    size_t cap = text->cap ? text->cap * 2 : 64;
    while (cap < text->len + len) {
      cap *= 2;
    }
    text->ptr = realloc(text->ptr, cap);
    text->cap = cap;
  }
  memcpy(text->ptr + text->len, bytes, len);
  text->len += len;
}

void kws_text_str(kws_text_t *text, const char *s) { text_append(text, s, strlen(s)); }

void kws_text_bytes(kws_text_t *text, const plugin_string_t *s) { text_append(text, s->ptr, s->len); }

void kws_text_int(kws_text_t *text, int64_t value) {
  char digits[24];
  size_t i = sizeof digits;
  uint64_t magnitude = value < 0 ? -(uint64_t)value : (uint64_t)value;
  do {
    digits[--i] = (char)('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude);
  if (value < 0) {
    digits[--i] = '-';
  }
  text_append(text, digits + i, sizeof digits - i);
}

/// Hands the text's buffer to a WIT string (a result the host frees).
static plugin_string_t text_into_string(kws_text_t *text) {
  plugin_string_t s = {(uint8_t *)text->ptr, text->len};
  if (text->len == 0) {
    free(text->ptr);
    s.ptr = NULL;
  }
  *text = (kws_text_t){0};
  return s;
}

static plugin_string_t string_from(const char *s) {
  kws_text_t text = {0};
  kws_text_str(&text, s);
  return text_into_string(&text);
}

void kws_log(kws_scheduler_host_level_t level, const kws_text_t *message) {
  plugin_string_t s = {(uint8_t *)message->ptr, message->len};
  kws_scheduler_host_log(level, &s);
}

_Noreturn void kws_fail(const kws_text_t *message) {
  plugin_string_t s = {(uint8_t *)message->ptr, message->len};
  kws_scheduler_host_fail(&s);
  // The host traps the call; it never comes back here.
  __builtin_trap();
}

// ---- Labels ----

static bool equals_cstr(const plugin_string_t *s, const char *c) {
  size_t len = strlen(c);
  return s->len == len && memcmp(s->ptr, c, len) == 0;
}

bool kws_string_equal(const plugin_string_t *a, const plugin_string_t *b) {
  return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

const plugin_string_t *kws_lookup(const kws_labels_t *pairs, const char *key) {
  for (size_t i = 0; i < pairs->len; i++) {
    if (equals_cstr(&pairs->ptr[i].f0, key)) {
      return &pairs->ptr[i].f1;
    }
  }
  return NULL;
}

const plugin_string_t *kws_lookup_string(const kws_labels_t *pairs, const plugin_string_t *key) {
  for (size_t i = 0; i < pairs->len; i++) {
    if (kws_string_equal(&pairs->ptr[i].f0, key)) {
      return &pairs->ptr[i].f1;
    }
  }
  return NULL;
}

// ---- Args: a flat JSON object ----

typedef struct {
  const uint8_t *at;
  const uint8_t *end;
} cursor_t;

static void skip_space(cursor_t *c) {
  while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r')) {
    c->at++;
  }
}

static bool eat(cursor_t *c, uint8_t byte) {
  skip_space(c);
  if (c->at < c->end && *c->at == byte) {
    c->at++;
    return true;
  }
  return false;
}

/// A JSON string; escapes other than \uXXXX are decoded, \u is refused
/// (field names are ASCII). `out` may be NULL to skip the string.
static bool parse_string(cursor_t *c, kws_text_t *out) {
  if (!eat(c, '"')) {
    return false;
  }
  while (c->at < c->end && *c->at != '"') {
    uint8_t byte = *c->at++;
    if (byte == '\\') {
      if (c->at == c->end) {
        return false;
      }
      switch (byte = *c->at++) {
        case 'n': byte = '\n'; break;
        case 't': byte = '\t'; break;
        case 'r': byte = '\r'; break;
        case 'b': byte = '\b'; break;
        case 'f': byte = '\f'; break;
        case '"': case '\\': case '/': break;
        default: return false;
      }
    }
    if (out) {
      text_append(out, &byte, 1);
    }
  }
  return c->at++ < c->end;
}

/// Any JSON value; an integer is stored in `arg`.
static bool parse_value(cursor_t *c, kws_arg_t *arg) {
  skip_space(c);
  if (c->at == c->end) {
    return false;
  }
  uint8_t first = *c->at;
  if (first == '"') {
    return parse_string(c, NULL);
  }
  if (first == '{' || first == '[') {
    // Skip a nested value, minding strings.
    int depth = 0;
    do {
      if (*c->at == '"') {
        if (!parse_string(c, NULL)) {
          return false;
        }
        continue;
      }
      if (*c->at == '{' || *c->at == '[') depth++;
      if (*c->at == '}' || *c->at == ']') depth--;
      c->at++;
    } while (depth > 0 && c->at < c->end);
    return depth == 0;
  }
  const uint8_t *start = c->at;
  bool negative = *c->at == '-';
  if (negative) {
    c->at++;
  }
  uint64_t magnitude = 0;
  bool digits = false, overflow = false;
  while (c->at < c->end && *c->at >= '0' && *c->at <= '9') {
    overflow |= magnitude > (UINT64_MAX - 9) / 10;
    magnitude = magnitude * 10 + (*c->at++ - '0');
    digits = true;
  }
  bool fraction = false;
  while (c->at < c->end && (*c->at == '.' || *c->at == 'e' || *c->at == 'E' || *c->at == '+' ||
                            *c->at == '-' || (*c->at >= '0' && *c->at <= '9'))) {
    c->at++;
    fraction = true;
  }
  if (digits) {
    arg->is_int = !fraction && !overflow && magnitude <= (uint64_t)INT64_MAX;
    arg->value = negative ? -(int64_t)magnitude : (int64_t)magnitude;
    return true;
  }
  // true, false, null
  c->at = start;
  while (c->at < c->end && *c->at >= 'a' && *c->at <= 'z') {
    c->at++;
  }
  return c->at > start;
}

static bool parse_args(const plugin_string_t *json, kws_args_t *args) {
  cursor_t c = {json->ptr, json->ptr + json->len};
  skip_space(&c);
  if (c.at == c.end) {
    return true;  // no args: `{}`
  }
  if (!eat(&c, '{')) {
    return false;
  }
  if (!eat(&c, '}')) {
    do {
      kws_text_t field = {0};
      kws_arg_t arg = {0};
      if (!parse_string(&c, &field) || !eat(&c, ':') || !parse_value(&c, &arg)) {
        free(field.ptr);
        return false;
      }
      arg.field = (plugin_string_t){(uint8_t *)field.ptr, field.len};
      args->items = realloc(args->items, (args->len + 1) * sizeof *args->items);
      args->items[args->len++] = arg;
    } while (eat(&c, ','));
    if (!eat(&c, '}')) {
      return false;
    }
  }
  skip_space(&c);
  return c.at == c.end;
}

static void free_args(kws_args_t *args) {
  for (size_t i = 0; i < args->len; i++) {
    free(args->items[i].field.ptr);
  }
  free(args->items);
}

bool kws_arg_int(const kws_args_t *args, const char *field, int64_t fallback, int64_t low,
                 int64_t high, int64_t *out, kws_text_t *error) {
  *out = fallback;
  for (size_t i = 0; i < args->len; i++) {
    if (!equals_cstr(&args->items[i].field, field)) {
      continue;
    }
    if (!args->items[i].is_int) {
      kws_text_str(error, field);
      kws_text_str(error, ": expected an integer");
      return false;
    }
    *out = args->items[i].value;
  }
  if (*out < low || *out > high) {
    kws_text_str(error, field);
    kws_text_str(error, ": ");
    kws_text_int(error, *out);
    kws_text_str(error, " is not in ");
    kws_text_int(error, low);
    kws_text_str(error, "..=");
    kws_text_int(error, high);
    return false;
  }
  return true;
}

// ---- The node table ----

static kws_node_t **nodes;
static size_t node_slots;
static bool configured;

static kws_node_t *node_by_id(uint32_t id) { return id < node_slots ? nodes[id] : NULL; }

/// Keeps `record` (ownership moves to the table).
static void set_node(uint32_t id, kws_node_record_t *record) {
  if (id >= node_slots) {
    size_t slots = node_slots ? node_slots : 16;
    while (slots <= id) {
      slots *= 2;
    }
    nodes = realloc(nodes, slots * sizeof *nodes);
    memset(nodes + node_slots, 0, (slots - node_slots) * sizeof *nodes);
    node_slots = slots;
  }
  if (nodes[id]) {
    kws_scheduler_types_node_free(&nodes[id]->record);
  } else {
    nodes[id] = malloc(sizeof **nodes);
    nodes[id]->id = id;
  }
  nodes[id]->record = *record;
}

static void remove_node(uint32_t id) {
  kws_node_t *node = node_by_id(id);
  if (node) {
    kws_scheduler_types_node_free(&node->record);
    free(node);
    nodes[id] = NULL;
  }
}

// ---- The pod of each open cycle ----

/// A pod kept for one or more cycles: a what-if copy of a cycle
/// (`cycle-fork`) shares its original's.
typedef struct {
  kws_pod_t record;
  size_t users;
} shared_pod_t;

typedef struct {
  uint64_t cycle;
  shared_pod_t *pod;
} open_cycle_t;

/// The cycles from `cycle-start` to `cycle-end`; a handful at a time.
static open_cycle_t *cycles;
static size_t cycle_count;

static open_cycle_t *find_cycle(uint64_t cycle) {
  for (size_t i = 0; i < cycle_count; i++) {
    if (cycles[i].cycle == cycle) {
      return &cycles[i];
    }
  }
  return NULL;
}

static void release_pod(shared_pod_t *pod) {
  if (--pod->users == 0) {
    kws_scheduler_types_pod_free(&pod->record);
    free(pod);
  }
}

static void end_cycle(uint64_t cycle) {
  open_cycle_t *found = find_cycle(cycle);
  if (found) {
    release_pod(found->pod);
    *found = cycles[--cycle_count];
  }
}

static void keep_cycle(uint64_t cycle, shared_pod_t *pod) {
  end_cycle(cycle);
  cycles = realloc(cycles, (cycle_count + 1) * sizeof *cycles);
  cycles[cycle_count++] = (open_cycle_t){cycle, pod};
  pod->users++;
}

static const kws_pod_t *cycle_pod(uint64_t cycle) {
  open_cycle_t *found = find_cycle(cycle);
  return found ? &found->pod->record : NULL;
}

/// `NAME was sent no pod for cycle N`.
static plugin_string_t no_pod_error(uint64_t cycle) {
  kws_text_t text = {0};
  kws_text_str(&text, KWS_POLICY.name);
  kws_text_str(&text, " was sent no pod for cycle ");
  kws_text_int(&text, (int64_t)cycle);
  return text_into_string(&text);
}

/// `NAME has no node with id N` or `NAME was called before configure`.
static plugin_string_t call_error(uint32_t id) {
  kws_text_t text = {0};
  kws_text_str(&text, KWS_POLICY.name);
  if (!configured) {
    kws_text_str(&text, " was called before configure");
  } else {
    kws_text_str(&text, " has no node with id ");
    kws_text_int(&text, id);
  }
  return text_into_string(&text);
}

// ---- The world's exports ----

void exports_kws_scheduler_lifecycle_metadata(kws_scheduler_types_plugin_metadata_t *ret) {
  size_t count = KWS_POLICY.extension_point_count;
  ret->name = string_from(KWS_POLICY.name);
  ret->version = string_from(KWS_POLICY.version);
  ret->extension_points.ptr = malloc(count ? count : 1);
  memcpy(ret->extension_points.ptr, KWS_POLICY.extension_points, count);
  ret->extension_points.len = count;
}

bool exports_kws_scheduler_lifecycle_configure(plugin_string_t *json, plugin_string_t *err) {
  kws_args_t args = {0};
  kws_text_t why = {0};
  bool ok = parse_args(json, &args);
  if (!ok) {
    kws_text_str(&why, "expected a JSON object");
  }
  for (size_t i = 0; ok && i < args.len; i++) {
    bool known = false;
    for (const char *const *f = KWS_POLICY.fields; *f; f++) {
      known |= equals_cstr(&args.items[i].field, *f);
    }
    if (!known) {
      kws_text_str(&why, "unknown field `");
      kws_text_bytes(&why, &args.items[i].field);
      kws_text_str(&why, "`");
      ok = false;
    }
  }
  ok = ok && KWS_POLICY.configure(&args, &why);
  configured |= ok;
  if (!ok) {
    kws_text_t message = {0};
    kws_text_str(&message, "invalid args: ");
    text_append(&message, why.ptr, why.len);
    *err = text_into_string(&message);
  }
  free(why.ptr);
  free_args(&args);
  plugin_string_free(json);
  return ok;
}

void exports_kws_scheduler_lifecycle_apply(exports_kws_scheduler_lifecycle_list_change_t *changes) {
  for (size_t i = 0; i < changes->len; i++) {
    kws_scheduler_types_change_t *change = &changes->ptr[i];
    switch (change->tag) {
      case KWS_SCHEDULER_TYPES_CHANGE_NODE_SET:
        set_node(change->val.node_set.f0, &change->val.node_set.f1);
        break;
      case KWS_SCHEDULER_TYPES_CHANGE_NODE_REMOVED:
        remove_node(change->val.node_removed);
        break;
      case KWS_SCHEDULER_TYPES_CHANGE_USAGE_SET:
        kws_scheduler_types_node_usage_free(&change->val.usage_set.f1);
        break;
      case KWS_SCHEDULER_TYPES_CHANGE_POD_ADDED:
        kws_scheduler_types_placed_pod_free(&change->val.pod_added);
        break;
      case KWS_SCHEDULER_TYPES_CHANGE_POD_REMOVED:
        kws_scheduler_types_removed_pod_free(&change->val.pod_removed);
        break;
    }
  }
  free(changes->ptr);
}

void exports_kws_scheduler_lifecycle_cycle_start(uint64_t cycle, kws_pod_t *pod) {
  shared_pod_t *kept = malloc(sizeof *kept);
  *kept = (shared_pod_t){*pod, 0};
  keep_cycle(cycle, kept);
}

void exports_kws_scheduler_lifecycle_cycle_end(uint64_t cycle) { end_cycle(cycle); }

void exports_kws_scheduler_lifecycle_cycle_fork(uint64_t original, uint64_t copy) {
  open_cycle_t *found = find_cycle(original);
  if (found) {
    keep_cycle(copy, found->pod);
  }
}

void exports_kws_scheduler_filter_filter(uint64_t cycle, exports_kws_scheduler_filter_list_node_id_t *ids,
                                         exports_kws_scheduler_filter_list_node_status_t *ret) {
  const kws_pod_t *pod = cycle_pod(cycle);
  kws_scheduler_types_node_status_t *rejected = malloc(ids->len * sizeof *rejected + 1);
  size_t count = 0;
  for (size_t i = 0; i < ids->len; i++) {
    uint32_t id = ids->ptr[i];
    kws_node_t *node = configured ? node_by_id(id) : NULL;
    kws_code_t code = KWS_SCHEDULER_TYPES_CODE_ERROR;
    plugin_string_t reason;
    if (pod && node) {
      kws_text_t text = {0};
      code = KWS_POLICY.filter(pod, node, &text);
      reason = text_into_string(&text);
    } else {
      reason = pod ? call_error(id) : no_pod_error(cycle);
    }
    if (code == KWS_SCHEDULER_TYPES_CODE_SUCCESS) {
      free(reason.ptr);
      continue;
    }
    plugin_string_t *reasons = malloc(sizeof *reasons);
    reasons[0] = reason;
    rejected[count++] = (kws_scheduler_types_node_status_t){
        .node = id, .status = {.code = code, .reasons = {reasons, 1}}};
  }
  if (count == 0) {
    free(rejected);
    rejected = NULL;
  }
  *ret = (exports_kws_scheduler_filter_list_node_status_t){rejected, count};
  free(ids->ptr);
}

bool exports_kws_scheduler_score_score(uint64_t cycle, exports_kws_scheduler_score_list_node_id_t *ids,
                                       plugin_list_s64_t *ret, plugin_string_t *err) {
  const kws_pod_t *pod = cycle_pod(cycle);
  int64_t *scores = malloc(ids->len * sizeof *scores + 1);
  bool ok = pod != NULL;
  if (!ok) {
    *err = no_pod_error(cycle);
  }
  for (size_t i = 0; ok && i < ids->len; i++) {
    kws_node_t *node = configured ? node_by_id(ids->ptr[i]) : NULL;
    if (node) {
      scores[i] = KWS_POLICY.score(pod, node);
    } else {
      *err = call_error(ids->ptr[i]);
      ok = false;
    }
  }
  if (ok && ids->len > 0) {
    *ret = (plugin_list_s64_t){scores, ids->len};
  } else {
    free(scores);
    *ret = (plugin_list_s64_t){NULL, 0};
  }
  free(ids->ptr);
  return ok;
}

bool exports_kws_scheduler_score_normalize_score(uint64_t cycle, exports_kws_scheduler_score_list_node_id_t *ids,
                                                 plugin_list_s64_t *scores, plugin_list_s64_t *ret,
                                                 plugin_string_t *err) {
  (void)cycle;
  (void)err;
  *ret = *scores;
  free(ids->ptr);
  return true;
}
