import { readFileSync } from 'node:fs';
import t from 'tap';
import { unsupportedNodeMessage } from '../src/node-support.js';
import { packageManifest } from '../src/version.js';

const root = new URL('..', import.meta.url).pathname;
const engines = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { engines: { node: string } }).engines.node;

void t.test('the runtime check reads the engines range of package.json', async (t) => {
  t.equal(packageManifest().engines?.node, engines);
});

void t.test('the runtime check accepts what engines accepts and refuses the rest', async (t) => {
  const cases: [string, boolean][] = [
    ['20.20.2', false], // end of life, and below every dependency's floor
    ['22.18.0', false], // a Node 22 older than the floor
    ['22.19.0', true], // the floor
    ['22.23.5', true],
    ['23.11.1', false], // odd-numbered, never an LTS, excluded by the dependencies
    ['24.22.3', true], // the image's
    ['26.12.1', true],
  ];
  for (const [version, supported] of cases) {
    const message = unsupportedNodeMessage(version, engines);
    if (supported) t.equal(message, undefined, `${version} runs`);
    else t.equal(message, `Node v${version} is not supported: wi-admission needs Node ${engines} (package.json engines); run it on such a Node, or from the container image`, `${version} is refused in one line`);
  }
});

void t.test('without an engines range nothing is refused', async (t) => {
  t.equal(unsupportedNodeMessage('20.20.2', undefined), undefined);
});
