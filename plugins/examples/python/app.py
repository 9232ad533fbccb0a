"""LabelZone in Python: the example policy of plugins/examples/ (the Rust
version, plugins/examples/rust/src/lib.rs, is the reference).

- Filter: a pod annotated `example.kws.dev/required-label: KEY` fits only
  nodes that carry a label KEY.
- Score: a pod annotated `example.kws.dev/zone: ZONE` prefers nodes whose
  `zone` label is ZONE; the scores (sameZone, otherZone, noZone) come from
  the plugin's args.
- A pod annotated `example.kws.dev/fail: MESSAGE` makes Filter raise an
  exception it does not catch: what the host does with a plugin's fault
  (docs/plugins.md, "Faults").

Build: `cargo xtask examples` (componentize-py, pinned in requirements.txt).
"""

import kws_policy
from kws_policy import Unschedulable, int_arg, log

REQUIRED_LABEL = "example.kws.dev/required-label"
ZONE = "example.kws.dev/zone"
FAIL = "example.kws.dev/fail"
ZONE_LABEL = "zone"


class LabelZone:
    NAME = "LabelZone"
    VERSION = "0.1.0"
    EXTENSION_POINTS = ["filter", "score"]
    FIELDS = ["sameZone", "otherZone", "noZone"]

    def __init__(self, args):
        self.same_zone = int_arg(args, "sameZone", 100, 0, 100)
        self.other_zone = int_arg(args, "otherZone", 0, 0, 100)
        self.no_zone = int_arg(args, "noZone", 0, 0, 100)
        log(f"scores: same zone {self.same_zone}, other zone {self.other_zone}, no zone {self.no_zone}")

    def filter(self, pod, node):
        if FAIL in pod.annotations:
            raise RuntimeError(pod.annotations[FAIL])
        key = pod.annotations.get(REQUIRED_LABEL)
        if key is not None and key not in node.labels:
            raise Unschedulable(f"node(s) didn't have label {key}")

    def score(self, pod, node):
        zone = pod.annotations.get(ZONE)
        if zone is None:
            return 0
        node_zone = node.labels.get(ZONE_LABEL)
        if node_zone is None:
            return self.no_zone
        return self.same_zone if node_zone == zone else self.other_zone


# Lifecycle, Filter, Score and the classes of the world's other interfaces.
globals().update(kws_policy.export(LabelZone))
