// {{Name}}: a kube-wasm-scheduler placement policy.
//
// - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits only
//   nodes that carry a label KEY (any value).
// - Score: a node labelled `disk: ssd` scores `preferred` (an arg, 0 to
//   100, default 100); every other node scores 0.
//
// Build: `kube-wasm-scheduler plugin build` (clang with wasi-libc, bindings
// from wit-bindgen-c); try it on the scenario: `kube-wasm-scheduler plugin
// test . --cluster scenario.yaml --expect expected.txt`. kws_policy.c/.h is
// the helper that talks to the scheduler; this file is the policy.
#include "kws_policy.h"

#define REQUIRED_LABEL "example.kws.dev/required-label"
#define PREFERRED_KEY "disk"
#define PREFERRED_VALUE "ssd"

static int64_t preferred;

// Returning false with a message in `error` refuses the configuration: the
// scheduler does not start with it, and prints the message.
static bool configure(const kws_args_t *args, kws_text_t *error) {
  return kws_arg_int(args, "preferred", 100, 0, 100, &preferred, error);
}

static kws_code_t filter(const kws_pod_t *pod, const kws_node_t *node, kws_text_t *reason) {
  const plugin_string_t *key = kws_lookup(&pod->annotations, REQUIRED_LABEL);
  if (key != NULL && kws_lookup_string(&node->record.labels, key) == NULL) {
    kws_text_str(reason, "node(s) didn't have label ");
    kws_text_bytes(reason, key);
    return KWS_SCHEDULER_TYPES_CODE_UNSCHEDULABLE_AND_UNRESOLVABLE;
  }
  return KWS_SCHEDULER_TYPES_CODE_SUCCESS;
}

static int64_t score(const kws_pod_t *pod, const kws_node_t *node) {
  (void)pod;
  const plugin_string_t *value = kws_lookup(&node->record.labels, PREFERRED_KEY);
  plugin_string_t wanted = {(uint8_t *)PREFERRED_VALUE, sizeof PREFERRED_VALUE - 1};
  return value != NULL && kws_string_equal(value, &wanted) ? preferred : 0;
}

static const kws_scheduler_types_extension_point_t points[] = {
    KWS_SCHEDULER_TYPES_EXTENSION_POINT_FILTER,
    KWS_SCHEDULER_TYPES_EXTENSION_POINT_SCORE,
};
static const char *const fields[] = {"preferred", NULL};

const kws_policy_t KWS_POLICY = {
    .name = "{{Name}}",
    .version = "0.1.0",
    .extension_points = points,
    .extension_point_count = sizeof points / sizeof points[0],
    .fields = fields,
    .configure = configure,
    .filter = filter,
    .score = score,
};
