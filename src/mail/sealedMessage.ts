// How an outbox message's bodies are kept at rest: both parts (HTML and
// text: each carries the association link) sealed together under the
// outbox's key, bound to the message id, and gone once SMTP accepted the
// message. The outbox and the migration that sealed the older rows share it.
import { createSealer, type Sealer } from '../sealing.ts';

export interface MessageBodies {
  html: string;
  text: string;
}

/** The sealer of outbox bodies under KEY_ENCRYPTION_KEY. */
export const outboxSealer = (keyEncryptionKey: string): Sealer => createSealer(keyEncryptionKey, 'outbox-message');

export const sealBodies = (sealer: Sealer, messageId: string, bodies: MessageBodies): string => sealer.seal(JSON.stringify({ html: bodies.html, text: bodies.text }), messageId);

export function openBodies(sealer: Sealer, messageId: string, sealed: string): MessageBodies {
  const bodies = JSON.parse(sealer.open(sealed, messageId)) as Partial<MessageBodies>;
  return { html: String(bodies.html ?? ''), text: String(bodies.text ?? '') };
}
