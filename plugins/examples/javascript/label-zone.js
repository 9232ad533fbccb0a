// LabelZone in JavaScript: the example policy of plugins/examples/ (the Rust
// version, plugins/examples/rust/src/lib.rs, is the reference).
//
// - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits only
//   nodes that carry a label KEY.
// - Score: a pod annotated `example.kws.dev/zone: ZONE` prefers nodes whose
//   `zone` label is ZONE; the scores (sameZone, otherZone, noZone) come from
//   the plugin's args.
// - A pod annotated `example.kws.dev/fail: MESSAGE` makes Filter throw an
//   Error it does not catch: what the host does with a plugin's fault
//   (docs/plugins.md, "Faults").
//
// Build: `cargo xtask examples` (componentize-qjs, pinned in package.json).
// A policy exports `lifecycle` and the interface of each extension point it
// lists; kws-policy.js keeps the pod of each cycle, so the policy itself
// answers for one node at a time.

import { exportPolicy, intArg, log, unschedulable } from './kws-policy.js';

const REQUIRED_LABEL = 'example.kws.dev/required-label';
const ZONE = 'example.kws.dev/zone';
const FAIL = 'example.kws.dev/fail';
const ZONE_LABEL = 'zone';

export const { lifecycle, filter, score } = exportPolicy({
  name: 'LabelZone',
  version: '0.1.0',
  extensionPoints: ['filter', 'score'],
  fields: ['sameZone', 'otherZone', 'noZone'],

  configure(args) {
    const sameZone = intArg(args, 'sameZone', 100, 0, 100);
    const otherZone = intArg(args, 'otherZone', 0, 0, 100);
    const noZone = intArg(args, 'noZone', 0, 0, 100);
    log(`scores: same zone ${sameZone}, other zone ${otherZone}, no zone ${noZone}`);

    return {
      filter(pod, node) {
        if (pod.annotations.has(FAIL)) throw new Error(pod.annotations.get(FAIL));
        const key = pod.annotations.get(REQUIRED_LABEL);
        if (key !== undefined && !node.labels.has(key)) {
          return unschedulable(`node(s) didn't have label ${key}`);
        }
        return undefined;
      },

      score(pod, node) {
        const zone = pod.annotations.get(ZONE);
        if (zone === undefined) return 0;
        const nodeZone = node.labels.get(ZONE_LABEL);
        if (nodeZone === undefined) return noZone;
        return nodeZone === zone ? sameZone : otherZone;
      },
    };
  },
});
