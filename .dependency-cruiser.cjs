/**
 * Rampart's layers, checked by dependency-cruiser in `npm test`
 * (`npm run deps`). A folder of src/ may import only from folders listed
 * before it; type imports count too. The picture is in docs/DESIGN.md
 * ("Layers").
 */
const LAYERS = [
  // foundations
  ['core'], // clock, events, ids, serials, errors, actor, small utilities: imports nothing of ours
  ['config'], // schema and loading; every feature's section is defined here
  ['metrics', 'health'], // registries the roles register into
  ['storage'], // Store and its records (ACME's too), SQLite, PostgreSQL, capabilities
  ['pki'], // ASN.1 encoding and parsing: certificates, CSRs, CRLs (no I/O)
  // domain roles, lower ones first
  ['keys'], // key backends and custody
  ['audit'], // hash chain, verification, forwarding
  ['integrity'], // corruption detection, reconciliation from the audit stream
  ['ca'], // issuers, signers, hierarchy, offline root, rotation
  ['cluster'], // leases, node registry, HAProxy config
  ['validation'], // OCSP and CRLs: status, cache by CertID, signing, publication
  ['ra'], // issuance and revocation workflows, profile policy
  ['auth'], // operators, tokens, client certificates
  ['acme'], // ACME orders, authorizations, challenges (no HTTP)
  ['backup'], // backups, restore, PITR
  ['dr'], // tiers, drills, availability
  ['region'], // regions: monitor, failover, failback, DNS
  // front ends and wiring
  ['dashboard'], // static assets
  ['http'], // listeners, limits, REST API, ACME and validation routes
  ['main'], // builds a node from its configuration and starts and stops it
  ['cli'], // the operator's commands (bin/rampart.mjs)
];

const order = LAYERS.flat();
const above = (i) => order.slice(order.indexOf(LAYERS[i][0]) + LAYERS[i].length);
const sameLayerOthers = (folder) => LAYERS.find((l) => l.includes(folder)).filter((f) => f !== folder);

const layerRules = order.map((folder) => {
  const i = LAYERS.findIndex((l) => l.includes(folder));
  const forbidden = [...above(i), ...sameLayerOthers(folder)];
  return forbidden.length === 0 ? null : {
    name: `layer-${folder}`,
    comment: `src/${folder}/ may import only from the layers below it (${order.slice(0, order.indexOf(LAYERS[i][0])).join(', ') || 'none'}); see .dependency-cruiser.cjs`,
    severity: 'error',
    from: { path: `^src/${folder}/` },
    to: { path: `^src/(${forbidden.join('|')})/` },
  };
}).filter(Boolean);

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-unknown-folder',
      comment: `every top-level folder of src/ has a place in LAYERS (.dependency-cruiser.cjs)`,
      severity: 'error',
      from: { path: '^src/' },
      to: { path: `^src/`, pathNot: `^src/(${order.join('|')})/` },
    },
    {
      name: 'no-concrete-store',
      comment: 'outside storage/, use the Store interface, createStore/openStore and its capabilities: never a concrete store or PgPool',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/storage/', '[.]test[.]ts$'] },
      to: { path: '^src/storage/(sqlite|postgres)/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles between files',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'test-helpers-not-product',
      comment: 'product code never imports tests or their helpers (unit tests beside the code may)',
      severity: 'error',
      from: { path: '^src/', pathNot: '[.]test[.]ts$' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
