// The demo portal's HTML: one page shell in the portal's colours, the welcome
// page, the signed-in page with the profiles (and the one picked), and the
// short answers for refusals. Every value from the broker is escaped.
import type { PortalBranding } from '../directory/portals.ts';

export const escapeHtml = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? character);

/** One entry of `mbs_profiles`, or `mbs_profile`, as the broker sends it. */
export interface ProfileClaim {
  id?: unknown;
  organization?: unknown;
  display_name?: unknown;
  roles?: unknown;
}

/** What the demo says for each documented outcome of an "add a profile" request that did not add one. */
const actionRefusals: Record<string, string> = {
  access_denied: 'You cancelled adding a profile. Your profiles are unchanged.',
  association_failed: 'No profile was added.',
};

export function renderPage(branding: PortalBranding, title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} · ${branding.name} (demo)</title>
<style>body{margin:0;font:16px/1.5 "Segoe UI",system-ui,sans-serif;color:#1b1b1b;background:#f3f3f3}
header{background:${branding.accent};color:#fff;padding:1rem 1.5rem;display:flex;gap:1rem;align-items:center}
header strong{font-size:1.25rem}main{max-width:44rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:4px}
a{color:${branding.accent}}button,.button{display:inline-block;font:inherit;padding:.5rem 1.25rem;background:${branding.accent};color:#fff;border:0;border-radius:2px;cursor:pointer;text-decoration:none}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #ddd}
:focus-visible{outline:3px solid #000;outline-offset:2px}.hint{color:#555;font-size:.9rem}
@media (max-width:30rem){main{margin:0;padding:1rem;border-radius:0}}</style></head>
<body><header><strong>${branding.name}</strong><span>Microsoft Dynamics demo portal</span></header>
<main>${body}</main></body></html>`;
}

/** A page that says one thing and leads back to the portal's home. */
export const messagePage = (branding: PortalBranding, title: string, message: string): string =>
  renderPage(branding, title, `<h1>${escapeHtml(title)}</h1>${message}<p><a class="button" href="/">Back to ${branding.name}</a></p>`);

export function welcomePage(branding: PortalBranding, mailboxUrl: string | undefined): string {
  return renderPage(
    branding,
    'Welcome',
    `<h1>Welcome to ${branding.name}</h1>
<p>Sign in with your Microsoft account. On your first sign-in you associate it with your MBS profile through an email link.</p>
<p><a class="button" id="portal-sign-in" href="/login">Sign in</a></p>
<p class="hint">Demo: at the dev upstream type any account name; as the MBS email type <code>jane.doe@contoso.example</code>${
      mailboxUrl ? `, then open the association links in the <a href="${escapeHtml(mailboxUrl)}">dev mailbox</a>` : ''
    }.</p>`,
  );
}

const rolesOf = (profile: ProfileClaim): string[] => (Array.isArray(profile.roles) ? profile.roles.map(String) : []);

function profileRows(profiles: ProfileClaim[], picked: ProfileClaim | undefined): string {
  return profiles
    .map((profile) => {
      const current = picked?.id === profile.id;
      return `<tr${current ? ' aria-current="true"' : ''}><td>${escapeHtml(profile.id)}${current ? ' <strong>(current)</strong>' : ''}</td><td>${escapeHtml(profile.organization)}</td><td>${escapeHtml(profile.display_name)}</td><td>${escapeHtml(rolesOf(profile).join(', '))}</td></tr>`;
    })
    .join('');
}

function currentProfileSection(picked: ProfileClaim | undefined, switchable: boolean): string {
  if (!picked) return '';
  const roles = rolesOf(picked);
  return `<section id="current-profile" aria-labelledby="current-profile-heading"><h2 id="current-profile-heading">Acting as</h2>
<p><strong>${escapeHtml(picked.organization)}</strong> — ${escapeHtml(picked.display_name)} (profile ${escapeHtml(picked.id)}; roles: ${escapeHtml(roles.length > 0 ? roles.join(', ') : 'none')})</p>
${switchable ? '<p><a class="button" id="switch-profile" href="/login?switch=profile">Switch profile</a></p>' : ''}</section>`;
}

export interface SignedInView {
  claims: Record<string, unknown>;
  /** The person just added a profile from this portal. */
  added: boolean;
  otherPortal: { name: string; url: string } | undefined;
}

export function profilesPage(branding: PortalBranding, { claims, added, otherPortal }: SignedInView): string {
  const profiles = Array.isArray(claims.mbs_profiles) ? (claims.mbs_profiles as ProfileClaim[]) : [];
  const picked = claims.mbs_profile as ProfileClaim | undefined;
  return renderPage(
    branding,
    'Your profiles',
    `<h1>Signed in to ${branding.name}</h1>
<p>Signed in as <strong id="signed-in-name">${escapeHtml(claims.name ?? claims.sub)}</strong> (${escapeHtml(claims.email)}).</p>
${currentProfileSection(picked, profiles.length > 1)}
<h2>Your ${branding.name} profiles</h2>
<table id="profiles"><thead><tr><th scope="col">Profile</th><th scope="col">Organization</th><th scope="col">Name</th><th scope="col">Roles</th></tr></thead><tbody>${profileRows(profiles, picked)}</tbody></table>
${added ? '<p id="action-outcome" role="status">Profile added: the list above is what the broker says now.</p>' : ''}
<p><a class="button" id="portal-add-profile" href="/add-profile">Add a profile</a></p>
${otherPortal ? `<p><a href="${escapeHtml(otherPortal.url)}">Go to ${escapeHtml(otherPortal.name)}</a></p>` : ''}
<form method="post" action="/logout"><button type="submit" id="portal-sign-out">Sign out</button></form>`,
  );
}

/** The broker refused an "add a profile" request: the person stays signed in here. */
export function actionRefusedPage(branding: PortalBranding, error: string, description: string | undefined): string {
  const refusal = actionRefusals[error] ?? 'The broker refused the request.';
  return messagePage(
    branding,
    'No profile added',
    `<p id="action-outcome" role="status" data-error="${escapeHtml(error)}">${escapeHtml(refusal)}</p><p class="hint">The broker answered <code>${escapeHtml(error)}</code>: ${escapeHtml(description ?? '')}</p>`,
  );
}
