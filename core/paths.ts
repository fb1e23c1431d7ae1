/**
 * Where the package's own files are, wherever the code runs from: the TypeScript sources in a
 * checkout, or the compiled dist/ of a checkout or of an installed package. Data files that ship
 * with the package (api/public, data/ref, the sample profile) are read from the package root,
 * never relative to a module, so moving code between folders or compiling it changes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  for (let dir = start; ; ) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        // dist/ may hold a package.json of its own one day; ours has the bin.
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { bin?: Record<string, string> }).bin?.traffic) return dir;
      } catch {
        // An unreadable package.json is not ours; keep walking up.
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`traffic: cannot find the package root above ${start}`);
    dir = up;
  }
}

/** The folder holding the package's package.json (the repo root in a checkout). */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A file that ships with the package, by its path from the package root. */
export function packageFile(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
