// The first-login association flow as an explicit state machine over its
// stored record (see associationFlow.mermaid beside this file): which moves
// are allowed, and the validity check every handler starts with.
import type { Clock } from '../clock.ts';
import { BrokerError } from '../errors.ts';
import type { AssociationFlowRecord, AssociationFlowState } from '../domain/records.ts';

/** For each state, the states it may move to. */
export const allowedTransitions: Record<AssociationFlowState, readonly AssociationFlowState[]> = {
  email_requested: ['links_sent', 'expired', 'cancelled'],
  links_sent: ['links_sent', 'bound', 'expired', 'cancelled'],
  bound: ['links_sent'],
  expired: [],
  cancelled: [],
};

/** The states from which `to` can be reached: the `from` of a conditional update. */
export function statesLeadingTo(to: AssociationFlowState): AssociationFlowState[] {
  return (Object.keys(allowedTransitions) as AssociationFlowState[]).filter((state) => allowedTransitions[state].includes(to));
}

export const isTerminal = (state: AssociationFlowState): boolean => allowedTransitions[state].length === 0;

/**
 * Throws unless the flow exists, is not in a terminal state and has not
 * expired at the clock's now.
 */
export function assertFlowValid(flow: AssociationFlowRecord | undefined, clock: Clock): asserts flow is AssociationFlowRecord {
  if (!flow) {
    throw new BrokerError('session_expired', 'error.flow_missing', { detail: 'no flow' });
  }
  if (isTerminal(flow.state)) {
    throw new BrokerError('session_expired', 'error.flow_ended', { detail: `flow ${flow.id} is ${flow.state}` });
  }
  if (flow.expiresAt <= clock.now()) {
    throw new BrokerError('session_expired', 'error.flow_expired', { detail: `flow ${flow.id} expired at ${flow.expiresAt}` });
  }
}
