// LabelZone in C: the example policy of plugins/examples/ (the Rust version,
// plugins/examples/rust/src/lib.rs, is the reference).
//
// - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits only
//   nodes that carry a label KEY.
// - Score: a pod annotated `example.kws.dev/zone: ZONE` prefers nodes whose
//   `zone` label is ZONE; the scores (sameZone, otherZone, noZone) come from
//   the plugin's args.
// - A pod annotated `example.kws.dev/fail: MESSAGE` makes Filter fail the
//   call with kws_fail: what the host does with a plugin's fault
//   (docs/plugins.md, "Faults").
//
// Build: `cargo xtask examples` (Debian clang + wasi-libc, bindings from
// wit-bindgen-c).
#include "kws_policy.h"

#define REQUIRED_LABEL "example.kws.dev/required-label"
#define ZONE "example.kws.dev/zone"
#define ZONE_LABEL "zone"
#define FAIL "example.kws.dev/fail"

static int64_t same_zone, other_zone, no_zone;

static bool configure(const kws_args_t *args, kws_text_t *error) {
  if (!kws_arg_int(args, "sameZone", 100, 0, 100, &same_zone, error) ||
      !kws_arg_int(args, "otherZone", 0, 0, 100, &other_zone, error) ||
      !kws_arg_int(args, "noZone", 0, 0, 100, &no_zone, error)) {
    return false;
  }
  kws_text_t message = {0};
  kws_text_str(&message, "scores: same zone ");
  kws_text_int(&message, same_zone);
  kws_text_str(&message, ", other zone ");
  kws_text_int(&message, other_zone);
  kws_text_str(&message, ", no zone ");
  kws_text_int(&message, no_zone);
  kws_log(KWS_SCHEDULER_HOST_LEVEL_INFO, &message);
  return true;
}

static kws_code_t filter(const kws_pod_t *pod, const kws_node_t *node, kws_text_t *reason) {
  const plugin_string_t *fail = kws_lookup(&pod->annotations, FAIL);
  if (fail != NULL) {
    kws_text_t message = {0};
    kws_text_bytes(&message, fail);
    kws_fail(&message);
  }
  const plugin_string_t *key = kws_lookup(&pod->annotations, REQUIRED_LABEL);
  if (key != NULL && kws_lookup_string(&node->record.labels, key) == NULL) {
    kws_text_str(reason, "node(s) didn't have label ");
    kws_text_bytes(reason, key);
    return KWS_SCHEDULER_TYPES_CODE_UNSCHEDULABLE_AND_UNRESOLVABLE;
  }
  return KWS_SCHEDULER_TYPES_CODE_SUCCESS;
}

static int64_t score(const kws_pod_t *pod, const kws_node_t *node) {
  const plugin_string_t *zone = kws_lookup(&pod->annotations, ZONE);
  if (zone == NULL) {
    return 0;
  }
  const plugin_string_t *node_zone = kws_lookup(&node->record.labels, ZONE_LABEL);
  if (node_zone == NULL) {
    return no_zone;
  }
  return kws_string_equal(node_zone, zone) ? same_zone : other_zone;
}

static const kws_scheduler_types_extension_point_t points[] = {
    KWS_SCHEDULER_TYPES_EXTENSION_POINT_FILTER,
    KWS_SCHEDULER_TYPES_EXTENSION_POINT_SCORE,
};
static const char *const fields[] = {"sameZone", "otherZone", "noZone", NULL};

const kws_policy_t KWS_POLICY = {
    .name = "LabelZone",
    .version = "0.1.0",
    .extension_points = points,
    .extension_point_count = sizeof points / sizeof points[0],
    .fields = fields,
    .configure = configure,
    .filter = filter,
    .score = score,
};
