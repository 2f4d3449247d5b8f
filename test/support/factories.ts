// Test factories: records with sensible, unique defaults, overridable field
// by field. `build…` returns the input a repository (or the outbox) takes,
// writing nothing; `create…` writes through the repositories it is given.
import type { OutgoingMessage } from '../../src/mail/outbox.ts';
import type { AccountRecord, AuditEventInput, ProfileInput, UpstreamIdentityRecord } from '../../src/domain/records.ts';
import { generateSecret, secretHash } from '../../src/secrets.ts';
import type {
  AccountRepository,
  AssociationFlowRepository,
  ClientRepository,
  LinkRequestRepository,
  Repositories,
  UpstreamIdentityRepository,
  UpstreamTransactionRepository,
} from '../../src/store/store.ts';

let sequence = 0;
const next = (): number => {
  sequence += 1;
  return sequence;
};

/** An hour from now, for records that expire (pass expiresAt from a ManualClock when time matters). */
const inAnHour = (): number => Date.now() + 3_600_000;

export function buildProfile(overrides: Partial<ProfileInput> = {}): ProfileInput {
  const number = next();
  return {
    id: `MBS-${String(number).padStart(6, '0')}`,
    portal: 'partnersource',
    email: `person${number}@contoso.example`,
    displayName: `Person ${number}`,
    organization: `Contoso ${number}`,
    roles: ['member'],
    ...overrides,
  };
}

export type ClientInput = Parameters<ClientRepository['create']>[0];

/** A public (no secret), third-party client of PartnerSource with one redirect URI. */
export function buildClient(overrides: Partial<ClientInput> = {}): ClientInput {
  const number = next();
  return { id: `client-${number}`, metadata: { redirect_uris: [`https://portal${number}.example/cb`] }, portal: 'partnersource', firstParty: false, secretHash: undefined, ...overrides };
}

export type AccountInput = Parameters<AccountRepository['create']>[0];

export function buildAccount(overrides: Partial<AccountInput> = {}): AccountInput {
  const number = next();
  return { email: `person${number}@contoso.example`, emailVerified: true, name: `Person ${number}`, ...overrides };
}

export type IdentityInput = Parameters<UpstreamIdentityRepository['create']>[0];

/** An identity at https://login.example with a unique subject. */
export function buildIdentity(accountId: string, overrides: Partial<IdentityInput> = {}): IdentityInput {
  const number = next();
  return { accountId, issuer: 'https://login.example', subject: `subject-${number}`, emailHint: `person${number}@hotmail.example`, ...overrides };
}

/** Creates an account and one upstream identity of it (the state after a first sign-in). */
export async function createAccountWithIdentity(
  repositories: Pick<Repositories, 'accounts' | 'identities'>,
  overrides: { account?: Partial<AccountInput>; identity?: Partial<IdentityInput> } = {},
): Promise<{ account: AccountRecord; identity: UpstreamIdentityRecord }> {
  const account = await repositories.accounts.create(buildAccount(overrides.account));
  const identity = await repositories.identities.create(buildIdentity(account.id, overrides.identity));
  return { account, identity };
}

export type AssociationFlowInput = Parameters<AssociationFlowRepository['create']>[0];

export function buildAssociationFlow(overrides: Partial<AssociationFlowInput> = {}): AssociationFlowInput {
  const number = next();
  return { interactionUid: `uid-${number}`, clientId: 'portal', issuer: 'https://login.example', subject: `subject-${number}`, expiresAt: inAnHour(), ...overrides };
}

export type LinkRequestInput = Parameters<LinkRequestRepository['create']>[0];

/** A link to `profileId` outside any flow, under the hash of a fresh token (pass `tokenHash` to know the token). */
export function buildLinkRequest(profileId: string, overrides: Partial<LinkRequestInput> = {}): LinkRequestInput {
  const number = next();
  return { tokenHash: secretHash(generateSecret()), flowId: undefined, profileId, issuer: 'https://login.example', subject: `subject-${number}`, interactionUid: undefined, expiresAt: inAnHour(), ...overrides };
}

export function buildAuditEvent(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return { type: 'sign_in', outcome: 'success', ...overrides };
}

export type UpstreamTransactionInput = Parameters<UpstreamTransactionRepository['create']>[0];

export function buildUpstreamTransaction(overrides: Partial<UpstreamTransactionInput> = {}): UpstreamTransactionInput {
  const number = next();
  return { state: `state-${number}`, purpose: 'sign_in', interactionUid: `uid-${number}`, codeVerifier: `verifier-${number}`, nonce: `nonce-${number}`, context: {}, expiresAt: inAnHour(), ...overrides };
}

/** A rendered email as the outbox queues it; its subject is also its text, and in a paragraph its HTML. */
export function buildOutgoingMessage(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  const number = next();
  const subject = overrides.subject ?? 'Associate your profile';
  return { kind: 'test', recipient: `person${number}@contoso.example`, subject, html: `<p>${subject}</p>`, text: subject, ...overrides };
}

/** A profile file in CSV, as admins export it from the MBS system. */
export function profileCsv(profiles: ProfileInput[]): string {
  return [
    'id,portal,email,display_name,organization,roles',
    ...profiles.map((profile) => [profile.id, profile.portal, profile.email, profile.displayName, profile.organization, profile.roles.join(';')].join(',')),
  ].join('\n');
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${next()}-${Math.random().toString(36).slice(2, 8)}`;
}
