/**
 * The tool version recorded in manifests: package.json version plus the git commit when the
 * code runs from a checkout (null otherwise, e.g. an npm tarball), so a manifest names the code
 * that produced its files.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ToolVersion {
  name: string;
  version: string;
  commit: string | null;
}

let cached: ToolVersion | undefined;

export function toolVersion(): ToolVersion {
  if (cached) return cached;
  const root = fileURLToPath(new URL('..', import.meta.url));
  let name = 'traffic';
  let version = '0.0.0';
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    name = pkg.name ?? name;
    version = pkg.version ?? version;
  } catch {
    // No package.json beside the code: keep the defaults rather than fail a run over metadata.
  }
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 })
      .toString()
      .trim();
    if (!/^[0-9a-f]{40}$/.test(commit)) commit = null;
  } catch {
    commit = null;
  }
  cached = { name, version, commit };
  return cached;
}
