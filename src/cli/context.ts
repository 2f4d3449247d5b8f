// What every command of the command line shares: --json or human output,
// the administration services for the configured store, option parsers, and
// the error for a refusal of the command line itself.
import { type Command, InvalidArgumentError } from 'commander';
import type { AdminServices } from '../admin/adminServices.ts';
import { withAdministration } from '../assembly/administration.ts';
import { loadConfig } from '../config/config.ts';
import { errorMessage, type ErrorMessageKey } from '../errors.ts';
import type { MessageValues } from '../i18n.ts';

export interface GlobalOptions {
  json?: boolean;
}

/** Prints `value` as JSON with --json, else the human text. */
export type Output = (value: unknown, human: () => string) => void;

export function outputFor(command: Command): Output {
  const { json } = command.optsWithGlobals<GlobalOptions>();
  return (value, human) => {
    process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  };
}

/** Runs `work` over the administration services of the configured store (acting as 'cli'). */
export function administer<Result>(work: (services: AdminServices) => Promise<Result>): Promise<Result> {
  return withAdministration(loadConfig(), work);
}

/** A refusal of the command line (exit code 1, the message on stderr). */
export class CliError extends Error {
  constructor(messageKey: ErrorMessageKey, values?: MessageValues) {
    super(errorMessage(messageKey, values));
  }
}

/** Repeatable options collect into a list. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const integer = (value: string): number => Number.parseInt(value, 10);

export function parseTime(value: string): number {
  const time = Date.parse(value);
  if (Number.isNaN(time) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new InvalidArgumentError(errorMessage('error.cli.time_expected'));
  return time;
}

/** A page of items, one line each, and a count line. */
export const pageText = <Item>(page: { items: Item[]; total: number }, line: (item: Item) => string): string => [...page.items.map(line), `(${page.items.length} of ${page.total})`].join('\n');
