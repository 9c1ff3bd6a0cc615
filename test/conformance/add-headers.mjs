// Preloaded (`node --import`) into the conformance CLI process, which has no option for request headers
// (modelcontextprotocol/conformance#453). Adds fixed headers, e.g. `Authorization: Bearer <agent token>`,
// to every request the suite sends to one origin, in the client itself: nothing sits between suite and server.
//
// CONFORMANCE_EXTRA_HEADERS = {"origin":"http://127.0.0.1:4000","headers":{"authorization":"Bearer …"}}
//
// The suite sends requests two ways: global fetch (the SDK client transport, raw SSE scenarios) and the
// npm `undici` request() (dns-rebinding-protection). Both go through undici's global dispatcher, the one
// place that sees all of them.
import { createRequire } from 'node:module';

// the undici the suite itself imports (a dependency of the conformance package)
const suiteRequire = createRequire(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json'));
const { Agent, setGlobalDispatcher } = suiteRequire('undici');

const spec = JSON.parse(process.env.CONFORMANCE_EXTRA_HEADERS ?? 'null');
if (spec) {
  const origin = new URL(spec.origin).origin;
  const extra = Object.entries(spec.headers).map(([name, value]) => [name.toLowerCase(), String(value)]);

  /**
   * Adds the extra headers the request lacks (a header the suite sets itself wins: auth scenarios may send
   * their own); keeps undici's shape: object, flat [name, value, …] array, or [name, value] pairs.
   */
  const withExtra = (headers) => {
    const names = (list) => new Set(list.map((name) => String(name).toLowerCase()));
    if (Array.isArray(headers) && !Array.isArray(headers[0])) {
      const present = names(headers.filter((_, i) => i % 2 === 0));
      return [...headers, ...extra.filter(([name]) => !present.has(name)).flat()];
    }
    if (headers && typeof headers[Symbol.iterator] === 'function') {
      const pairs = [...headers];
      const present = names(pairs.map(([name]) => name));
      return [...pairs, ...extra.filter(([name]) => !present.has(name))].flat();
    }
    const present = names(Object.keys(headers ?? {}));
    return { ...headers, ...Object.fromEntries(extra.filter(([name]) => !present.has(name))) };
  };

  setGlobalDispatcher(
    new Agent().compose((dispatch) => (options, handler) => {
      const target = typeof options.origin === 'string' ? options.origin : options.origin?.toString();
      if (target && new URL(target).origin === origin) options = { ...options, headers: withExtra(options.headers) };
      return dispatch(options, handler);
    }),
  );
}
