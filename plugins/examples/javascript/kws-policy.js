// A small guest-side SDK for kube-wasm-scheduler policies in JavaScript.
//
// The `kws:scheduler/plugin` world (0.3.0) sends cluster changes once
// (`apply`) and the pod of a scheduling cycle once (`cycle-start`); every
// later call of the cycle carries only the cycle id and node ids. This module
// keeps the node table and each open cycle's pod and state (dropped at
// `cycle-end`), turns labels and annotations into Maps, and calls a policy
// once per node, so a policy is an object with `filter(pod, node, state)` and
// `score(pod, node, state)`, plus `preFilter`, `preScore` and `permit` when
// it needs them. `exportPolicy(spec)` returns the interface objects the entry
// module exports: `lifecycle` and one per extension point.
//
// Value conventions (componentize-qjs): records are objects with camelCase
// fields, enums are their case names as strings, variants are
// `{ tag, val }`, options are the value or `undefined`, s64/u64 are numbers,
// and a function returning `result<_, string>` returns normally or throws the
// error string.
//
// Faults: an exception a policy does not catch ends the call as a fault of
// the plugin (`host.fail`), with its type, message and place kept; the host
// reports it as `plugin NAME panicked in filter: Error: ...` and the
// profile's `failurePolicy` decides for the pod. `InvalidArgs` thrown from
// `configure` is a refusal of the args instead.

import host from 'kws:scheduler/host@0.3.0';

/** Writes to the host's log; the host tags it with the plugin's name. */
export function log(message, level = 'info') {
  host.log(level, message);
}

/**
 * What a policy's `filter`, `preFilter` or `permit` returns to reject the
 * node or the pod (anything else, such as `undefined`, lets it through).
 * `resolvable: true` means it may fit after the cluster changes; by default
 * only a spec change can make it fit. A return value, not an exception:
 * throwing costs QuickJS far more.
 */
export function unschedulable(reason, { resolvable = false } = {}) {
  return { code: resolvable ? 'unschedulable' : 'unschedulable-and-unresolvable', reasons: [reason] };
}

/**
 * What `preFilter` returns to leave this plugin's filter out of the cycle,
 * and `preScore` to leave its score out.
 */
export function skip() {
  return { code: 'skip', reasons: [] };
}

/** What `preFilter` returns when only the nodes named can fit the pod. */
export function onlyNodes(names) {
  return { nodeNames: names };
}

/**
 * What `permit` returns to hold the pod, reserved on its node, until it is
 * allowed (`allowWaitingPod`) or rejected, or `timeoutMs` passes.
 */
export function wait(timeoutMs) {
  return { code: 'wait', reasons: [], timeoutMs };
}

/**
 * The pods of this plugin's profile that wait at permit: objects with
 * `namespace`, `name`, `uid`, `node` and `pendingPlugins`.
 */
export function waitingPods() {
  return host.waitingPods();
}

/** Allows a waiting pod on behalf of this plugin; false when none has `uid`. */
export function allowWaitingPod(uid) {
  return host.allowWaitingPod(uid);
}

/** Rejects a waiting pod with `message`; false when none has `uid`. */
export function rejectWaitingPod(uid, message) {
  return host.rejectWaitingPod(uid, message);
}

/**
 * A policy refuses its args by throwing this from `configure`: the host
 * reports `plugin NAME refused its configuration: invalid args: MESSAGE`.
 */
export class InvalidArgs extends Error {}

/** What this module throws when the host sent a call it cannot place. */
class Missing extends Error {}

/** `Error: message (at filter (label-zone.js:40))`: a fault as reported. */
function describe(e) {
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const stack = typeof e?.stack === 'string' ? e.stack : '';
  const at = stack.split('\n').map((line) => line.trim()).find((line) => line.startsWith('at '));
  return at === undefined ? text : `${text} (${at})`;
}

/**
 * Runs an export's body: the module's own `Missing` becomes `onMissing`'s
 * answer, anything else a policy threw a fault of the call.
 */
function reported(body, onMissing) {
  try {
    return body();
  } catch (e) {
    if (e instanceof Missing) return onMissing(e);
    host.fail(describe(e));
    throw e;
  }
}

/** An integer field of the args, checked against low..=high. */
export function intArg(args, field, fallback, low, high) {
  const value = field in args ? args[field] : fallback;
  if (!Number.isInteger(value)) {
    throw new InvalidArgs(`${field}: expected an integer`);
  }
  if (value < low || value > high) {
    throw new InvalidArgs(`${field}: ${value} is not in ${low}..=${high}`);
  }
  return value;
}

/** A pod with `labels` and `annotations` as Maps; `record` is the WIT record. */
function podView(record) {
  return {
    namespace: record.namespace,
    name: record.name,
    uid: record.uid,
    labels: new Map(record.labels),
    annotations: new Map(record.annotations),
    record,
  };
}

/** A node with `labels` as a Map; `record` is the WIT record. */
function nodeView(id, record) {
  return { id, name: record.name, labels: new Map(record.labels), record };
}

const SUCCESS = { code: 'success', reasons: [] };

