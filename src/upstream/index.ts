// Builds the upstream named by the configuration.
import { invalidConfiguration } from '../errors.ts';
import { createMicrosoftUpstream } from './microsoftUpstream.ts';
import { OidcUpstream } from './oidcUpstream.ts';
import type { Upstream } from './upstream.ts';

export interface UpstreamSettings {
  kind: Upstream['kind'];
  issuer?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  signUpUrl?: string | undefined;
  passwordResetUrl?: string | undefined;
}

export function createUpstream(settings: UpstreamSettings): Upstream {
  if (!settings.clientId) throw invalidConfiguration('error.configuration.setting_required', { setting: 'UPSTREAM_CLIENT_ID' });
  if (settings.kind === 'microsoft') {
    return createMicrosoftUpstream({
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      issuer: settings.issuer,
      signUpUrl: settings.signUpUrl,
      passwordResetUrl: settings.passwordResetUrl,
    });
  }
  if (!settings.issuer) throw invalidConfiguration('error.configuration.setting_required', { setting: 'UPSTREAM_ISSUER' });
  return new OidcUpstream({
    kind: settings.kind,
    issuer: settings.issuer,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    signUpUrl: settings.signUpUrl,
    passwordResetUrl: settings.passwordResetUrl,
  });
}
