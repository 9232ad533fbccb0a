"""A small guest-side SDK for kube-wasm-scheduler policies in Python.

The `kws:scheduler/plugin` world sends cluster changes once (`apply`) and
then asks about lists of node ids. This module keeps the node table, turns
the WIT records into plain Python values and calls a policy once per node,
so a policy is a class with `filter(pod, node)` and `score(pod, node)`
methods. `export(MyPolicy)` returns the three classes componentize-py looks
for in the app module:

    Lifecycle, Filter, Score = kws_policy.export(MyPolicy)
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types


def lookup(pairs, key):
    """The value of `key` in a list of (key, value) pairs (labels,
    annotations), or None."""
    for k, v in pairs:
        if k == key:
            return v
    return None


def log(message, level=host.Level.INFO):
    """Writes to the host's log; the host tags it with the plugin's name."""
    host.log(level, message)


class Node:
    """A node as a policy sees it: its name and labels, plus the WIT
    record (`record`) for every other field."""

    def __init__(self, node_id, record):
        self.id = node_id
        self.record = record
        self.name = record.name
        self.labels = dict(record.labels)


class Unschedulable(Exception):
    """Raised by a policy's `filter` to reject a node. `resolvable=False`
    (the default) means only a spec change can make the node fit."""

    def __init__(self, reason, resolvable=False):
        super().__init__(reason)
        self.reason = reason
        self.resolvable = resolvable


class InvalidArgs(Exception):
    """Raised by a policy's constructor to refuse its args."""


def int_arg(args, field, default, low, high):
    """An integer field of the args, checked against low..=high."""
    value = args.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgs(f"{field}: expected an integer")
    if not low <= value <= high:
        raise InvalidArgs(f"{field}: {value} is not in {low}..={high}")
    return value


def export(policy_class):
    """The Lifecycle, Filter and Score classes for `policy_class`, which has
    `NAME`, `EXTENSION_POINTS` (names: "filter", "score"), `FIELDS` (the
    args it accepts), a constructor taking the args as a dict, and
    `filter(pod, node)` / `score(pod, node)`."""
    state = {"policy": None, "nodes": {}}
    name = policy_class.NAME

    def node(node_id):
        found = state["nodes"].get(node_id)
        if found is None:
            raise LookupError(f"{name} has no node with id {node_id}")
        return found

    def policy():
        if state["policy"] is None:
            raise LookupError(f"{name} was called before configure")
        return state["policy"]

    class Lifecycle(exports.Lifecycle):
        def metadata(self):
            points = [types.ExtensionPoint[p.upper()] for p in policy_class.EXTENSION_POINTS]
            return types.PluginMetadata(name, policy_class.VERSION, points)

        def configure(self, args):
            try:
                parsed = json.loads(args or "{}")
                if not isinstance(parsed, dict):
                    raise InvalidArgs("expected a JSON object")
                for field in parsed:
                    if field not in policy_class.FIELDS:
                        raise InvalidArgs(f"unknown field `{field}`")
                state["policy"] = policy_class(parsed)
            except (ValueError, InvalidArgs) as e:
                raise Err(f"{name}: invalid args: {e}")

        def apply(self, changes):
            nodes = state["nodes"]
            for change in changes:
                if isinstance(change, types.Change_NodeSet):
                    node_id, record = change.value
                    nodes[node_id] = Node(node_id, record)
                elif isinstance(change, types.Change_NodeRemoved):
                    nodes.pop(change.value, None)

    class Filter(exports.Filter):
        def filter(self, pod, node_ids):
            rejected = []
            for node_id in node_ids:
                try:
                    policy().filter(pod, node(node_id))
                except Unschedulable as e:
                    code = types.Code.UNSCHEDULABLE if e.resolvable else types.Code.UNSCHEDULABLE_AND_UNRESOLVABLE
                    rejected.append(types.NodeStatus(node_id, types.Status(code, [e.reason])))
                except LookupError as e:
                    rejected.append(types.NodeStatus(node_id, types.Status(types.Code.ERROR, [str(e)])))
            return rejected

    class Score(exports.Score):
        def score(self, pod, node_ids):
            try:
                return [policy().score(pod, node(i)) for i in node_ids]
            except LookupError as e:
                raise Err(str(e))

        def normalize_score(self, pod, node_ids, scores):
            return scores

    return Lifecycle, Filter, Score
