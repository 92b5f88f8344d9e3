import { ClientSecretCredential } from '@azure/identity';
import t from 'tap';
import { ArmMsiIdentitySource } from '../../src/azure/arm-source.js';
import { FileIdentitySource } from '../../src/azure/file-source.js';
import { createIdentitySources, parseIdentitySourceSpec } from '../../src/azure/sources.js';
import { isAppError } from '../../src/errors.js';
import { createLogSink } from '../helpers/log-sink.js';

const SUB = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

void t.test('parses --identities values', async (t) => {
  t.same(parseIdentitySourceSpec('file:/etc/wi/identities.yaml'), { kind: 'file', path: '/etc/wi/identities.yaml' });
  t.same(parseIdentitySourceSpec(`arm:/subscriptions/${SUB}/resourceGroups/rg`), { kind: 'arm', scope: { subscriptionId: SUB, resourceGroup: 'rg' } });
  const cases: [string, RegExp][] = [
    ['file:', /file: needs a path/],
    ['/etc/identities.yaml', /expected file:PATH or arm:\/subscriptions\/<subscription GUID>\[\/resourceGroups\/<name>\]$/],
    ['arm:/subscriptions/nope', /subscription ID "nope" is not a GUID/],
  ];
  for (const [text, pattern] of cases) {
    t.throws(() => parseIdentitySourceSpec(text), pattern, text);
    try {
      parseIdentitySourceSpec(text);
    } catch (err) {
      t.ok(isAppError(err, 'WIA_ERR_IDENTITY_SOURCE_INVALID'), `${text}: typed error`);
    }
  }
});

void t.test('creates one source per value, in order, sharing the credential', async (t) => {
  const credential = new ClientSecretCredential(SUB, 'client', 'secret');
  const sources = await createIdentitySources(['file:/tmp/ids.json', `arm:/subscriptions/${SUB}`, { kind: 'arm', scope: { subscriptionId: SUB, resourceGroup: 'rg' } }], {
    log: createLogSink().log,
    credential,
  });
  t.ok(sources[0] instanceof FileIdentitySource);
  t.ok(sources[1] instanceof ArmMsiIdentitySource);
  t.same(sources.map((s) => s.description), ['file:/tmp/ids.json', `arm:/subscriptions/${SUB}`, `arm:/subscriptions/${SUB}/resourceGroups/rg`]);
});
