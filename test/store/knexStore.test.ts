// The store's conformance suite: one set of behaviours, run on every database.
import { expect } from 'chai';
import { ManualClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import type { Database } from '../../src/store/database.ts';
import { createStore } from '../../src/store/knexStore.ts';
import { isUniqueViolation } from '../../src/store/storageErrors.ts';
import type { Store } from '../../src/store/store.ts';
import { testDatabases } from '../support/databases.ts';
import { buildAuditEvent, buildClient, buildIdentity, buildProfile, buildUpstreamTransaction, createAccountWithIdentity } from '../support/factories.ts';

for (const testDatabase of testDatabases()) {
  describe(`store conformance on ${testDatabase.name}`, () => {
    let database: Database;
    let clock: ManualClock;
    let store: Store;

    before(async () => {
      database = await testDatabase.open();
    });
    after(() => testDatabase.close(database));
    beforeEach(async () => {
      for (const table of ['profile_choices', 'profile_bindings', 'identities', 'accounts', 'profiles', 'clients', 'audit_events', 'upstream_transactions', 'oidc_payloads']) {
        await database(table).delete();
      }
      clock = new ManualClock();
      store = createStore(database, clock);
    });

    describe('clients', () => {
      it('round-trip metadata, portal, first-party flag and secret hash; update and remove', async () => {
        const client = buildClient({ portal: 'partnersource', firstParty: true, secretHash: 'sha256:x' });
        await store.clients.create(client);
        expect(await store.clients.find(client.id)).to.deep.include(client);
        clock.advance(1000);
        const updated = await store.clients.update(client.id, { portal: 'both', secretHash: 'sha256:y' });
        expect(updated).to.deep.include({ portal: 'both', secretHash: 'sha256:y', firstParty: true });
        expect(updated!.updatedAt).to.be.greaterThan(updated!.createdAt);
        expect((await store.clients.list()).map((listed) => listed.id)).to.deep.equal([client.id]);
        expect(await store.clients.update('nobody', { portal: 'both' })).to.equal(undefined);
        expect(await store.clients.remove(client.id)).to.equal(true);
        expect(await store.clients.remove(client.id)).to.equal(false);
        expect(await store.clients.find(client.id)).to.equal(undefined);
      });

      it('refuse a second client with a taken id as a conflict', async () => {
        const client = buildClient();
        await store.clients.create(client);
        let failure: unknown;
        await store.clients.create(client).catch((error: unknown) => (failure = error));
        expect(failure).to.be.instanceOf(BrokerError);
        expect((failure as BrokerError).code).to.equal('conflict');
      });
    });

    describe('profiles', () => {
      it('upsert reports created, unchanged and updated', async () => {
        const profile = buildProfile({ roles: ['a', 'b'] });
        expect(await store.profiles.upsert(profile)).to.equal('created');
        expect(await store.profiles.upsert(profile)).to.equal('unchanged');
        expect(await store.profiles.upsert({ ...profile, organization: 'Renamed' })).to.equal('updated');
        expect(await store.profiles.find(profile.id)).to.deep.include({ organization: 'Renamed', roles: ['a', 'b'] });
      });

      it('are found by normalised email, and listed with paging, email and portal filters', async () => {
        const email = 'shared@contoso.example';
        for (let index = 0; index < 5; index += 1) await store.profiles.upsert(buildProfile({ email, portal: index % 2 ? 'customersource' : 'partnersource' }));
        await store.profiles.upsert(buildProfile());
        expect(await store.profiles.findByEmail(email)).to.have.length(5);
        const page = await store.profiles.list({ email, limit: 2, offset: 2 });
        expect(page.total).to.equal(5);
        expect(page.items).to.have.length(2);
        expect((await store.profiles.list({ email, portal: 'customersource' })).total).to.equal(2);
        expect((await store.profiles.list()).total).to.equal(6);
      });

      it('removing a profile removes its binding', async () => {
        const profile = buildProfile();
        await store.profiles.upsert(profile);
        const { account, identity } = await createAccountWithIdentity(store);
        await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'admin' });
        expect(await store.profiles.remove(profile.id)).to.equal(true);
        expect(await store.profileBindings.findByProfile(profile.id)).to.equal(undefined);
        expect(await store.profiles.remove(profile.id)).to.equal(false);
      });
    });

    describe('accounts and upstream identities', () => {
      it('key identities by issuer and subject, refusing a duplicate', async () => {
        const { account, identity } = await createAccountWithIdentity(store, { identity: { subject: 'same-subject' } });
        expect(await store.identities.findByIssuerAndSubject('https://login.example', 'same-subject')).to.deep.include({ id: identity.id, accountId: account.id });
        expect(await store.identities.findByIssuerAndSubject('https://other.example', 'same-subject')).to.equal(undefined);
        let failure: unknown;
        await store.identities.create(buildIdentity(account.id, { subject: 'same-subject' })).catch((error: unknown) => (failure = error));
        expect(failure).to.be.instanceOf(BrokerError);
        expect((failure as BrokerError).code).to.equal('conflict');
      });

      it('tell a duplicate (unique index or primary key) from any other failed insert by the database’s own error code, not its message', async () => {
        const failureOf = (write: Promise<unknown>): Promise<unknown> => write.then(() => undefined, (error: unknown) => error);
        const profile = buildProfile();
        await store.profiles.upsert(profile);
        const row = (await database('profiles').where({ id: profile.id }).first()) as Record<string, unknown>;
        expect(isUniqueViolation(await failureOf(database('profiles').insert(row)))).to.equal(true);
        const { account } = await createAccountWithIdentity(store, { identity: { subject: 'taken' } });
        expect(isUniqueViolation(await failureOf(store.identities.create(buildIdentity(account.id, { subject: 'taken' })).catch((error: BrokerError) => Promise.reject(error.cause))))).to.equal(true);
        // A foreign key failure whose SQL (in the error's message) reads like a duplicate.
        const unknownAccount = await failureOf(store.identities.create({ accountId: 'no-such-account', issuer: 'UNIQUE constraint failed', subject: 'duplicate key value violates unique constraint' }));
        expect(isUniqueViolation(unknownAccount)).to.equal(false);
        expect(unknownAccount).to.not.be.instanceOf(BrokerError);
      });

      it('record sign-ins with the latest hints and update accounts', async () => {
        const { account, identity } = await createAccountWithIdentity(store);
        clock.advance(5000);
        await store.identities.recordSignIn(identity.id, { emailHint: 'new@hotmail.example', nameHint: 'J' });
        expect(await store.identities.find(identity.id)).to.deep.include({ emailHint: 'new@hotmail.example', nameHint: 'J', lastSignInAt: clock.now() });
        expect((await store.identities.listByAccount(account.id)).map((item) => item.id)).to.deep.equal([identity.id]);
        await store.accounts.update(account.id, { name: 'Jane Doe', emailVerified: false });
        expect(await store.accounts.find(account.id)).to.deep.include({ name: 'Jane Doe', emailVerified: false, email: account.email });
      });
      it('keep the upstream an identity signs in through (none for identities from before several upstreams)', async () => {
        const { identity: older } = await createAccountWithIdentity(store);
        expect(older.upstreamId).to.equal(undefined);
        expect(await store.identities.find(older.id)).to.include({ upstreamId: undefined });
        const { identity } = await createAccountWithIdentity(store, { identity: { upstreamId: 'work' } });
        expect(await store.identities.find(identity.id)).to.include({ upstreamId: 'work' });
        await store.identities.recordSignIn(identity.id, { upstreamId: 'personal' });
        expect(await store.identities.find(identity.id)).to.include({ upstreamId: 'personal' });
        await store.identities.recordSignIn(identity.id, {});
        expect(await store.identities.find(identity.id)).to.include({ upstreamId: 'personal' });
      });

      it('remove an identity of its account unless it is the last; of 10 concurrent removals of two, one succeeds', async () => {
        const { account, identity } = await createAccountWithIdentity(store);
        const other = await createAccountWithIdentity(store);
        expect(await store.identities.removeUnlessLast(identity.id, account.id)).to.equal('last');
        expect(await store.identities.removeUnlessLast(other.identity.id, account.id), 'another account’s identity').to.equal('missing');
        const second = await store.identities.create(buildIdentity(account.id));
        expect(await store.identities.removeUnlessLast(second.id, account.id)).to.equal('removed');
        expect((await store.identities.listByAccount(account.id)).map((item) => item.id)).to.deep.equal([identity.id]);

        const third = await store.identities.create(buildIdentity(account.id));
        const outcomes = await Promise.all(Array.from({ length: 10 }, (_, index) => store.identities.removeUnlessLast(index % 2 === 0 ? identity.id : third.id, account.id)));
        expect(outcomes.filter((outcome) => outcome === 'removed')).to.have.length(1);
        expect(await store.identities.listByAccount(account.id)).to.have.length(1);
      });
    });

    describe('profile bindings', () => {
      it('bind a profile to at most one account: binding it again moves it', async () => {
        const profile = buildProfile({ portal: 'customersource' });
        await store.profiles.upsert(profile);
        const first = await createAccountWithIdentity(store);
        const second = await createAccountWithIdentity(store);
        const initial = await store.profileBindings.bind({ profileId: profile.id, accountId: first.account.id, identityId: first.identity.id, method: 'association' });
        expect(initial.previous).to.equal(undefined);
        const moved = await store.profileBindings.bind({ profileId: profile.id, accountId: second.account.id, identityId: second.identity.id, method: 'admin' });
        expect(moved.previous?.accountId).to.equal(first.account.id);
        expect(await store.profileBindings.listProfilesByAccount(first.account.id)).to.deep.equal([]);
        const bound = await store.profileBindings.listProfilesByAccount(second.account.id);
        expect(bound.map((item) => [item.id, item.binding.method])).to.deep.equal([[profile.id, 'admin']]);
      });

      it('bind one profile under 50 parallel binds from different accounts: no error, one binding, each move reporting the one it replaced', async () => {
        const profile = buildProfile({ portal: 'partnersource' });
        await store.profiles.upsert(profile);
        const accounts = await Promise.all(Array.from({ length: 50 }, () => createAccountWithIdentity(store)));
        const results = await Promise.all(accounts.map(({ account, identity }) => store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'association' })));
        const holders = (await Promise.all(accounts.map(({ account }) => store.profileBindings.listProfilesByAccount(account.id)))).filter((bound) => bound.length > 0);
        expect(holders).to.have.length(1);
        expect((await store.profileBindings.list({ profileId: profile.id })).total).to.equal(1);
        // The binds happened one after another: exactly one found the profile unbound.
        expect(results.filter((result) => result.previous === undefined)).to.have.length(1);
      });

      it('list an account’s profiles by portal, and all bindings by account, profile or email', async () => {
        const { account, identity } = await createAccountWithIdentity(store);
        const partner = buildProfile({ portal: 'partnersource', email: 'jane@contoso.example' });
        const customer = buildProfile({ portal: 'customersource', email: 'jane@contoso.example' });
        for (const profile of [partner, customer]) {
          await store.profiles.upsert(profile);
          await store.profileBindings.bind({ profileId: profile.id, accountId: account.id, identityId: identity.id, method: 'association' });
        }
        expect((await store.profileBindings.listProfilesByAccount(account.id, 'partnersource')).map((item) => item.id)).to.deep.equal([partner.id]);
        expect((await store.profileBindings.listProfilesByAccount(account.id)).map((item) => item.id)).to.deep.equal([partner.id, customer.id]);
        expect((await store.profileBindings.list({ accountId: account.id })).total).to.equal(2);
        expect((await store.profileBindings.list({ profileId: customer.id })).items[0]!.binding.accountId).to.equal(account.id);
        expect((await store.profileBindings.list({ email: 'jane@contoso.example', limit: 1 })).items).to.have.length(1);
        expect(await store.profileBindings.remove(partner.id)).to.equal(true);
        expect(await store.profileBindings.remove(partner.id)).to.equal(false);
      });
    });

    describe('profile choices', () => {
      it('remember one profile per account and portal, a later choice replacing it', async () => {
        const { account } = await createAccountWithIdentity(store);
        const [first, second, customer] = [buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'customersource' })];
        for (const profile of [first, second, customer]) await store.profiles.upsert(profile);
        expect(await store.profileChoices.find(account.id, 'partnersource')).to.equal(undefined);
        await store.profileChoices.choose(account.id, 'partnersource', first.id);
        await store.profileChoices.choose(account.id, 'customersource', customer.id);
        clock.advance(1000);
        const replaced = await store.profileChoices.choose(account.id, 'partnersource', second.id);
        expect(await store.profileChoices.find(account.id, 'partnersource')).to.deep.equal(replaced);
        expect(replaced).to.include({ profileId: second.id, chosenAt: clock.now() });
        expect((await store.profileChoices.find(account.id, 'customersource'))?.profileId).to.equal(customer.id);
        expect(await store.profileChoices.find(account.id, 'both')).to.equal(undefined);
      });

      it('end when the chosen profile is unbound, moved to another account or removed', async () => {
        const holder = await createAccountWithIdentity(store);
        const other = await createAccountWithIdentity(store);
        const portals = ['partnersource', 'customersource', 'both'] as const;
        const [unbound, moved, removed] = [buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'partnersource' }), buildProfile({ portal: 'partnersource' })];
        for (const [index, profile] of [unbound, moved, removed].entries()) {
          await store.profiles.upsert(profile);
          await store.profileBindings.bind({ profileId: profile.id, accountId: holder.account.id, identityId: holder.identity.id, method: 'admin' });
          await store.profileChoices.choose(holder.account.id, portals[index]!, profile.id);
        }
        // Bound again to the same account (an admin repeating a bind): the choice stays.
        await store.profileBindings.bind({ profileId: moved.id, accountId: holder.account.id, identityId: holder.identity.id, method: 'admin' });
        expect((await store.profileChoices.find(holder.account.id, 'customersource'))?.profileId).to.equal(moved.id);

        await store.profileBindings.remove(unbound.id);
        await store.profileBindings.bind({ profileId: moved.id, accountId: other.account.id, identityId: other.identity.id, method: 'admin' });
        await store.profiles.remove(removed.id);
        for (const portal of portals) expect(await store.profileChoices.find(holder.account.id, portal), portal).to.equal(undefined);
      });
    });

    describe('audit events', () => {
      it('are recorded and filtered by type, account, client and time, newest first', async () => {
        await store.auditEvents.record(buildAuditEvent({ accountId: 'a1', clientId: 'c1', ip: '127.0.0.1', details: { via: 'test' } }));
        clock.advance(60_000);
        await store.auditEvents.record(buildAuditEvent({ outcome: 'failure', clientId: 'c2' }));
        await store.auditEvents.record(buildAuditEvent({ type: 'binding.created', accountId: 'a1', profileId: 'p1' }));
        expect((await store.auditEvents.list({ type: 'sign_in' })).total).to.equal(2);
        const forAccount = await store.auditEvents.list({ accountId: 'a1' });
        expect(forAccount.items.map((event) => event.type)).to.deep.equal(['binding.created', 'sign_in']);
        expect(forAccount.items[1]!.details).to.deep.equal({ via: 'test' });
        expect((await store.auditEvents.list({ clientId: 'c2' })).items[0]!.outcome).to.equal('failure');
        expect((await store.auditEvents.list({ until: clock.now() - 1 })).total).to.equal(1);
        expect((await store.auditEvents.list({ since: clock.now() })).total).to.equal(2);
      });

      it('are kept for the retention period and swept after it (clock moved)', async () => {
        const before = (await store.auditEvents.list({ limit: 500 })).total;
        await store.auditEvents.record(buildAuditEvent({ accountId: 'retained' }));
        const day = 24 * 60 * 60 * 1000;
        clock.advance(30 * day);
        await store.auditEvents.record(buildAuditEvent({ accountId: 'recent' }));
        await store.sweepExpired({ auditRetentionMilliseconds: 31 * day });
        expect((await store.auditEvents.list({ accountId: 'retained' })).total).to.equal(1);
        clock.advance(2 * day);
        await store.sweepExpired({ auditRetentionMilliseconds: 31 * day });
        expect((await store.auditEvents.list({ accountId: 'retained' })).total).to.equal(0);
        expect((await store.auditEvents.list({ accountId: 'recent' })).total).to.equal(1);
        expect((await store.auditEvents.list({ limit: 500 })).total).to.be.lessThan(before + 2);
      });
    });

    describe('upstream transactions', () => {
      it('are used once: of 20 concurrent consumers exactly one gets the transaction', async () => {
        const transaction = buildUpstreamTransaction({ context: { maxAge: 60 }, expiresAt: clock.now() + 60_000 });
        await store.upstreamTransactions.create(transaction);
        expect(await store.upstreamTransactions.find(transaction.state)).to.deep.include({ interactionUid: transaction.interactionUid, codeVerifier: transaction.codeVerifier, context: { maxAge: 60 } });
        const results = await Promise.all(Array.from({ length: 20 }, () => store.upstreamTransactions.consume(transaction.state)));
        expect(results.filter((result) => result !== undefined)).to.have.length(1);
        expect(await store.upstreamTransactions.find(transaction.state)).to.equal(undefined);
      });

      it('expire at the clock’s now and are swept', async () => {
        const transaction = buildUpstreamTransaction({ expiresAt: clock.now() + 60_000 });
        await store.upstreamTransactions.create(transaction);
        clock.advance(60_001);
        expect(await store.upstreamTransactions.find(transaction.state)).to.equal(undefined);
        expect(await store.upstreamTransactions.consume(transaction.state)).to.equal(undefined);
        expect(await store.sweepExpired()).to.equal(1);
        expect(await database('upstream_transactions').count({ total: '*' })).to.deep.equal([{ total: 0 }]);
      });
    });

    describe('the sweep', () => {
      it('deletes every expired provider record, over several of its 1,000-row chunks, and keeps the live ones', async () => {
        // oidc-provider's records expire by real time.
        const expired = Array.from({ length: 2500 }, (_, index) => ({ type: 'AccessToken', id: `sweep-expired-${index}`, payload: '{}', expires_at: Date.now() - 1000 }));
        await database.batchInsert('oidc_payloads', expired, 500);
        await database('oidc_payloads').insert({ type: 'AccessToken', id: 'sweep-live', payload: '{}', expires_at: Date.now() + 3_600_000 });
        expect(await store.sweepExpired()).to.be.at.least(2500);
        expect(await database('oidc_payloads').where('id', 'like', 'sweep-expired-%').count({ total: '*' })).to.deep.equal([{ total: 0 }]);
        expect(await database('oidc_payloads').where({ id: 'sweep-live' }).count({ total: '*' })).to.deep.equal([{ total: 1 }]);
      });
    });

    describe('transactions', () => {
      it('write nothing when the work throws', async () => {
        const profile = buildProfile();
        await store
          .transaction(async (repositories) => {
            await repositories.profiles.upsert(profile);
            await repositories.auditEvents.record(buildAuditEvent());
            throw new Error('abort');
          })
          .catch(() => undefined);
        expect(await store.profiles.find(profile.id)).to.equal(undefined);
        expect((await store.auditEvents.list()).total).to.equal(0);
      });

      it('commit everything when the work succeeds', async () => {
        const profile = buildProfile();
        const result = await store.transaction(async (repositories) => {
          await repositories.profiles.upsert(profile);
          return repositories.profiles.find(profile.id);
        });
        expect(result?.id).to.equal(profile.id);
        expect(await store.profiles.find(profile.id)).to.not.equal(undefined);
      });
    });
  });
}
