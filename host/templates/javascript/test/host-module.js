// A module loader hook: `kws:scheduler/host@...` resolves to a stand-in
// whose calls do nothing (log) or find nothing.
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('kws:scheduler/host')) {
    return { url: 'data:text/javascript,export default new Proxy({}, { get: () => () => undefined });', shortCircuit: true };
  }
  return next(specifier, context);
}
