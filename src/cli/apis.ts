// `mbs-broker apis …`: registering the portals' APIs as resource servers
// (RFC 8707), through the API administration service the admin API uses;
// --json prints the admin API's shape.
import { type Command, Option } from 'commander';
import type { ApiChanges } from '../admin/apiAdministration.ts';
import { apiJson } from '../admin/recordJson.ts';
import { accessTokenFormats, type AccessTokenFormat, type ResourceServerRecord } from '../domain/records.ts';
import { administer, collect, integer, outputFor } from './context.ts';

interface ApiOptions {
  name?: string;
  scope?: string[];
  tokenFormat?: AccessTokenFormat;
  accessTokenTtl?: number;
  client?: string[];
  noClients?: boolean;
}

function describeApi(api: ResourceServerRecord): string {
  return [
    `identifier:          ${api.identifier}`,
    `name:                ${api.name}`,
    `scopes:              ${api.scopes.join(' ')}`,
    `token format:        ${api.tokenFormat}`,
    `access token TTL:    ${api.accessTokenTtl} s`,
    `allowed clients:     ${api.allowedClients.length > 0 ? api.allowedClients.join(', ') : '—'}`,
  ].join('\n');
}

/** The options add and update share; add makes --name and --scope mandatory. */
function apiOptions(command: Command, adding: boolean): Command {
  return command
    .addOption(new Option('--name <name>', 'display name').makeOptionMandatory(adding))
    .addOption(new Option('--scope <scope>', 'a scope the API accepts (repeatable)').argParser(collect as (value: string, previous: string[]) => string[]).makeOptionMandatory(adding))
    .addOption(new Option('--token-format <format>', 'jwt (RFC 9068, the default) or opaque (introspected)').choices([...accessTokenFormats]))
    .option('--access-token-ttl <seconds>', 'lifetime of its access tokens (default 300)', integer)
    .option('--client <clientId>', 'a client that may get tokens for it by client credentials or token exchange (repeatable)', collect);
}

const changesOf = (options: ApiOptions): ApiChanges => ({
  ...(options.name !== undefined ? { name: options.name } : {}),
  ...(options.scope ? { scopes: options.scope } : {}),
  ...(options.tokenFormat ? { tokenFormat: options.tokenFormat } : {}),
  ...(options.accessTokenTtl !== undefined ? { accessTokenTtl: options.accessTokenTtl } : {}),
  ...(options.client ? { allowedClients: options.client } : options.noClients ? { allowedClients: [] } : {}),
});

export function registerApis(program: Command): void {
  const apis = program.command('apis').description('register the portals’ APIs as resource servers (audience-restricted access tokens)');
  apiOptions(apis.command('add <identifier>').description('register an API; <identifier> is its resource URI (the tokens’ aud)'), true).action(
    async (identifier: string, options: ApiOptions, command: Command) => {
      const api = await administer((services) => services.apis.register({ identifier, name: options.name!, scopes: options.scope!, ...changesOf(options) }));
      outputFor(command)(apiJson(api), () => describeApi(api));
    },
  );
  apiOptions(apis.command('update <identifier>').description('change an API; lists given replace the stored ones'), false)
    .option('--no-clients', 'allow no client to get tokens without a person')
    .action(async (identifier: string, options: ApiOptions & { clients?: boolean }, command: Command) => {
      const api = await administer((services) => services.apis.update(identifier, changesOf({ ...options, noClients: options.clients === false })));
      outputFor(command)(apiJson(api), () => describeApi(api));
    });
  apis
    .command('list')
    .description('list registered APIs')
    .action(async (_options, command: Command) => {
      const list = await administer((services) => services.apis.list());
      outputFor(command)(list.map(apiJson), () => (list.length === 0 ? 'no APIs' : list.map((api) => `${api.identifier}\t${api.tokenFormat}\t${api.scopes.join(' ')}\t${api.name}`).join('\n')));
    });
  apis
    .command('show <identifier>')
    .description('show one API')
    .action(async (identifier: string, _options, command: Command) => {
      const api = await administer((services) => services.apis.show(identifier));
      outputFor(command)(apiJson(api), () => describeApi(api));
    });
  apis
    .command('remove <identifier>')
    .description('remove an API; tokens already issued for it live until they expire')
    .action(async (identifier: string, _options, command: Command) => {
      await administer((services) => services.apis.remove(identifier));
      outputFor(command)({ removed: identifier }, () => `removed ${identifier}`);
    });
}
