// Registers test/host-module.js as `kws:scheduler/host@...`, the interface
// the scheduler gives the component, so the policy's modules load in Node.
import { register } from 'node:module';

register('./host-module.js', import.meta.url);
