/**
 * The tool version recorded in manifests: package.json version plus the git commit when the
 * code runs from a checkout (null otherwise, e.g. an npm tarball), so a manifest names the code
 * that produced its files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT, packageFile } from './paths.ts';

export interface ToolVersion {
  name: string;
  version: string;
  commit: string | null;
}

let cached: ToolVersion | undefined;

export function toolVersion(): ToolVersion {
  if (cached) return cached;
  const root = PACKAGE_ROOT;
  let name = 'traffic';
  let version = '0.0.0';
  try {
    const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { name?: string; version?: string };
    name = pkg.name ?? name;
    version = pkg.version ?? version;
  } catch {
    // No package.json beside the code: keep the defaults rather than fail a run over metadata.
  }
  let commit: string | null = null;
  try {
    // Only a checkout of this project has a commit: an installed package sits inside somebody
    // else's repository, whose HEAD says nothing about this code.
    if (!existsSync(path.join(root, '.git'))) throw new Error('not a checkout');
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
