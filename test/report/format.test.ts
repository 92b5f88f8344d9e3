import t from 'tap';
import { formatInventory } from '../../src/report/format.js';
import type { InventoryRow } from '../../src/report/inventory-rows.js';
import { ROWS } from '../fixtures/report/rows.js';

const lines = (...l: string[]): string => l.map((x) => `${x}\n`).join('');

void t.test('table: aligned columns, - for missing values, reasons for rows that are not approved, PODS when counted', async (t) => {
  t.equal(
    formatInventory(ROWS, 'table'),
    lines(
      'NAMESPACE       SERVICEACCOUNT   CLIENT ID                              IDENTITY          RESOURCE GROUP   OWNER             ENVIRONMENT   STATUS                                        PODS',
      'checkout-prod   checkout-api     c11e0000-0000-0000-0000-000000000001   id-checkout-api   rg-checkout      checkout-team     prod          approved                                      3',
      'checkout-prod   worker           c11e0000-0000-0000-0000-000000000002   id-billing        rg-billing       billing|finance   prod, eu      denied (IdentityNotApproved,TenantMismatch)   0',
      'kube-system     agent            c11e0000-0000-0000-0000-000000000003   id-agent          rg-platform      -                 -             approved                                      12',
      'web             site             not-a-guid                             -                 -                -                 -             warned (NoMatchingFederatedCredential)        -',
    ),
  );
});

void t.test('table: no PODS column when no row has a count, and no trailing spaces', async (t) => {
  t.equal(
    formatInventory(ROWS.map((r) => ({ ...r, pods: undefined })), 'table'),
    lines(
      'NAMESPACE       SERVICEACCOUNT   CLIENT ID                              IDENTITY          RESOURCE GROUP   OWNER             ENVIRONMENT   STATUS',
      'checkout-prod   checkout-api     c11e0000-0000-0000-0000-000000000001   id-checkout-api   rg-checkout      checkout-team     prod          approved',
      'checkout-prod   worker           c11e0000-0000-0000-0000-000000000002   id-billing        rg-billing       billing|finance   prod, eu      denied (IdentityNotApproved,TenantMismatch)',
      'kube-system     agent            c11e0000-0000-0000-0000-000000000003   id-agent          rg-platform      -                 -             approved',
      'web             site             not-a-guid                             -                 -                -                 -             warned (NoMatchingFederatedCredential)',
    ),
  );
});

void t.test('markdown: a GitHub table with the same columns, pipes escaped', async (t) => {
  t.equal(
    formatInventory(ROWS, 'markdown'),
    lines(
      '| NAMESPACE | SERVICEACCOUNT | CLIENT ID | IDENTITY | RESOURCE GROUP | OWNER | ENVIRONMENT | STATUS | PODS |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      '| checkout-prod | checkout-api | c11e0000-0000-0000-0000-000000000001 | id-checkout-api | rg-checkout | checkout-team | prod | approved | 3 |',
      '| checkout-prod | worker | c11e0000-0000-0000-0000-000000000002 | id-billing | rg-billing | billing\\|finance | prod, eu | denied (IdentityNotApproved,TenantMismatch) | 0 |',
      '| kube-system | agent | c11e0000-0000-0000-0000-000000000003 | id-agent | rg-platform | - | - | approved | 12 |',
      '| web | site | not-a-guid | - | - | - | - | warned (NoMatchingFederatedCredential) | - |',
    ),
  );
});

void t.test('csv: every field, RFC 4180 quoting, reasons joined with ;, empty for missing', async (t) => {
  t.equal(
    formatInventory(ROWS, 'csv'),
    lines(
      'namespace,serviceAccount,clientId,identityName,resourceGroup,owner,environment,status,reasons,detail,pods',
      'checkout-prod,checkout-api,c11e0000-0000-0000-0000-000000000001,id-checkout-api,rg-checkout,checkout-team,prod,approved,,,3',
      'checkout-prod,worker,c11e0000-0000-0000-0000-000000000002,id-billing,rg-billing,billing|finance,"prod, eu",denied,IdentityNotApproved;TenantMismatch,' +
        '"rule ""team-must-own-identity"" requires tag owner=checkout-team, the identity has owner=billing|finance",0',
      'kube-system,agent,c11e0000-0000-0000-0000-000000000003,id-agent,rg-platform,,,approved,Exempt,,12',
      'web,site,not-a-guid,,,,,warned,NoMatchingFederatedCredential,no federated credential,',
    ),
  );
});

