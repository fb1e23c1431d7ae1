#!/usr/bin/env node
// `traffic <command>`: registers the TypeScript loader, then hands over to the CLI.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../app/main.ts');
process.exitCode = await main(process.argv.slice(2));
