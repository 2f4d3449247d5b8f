// The page script of the oidc-client-ts single-page portal (served by
// oidcClientTs.ts): only the library's UserManager API — sign-in redirect
// and callback, getUser, signinSilent (a refresh_token grant over CORS),
// signoutRedirect, "add a profile" (signinRedirect with extraQueryParams
// mbs_action=associate_profile) — and what it returns, written into the DOM
// for the test (an authorization error's code as the library reports it).
/* global oidc */
'use strict';

const settings = JSON.parse(document.getElementById('settings').textContent);
const app = document.getElementById('app');

const userManager = new oidc.UserManager({
  authority: settings.issuer,
  client_id: settings.clientId,
  redirect_uri: `${location.origin}/callback`,
  post_logout_redirect_uri: `${location.origin}/signed-out`,
  // No offline_access: the broker gives a public client a refresh token bound to its session.
  scope: 'openid email profile mbs_profiles',
  // The profile claims come from userinfo, not from the ID token.
  loadUserInfo: true,
  revokeTokensOnSignout: true,
});

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(id, text, action) {
  const node = element('button', { id, type: 'button' }, text);
  node.addEventListener('click', () => action().catch(showError));
  return node;
}

function showError(error) {
  app.append(element('p', { id: 'error', role: 'alert' }, `${error && error.name}: ${error && error.message}`));
}

const signIn = () => userManager.signinRedirect();
// The broker's "add a profile" request, as a portal developer writes it with this library.
const addProfile = () => userManager.signinRedirect({ extraQueryParams: { mbs_action: 'associate_profile' } });

function renderSignedOut(title) {
  app.replaceChildren(element('h1', {}, title), element('p', {}, 'You are not signed in.'), button('sign-in', 'Sign in', signIn));
}

/** Claim values as text: arrays of strings joined with commas, objects as JSON. */
const claimText = (value) => (Array.isArray(value) && value.every((item) => typeof item === 'string') ? value.join(',') : typeof value === 'string' ? value : JSON.stringify(value));

function renderUser(user, note) {
  const claims = element('dl', { id: 'claims' });
  for (const name of ['iss', 'sub', 'email', 'name', 'mbs_profile_ids', 'mbs_roles', 'mbs_profiles']) {
    if (user.profile[name] === undefined) continue;
    claims.append(element('dt', {}, name), element('dd', { id: `claim-${name}` }, claimText(user.profile[name])));
  }
  const tokens = element('dl', { id: 'tokens' });
  for (const [id, value] of [
    ['access-token', user.access_token],
    ['refresh-token', user.refresh_token ?? ''],
    ['expires-at', String(user.expires_at)],
    ['scope', user.scope ?? ''],
  ]) {
    tokens.append(element('dt', {}, id), element('dd', { id }, value));
  }
  app.replaceChildren(
    element('h1', {}, `${settings.name}: signed in`),
    ...(note ? [element('p', { id: 'note' }, note)] : []),
    claims,
    tokens,
    button('refresh', 'Refresh tokens', async () => renderUser(await userManager.signinSilent(), 'Tokens renewed')),
    button('add-profile', 'Add a profile', addProfile),
    button('sign-out', 'Sign out', () => userManager.signoutRedirect()),
  );
}

async function main() {
  if (location.pathname === '/callback') {
    try {
      await userManager.signinRedirectCallback();
    } catch (error) {
      // An OAuth error from the broker: the library's ErrorResponse carries its code and description.
      if (!error || typeof error.error !== 'string') throw error;
      app.replaceChildren(element('h1', {}, `${settings.name}: not changed`), element('p', { id: 'authorization-error' }, error.error), element('p', { id: 'authorization-error-description' }, error.error_description ?? ''));
      return;
    }
    location.replace('/');
    return;
  }
  if (location.pathname === '/signed-out') {
    await userManager.signoutRedirectCallback();
    renderSignedOut(`Signed out of ${settings.name}`);
    return;
  }
  const user = await userManager.getUser();
  if (user && !user.expired) renderUser(user);
  else renderSignedOut(settings.name);
}

main().catch(showError);
