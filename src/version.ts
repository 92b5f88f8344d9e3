import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fields of wi-admission's package.json read at run time. */
export interface PackageManifest {
  readonly version?: string;
  readonly engines?: { readonly node?: string };
}

/** wi-admission's package.json, found by walking up from this file (works from src/ and dist/src/). */
export function packageManifest(): PackageManifest {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as PackageManifest & { name?: string };
      if (pkg.name === 'wi-admission') return pkg;
    }
    dir = dirname(dir);
  }
  return {};
}

export function packageVersion(): string {
  return packageManifest().version ?? '0.0.0-unknown';
}

/** One JSON line, like upstream's `--version`. */
export function versionInfo(): Record<string, string> {
  return {
    buildVersion: packageVersion(),
    nodeVersion: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
}
