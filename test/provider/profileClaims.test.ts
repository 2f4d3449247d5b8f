// The `mbs_profiles` scope's claims: the profiles as objects, and string-valued
// companions (`mbs_profile_ids`, `mbs_roles`) that survive relying parties
// which flatten claims into strings, such as mod_auth_openidc.
import { expect } from 'chai';
import * as client from 'openid-client';
import { profileClaimsOf } from '../../src/provider/provider.ts';
import { startBroker, type RunningBroker } from '../support/broker.ts';
import { buildProfile } from '../support/factories.ts';
import { bindDevAccount, Person, registerPortal, type Portal } from '../support/journey.ts';

describe('the mbs_profiles claims', function () {
  this.timeout(60_000);

  it('qualifies every role by its profile and lists the ids, in the order of the profiles', () => {
    const now = Date.now();
    const claims = profileClaimsOf([
      { ...buildProfile({ id: 'PS-1', roles: ['admin', 'billing'] }), createdAt: now, updatedAt: now },
      { ...buildProfile({ id: 'PS-2', roles: [] }), createdAt: now, updatedAt: now },
    ]);
    expect(claims.mbs_profile_ids).to.deep.equal(['PS-1', 'PS-2']);
    expect(claims.mbs_roles).to.deep.equal(['PS-1:admin', 'PS-1:billing']);
    expect(claims.mbs_profiles).to.have.length(2);
    expect(profileClaimsOf([])).to.deep.equal({ mbs_profiles: [], mbs_profile_ids: [], mbs_roles: [] });
  });

  describe('through a sign-in', () => {
    let running: RunningBroker;
    let partnerSource: Portal;
    const partnerProfiles = [
      buildProfile({ id: 'PS-CLAIMS-1', portal: 'partnersource', roles: ['partner-admin', 'billing'] }),
      buildProfile({ id: 'PS-CLAIMS-2', portal: 'partnersource', roles: ['partner-member'] }),
    ];
    const customerProfile = buildProfile({ id: 'CS-CLAIMS-1', portal: 'customersource', roles: ['customer-admin'] });

    before(async () => {
      running = await startBroker();
      // Today's list alone: the profile picker and mbs_profile have their own tests (test/flows/profilePicker.test.ts).
      partnerSource = await registerPortal(running, 'partnersource', { profileSelection: 'all' });
      await bindDevAccount(running, 'claims-holder', [...partnerProfiles, customerProfile], running.broker.store);
    });
    after(() => running.stop());

    it('are announced in discovery', async () => {
      const discovery = (await (await fetch(`${running.issuer}/.well-known/openid-configuration`)).json()) as { claims_supported: string[]; scopes_supported: string[] };
      expect(discovery.claims_supported).to.include.members(['mbs_profiles', 'mbs_profile_ids', 'mbs_roles', 'mbs_profile', 'mbs_profile_id', 'mbs_profile_roles']);
      expect(discovery.scopes_supported).to.include('mbs_profiles');
    });

    it('give the asking portal its profiles as strings: ids, and roles qualified by profile', async () => {
      const person = new Person('claims-holder');
      const signIn = await person.startSignIn(partnerSource);
      expect(signIn.location, signIn.page?.body).to.not.equal(undefined);
      const tokens = await signIn.tokens(signIn.location!);
      const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
      expect(userinfo.mbs_profile_ids).to.deep.equal(['PS-CLAIMS-1', 'PS-CLAIMS-2']);
      expect(userinfo.mbs_roles).to.deep.equal(['PS-CLAIMS-1:partner-admin', 'PS-CLAIMS-1:billing', 'PS-CLAIMS-2:partner-member']);
      expect((userinfo.mbs_profiles as Array<{ id: string }>).map((profile) => profile.id)).to.deep.equal(['PS-CLAIMS-1', 'PS-CLAIMS-2']);
      // A portal registered with `all` gets the list alone: no picked profile.
      expect(userinfo).to.not.have.any.keys('mbs_profile', 'mbs_profile_id', 'mbs_profile_roles');
      // Every value is a string: what flattening relying parties can pass on.
      for (const name of ['mbs_profile_ids', 'mbs_roles']) for (const value of userinfo[name] as unknown[]) expect(value).to.be.a('string');
    });

    it('are in the ID token of a code flow too, and of its refresh, for relying parties that read only the ID token', async () => {
      const person = new Person('claims-holder');
      const signIn = await person.startSignIn(partnerSource, { scope: 'openid email mbs_profiles offline_access', prompt: 'consent' });
      const tokens = await signIn.tokens(signIn.location!);
      const claims = tokens.claims()!;
      expect(claims.mbs_profile_ids).to.deep.equal(['PS-CLAIMS-1', 'PS-CLAIMS-2']);
      expect(claims.mbs_roles).to.deep.equal(['PS-CLAIMS-1:partner-admin', 'PS-CLAIMS-1:billing', 'PS-CLAIMS-2:partner-member']);
      expect((claims.mbs_profiles as Array<{ id: string }>).map((profile) => profile.id)).to.deep.equal(['PS-CLAIMS-1', 'PS-CLAIMS-2']);
      expect(claims).to.include.keys('email', 'email_verified');
      const refreshed = await client.refreshTokenGrant(partnerSource.configuration, tokens.refresh_token!);
      expect(refreshed.claims()!.mbs_profile_ids).to.deep.equal(['PS-CLAIMS-1', 'PS-CLAIMS-2']);
    });

    it('are absent without the mbs_profiles scope', async () => {
      const person = new Person('claims-holder');
      const signIn = await person.startSignIn(partnerSource, { scope: 'openid email' });
      const tokens = await signIn.tokens(signIn.location!);
      const userinfo = await client.fetchUserInfo(partnerSource.configuration, tokens.access_token, client.skipSubjectCheck);
      expect(userinfo).to.not.have.any.keys('mbs_profiles', 'mbs_profile_ids', 'mbs_roles', 'mbs_profile');
      expect(tokens.claims()).to.not.have.any.keys('mbs_profiles', 'mbs_profile_ids', 'mbs_roles', 'name');
      expect(tokens.claims()).to.include({ email: userinfo.email });
    });
  });
});
