"""A small guest-side SDK for kube-wasm-scheduler policies in Python.

The `kws:scheduler/plugin` world (0.3.0) sends cluster changes once
(`apply`) and the pod of a scheduling cycle once (`cycle_start`); every later
call of the cycle carries only the cycle id and node ids. This module keeps
the node table and each open cycle's pod (dropped at `cycle_end`), turns the
WIT records into plain Python values and calls a policy once per node, so a
policy is a class with `filter(pod, node)` and `score(pod, node)` methods.
`export(MyPolicy)` returns the classes componentize-py looks for in the app
module, one per exported interface of the world, by name:

    globals().update(kws_policy.export(MyPolicy))

componentize-py wants every interface of the world implemented: the points
this helper does not hand to the policy answer as a plugin without them
would, and the host calls none the policy's metadata does not list.
"""

import functools
import json
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types


def log(message, level=host.Level.INFO):
    """Writes to the host's log; the host tags it with the plugin's name."""
    host.log(level, message)


class Node:
    """A node as a policy sees it: its name and labels (a dict), plus the
    WIT record (`record`) for every other field."""

    def __init__(self, node_id, record):
        self.id = node_id
        self.record = record
        self.name = record.name
        self.labels = dict(record.labels)


class Pod:
    """The pod being scheduled as a policy sees it: its namespace, name,
    labels and annotations (dicts, like a node's labels), plus the WIT
    record (`record`) for every other field."""

    def __init__(self, record):
        self.record = record
        self.namespace = record.namespace
        self.name = record.name
        self.labels = dict(record.labels)
        self.annotations = dict(record.annotations)


def describe(error):
    """`RuntimeError: message (at app.py:12)`: an exception as the host
    reports a fault, with where it was raised. (Not `traceback`'s
    formatting: it reads source lines from files, which a plugin cannot.)"""
    text = f"{type(error).__name__}: {error}"
    frames = list(traceback.walk_tb(error.__traceback__))
    if frames:
        frame, line = frames[-1]
        text += f" (at {frame.f_code.co_filename.rsplit('/', 1)[-1]}:{line})"
    return text


def reporting_faults(cls):
    """Makes every method of an export class report an uncaught exception
    to the host (`host.fail`) with its type, message and place, so the host
    treats it as a fault of that call and keeps the message; without this
    componentize-py turns it into a bare trap. A WIT error (`Err`) is an
    answer, not a fault, and goes through."""
    for attr, method in list(vars(cls).items()):
        if attr.startswith("_") or not callable(method):
            continue

        def reported(method):
            @functools.wraps(method)
            def call(*args):
                try:
                    return method(*args)
                except Err:
                    raise
                except BaseException as error:
                    host.fail(describe(error))

            return call

        setattr(cls, attr, reported(method))
    return cls


class Unschedulable(Exception):
    """Raised by a policy's `filter` to reject a node. `resolvable=False`
    (the default) means only a spec change can make the node fit."""

    def __init__(self, reason, resolvable=False):
        super().__init__(reason)
        self.reason = reason
        self.resolvable = resolvable


class InvalidArgs(Exception):
    """Raised by a policy's constructor to refuse its args: the host
    reports `plugin NAME refused its configuration: invalid args: MESSAGE`.
    Any other exception there is a fault, reported with its message."""


def int_arg(args, field, default, low, high):
    """An integer field of the args, checked against low..=high."""
    value = args.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgs(f"{field}: expected an integer")
    if not low <= value <= high:
        raise InvalidArgs(f"{field}: {value} is not in {low}..={high}")
    return value


