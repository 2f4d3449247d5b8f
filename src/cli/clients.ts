// `mbs-broker clients …`: registering and managing relying parties, through
// the client administration service the admin API uses; --json prints the
// admin API's client shape.
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { grantTypes, isPublicClient, type GrantType, type NewClient } from '../admin/clientAdministration.ts';
import { clientJson } from '../admin/recordJson.ts';
import { loadConfig } from '../config/config.ts';
import { fapiProfiles, profileSelections, subjectTypes, type ClientPortal, type ClientRecord, type FapiProfile, type ProfileSelection, type SubjectType } from '../domain/records.ts';
import { administer, CliError, collect, integer, outputFor } from './context.ts';

const portalOption = (description: string) => new Option('--portal <portal>', description).choices(['partnersource', 'customersource', 'both']).makeOptionMandatory();

interface AddOptions {
  redirectUri: string[];
  portal: ClientPortal;
  id?: string;
  name?: string;
  postLogoutRedirectUri?: string[];
  grantType?: GrantType[];
  public?: boolean;
  firstParty?: boolean;
  backchannelLogoutUri?: string;
  profileSelection?: ProfileSelection;
  dpopBoundAccessTokens?: boolean;
  subjectType?: SubjectType;
  requirePushedAuthorizationRequests?: boolean;
  fapiProfile?: FapiProfile;
  jwks?: string;
  jwksUri?: string;
}

/** How the client authenticates, for `clients show`. */
function clientType(client: ClientRecord): string {
  if (isPublicClient(client)) return 'public (PKCE)';
  return client.secretHash ? 'confidential (client_secret_basic)' : 'confidential (private_key_jwt)';
}

/** The public JWK Set in the file `--jwks` names. */
function readKeySet(file: string): NewClient['jwks'] {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as NewClient['jwks'];
  } catch {
    throw new CliError('error.cli.file_unreadable', { file });
  }
}

/** The registration options of `clients add` beyond the basics: PAR, FAPI 2.0 and the client's keys. */
function protocolOptions(options: AddOptions): Partial<NewClient> {
  return {
    ...(options.requirePushedAuthorizationRequests ? { requirePushedAuthorizationRequests: true } : {}),
    ...(options.fapiProfile ? { fapiProfile: options.fapiProfile } : {}),
    ...(options.jwks ? { jwks: readKeySet(options.jwks) } : {}),
    ...(options.jwksUri ? { jwksUri: options.jwksUri } : {}),
  };
}

function describeClient(client: ClientRecord): string {
  const metadata = client.metadata;
  const list = (value: unknown): string => (Array.isArray(value) && value.length > 0 ? value.join(', ') : '—');
  return [
    `client_id:                 ${client.id}`,
    `name:                      ${typeof metadata.client_name === 'string' ? metadata.client_name : '—'}`,
    `portal:                    ${client.portal}`,
    `first party:               ${client.firstParty ? 'yes' : 'no'}`,
    `type:                      ${clientType(client)}`,
    `redirect URIs:             ${list(metadata.redirect_uris)}`,
    `post-logout redirect URIs: ${list(metadata.post_logout_redirect_uris)}`,
    `grant types:               ${list(metadata.grant_types)}`,
    `back-channel logout URI:   ${typeof metadata.backchannel_logout_uri === 'string' ? metadata.backchannel_logout_uri : '—'}`,
    `profile selection:         ${metadata.profile_selection === 'all' ? 'all' : 'ask'}`,
    `subject type:              ${metadata.subject_type === 'pairwise' ? 'pairwise (one sub per portal)' : 'public'}`,
    `pushed authorization:      ${metadata.require_pushed_authorization_requests === true ? 'required' : 'optional'}`,
    `FAPI profile:              ${typeof metadata.fapi_profile === 'string' ? metadata.fapi_profile : '—'}`,
    `DPoP required:             ${metadata.dpop_bound_access_tokens === true ? 'yes' : 'no'}`,
  ].join('\n');
}

const secretShownOnce = 'Store the secret now: it is shown only once.';

export function registerClients(program: Command): void {
  const clients = program.command('clients').description('register and manage relying parties');
  registerAdd(clients);
  clients
    .command('list')
    .description('list registered clients')
    .action(async (_options, command: Command) => {
      const list = await administer((services) => services.clients.list());
      outputFor(command)(list.map(clientJson), () =>
        list.length === 0 ? 'no clients' : list.map((client) => `${client.id}\t${client.portal}\t${isPublicClient(client) ? 'public' : 'confidential'}\t${String(client.metadata.client_name ?? '')}`).join('\n'),
      );
    });
  clients
    .command('show <clientId>')
    .description('show one client')
    .action(async (clientId: string, _options, command: Command) => {
      const client = await administer((services) => services.clients.show(clientId));
      outputFor(command)(clientJson(client), () => describeClient(client));
    });
  clients
    .command('remove <clientId>')
    .description('remove a client; its tokens stop working')
    .action(async (clientId: string, _options, command: Command) => {
      await administer((services) => services.clients.remove(clientId));
      outputFor(command)({ removed: clientId }, () => `removed ${clientId}`);
    });
  clients
    .command('rotate-secret <clientId>')
    .description('replace a confidential client’s secret (printed once)')
    .action(async (clientId: string, _options, command: Command) => {
      const { client, clientSecret } = await administer((services) => services.clients.rotateSecret(clientId));
      outputFor(command)({ ...clientJson(client), client_secret: clientSecret }, () => `client_secret: ${clientSecret}\n\n${secretShownOnce}`);
    });
  registerInitialAccessToken(clients);
}

