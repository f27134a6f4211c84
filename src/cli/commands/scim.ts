import type { Command } from 'commander';
import { MAX_SCIM_TOKEN_SECONDS, ScimTokens } from '../../scim/tokens.js';
import { CliError, durationArgument, withServices } from '../context.js';
import { print, printFields, printJson, printTable } from '../io.js';
import { recorded } from '../record.js';

const tokenLifetime = durationArgument({
  min: 86400,
  max: MAX_SCIM_TOKEN_SECONDS,
  example: 'a lifetime such as 180d or 365d',
});

export function registerScimCommands(program: Command): void {
  const scim = program.command('scim').description('provisioning over SCIM 2.0 (/scim/v2)');
  const token = scim
    .command('token')
    .description(
      'fixed bearer tokens for SCIM connectors that cannot use the client credentials grant (Entra ID "Secret Token")',
    );

  token
    .command('add')
    .description('make a token that acts as <client_id> (named in scim.clients); it is shown once')
    .argument('<client_id>')
    .option('--lifetime <period>', 'how long it works (default 365d, at most 1095d)', tokenLifetime)
    .option('--json', 'print JSON')
    .action(async (clientId: string, opts: { lifetime?: number; json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        if (!(await services.clients.find(clientId))) throw new CliError(`no client ${clientId}`);
        if (!services.config.scim.clients.includes(clientId))
          throw new CliError(
            `client ${clientId} may not provision users: name it in scim.clients of the configuration first`,
          );
        const made = await recorded(services, async (db) => {
          const made = await new ScimTokens(db).add(clientId, opts.lifetime ?? 365 * 86400);
          return {
            result: made,
            changes: [
              {
                action: 'scim.token.created',
                application: { id: clientId, protocol: 'oidc' },
                details: { token_id: made.record.id, expires_at: made.record.expiresAt },
              },
            ],
          };
        });
        if (opts.json) return printJson({ ...made.record, token: made.token });
        printFields([
          ['id', made.record.id],
          ['client', clientId],
          ['expires', made.record.expiresAt],
          ['token', made.token],
        ]);
        print();
        print('The token is shown only now: give it to the connector as its bearer token ("Secret Token").');
      });
    });

  token
    .command('list')
    .description('list the tokens (never the tokens themselves)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const tokens = await new ScimTokens(services.db).list();
        if (opts.json) return printJson(tokens);
        const now = new Date().toISOString();
        printTable(
          ['ID', 'CLIENT', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'],
          tokens.map((t) => [
            t.id,
            t.clientId,
            t.createdAt,
            t.expiresAt,
            t.lastUsedAt ?? 'never',
            t.expiresAt <= now
              ? 'expired'
              : services.config.scim.clients.includes(t.clientId)
                ? 'works'
                : 'client not in scim.clients',
          ]),
          'No SCIM tokens.',
        );
      });
    });

  token
    .command('revoke')
    .description('revoke a token: the connector holding it is refused from the next request on')
    .argument('<id>')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const revoked = await recorded(services, async (db) => {
          const revoked = await new ScimTokens(db).revoke(id);
          if (!revoked) throw new CliError(`no SCIM token ${id}`);
          return {
            result: revoked,
            changes: [
              {
                action: 'scim.token.revoked',
                application: { id: revoked.clientId, protocol: 'oidc' },
                details: { token_id: revoked.id },
              },
            ],
          };
        });
        print(`Revoked SCIM token ${revoked.id} of client ${revoked.clientId}`);
      });
    });
}
