#!/usr/bin/env node
// `airlock …`: run the TypeScript CLI through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../server/cli/index.ts', import.meta.url).href);
