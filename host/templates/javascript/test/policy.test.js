// Unit tests of the policy, with Node's own test runner: `npm test`.
// test/host.js stands in for the scheduler's host interface, which only
// exists inside the component.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgs } from '../kws-policy.js';
import { policy } from '../policy.js';

const pod = (annotations = {}) => ({ annotations: new Map(Object.entries(annotations)), labels: new Map() });
const node = (labels = {}) => ({ labels: new Map(Object.entries(labels)) });

test('a required label keeps pods off nodes without it', () => {
  const p = policy.configure({});
  const gpuPod = pod({ 'example.kws.dev/required-label': 'gpu' });
  assert.equal(p.filter(gpuPod, node({ gpu: 't4' })), undefined);
  assert.deepEqual(p.filter(gpuPod, node()).reasons, ["node(s) didn't have label gpu"]);
});

test('the preferred label scores the arg', () => {
  const p = policy.configure({ preferred: 70 });
  assert.equal(p.score(pod(), node({ disk: 'ssd' })), 70);
  assert.equal(p.score(pod(), node({ disk: 'hdd' })), 0);
});

test('bad args are refused', () => {
  assert.throws(() => policy.configure({ preferred: 150 }), InvalidArgs);
  assert.throws(() => policy.configure({ preferred: 'ten' }), /preferred: expected an integer/);
});
