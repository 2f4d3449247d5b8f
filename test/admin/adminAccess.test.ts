// The console's people as an administration service, without HTTP, on the
// real store of every test database with the real outbox and emails: roles
// granted, changed and revoked (never the last admin), invitations single
// use and expiring (stored hashed, sent through the outbox), admin API
// tokens stored hashed, and every change audited with the acting admin.
import { expect } from 'chai';
import { adminServices } from '../../src/admin/adminServices.ts';
import type { AdminAccess } from '../../src/admin/adminAccess.ts';
import { ManualClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import { Outbox } from '../../src/mail/outbox.ts';
import { secretHash } from '../../src/secrets.ts';
import { createStore } from '../../src/store/knexStore.ts';
import type { Store } from '../../src/store/store.ts';
import { liveSessionsOfAccount, revokeAccount } from '../../src/store/oidcAdapter.ts';
import { serviceSuite, testDatabases } from '../support/databases.ts';
import { buildProfile, createAccountWithIdentity, uniqueName } from '../support/factories.ts';

const issuer = 'https://broker.example';
const invitationTtl = 60 * 60 * 1000;

for (const testDatabase of testDatabases()) {
  describe(`the admin access service on ${testDatabase.name}`, function () {
    this.timeout(30_000);
    const suite = serviceSuite(testDatabase);
    let clock: ManualClock;
    let store: Store;
    let outbox: Outbox;
    /** AdminAccess acting as the given admin account (or the CLI). */
    let accessAs: (accountId?: string) => AdminAccess;

    beforeEach(async () => {
      const { database, emails } = suite;
      clock = new ManualClock(Date.now());
      store = createStore(database, clock);
      outbox = new Outbox(database, clock, 'admin-access-test-key-0123456789');
      const parts = {
        store,
        clock,
        outbox,
        emails,
        issuer,
        supportEmail: 'support@broker.example',
        invitationTtl,
        keys: { list: async () => [], listCookieKeys: async () => [], rotateSigningKeys: async () => [], rotateCookieKey: async () => undefined },
        issueInitialAccessToken: async () => ({ token: 'unused', expiresAt: 0 }),
        sessions: { list: (accountId: string) => liveSessionsOfAccount(database, accountId), revoke: (accountId: string) => revokeAccount(database, accountId) },
      };
      accessAs = (accountId) => adminServices(parts, accountId ? { surface: 'console', accountId } : 'cli').access;
      // Every test starts with no roles: the last-admin rule counts them all.
      await suite.database('admin_roles').delete();
    });

    const newAccount = async () => (await createAccountWithIdentity(store)).account.id;

    it('grants, changes and revokes a role, each audited with the acting admin, and never drops the last admin', async () => {
      const first = await newAccount();
      const second = await newAccount();
      await accessAs().grant(first, 'admin');
      const acting = accessAs(first);
      await acting.grant(second, 'support');
      expect(await acting.roleOf(second)).to.equal('support');
      await acting.grant(second, 'admin');

      const changed = (await store.auditEvents.list({ type: 'admin.role_changed', accountId: second })).items[0];
      expect(changed).to.include({ actor: 'console', accountId: second });
      expect(changed?.details).to.deep.include({ role: 'admin', previous: 'support', actingAdmin: first });

      await acting.revoke(second);
      expect(await acting.roleOf(second)).to.equal(undefined);
      const lastAdmin = await acting.revoke(first).catch((error: unknown) => error);
      expect(lastAdmin).to.be.instanceOf(BrokerError).and.to.include({ code: 'conflict', messageKey: 'error.console.last_admin' });
      const demoted = await acting.grant(first, 'auditor').catch((error: unknown) => error);
      expect(demoted).to.be.instanceOf(BrokerError).and.to.include({ code: 'conflict' });
      expect(await acting.roleOf(first)).to.equal('admin');
    });

    it('finds an account by the MBS email of its bound profiles, never by the upstream email hint', async () => {
      const { account, identity } = await createAccountWithIdentity(store, { identity: { emailHint: 'hint.only@hotmail.example' } });
      const profile = buildProfile({ email: `${uniqueName('admin')}@contoso.example` });
      await store.profiles.upsert(profile);
      await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'association' });
      expect(await accessAs().resolveAccount(profile.email.toUpperCase())).to.equal(account.id);
      const byHint = await accessAs().resolveAccount('hint.only@hotmail.example').catch((error: unknown) => error);
      expect(byHint).to.be.instanceOf(BrokerError).and.to.include({ code: 'not_found' });
    });

    it('sends an invitation through the outbox, stores only its hash, and lets it be accepted once', async () => {
      const inviter = await newAccount();
      await accessAs().grant(inviter, 'admin');
      const email = `${uniqueName('invitee')}@contoso.example`;
      const invitation = await accessAs(inviter).invite(email, 'support', 'fr');

      const [message] = (await outbox.claimDue(100)).filter((queued) => queued.recipient === email);
      expect(message?.kind).to.equal('admin_invitation');
      expect(message?.subject).to.equal('Votre invitation à la console du broker MBS');
      const token = /\/admin\/invitations\/([A-Za-z0-9_-]+)/.exec(message!.text)![1]!;
      expect(invitation.tokenHash).to.equal(secretHash(token)).and.to.not.equal(token);
      expect((await store.auditEvents.list({ type: 'admin.invited' })).items[0]?.details).to.deep.include({ email, role: 'support', actingAdmin: inviter });

      expect((await accessAs().describeInvitation(token)).status).to.equal('valid');
      const invitee = await newAccount();
      expect(await accessAs().acceptInvitation(token, invitee)).to.equal('support');
      expect(await accessAs().roleOf(invitee)).to.equal('support');
      expect((await accessAs().describeInvitation(token)).status).to.equal('accepted');
      const again = await accessAs().acceptInvitation(token, await newAccount()).catch((error: unknown) => error);
      expect(again).to.be.instanceOf(BrokerError).and.to.include({ messageKey: 'error.console.invitation_invalid' });
    });

    it('refuses an expired invitation and grants nothing', async () => {
      const email = `${uniqueName('late')}@contoso.example`;
      await accessAs().invite(email, 'admin', 'en');
      const [message] = (await outbox.claimDue(100)).filter((queued) => queued.recipient === email);
      const token = /\/admin\/invitations\/([A-Za-z0-9_-]+)/.exec(message!.text)![1]!;
      clock.advance(invitationTtl + 1);
      expect((await accessAs().describeInvitation(token)).status).to.equal('expired');
      const latecomer = await newAccount();
      const refused = await accessAs().acceptInvitation(token, latecomer).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(BrokerError).and.to.include({ code: 'not_found' });
      expect(await accessAs().roleOf(latecomer)).to.equal(undefined);
    });

    it('issues admin API tokens with a role, stored by hash only, and revokes them', async () => {
      const { token, record } = await accessAs().issueToken('support', 'help desk');
      expect(token).to.match(/^mbs_/);
      expect(record).to.include({ role: 'support', label: 'help desk', tokenHash: secretHash(token) });
      const row = (await suite.database('admin_tokens').where({ id: record.id }).first()) as Record<string, unknown>;
      expect(Object.values(row)).to.not.include(token);
      expect((await store.adminTokens.findActiveByHash(secretHash(token)))?.id).to.equal(record.id);
      await accessAs().revokeToken(record.id);
      expect(await store.adminTokens.findActiveByHash(secretHash(token))).to.equal(undefined);
      expect((await store.auditEvents.list({ type: 'admin.token_revoked' })).total).to.be.greaterThan(0);
    });
  });
}
