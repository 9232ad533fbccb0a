"""Unit tests of the policy with Python's own test runner:
`python3 -m unittest`. The modules componentize-py generates at build time
(`wit_world`, `componentize_py_types`) are stood in for by modules whose
every name is an empty class, so app.py and kws_policy.py import natively.
"""

import sys
import types
import unittest


class _Anything(type):
    """A class whose every attribute is another such class, and whose
    calls return None: enough for the bindings kws_policy.py uses."""

    def __getattr__(cls, name):
        return _Anything(name, (), {})

    def __call__(cls, *args, **kwargs):
        return None


class _Module(types.ModuleType):
    def __getattr__(self, name):
        return _Anything(name, (), {})


for _name in ["wit_world", "wit_world.exports", "wit_world.imports", "componentize_py_types"]:
    sys.modules.setdefault(_name, _Module(_name))
sys.modules["componentize_py_types"].Err = type("Err", (Exception,), {})

import app  # noqa: E402  (after the stand-ins)
from kws_policy import InvalidArgs  # noqa: E402


def pod(annotations=None):
    return types.SimpleNamespace(labels={}, annotations=dict(annotations or {}))


def node(labels=None):
    return types.SimpleNamespace(labels=dict(labels or {}))


class PolicyTest(unittest.TestCase):
    def test_a_required_label_keeps_pods_off_nodes_without_it(self):
        policy = app.{{Name}}({})
        gpu_pod = pod({app.REQUIRED_LABEL: "gpu"})
        policy.filter(gpu_pod, node({"gpu": "t4"}))
        with self.assertRaises(app.Unschedulable) as rejected:
            policy.filter(gpu_pod, node())
        self.assertEqual(rejected.exception.reason, "node(s) didn't have label gpu")

    def test_the_preferred_label_scores_the_arg(self):
        policy = app.{{Name}}({"preferred": 70})
        self.assertEqual(policy.score(pod(), node({app.PREFERRED_KEY: app.PREFERRED_VALUE})), 70)
        self.assertEqual(policy.score(pod(), node()), 0)

    def test_bad_args_are_refused(self):
        with self.assertRaisesRegex(InvalidArgs, "preferred: 150 is not in 0..=100"):
            app.{{Name}}({"preferred": 150})
        with self.assertRaisesRegex(InvalidArgs, "preferred: expected an integer"):
            app.{{Name}}({"preferred": "ten"})


if __name__ == "__main__":
    unittest.main()
