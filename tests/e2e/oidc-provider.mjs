// A real OpenID Connect provider (npm `oidc-provider`, its development sign-in
// pages) for the end-to-end tests, on loopback.
// Usage: node oidc-provider.mjs PORT REDIRECT_URI CLIENT_SECRET
// Accounts: any login name signs in; its `groups` claim comes from GROUPS below.
import http from "node:http";
import Provider from "oidc-provider";

const [port, redirect, secret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const GROUPS = {
  alice: ["aw-analysts", "team-a"],
  root: ["aw-admins"],
  mallet: ["somebody-else"],
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: "auditwatch",
    client_secret: secret,
    redirect_uris: [redirect],
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: `sub-${id}`, email: `${id}@example.com`, preferred_username: id, groups: GROUPS[id] ?? [] };
      },
    };
  },
  claims: { openid: ["sub"], email: ["email"], profile: ["preferred_username"], groups: ["groups"] },
  scopes: ["openid", "email", "profile", "groups"],
  // Put the scoped claims into the ID token itself (Cognito does the same for groups).
  conformIdTokenClaims: false,
  cookies: { keys: ["auditwatch-e2e-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;
http.createServer(provider.callback()).listen(Number(port), "127.0.0.1", () => {
  console.log(`oidc-provider ${issuer}`);
});
