// A small guest-side SDK for kube-wasm-scheduler policies in JavaScript.
//
// The `kws:scheduler/plugin` world sends cluster changes once (`apply`) and
// then asks about lists of node ids. This module keeps the node table, turns
// labels and annotations into Maps, and calls a policy once per node, so a
// policy is an object with `filter(pod, node)` and `score(pod, node)`.
// `exportPolicy(spec)` returns the three interface objects the entry module
// exports as `lifecycle`, `filter` and `score`.
//
// Value conventions (componentize-qjs): records are objects with camelCase
// fields, enums are their case names as strings, variants are
// `{ tag, val }`, s64/u64 are numbers, and a function returning
// `result<_, string>` returns normally or throws the error string.

import host from 'kws:scheduler/host@0.2.0';

/** Writes to the host's log; the host tags it with the plugin's name. */
export function log(message, level = 'info') {
  host.log(level, message);
}

/**
 * What a policy's `filter` returns to reject a node (anything else, such as
 * `undefined`, lets it through). `resolvable: true` means the node may fit
 * after the cluster changes; by default only a spec change can make it fit.
 * A return value, not an exception: throwing costs QuickJS far more.
 */
export function unschedulable(reason, { resolvable = false } = {}) {
  return { code: resolvable ? 'unschedulable' : 'unschedulable-and-unresolvable', reasons: [reason] };
}

/** A policy refuses its args by throwing this from `configure`. */
export class InvalidArgs extends Error {}

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
    labels: new Map(record.labels),
    annotations: new Map(record.annotations),
    record,
  };
}

/** A node with `labels` as a Map; `record` is the WIT record. */
function nodeView(id, record) {
  return { id, name: record.name, labels: new Map(record.labels), record };
}

/**
 * The interface objects for a policy. `spec` has `name`, `version`,
 * `extensionPoints` (e.g. `['filter', 'score']`), `fields` (the args it
 * accepts), `configure(args)` returning the policy object, and that object
 * has `filter(pod, node)` and `score(pod, node)`.
 */
export function exportPolicy(spec) {
  let policy = null;
  const nodes = new Map();

  const node = (id) => {
    const found = nodes.get(id);
    if (found === undefined) throw new Error(`${spec.name} has no node with id ${id}`);
    return found;
  };
  const configured = () => {
    if (policy === null) throw new Error(`${spec.name} was called before configure`);
    return policy;
  };

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
          throw `${spec.name}: invalid args: ${e.message}`;
        }
        throw `${spec.name}: ${e}`;
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
  };

  const filter = {
    filter(podRecord, ids) {
      const pod = podView(podRecord);
      const rejected = [];
      for (const id of ids) {
        let status;
        try {
          status = configured().filter(pod, node(id));
        } catch (e) {
          status = { code: 'error', reasons: [String(e.message ?? e)] };
        }
        if (status && status.code !== 'success') rejected.push({ node: id, status });
      }
      return rejected;
    },
  };

  const score = {
    score(podRecord, ids) {
      const pod = podView(podRecord);
      try {
        return ids.map((id) => configured().score(pod, node(id)));
      } catch (e) {
        throw String(e.message ?? e);
      }
    },
    normalizeScore(_pod, _ids, scores) {
      return scores;
    },
  };

  return { lifecycle, filter, score };
}
