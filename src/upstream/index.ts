// Builds one upstream from its settings (one entry of UPSTREAMS, or the
// single-upstream UPSTREAM_* variables).
import { invalidConfiguration } from '../errors.ts';
import { createMicrosoftUpstream, createMicrosoftWorkUpstream } from './microsoftUpstream.ts';
import { OidcUpstream, type UpstreamFetch } from './oidcUpstream.ts';
import type { Upstream, UpstreamKind } from './upstream.ts';

export interface UpstreamSettings {
  /** Defaults to the kind. */
  id?: string | undefined;
  kind: UpstreamKind;
  /** The button's text for `oidc` upstreams (the presets' names come from the catalogue). */
  name?: string | undefined;
  issuer?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  /** Allowed Entra ID tenants (`microsoft-work` only). */
  tenants?: readonly string[] | undefined;
  domains?: readonly string[] | undefined;
  signUpUrl?: string | undefined;
  passwordResetUrl?: string | undefined;
}

/** What only code may add (tests): never read from the configuration. */
export interface UpstreamHooks {
  fetch?: UpstreamFetch | undefined;
}

export function createUpstream(settings: UpstreamSettings, hooks: UpstreamHooks = {}): Upstream {
  if (!settings.clientId) throw invalidConfiguration('error.configuration.setting_required', { setting: 'UPSTREAM_CLIENT_ID' });
  const common = {
    id: settings.id,
    // A configured name wins over the presets' catalogue names.
    name: settings.name ? { text: settings.name } : settings.kind === 'dev' ? { key: 'upstream.dev' } : undefined,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    issuer: settings.issuer,
    domains: settings.domains,
    signUpUrl: settings.signUpUrl,
    passwordResetUrl: settings.passwordResetUrl,
    fetch: hooks.fetch,
  };
  if (settings.kind === 'microsoft') return createMicrosoftUpstream(common);
  if (settings.kind === 'microsoft-work') return createMicrosoftWorkUpstream({ ...common, tenants: settings.tenants ?? [] });
  if (!settings.issuer) throw invalidConfiguration('error.configuration.setting_required', { setting: 'UPSTREAM_ISSUER' });
  return new OidcUpstream({ ...common, kind: settings.kind, issuer: settings.issuer });
}