/**
 * The interface objects for a policy. `spec` has `name`, `version`,
 * `extensionPoints` (e.g. `['filter', 'score']`), `fields` (the args it
 * accepts), and `configure(args)` returning the policy object. The policy
 * has a method for each point listed:
 * - `preFilter(pod, state)`: `undefined` (every node), `onlyNodes(names)`,
 *   `skip()` or `unschedulable(reason)` (the pod fits no node);
 * - `filter(pod, node, state)`: `undefined` or `unschedulable(reason)`;
 * - `preScore(pod, nodes, state)`: `undefined` or `skip()`;
 * - `score(pod, node, state)`: a number, 0..=100;
 * - `permit(pod, node, state)`: `undefined` (allow), `wait(timeoutMs)` or
 *   `unschedulable(reason)` (reject).
 * `state` is an object kept for the cycle: what `preFilter` and `preScore`
 * put there, `filter`, `score` and `permit` read. It is dropped when the
 * cycle ends; a what-if copy of a cycle starts with a shallow copy of it.
 */
export function exportPolicy(spec) {
  let policy = null;
  const nodes = new Map();
  /** Each open cycle's `{ pod, state }`, from cycle-start to cycle-end. */
  const cycles = new Map();

  const node = (id) => {
    const found = nodes.get(id);
    if (found === undefined) throw new Missing(`${spec.name} has no node with id ${id}`);
    return found;
  };
  const configured = () => {
    if (policy === null) throw new Missing(`${spec.name} was called before configure`);
    return policy;
  };
  const cycle = (id) => {
    const found = cycles.get(id);
    if (found === undefined) throw new Missing(`${spec.name} was sent no pod for cycle ${id}`);
    return found;
  };
  /** The status of a call the host sent out of turn. */
  const failed = (e) => ({ code: 'error', reasons: [e.message] });

  const lifecycle = {
    metadata() {
      return { name: spec.name, version: spec.version, extensionPoints: spec.extensionPoints };
    },
    configure(json) {
      try {
        const args = JSON.parse(json || '{}');
        if (args === null || typeof args !== 'object' || Array.isArray(args)) {
          throw new InvalidArgs('expected a JSON object');
        }
        for (const field of Object.keys(args)) {
          if (!spec.fields.includes(field)) throw new InvalidArgs(`unknown field \`${field}\``);
        }
        policy = spec.configure(args);
      } catch (e) {
        if (e instanceof InvalidArgs || e instanceof SyntaxError) {
          throw `invalid args: ${e.message}`;
        }
        host.fail(describe(e));
        throw e;
      }
    },
    apply(changes) {
      for (const change of changes) {
        if (change.tag === 'node-set') {
          const [id, record] = change.val;
          nodes.set(id, nodeView(id, record));
        } else if (change.tag === 'node-removed') {
          nodes.delete(change.val);
        }
      }
    },
    cycleStart(id, pod) {
      cycles.set(id, { pod: podView(pod), state: {} });
    },
    cycleEnd(id) {
      cycles.delete(id);
    },
    cycleFork(original, copy) {
      const found = cycles.get(original);
      if (found !== undefined) cycles.set(copy, { pod: found.pod, state: { ...found.state } });
    },
  };

  const preFilter = {
    preFilter(id) {
      return reported(
        () => {
          const { pod, state } = cycle(id);
          const answer = configured().preFilter(pod, state);
          if (answer === undefined) return { status: SUCCESS, nodeNames: undefined };
          if (answer.nodeNames !== undefined) return { status: SUCCESS, nodeNames: answer.nodeNames };
          return { status: answer, nodeNames: undefined };
        },
        (e) => ({ status: failed(e), nodeNames: undefined }),
      );
    },
    addPod() {
      return SUCCESS;
    },
    removePod() {
      return SUCCESS;
    },
  };

  const filter = {
    filter(id, ids) {
      let pod, state;
      try {
        ({ pod, state } = cycle(id));
        configured();
      } catch (e) {
        return ids.map((n) => ({ node: n, status: failed(e) }));
      }
      const rejected = [];
      for (const n of ids) {
        const status = reported(() => policy.filter(pod, node(n), state), failed);
        if (status && status.code !== 'success') rejected.push({ node: n, status });
      }
      return rejected;
    },
  };

  const preScore = {
    preScore(id, ids) {
      return reported(() => {
        const { pod, state } = cycle(id);
        return configured().preScore(pod, ids.map(node), state) ?? SUCCESS;
      }, failed);
    },
  };

  const score = {
    score(id, ids) {
      return reported(
        () => {
          const { pod, state } = cycle(id);
          configured();
          return ids.map((n) => policy.score(pod, node(n), state));
        },
        (e) => {
          throw e.message;
        },
      );
    },
    normalizeScore(_id, _ids, scores) {
      return scores;
    },
  };

  const permit = {
    permit(id, n) {
      return reported(
        () => {
          const { pod, state } = cycle(id);
          const answer = configured().permit(pod, node(n), state) ?? SUCCESS;
          return { status: { code: answer.code, reasons: answer.reasons }, timeoutMs: answer.timeoutMs ?? 0 };
        },
        (e) => ({ status: failed(e), timeoutMs: 0 }),
      );
    },
  };

  return { lifecycle, preFilter, filter, preScore, score, permit };
}
