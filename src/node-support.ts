import semver from 'semver';

/**
 * Why this Node cannot run wi-admission, or undefined when it can: the
 * version must satisfy package.json `engines`, the range every dependency
 * supports and CI tests at its floor and at the image's version. One line
 * now beats a failure later, deep inside a dependency that needs a newer
 * Node. Without an `engines` range (no package.json found) nothing is
 * refused.
 */
export function unsupportedNodeMessage(nodeVersion: string, engines: string | undefined): string | undefined {
  if (engines === undefined || semver.satisfies(nodeVersion, engines)) return undefined;
  return `Node v${nodeVersion} is not supported: wi-admission needs Node ${engines} (package.json engines); run it on such a Node, or from the container image`;
}
