// A small guest-side SDK for kube-wasm-scheduler policies in C.
//
// The `kws:scheduler/plugin` world (0.3.0) sends cluster changes once
// (`apply`) and the pod of a scheduling cycle once (`cycle-start`); every
// later call of the cycle carries only the cycle id and node ids.
// kws_policy.c implements the exports of `lifecycle`, `filter` and `score`
// (the functions `wit-bindgen c` declares in plugin.h): it keeps the node
// table and each open cycle's pod (freed at `cycle-end`), parses the
// plugin's JSON args, owns and frees the canonical-ABI buffers, and calls the
// policy once per node. The component exports only those interfaces: `cargo
// xtask examples` generates the bindings for the world without the
// interfaces no source file implements. A policy fills in one
// `kws_policy_t` named `KWS_POLICY` (see label_zone.c).
//
// No stdio: printf and friends pull in WASI imports the host does not grant.
// Build messages with `kws_text_t` instead.
#ifndef KWS_POLICY_H
#define KWS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

typedef kws_scheduler_types_pod_t kws_pod_t;
typedef kws_scheduler_types_node_t kws_node_record_t;
typedef kws_scheduler_types_labels_t kws_labels_t;
typedef kws_scheduler_types_code_t kws_code_t;

/// A node as a policy sees it: its id and its WIT record.
typedef struct {
  uint32_t id;
  kws_node_record_t record;
} kws_node_t;

/// A growable, malloc'd byte string for messages (not NUL-terminated).
typedef struct {
  char *ptr;
  size_t len;
  size_t cap;
} kws_text_t;

void kws_text_str(kws_text_t *text, const char *s);
void kws_text_bytes(kws_text_t *text, const plugin_string_t *s);
void kws_text_int(kws_text_t *text, int64_t value);

/// One `"field": value` of the args; `is_int` when the value is an integer.
typedef struct {
  plugin_string_t field;
  bool is_int;
  int64_t value;
} kws_arg_t;

/// The plugin's `pluginConfig` args: a flat JSON object.
typedef struct {
  kws_arg_t *items;
  size_t len;
} kws_args_t;

/// Reads an integer field of the args (or `fallback` when absent) and checks
/// it against low..=high. On failure writes `FIELD: why` to `error`.
bool kws_arg_int(const kws_args_t *args, const char *field, int64_t fallback,
                 int64_t low, int64_t high, int64_t *out, kws_text_t *error);

/// The value of `key` among labels or annotations, or NULL.
const plugin_string_t *kws_lookup(const kws_labels_t *pairs, const char *key);
/// Same, with the key given as a WIT string.
const plugin_string_t *kws_lookup_string(const kws_labels_t *pairs, const plugin_string_t *key);
bool kws_string_equal(const plugin_string_t *a, const plugin_string_t *b);

/// Writes to the host's log; the host tags it with the plugin's name.
void kws_log(kws_scheduler_host_level_t level, const kws_text_t *message);

/// Ends the call in progress as a fault of the plugin with `message`
/// (`host.fail`): C's stand-in for an uncaught exception. The host reports
/// `plugin NAME panicked in filter: MESSAGE` and the profile's
/// `failurePolicy` decides for the pod. `abort()`, a failed `assert` or a
/// trapping instruction end the call too, but without a message.
_Noreturn void kws_fail(const kws_text_t *message);

typedef struct {
  const char *name;
  const char *version;
  const kws_scheduler_types_extension_point_t *extension_points;
  size_t extension_point_count;
  /// The args fields the policy accepts, NULL-terminated; others are refused.
  const char *const *fields;
  /// Reads the args; on failure writes why to `error` and returns false:
  /// the host reports `refused its configuration: invalid args: WHY`.
  bool (*configure)(const kws_args_t *args, kws_text_t *error);
  /// Can the pod run on the node? Returns a status code; for anything but
  /// success, writes the reason to `reason`.
  kws_code_t (*filter)(const kws_pod_t *pod, const kws_node_t *node, kws_text_t *reason);
  /// How well the node suits the pod, 0..=100.
  int64_t (*score)(const kws_pod_t *pod, const kws_node_t *node);
} kws_policy_t;

/// Defined by the policy.
extern const kws_policy_t KWS_POLICY;

#endif