function registerAdd(clients: Command): void {
  clients
    .command('add')
    .description('register a client; a confidential client’s secret is printed once')
    .requiredOption('--redirect-uri <uri>', 'redirect URI (repeatable)', collect)
    .addOption(portalOption('portal of the client'))
    .option('--id <clientId>', 'client id (default: a random UUID)')
    .option('--name <name>', 'display name')
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeatable)', collect)
    .addOption(new Option('--grant-type <grant>', 'grant type (repeatable; default authorization_code and refresh_token)').choices([...grantTypes]).argParser(collect as (value: string, previous: string[]) => string[]))
    .option('--public', 'public client (no secret, PKCE required)')
    .option('--first-party', 'first-party client (no consent screen)')
    .option('--backchannel-logout-uri <uri>', 'where the client hears of sign-outs (OpenID Connect Back-Channel Logout)')
    .addOption(new Option('--profile-selection <selection>', 'ask: a person with several profiles of the portal picks one (mbs_profile); all: the list alone').choices([...profileSelections]).default('ask'))
    .addOption(new Option('--subject-type <type>', 'public: sub is the broker account id; pairwise: one sub per portal (OpenID Connect Core §8.1)').choices([...subjectTypes]).default('public'))
    .option('--require-pushed-authorization-requests', 'refuse plain authorization requests: only pushed ones (RFC 9126)')
    .addOption(new Option('--fapi-profile <profile>', 'hold the client to the FAPI 2.0 Security Profile (needs --jwks or --jwks-uri)').choices([...fapiProfiles]))
    .option('--jwks <file>', 'a JSON file with the client’s public keys (JWK Set): it authenticates with private_key_jwt and gets no secret')
    .option('--jwks-uri <uri>', 'where the client publishes its public keys (instead of --jwks)')
    .option('--dpop-bound-access-tokens', 'every token request must carry a DPoP proof; tokens bound to its key (RFC 9449)')
    .action(async (options: AddOptions, command: Command) => {
      const { client, clientSecret } = await administer((services) =>
        services.clients.register({
          id: options.id,
          name: options.name,
          portal: options.portal,
          redirectUris: options.redirectUri,
          postLogoutRedirectUris: options.postLogoutRedirectUri ?? [],
          grantTypes: options.grantType,
          public: options.public ?? false,
          firstParty: options.firstParty ?? false,
          ...(options.backchannelLogoutUri ? { backchannelLogoutUri: options.backchannelLogoutUri } : {}),
          ...(options.profileSelection ? { profileSelection: options.profileSelection } : {}),
          ...(options.subjectType ? { subjectType: options.subjectType } : {}),
          ...protocolOptions(options),
          ...(options.dpopBoundAccessTokens ? { dpopBoundAccessTokens: true } : {}),
        }),
      );
      outputFor(command)({ ...clientJson(client), ...(clientSecret ? { client_secret: clientSecret } : {}) }, () =>
        [describeClient(client), ...(clientSecret ? [`client_secret:             ${clientSecret}`, '', secretShownOnce] : [])].join('\n'),
      );
    });
}

function registerInitialAccessToken(clients: Command): void {
  clients
    .command('initial-access-token')
    .description('issue an initial access token for dynamic client registration (RFC 7591); printed once')
    .addOption(portalOption('portal of the clients registered with it'))
    .option('--expires-in <seconds>', 'lifetime in seconds', integer, 86_400)
    .action(async (options: { portal: ClientPortal; expiresIn: number }, command: Command) => {
      if (!Number.isInteger(options.expiresIn) || options.expiresIn < 60) throw new InvalidArgumentError('--expires-in must be at least 60 seconds');
      const issued = await administer((services) => services.initialAccessTokens.issue(options.portal, options.expiresIn));
      const expiresAt = new Date(issued.expiresAt).toISOString();
      const registration = `${loadConfig().issuer.replace(/\/$/, '')}/reg`;
      outputFor(command)({ initial_access_token: issued.token, portal: options.portal, expires_at: expiresAt }, () =>
        [`initial access token (shown once): ${issued.token}`, `portal: ${options.portal}`, `expires: ${expiresAt}`, `register at ${registration} with Authorization: Bearer <token>`].join('\n'),
      );
    });
}