def export(policy_class):
    """The export classes for `policy_class`, by name, which has
    `NAME`, `EXTENSION_POINTS` (names: "filter", "score"), `FIELDS` (the
    args it accepts), a constructor taking the args as a dict, and
    `filter(pod, node)` / `score(pod, node)`."""
    # `cycles`: the pod of each open cycle, from cycle_start to cycle_end.
    state = {"policy": None, "nodes": {}, "cycles": {}}
    name = policy_class.NAME

    def node(node_id):
        found = state["nodes"].get(node_id)
        if found is None:
            raise LookupError(f"{name} has no node with id {node_id}")
        return found

    def cycle_pod(cycle):
        found = state["cycles"].get(cycle)
        if found is None:
            raise LookupError(f"{name} was sent no pod for cycle {cycle}")
        return found

    def policy():
        if state["policy"] is None:
            raise LookupError(f"{name} was called before configure")
        return state["policy"]

    @reporting_faults
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
            except (json.JSONDecodeError, InvalidArgs) as e:
                raise Err(f"invalid args: {e}")

        def apply(self, changes):
            nodes = state["nodes"]
            for change in changes:
                if isinstance(change, types.Change_NodeSet):
                    node_id, record = change.value
                    nodes[node_id] = Node(node_id, record)
                elif isinstance(change, types.Change_NodeRemoved):
                    nodes.pop(change.value, None)

        def cycle_start(self, cycle, pod):
            state["cycles"][cycle] = Pod(pod)

        def cycle_end(self, cycle):
            state["cycles"].pop(cycle, None)

        def cycle_fork(self, original, copy):
            pod = state["cycles"].get(original)
            if pod is not None:
                state["cycles"][copy] = pod

    @reporting_faults
    class Filter(exports.Filter):
        def filter(self, cycle, node_ids):
            try:
                pod = cycle_pod(cycle)
            except LookupError as e:
                return [types.NodeStatus(i, types.Status(types.Code.ERROR, [str(e)])) for i in node_ids]
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

    @reporting_faults
    class Score(exports.Score):
        def score(self, cycle, node_ids):
            try:
                pod = cycle_pod(cycle)
                return [policy().score(pod, node(i)) for i in node_ids]
            except LookupError as e:
                raise Err(str(e))

        def normalize_score(self, cycle, node_ids, scores):
            return scores

    return {
        "Lifecycle": Lifecycle,
        "Filter": Filter,
        "Score": Score,
        **PASSIVE,
    }


SUCCESS = types.Status(types.Code.SUCCESS, [])


class PreEnqueue(exports.PreEnqueue):
    def pre_enqueue(self, cycle):
        return SUCCESS


class PreFilter(exports.PreFilter):
    def pre_filter(self, cycle):
        return types.PreFilterResult(SUCCESS, None)

    def add_pod(self, cycle, pod, node):
        return SUCCESS

    def remove_pod(self, cycle, uid, node):
        return SUCCESS


class PostFilter(exports.PostFilter):
    def post_filter(self, cycle, statuses):
        return types.PostFilterResult(types.Status(types.Code.UNSCHEDULABLE, []), None)


class PreScore(exports.PreScore):
    def pre_score(self, cycle, nodes):
        return SUCCESS


class Reserve(exports.Reserve):
    def reserve(self, cycle, node):
        return SUCCESS

    def unreserve(self, cycle, node):
        pass


class Permit(exports.Permit):
    def permit(self, cycle, node):
        return types.PermitResult(SUCCESS, 0)


class PreBind(exports.PreBind):
    def pre_bind(self, cycle, node):
        return SUCCESS


class Bind(exports.Bind):
    def bind(self, cycle, node):
        return types.Status(types.Code.SKIP, [])


class PostBind(exports.PostBind):
    def post_bind(self, cycle, node):
        pass


class EnqueueExtensions(exports.EnqueueExtensions):
    def events_to_register(self):
        return []

    def hint(self, cycle, event, old, new):
        return types.QueueingHint.QUEUE


# The interfaces whose calls the policy does not see: each answers as a
# plugin that does nothing there would (bind leaves the pod to the next
# binder).
PASSIVE = {
    "PreEnqueue": PreEnqueue,
    "PreFilter": PreFilter,
    "PostFilter": PostFilter,
    "PreScore": PreScore,
    "Reserve": Reserve,
    "Permit": Permit,
    "PreBind": PreBind,
    "Bind": Bind,
    "PostBind": PostBind,
    "EnqueueExtensions": EnqueueExtensions,
}
