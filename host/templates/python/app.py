"""{{Name}}: a kube-wasm-scheduler placement policy.

- Filter: a pod annotated `example.kws.dev/required-label: KEY` fits only
  nodes that carry a label KEY (any value).
- Score: a node labelled `disk: ssd` scores `preferred` (an arg, 0 to 100,
  default 100); every other node scores 0.

Build: `kube-wasm-scheduler plugin build` (componentize-py, pinned in
requirements.txt); try it on the scenario: `kube-wasm-scheduler plugin test
. --cluster scenario.yaml --expect expected.txt`. kws_policy.py is the helper
that talks to the scheduler; this file is the policy.
"""

import kws_policy
from kws_policy import Unschedulable, int_arg, log

REQUIRED_LABEL = "example.kws.dev/required-label"
PREFERRED_KEY = "disk"
PREFERRED_VALUE = "ssd"


class {{Name}}:
    NAME = "{{Name}}"
    VERSION = "0.1.0"
    EXTENSION_POINTS = ["filter", "score"]
    FIELDS = ["preferred"]

    def __init__(self, args):
        # Raising InvalidArgs (int_arg does) refuses the configuration: the
        # scheduler does not start with it, and prints the message.
        self.preferred = int_arg(args, "preferred", 100, 0, 100)
        log(f"preferred nodes score {self.preferred}")

    def filter(self, pod, node):
        key = pod.annotations.get(REQUIRED_LABEL)
        if key is not None and key not in node.labels:
            raise Unschedulable(f"node(s) didn't have label {key}")

    def score(self, pod, node):
        return self.preferred if node.labels.get(PREFERRED_KEY) == PREFERRED_VALUE else 0


# Lifecycle, Filter, Score and the classes of the world's other interfaces.
globals().update(kws_policy.export({{Name}}))
