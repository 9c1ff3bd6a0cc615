/**
 * Entry point of the `airlock` command line (`bin/airlock.mjs` runs it through tsx).
 * Exits through `process.exitCode`, never `process.exit()`, so stdout is flushed first.
 */
import { main } from './program';

await main();
