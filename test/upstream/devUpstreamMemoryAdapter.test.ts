// The dev upstream's in-process storage: the adapter contract oidc-provider
// relies on, with lookups by uid and user code that follow every change.
import { expect } from 'chai';
import type { AdapterPayload } from 'oidc-provider';
import { createMemoryAdapter } from '../../src/upstream/devUpstreamMemoryAdapter.ts';

describe('the dev upstream memory adapter', () => {
  const session = (uid: string, extra: Partial<AdapterPayload> = {}): AdapterPayload => ({ kind: 'Session', uid, accountId: 'someone', ...extra });

  it('finds a record by id, uid and user code, as a copy the caller may change', async () => {
    const Adapter = createMemoryAdapter();
    const sessions = new Adapter('Session');
    await sessions.upsert('s1', session('uid-1', { userCode: 'CODE-1' }), 60);
    const found = await sessions.find('s1');
    expect(found).to.deep.equal(session('uid-1', { userCode: 'CODE-1' }));
    found!.accountId = 'changed';
    expect((await sessions.findByUid('uid-1'))?.accountId).to.equal('someone');
    expect((await sessions.findByUserCode('CODE-1'))?.uid).to.equal('uid-1');
  });

  it('keeps models apart and forgets an old uid when a record is saved with a new one', async () => {
    const Adapter = createMemoryAdapter();
    const sessions = new Adapter('Session');
    await sessions.upsert('s1', session('uid-1'), 60);
    expect(await new Adapter('Interaction').findByUid('uid-1')).to.equal(undefined);
    await sessions.upsert('s1', session('uid-2'), 60);
    expect(await sessions.findByUid('uid-1')).to.equal(undefined);
    expect((await sessions.findByUid('uid-2'))?.uid).to.equal('uid-2');
  });

  it('forgets destroyed, expired and revoked records, in every lookup', async () => {
    const Adapter = createMemoryAdapter();
    const tokens = new Adapter('AccessToken');
    await tokens.upsert('gone', session('uid-gone'), 60);
    await tokens.destroy('gone');
    expect(await tokens.findByUid('uid-gone')).to.equal(undefined);
    await tokens.upsert('expired', session('uid-expired'), -1);
    expect(await tokens.findByUid('uid-expired')).to.equal(undefined);
    await tokens.upsert('revoked', session('uid-revoked', { grantId: 'grant-1' }), 60);
    await tokens.upsert('kept', session('uid-kept', { grantId: 'grant-2' }), 60);
    await tokens.revokeByGrantId('grant-1');
    expect(await tokens.find('revoked')).to.equal(undefined);
    expect(await tokens.findByUid('uid-revoked')).to.equal(undefined);
    expect((await tokens.findByUid('uid-kept'))?.grantId).to.equal('grant-2');
  });

  it('stays bounded: the oldest records make room, and their uids go with them', async () => {
    const Adapter = createMemoryAdapter();
    const interactions = new Adapter('Interaction');
    for (let index = 0; index < 10_001; index += 1) await interactions.upsert(`i${index}`, session(`uid-${index}`), 60);
    expect(await interactions.findByUid('uid-0')).to.equal(undefined);
    expect((await interactions.findByUid('uid-10000'))?.uid).to.equal('uid-10000');
  });
});
