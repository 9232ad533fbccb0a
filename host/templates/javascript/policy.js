// {{Name}}: a kube-wasm-scheduler placement policy.
//
// - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits only
//   nodes that carry a label KEY (any value).
// - Score: a node labelled `disk: ssd` scores `preferred` (an arg, 0 to
//   100, default 100); every other node scores 0.
//
// Build: `kube-wasm-scheduler plugin build`; try it on the scenario:
// `kube-wasm-scheduler plugin test . --cluster scenario.yaml --expect
// expected.txt`. kws-policy.js is the helper that talks to the scheduler;
// this file is the policy.

import { exportPolicy, intArg, log, unschedulable } from './kws-policy.js';

const REQUIRED_LABEL = 'example.kws.dev/required-label';
const PREFERRED_KEY = 'disk';
const PREFERRED_VALUE = 'ssd';

// The policy, exported as well for its unit tests (test/policy.test.js).
export const policy = {
  name: '{{Name}}',
  version: '0.1.0',
  extensionPoints: ['filter', 'score'],
  fields: ['preferred'],

  // Throwing InvalidArgs (intArg does) refuses the configuration: the
  // scheduler does not start with it, and prints the message.
  configure(args) {
    const preferred = intArg(args, 'preferred', 100, 0, 100);
    log(`preferred nodes score ${preferred}`);

    return {
      filter(pod, node) {
        const key = pod.annotations.get(REQUIRED_LABEL);
        if (key !== undefined && !node.labels.has(key)) {
          return unschedulable(`node(s) didn't have label ${key}`);
        }
        return undefined;
      },

      score(pod, node) {
        return node.labels.get(PREFERRED_KEY) === PREFERRED_VALUE ? preferred : 0;
      },
    };
  },
};

export const { lifecycle, filter, score } = exportPolicy(policy);
