import { InvalidArgumentError, type Command } from 'commander';
import {
  applyClientChange,
  clientChanges,
  ClientError,
  ClientRepository,
  MAX_PREVIOUS_SECRET_SECONDS,
  SECRET_PLACEHOLDER,
  validateClientInput,
  type ClientChange,
  type ClientInput,
  type ClientRecord,
  type GrantType,
} from '../../clients/clients.js';
import { collect, commaList, durationArgument, usageError, withServices } from '../context.js';
import { ScimTokens } from '../../scim/tokens.js';
import { list, print, printFields, printJson, printTable, readSecret, yesNo } from '../io.js';
import { recorded } from '../record.js';

const GRANT_TYPES: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials'];
const DEFAULT_GRANT_TYPES: GrantType[] = ['authorization_code', 'refresh_token'];

function grantTypes(value: string, previous: string[] | undefined): string[] {
  const types = commaList(value, previous);
  const unknown = types.filter((t) => !(GRANT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown grant type ${unknown.join(', ')} (choose from ${GRANT_TYPES.join(', ')})`,
    );
  }
  return types;
}

function showClient(client: ClientRecord): void {
  printFields([
    ['client_id', client.clientId],
    ['name', client.name ?? '-'],
    ['type', client.public ? 'public (no secret; PKCE required)' : 'confidential (client_secret_basic)'],
    ['grant types', list(client.grantTypes)],
    ['redirect URIs', list(client.redirectUris)],
    ['post-logout redirect URIs', list(client.postLogoutRedirectUris)],
    ['back-channel logout URI', client.backchannelLogoutUri ?? '-'],
    ['first party', yesNo(client.firstParty)],
    ['require PKCE', yesNo(client.requirePkce || client.public)],
    ...(client.previousSecretUntil
      ? ([['previous secret', `works until ${client.previousSecretUntil}`]] as Array<[string, string]>)
      : []),
    ['source', client.source === 'config' ? 'configuration file' : 'store'],
    ['created', client.createdAt || '-'],
  ]);
}

interface AddOptions {
  secretStdin?: boolean;
  public?: boolean;
  redirectUri?: string[];
  grantTypes?: GrantType[];
  postLogoutRedirectUri?: string[];
  backchannelLogoutUri?: string;
  name?: string;
  firstParty?: boolean;
  requirePkce?: boolean;
}

/** A client declared in the configuration file is changed or removed there, not with the CLI. */
function refuseDeclared(client: ClientRecord | undefined, verb: 'change' | 'remove'): void {
  if (client?.source === 'config')
    throw new ClientError(
      'not_found',
      `client ${client.clientId} is declared in the configuration; ${verb} it there`,
    );
}

interface UpdateOptions {
  name?: string;
  addRedirectUri?: string[];
  removeRedirectUri?: string[];
  addPostLogoutRedirectUri?: string[];
  removePostLogoutRedirectUri?: string[];
  grantTypes?: GrantType[];
  backchannelLogoutUri?: string;
  firstParty?: boolean;
  requirePkce?: boolean;
  secretStdin?: boolean;
  keepOldSecret?: number;
}

const keepOldSecret = durationArgument({
  max: MAX_PREVIOUS_SECRET_SECONDS,
  example: 'a period such as 1h, 24h or 7d',
});

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('manage OpenID Connect clients (applications)');

  client
    .command('add')
    .description('register an application; give exactly one of --secret-stdin and --public')
    .argument('<client_id>', 'letters, digits, . _ : -')
    .option(
      '--secret-stdin',
      'confidential client: read its secret (16+ characters) from the first line of standard input',
    )
    .option('--public', 'public client (single-page or native app): no secret, PKCE required')
    .option('--redirect-uri <uri>', 'allowed redirect URI (repeatable)', collect)
    .option(
      '--grant-types <types>',
      `comma-separated: ${GRANT_TYPES.join(', ')} (default: ${DEFAULT_GRANT_TYPES.join(',')})`,
      grantTypes,
    )
    .option('--post-logout-redirect-uri <uri>', 'allowed URI after sign-out (repeatable)', collect)
    .option('--backchannel-logout-uri <uri>', 'where Poort posts logout tokens when a session ends')
    .option('--name <name>', 'name shown to users on the consent page')
    .option('--first-party', 'trusted application of your own: skip the consent page')
    .option('--require-pkce', 'require PKCE from a confidential client too')
    .action(async (clientId: string, opts: AddOptions, cmd: Command) => {
      if (opts.secretStdin && opts.public)
        usageError(cmd, 'give either --secret-stdin or --public, not both');
      if (!opts.secretStdin && !opts.public)
        usageError(cmd, 'give --secret-stdin (confidential client) or --public');
      const input: ClientInput = {
        clientId,
        name: opts.name,
        redirectUris: opts.redirectUri ?? [],
        postLogoutRedirectUris: opts.postLogoutRedirectUri ?? [],
        grantTypes: opts.grantTypes ?? DEFAULT_GRANT_TYPES,
        firstParty: opts.firstParty === true,
        requirePkce: opts.requirePkce === true,
        backchannelLogoutUri: opts.backchannelLogoutUri,
      };
      await withServices(cmd, async (services) => {
        // Refuse what can be refused before asking for the secret; the placeholder only stands in for its presence.
        validateClientInput({ ...input, secret: opts.public ? undefined : SECRET_PLACEHOLDER });
        const existing = await services.clients.find(clientId);
        if (existing) {
          const where = existing.source === 'config' ? ' in the configuration file' : '';
          throw new ClientError('exists', `client ${clientId} already exists${where}`);
        }
        if (opts.secretStdin) input.secret = await readSecret('client secret', { confirm: true });
        const added = await recorded(services, async (db) => {
          const client = await new ClientRepository(db, services.secrets.encryptionKey).add(input);
          return {
            result: client,
            changes: [
              {
                action: 'client.created',
                application: { id: client.clientId, protocol: 'oidc' },
                details: {
                  public: client.public,
                  grant_types: client.grantTypes,
                  first_party: client.firstParty,
                },
              },
            ],
          };
        });
        print(`Added ${added.public ? 'public' : 'confidential'} client ${added.clientId}`);
        showClient(added);
        if (!added.public) print('Poort keeps the secret encrypted and cannot show it again.');
      });
    });

  client
    .command('list')
    .description('list clients, from the store and from the configuration file')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const clients = await services.clients.list();
        if (opts.json) return printJson(clients);
        printTable(
          ['CLIENT_ID', 'TYPE', 'NAME', 'GRANT TYPES', 'FIRST PARTY', 'SOURCE'],
          clients.map((c) => [
            c.clientId,
            c.public ? 'public' : 'confidential',
            c.name ?? '-',
            c.grantTypes.join(','),
            yesNo(c.firstParty),
            c.source === 'config' ? 'config' : 'store',
          ]),
          'No clients. Register one with "poort client add".',
        );
      });
    });

  client
    .command('show')
    .description('show one client (never its secret)')
    .argument('<client_id>')
    .option('--json', 'print JSON')
    .action(async (clientId: string, opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const found = await services.clients.find(clientId);
        if (!found) throw new ClientError('not_found', `no client ${clientId}`);
        if (opts.json) printJson(found);
        else showClient(found);
      });
    });

  client
    .command('update')
    .description('change a client registered with "poort client add"; what is not named stays as it is')
    .argument('<client_id>')
    .option('--name <name>', 'name shown on the consent page ("" removes it)')
    .option('--add-redirect-uri <uri>', 'allow another redirect URI (repeatable)', collect)
    .option('--remove-redirect-uri <uri>', 'stop allowing a redirect URI (repeatable)', collect)
    .option('--add-post-logout-redirect-uri <uri>', 'allow another URI after sign-out (repeatable)', collect)
    .option(
      '--remove-post-logout-redirect-uri <uri>',
      'stop allowing a URI after sign-out (repeatable)',
      collect,
    )
    .option(
      '--grant-types <types>',
      `comma-separated, replacing the current: ${GRANT_TYPES.join(', ')}`,
      grantTypes,
    )
    .option('--backchannel-logout-uri <uri>', 'where Poort posts logout tokens ("" stops them)')
    .option('--first-party', 'skip the consent page')
    .option('--no-first-party', 'ask for consent again (a third-party application)')
    .option('--require-pkce', 'require PKCE from this confidential client')
    .option('--no-require-pkce', 'PKCE optional again for this confidential client')
    .option(
      '--secret-stdin',
      'replace the secret, read from standard input; the old one stops working at once, unless --keep-old-secret',
    )
    .option(
      '--keep-old-secret <period>',
      'with --secret-stdin: the old secret goes on working beside the new one for this long (at most 30d), while the application moves',
      keepOldSecret,
    )
    .action(async (clientId: string, opts: UpdateOptions, cmd: Command) => {
      const change: ClientChange = {
        ...(opts.name !== undefined ? { name: opts.name || null } : {}),
        ...(opts.addRedirectUri ? { addRedirectUris: opts.addRedirectUri } : {}),
        ...(opts.removeRedirectUri ? { removeRedirectUris: opts.removeRedirectUri } : {}),
        ...(opts.addPostLogoutRedirectUri
          ? { addPostLogoutRedirectUris: opts.addPostLogoutRedirectUri }
          : {}),
        ...(opts.removePostLogoutRedirectUri
          ? { removePostLogoutRedirectUris: opts.removePostLogoutRedirectUri }
          : {}),
        ...(opts.grantTypes ? { grantTypes: opts.grantTypes } : {}),
        ...(opts.backchannelLogoutUri !== undefined
          ? { backchannelLogoutUri: opts.backchannelLogoutUri || null }
          : {}),
        ...(opts.firstParty !== undefined ? { firstParty: opts.firstParty } : {}),
        ...(opts.requirePkce !== undefined ? { requirePkce: opts.requirePkce } : {}),
      };
      if (opts.keepOldSecret !== undefined && !opts.secretStdin)
        usageError(
          cmd,
          '--keep-old-secret goes with --secret-stdin: only a new secret lets the old one go on working',
        );
      if (Object.keys(change).length === 0 && !opts.secretStdin)
        usageError(cmd, 'nothing to change: name at least one option');
      if (opts.keepOldSecret !== undefined) change.keepPreviousSecretFor = opts.keepOldSecret;
      await withServices(cmd, async (services) => {
        const found = await services.clients.find(clientId);
        if (!found) throw new ClientError('not_found', `no client ${clientId}`);
        refuseDeclared(found, 'change');
        // Refuse what can be refused before asking for the secret.
        validateClientInput(
          applyClientChange(found, {
            ...change,
            ...(opts.secretStdin ? { secret: SECRET_PLACEHOLDER } : {}),
          }),
        );
        if (opts.secretStdin) change.secret = await readSecret('client secret', { confirm: true });
        const { after, changes } = await recorded(services, async (db) => {
          const { before, after } = await new ClientRepository(db, services.secrets.encryptionKey).update(
            clientId,
            change,
          );
          const changes = clientChanges(before, after, change.secret !== undefined);
          if (change.secret !== undefined && after.previousSecretUntil)
            changes.previous_secret_until = after.previousSecretUntil;
          const changed = Object.keys(changes).length > 0;
          return {
            result: { after, changes },
            changes: changed
              ? [
                  {
                    action: 'client.updated',
                    application: { id: clientId, protocol: 'oidc' },
                    details: changes,
                  },
                ]
              : [],
          };
        });
        if (Object.keys(changes).length === 0) {
          print(`Client ${clientId} is already so; nothing changed`);
          return;
        }
        print(`Updated client ${clientId}: ${Object.keys(changes).join(', ')}`);
        showClient(after);
        if (change.secret !== undefined)
          print(
            after.previousSecretUntil
              ? `The old secret works beside the new one until ${after.previousSecretUntil}; tokens issued before stay valid until they expire.`
              : 'The old secret no longer works; tokens issued before stay valid until they expire.',
          );
      });
    });

  client
    .command('remove')
    .description('remove a client registered with "poort client add"')
    .argument('<client_id>')
    .action(async (clientId: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const found = await services.clients.find(clientId);
        refuseDeclared(found, 'remove');
        await recorded(services, async (db) => {
          await new ClientRepository(db, services.secrets.encryptionKey).remove(clientId);
          // a client registered again under this id must not find the old one's SCIM tokens working
          const scimTokens = await new ScimTokens(db).removeAllOf(clientId);
          return {
            result: undefined,
            changes: [
              {
                action: 'client.removed',
                application: { id: clientId, protocol: 'oidc' },
                ...(scimTokens > 0 ? { details: { scim_tokens_removed: scimTokens } } : {}),
              },
            ],
          };
        });
        print(`Removed client ${clientId}`);
      });
    });
}
