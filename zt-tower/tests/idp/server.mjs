// A real OpenID provider for zt's end-to-end tests: client_credentials, JWT access tokens
// (RS256 for resource urn:zt:orders, ES256 for urn:zt:orders-es), DPoP-bound when the token
// request carries a DPoP proof (always on in oidc-provider 9), fresh keys on every start.
// Listens on 127.0.0.1:$PORT (0 = any free port), prints "listening <port>", and exits on its
// own after $ZT_IDP_LIFETIME_S seconds (default 120) so it can never outlive a test run.
// Opaque access tokens for resource urn:zt:opaque, introspection (/token/introspection) and
// revocation (/token/revocation) are on. Two resource-server clients may introspect:
// `zt-introspect-basic` (client_secret_basic, secret from $ZT_IDP_INTROSPECT_SECRET) and
// `zt-introspect-jwt` (private_key_jwt, public keys from $ZT_IDP_INTROSPECT_JWKS).
// Two more clients get client_credentials tokens the way zt's fleet services do (the bundle
// server, the revocation feed, the decision-log collector): `zt-fleet-basic` (client_secret_basic,
// the same secret) and `zt-fleet-jwt` (private_key_jwt, the same public keys).
// GET /__zt/stats answers {"introspections": n, "tokens": n}, the introspection and token
// requests seen so far.
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const lifetime = Number(process.env.ZT_IDP_LIFETIME_S || 120) * 1000;
setTimeout(() => process.exit(0), lifetime).unref();

const start = Date.now();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const keys = [
  { ...rsa, kid: `rsa-${start}-${randomUUID().slice(0, 8)}`, use: 'sig', alg: 'RS256' },
  { ...ec, kid: `ec-${start}-${randomUUID().slice(0, 8)}`, use: 'sig', alg: 'ES256' },
];

const resourceServers = [];
if (process.env.ZT_IDP_INTROSPECT_SECRET) {
  resourceServers.push({
    client_id: 'zt-introspect-basic',
    client_secret: process.env.ZT_IDP_INTROSPECT_SECRET,
    grant_types: [],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  resourceServers.push({
    client_id: 'zt-fleet-basic',
    client_secret: process.env.ZT_IDP_INTROSPECT_SECRET,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  });
}
if (process.env.ZT_IDP_INTROSPECT_JWKS) {
  resourceServers.push({
    client_id: 'zt-introspect-jwt',
    grant_types: [],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: JSON.parse(process.env.ZT_IDP_INTROSPECT_JWKS),
  });
  resourceServers.push({
    client_id: 'zt-fleet-jwt',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: JSON.parse(process.env.ZT_IDP_INTROSPECT_JWKS),
  });
}
let introspections = 0;
let tokens = 0;

const server = http.createServer();
// A restart on the previous port can find it briefly taken (the old process's socket, or another
// test's connection that was given it as its ephemeral port): retry for up to 30 s, then fail.
const wanted = Number(process.env.PORT || 0);
let attempts = 0;
server.on('error', (err) => {
  if (err.code === 'EADDRINUSE' && wanted !== 0 && attempts < 300) {
    attempts += 1;
    setTimeout(() => server.listen(wanted, '127.0.0.1'), 100);
    return;
  }
  console.error(`zt test idp: cannot listen on 127.0.0.1:${wanted}: ${err.code || err.message}`);
  process.exit(1);
});
server.once('listening', () => {
  const port = server.address().port;
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: 'zt-test',
      client_secret: 'zt-test-secret-not-a-real-secret-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }, ...resourceServers],
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:zt:orders',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'orders:read',
          audience: 'orders-api',
          accessTokenTTL: 600,
          accessTokenFormat: resource === 'urn:zt:opaque' ? 'opaque' : 'jwt',
          jwt: { sign: { alg: resource === 'urn:zt:orders-es' ? 'ES256' : 'RS256' } },
        }),
      },
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url === '/__zt/stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ introspections, tokens }));
      return;
    }
    if (req.url.startsWith('/token/introspection')) introspections += 1;
    else if (req.url === '/token') tokens += 1;
    callback(req, res);
  });
  console.log(`listening ${port} ${keys.map((k) => k.kid).join(' ')}`);
});
server.listen(wanted, '127.0.0.1');

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
