// `mbs-broker admins …`: who may use the admin console and the admin API,
// through the same AdminAccess service the console uses (each change one
// transaction with its audit event): roles per broker account, invitations
// by email (queued in the outbox for the broker to send), and admin API
// tokens with a role (shown once, stored hashed).
import { type Command, InvalidArgumentError } from 'commander';
import { parseAdminRole } from '../admin/adminAccess.ts';
import { adminInvitationJson, adminJson, adminTokenJson } from '../admin/recordJson.ts';
import type { AdminRole } from '../domain/records.ts';
import { locales, type Locale } from '../i18n.ts';
import { administer, outputFor } from './context.ts';

const role = (value: string): AdminRole => {
  try {
    return parseAdminRole(value);
  } catch {
    throw new InvalidArgumentError('expected admin, support or auditor');
  }
};

const locale = (value: string): Locale => {
  if (!(locales as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${locales.join(', ')}`);
  return value as Locale;
};

export function registerAdmins(program: Command): void {
  const admins = program.command('admins').description('console roles (admin, support, auditor), invitations and admin API tokens');
  admins
    .command('grant <emailOrAccount>')
    .description('give a broker account (its id, or the MBS email of its bound profiles) a console role, or change it')
    .requiredOption('--role <role>', 'admin (everything), support (people, bindings, emails) or auditor (read only)', role)
    .action(async (emailOrAccount: string, options: { role: AdminRole }, command: Command) => {
      const granted = await administer((services) => services.access.grant(emailOrAccount, options.role));
      outputFor(command)({ account_id: granted.accountId, role: granted.role }, () => `account ${granted.accountId} is now ${granted.role}`);
    });
  admins
    .command('revoke <emailOrAccount>')
    .description('take a broker account’s console role away (never the last admin’s)')
    .action(async (emailOrAccount: string, _options, command: Command) => {
      await administer((services) => services.access.revoke(emailOrAccount));
      outputFor(command)({ revoked: emailOrAccount }, () => `revoked the console role of ${emailOrAccount}`);
    });
  admins
    .command('list')
    .description('list the accounts with a console role')
    .action(async (_options, command: Command) => {
      const list = (await administer((services) => services.access.list())).map(adminJson);
      outputFor(command)(list, () => list.map((admin) => `${admin.account_id}\t${admin.role}\t${admin.known_as}`).join('\n') || '(no admins)');
    });
  admins
    .command('invite <email>')
    .description('email an invitation link (single use, expiring after ADMIN_INVITATION_TTL) that gives a role to whoever signs in with it')
    .requiredOption('--role <role>', 'admin, support or auditor', role)
    .option('--locale <locale>', 'language of the email', locale, 'en' as Locale)
    .action(async (email: string, options: { role: AdminRole; locale: Locale }, command: Command) => {
      const invitation = adminInvitationJson(await administer((services) => services.access.invite(email, options.role, options.locale)));
      outputFor(command)(invitation, () => `invited ${invitation.email} as ${invitation.role} (the broker sends the email; the link expires ${invitation.expires_at})`);
    });

  const tokens = admins.command('tokens').description('admin API tokens with a role; ADMIN_TOKEN acts as admin');
  tokens
    .command('issue')
    .description('issue an admin API token with a role: printed once, only its hash is stored')
    .requiredOption('--role <role>', 'admin, support or auditor', role)
    .option('--label <label>', 'what the token is for')
    .action(async (options: { role: AdminRole; label?: string }, command: Command) => {
      const issued = await administer((services) => services.access.issueToken(options.role, options.label));
      outputFor(command)({ ...adminTokenJson(issued.record), token: issued.token }, () => `${issued.token}\n(token ${issued.record.id}, role ${issued.record.role}: shown once, keep it now)`);
    });
  tokens
    .command('list')
    .description('list admin API tokens (never the tokens themselves)')
    .action(async (_options, command: Command) => {
      const list = (await administer((services) => services.access.listTokens())).map(adminTokenJson);
      outputFor(command)(list, () => list.map((token) => `${token.id}\t${token.role}\t${token.label ?? ''}\t${token.revoked_at ? `revoked ${token.revoked_at}` : 'active'}`).join('\n') || '(no tokens)');
    });
  tokens
    .command('revoke <tokenId>')
    .description('revoke an admin API token')
    .action(async (tokenId: string, _options, command: Command) => {
      await administer((services) => services.access.revokeToken(tokenId));
      outputFor(command)({ revoked: tokenId }, () => `revoked token ${tokenId}`);
    });
}
