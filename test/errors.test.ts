// The error catalogue: a BrokerError says a catalogue key, its public message
// is that key's English text (JSON and the CLI) and its page text the same
// key in the reader's language; and no code under src/ says an error in a
// literal of its own (a scan of every error construction, so a new one cannot
// slip back in).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { z } from 'zod';
import { BrokerError, clientNotFound, formExpired, invalidInput, sessionExpired } from '../src/errors.ts';
import { catalogue, translator } from '../src/i18n.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const english = catalogue('en');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The top-level arguments of the call whose `(` is at `open`, as written (strings and nesting respected). */
function callArguments(text: string, open: number): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let index = open; index < text.length; index += 1) {
    const character = text[index]!;
    if (character === "'" || character === '"' || character === '`') {
      const end = text.indexOf(character, index + 1);
      index = end;
      continue;
    }
    if ('([{'.includes(character)) depth += 1;
    if (')]}'.includes(character)) depth -= 1;
    if (depth === 1 && character === ',') {
      parts.push(text.slice(start, index).trim());
      start = index + 1;
    }
    if (depth === 0) {
      parts.push(text.slice(start, index).trim());
      return parts.filter((part) => part !== '');
    }
  }
  return parts;
}

/** Each error construction and which argument is its message. */
const constructions: { pattern: RegExp; messageArgument: number }[] = [
  { pattern: /new BrokerError\(/g, messageArgument: 1 },
  { pattern: /\bsuper\('[a-z_]+',/g, messageArgument: 1 },
  { pattern: /\b(?:invalidRequest|notFound|conflict|invalidConfiguration|upstreamError|errorMessage)\(/g, messageArgument: 0 },
  { pattern: /\bserverError\(/g, messageArgument: 1 },
  { pattern: /new CliError\(/g, messageArgument: 0 },
];

interface Finding {
  file: string;
  call: string;
  problem: string;
}

/** The error constructions of one file whose message is not an error key of the catalogue. */
function literalMessagesIn(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  for (const { pattern, messageArgument } of constructions) {
    for (const match of text.matchAll(pattern)) {
      const args = callArguments(text, match.index + match[0].lastIndexOf('('));
      const message = args[messageArgument];
      const call = text.slice(match.index, match.index + 100).split('\n')[0]!;
      if (message === undefined) continue;
      if (message.startsWith('`')) findings.push({ file, call, problem: 'a template literal message' });
      const literal = /^'([^']*)'$/.exec(message)?.[1];
      if (literal !== undefined && !(literal.startsWith('error.') && literal in english)) findings.push({ file, call, problem: `'${literal}' is not an error key of views/locales/en.json` });
      if (args.some((argument) => /\bmessageKey:/.test(argument))) findings.push({ file, call, problem: 'a messageKey option beside a message' });
    }
  }
  for (const match of text.matchAll(/error_description: ['`]/g)) {
    findings.push({ file, call: text.slice(match.index, match.index + 80), problem: 'an error_description written in code' });
  }
  return findings;
}

describe('the error catalogue', () => {
  it('has no error in src/ say a literal: every message is an error key of the catalogue', () => {
    const findings = sourceFiles(join(root, 'src'))
      .map((path) => ({ path, file: relative(root, path) }))
      .filter(({ file }) => file !== 'src/errors.ts')
      .flatMap(({ path, file }) => literalMessagesIn(file, readFileSync(path, 'utf8')));
    expect(findings).to.deep.equal([]);
  });

  it('finds the literal messages a change could bring back (the scan above can fail)', () => {
    const text = [
      "throw new BrokerError('conflict', `Profile ${id} was unbound`, { detail });",
      "throw notFound('No such thing');",
      "throw invalidRequest('error.client_gone', { detail: 'a detail may be literal', messageKey: 'error.client_gone' });",
      "ctx.body = { error: 'unauthorized', error_description: 'Go away.' };",
      "throw serverError('held connection', 'error.email_unprepared');",
      "throw conflict('error.client_exists', { messageValues: { id: f(a, ')') } });",
    ].join('\n');
    expect(literalMessagesIn('sample.ts', text).map((finding) => finding.problem)).to.deep.equal([
      'a template literal message',
      "'No such thing' is not an error key of views/locales/en.json",
      'a messageKey option beside a message',
      'an error_description written in code',
    ]);
  });

  it('gives the English text of the key as the public message, and the reader’s language on request', () => {
    const error = clientNotFound('customer-portal');
    expect(error).to.include({ code: 'not_found', status: 404, messageKey: 'error.client_not_found', publicMessage: 'No client with id customer-portal' });
    expect(error.message).to.equal(error.publicMessage);
    expect(error.toJSON()).to.deep.equal({ error: 'not_found', error_description: translator('en').t('error.client_not_found', { id: 'customer-portal' }) });
    expect(error.messageIn('de')).to.equal(translator('de').t('error.client_not_found', { id: 'customer-portal' })).and.to.contain('customer-portal');
    expect(error.messageIn('fr')).to.equal(translator('fr').t('error.client_not_found', { id: 'customer-portal' }));
  });

  it('keeps the wire codes and statuses of the named errors', () => {
    expect(sessionExpired('gone')).to.include({ code: 'session_expired', status: 400, detail: 'gone', publicMessage: english['error.session_expired'] });
    expect(formExpired('link', 'csrf')).to.include({ code: 'forbidden', status: 403, publicMessage: english['error.link_form_expired'] });
    expect(new BrokerError('rate_limited', 'error.rate_limited', { messageValues: { minutes: 7 } }).publicMessage).to.contain('7 minutes');
  });

  it('puts the catalogue’s headline around the validator’s own field messages', () => {
    const parsed = z.object({ id: z.string(), portal: z.enum(['partnersource', 'customersource']) }).safeParse({ id: 3, portal: 'x' });
    if (parsed.success) throw new Error('the schema should refuse');
    const error = invalidInput('client', parsed.error.issues, 'body');
    expect(error.code).to.equal('invalid_request');
    expect(Object.keys(error.fields ?? {})).to.deep.equal(['body.id', 'body.portal']);
    const problems = Object.entries(error.fields!).map(([field, message]) => `${field}: ${message}`).join('; ');
    expect(error.publicMessage).to.equal(translator('en').t('error.invalid_input.client', { problems }));
    expect(error.messageIn('fr')).to.equal(translator('fr').t('error.invalid_input.client', { problems })).and.to.match(/^Client non valide/);
  });
});
