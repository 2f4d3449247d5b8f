import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { ManualClock } from '../../src/clock.ts';
import { BrokerError } from '../../src/errors.ts';
import { allowedTransitions, assertFlowValid, statesLeadingTo } from '../../src/flows/associationFlow.ts';
import type { AssociationFlowRecord } from '../../src/domain/records.ts';

const flow = (overrides: Partial<AssociationFlowRecord> = {}): AssociationFlowRecord => ({
  id: 'flow-1',
  state: 'email_requested',
  interactionUid: 'uid-1',
  clientId: 'portal',
  issuer: 'https://login.example',
  subject: 'subject-1',
  upstreamId: undefined,
  email: undefined,
  createdAt: 0,
  updatedAt: 0,
  expiresAt: Date.UTC(2026, 0, 1, 1),
  ...overrides,
});

describe('the association flow state machine', () => {
  it('allows only the drawn transitions: bound is reached from links_sent alone', () => {
    expect(statesLeadingTo('bound')).to.deep.equal(['links_sent']);
    expect(statesLeadingTo('links_sent')).to.deep.equal(['email_requested', 'links_sent', 'bound']);
    expect(allowedTransitions.expired).to.deep.equal([]);
  });

  it('draws every allowed transition in the Mermaid diagram beside the code', () => {
    const diagram = readFileSync(new URL('../../src/flows/associationFlow.mermaid', import.meta.url), 'utf8');
    for (const [from, targets] of Object.entries(allowedTransitions)) {
      for (const to of targets) expect(diagram, `${from} --> ${to}`).to.contain(`${from} --> ${to}`);
    }
  });

  it('accepts a live flow and refuses a missing, expired or ended one at the clock’s now', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    expect(() => assertFlowValid(flow(), clock)).to.not.throw();
    expect(() => assertFlowValid(undefined, clock)).to.throw(BrokerError, /could not be found/);
    expect(() => assertFlowValid(flow({ state: 'cancelled' }), clock)).to.throw(BrokerError, /has ended/);
    clock.advance(60 * 60 * 1000);
    expect(() => assertFlowValid(flow(), clock)).to.throw(BrokerError, /expired/);
  });
});