void t.test('json: the rows, two-space indent, undefined fields left out', async (t) => {
  const row = (fields: string[]): string => `  {\n${fields.map((f) => `    ${f}`).join(',\n')}\n  }`;
  const expected =
    '[\n' +
    [
      row(['"namespace": "checkout-prod"', '"serviceAccount": "checkout-api"', '"clientId": "c11e0000-0000-0000-0000-000000000001"', '"identityName": "id-checkout-api"',
        '"resourceGroup": "rg-checkout"', '"owner": "checkout-team"', '"environment": "prod"', '"status": "approved"', '"reasons": []', '"pods": 3']),
      row(['"namespace": "checkout-prod"', '"serviceAccount": "worker"', '"clientId": "c11e0000-0000-0000-0000-000000000002"', '"identityName": "id-billing"',
        '"resourceGroup": "rg-billing"', '"owner": "billing|finance"', '"environment": "prod, eu"', '"status": "denied"',
        '"reasons": [\n      "IdentityNotApproved",\n      "TenantMismatch"\n    ]',
        '"detail": "rule \\"team-must-own-identity\\" requires tag owner=checkout-team, the identity has owner=billing|finance"', '"pods": 0']),
      row(['"namespace": "kube-system"', '"serviceAccount": "agent"', '"clientId": "c11e0000-0000-0000-0000-000000000003"', '"identityName": "id-agent"',
        '"resourceGroup": "rg-platform"', '"status": "approved"', '"reasons": [\n      "Exempt"\n    ]', '"pods": 12']),
      row(['"namespace": "web"', '"serviceAccount": "site"', '"clientId": "not-a-guid"', '"status": "warned"',
        '"reasons": [\n      "NoMatchingFederatedCredential"\n    ]', '"detail": "no federated credential"']),
    ].join(',\n') +
    '\n]\n';
  t.equal(formatInventory(ROWS, 'json'), expected);
  t.same(JSON.parse(formatInventory(ROWS, 'json')), JSON.parse(JSON.stringify(ROWS)), 'parses back to the rows');
});

void t.test('an empty inventory', async (t) => {
  t.equal(formatInventory([], 'table'), 'no ServiceAccount carries azure.workload.identity/client-id\n');
  t.equal(formatInventory([], 'markdown'), 'no ServiceAccount carries azure.workload.identity/client-id\n');
  t.equal(formatInventory([], 'json'), '[]\n');
  t.equal(formatInventory([], 'csv'), 'namespace,serviceAccount,clientId,identityName,resourceGroup,owner,environment,status,reasons,detail,pods\n');
});

void t.test('control characters cannot break a row or reach the terminal', async (t) => {
  const hostile: InventoryRow = {
    ...(ROWS[3] as InventoryRow),
    clientId: 'abc\n\u001b[31mred',
    owner: 'a\r\nb',
    environment: '',
  };
  t.equal(
    formatInventory([hostile], 'table'),
    lines(
      'NAMESPACE   SERVICEACCOUNT   CLIENT ID            IDENTITY   RESOURCE GROUP   OWNER        ENVIRONMENT   STATUS',
      'web         site             abc\\x0a\\x1b[31mred   -          -                a\\x0d\\x0ab   -             warned (NoMatchingFederatedCredential)',
    ),
  );
  t.equal(formatInventory([hostile], 'markdown').split('\n').length, 4, 'header, separator, one row, final newline');
  t.equal(
    formatInventory([hostile], 'csv').split('\n')[1],
    'web,site,"abc',
    'csv keeps the value and quotes it (a quoted field may hold a line break)',
  );
  t.match(formatInventory([hostile], 'csv'), /,"a\r\nb",,warned,/);
});
