import fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import {
  ATTRIBUTE_SOURCES,
  DEFAULT_ATTRIBUTES,
  NAME_ID_FORMATS,
  type AttributeSource,
  type NameIdFormat,
  type ReleasedAttribute,
} from '../../saml/config.js';
import {
  encrypts,
  serviceProviderChanges,
  ServiceProviderError,
  ServiceProviderRegistry,
  type ServiceProvider,
  type ServiceProviderSettings,
} from '../../saml/service-providers.js';
import { MAX_METADATA_BYTES } from '../../saml/sp-metadata.js';
import { CliError, collect, usageError, withServices } from '../context.js';
import { list, print, printFields, printJson, printTable, yesNo } from '../io.js';
import { recorded } from '../record.js';

/** `--attribute source=name`: a user field released under a name. */
function attributeOption(value: string, previous: ReleasedAttribute[] | undefined): ReleasedAttribute[] {
  const at = value.indexOf('=');
  const source = value.slice(0, at);
  const name = value.slice(at + 1);
  if (at <= 0 || !name) throw new InvalidArgumentError('expected source=name, e.g. email=mail');
  if (!(ATTRIBUTE_SOURCES as readonly string[]).includes(source))
    throw new InvalidArgumentError(`unknown source ${source} (choose from ${ATTRIBUTE_SOURCES.join(', ')})`);
  return [...(previous ?? []), { source: source as AttributeSource, name }];
}

/** `--attribute-value name=value`: an attribute with a fixed value. */
function fixedAttributeOption(value: string, previous: string[] | undefined): string[] {
  if (value.indexOf('=') <= 0) throw new InvalidArgumentError('expected name=value, e.g. department=HR');
  return collect(value, previous);
}

function nameIdFormat(value: string): NameIdFormat {
  if (!(NAME_ID_FORMATS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`choose from ${NAME_ID_FORMATS.join(', ')}`);
  return value as NameIdFormat;
}

/** What is shown of a service provider: settings and endpoints, never the metadata's certificates in full. */
function summary(sp: ServiceProvider) {
  return {
    entityId: sp.entityId,
    name: sp.settings.name,
    nameIdFormat: sp.settings.nameIdFormat,
    attributes: sp.settings.attributes,
    signResponse: sp.settings.signResponse,
    signAssertion: sp.settings.signAssertion,
    encryptAssertion: encrypts(sp),
    assertionConsumerServices: sp.metadata.assertionConsumerServices,
    singleLogoutServices: sp.metadata.singleLogoutServices,
    authnRequestsSigned: sp.metadata.authnRequestsSigned,
    signingCertificates: sp.metadata.signingCertificates.length,
    encryptionCertificates: sp.metadata.encryptionCertificates.length,
    source: sp.source,
    createdAt: sp.createdAt,
  };
}

function showSp(sp: ServiceProvider): void {
  const s = summary(sp);
  printFields([
    ['entityID', s.entityId],
    ['name', s.name ?? '-'],
    ['NameID format', s.nameIdFormat],
    [
      'attributes',
      list(s.attributes.map((a) => (a.source ? `${a.name} (${a.source})` : `${a.name} = ${a.value}`))),
    ],
    ['sign response', yesNo(s.signResponse)],
    ['sign assertion', yesNo(s.signAssertion)],
    ['encrypt assertion', yesNo(s.encryptAssertion)],
    [
      'ACS',
      list(
        s.assertionConsumerServices.map(
          (e) => `${e.index ?? '-'} ${e.location} (${e.binding.split(':').pop()})`,
        ),
      ),
    ],
    ['SLO', list(s.singleLogoutServices.map((e) => `${e.location} (${e.binding.split(':').pop()})`))],
    ['signs its requests', yesNo(s.authnRequestsSigned)],
    ['certificates', `${s.signingCertificates} signing, ${s.encryptionCertificates} encryption`],
    ['source', s.source === 'config' ? 'configuration file' : 'store'],
    ['created', s.createdAt || '-'],
  ]);
}

interface AddOptions {
  metadata: string;
  name?: string;
  nameIdFormat?: NameIdFormat;
  attribute?: ReleasedAttribute[];
  attributeValue?: string[];
  signResponse?: boolean;
  signAssertion: boolean;
  encryptAssertion?: boolean;
}

/** A service provider declared in the configuration file is changed or removed there, not with the CLI. */
function refuseDeclared(sp: ServiceProvider | undefined, verb: 'change' | 'remove'): void {
  if (sp?.source === 'config')
    throw new ServiceProviderError(
      'not_found',
      `service provider ${sp.entityId} is declared in the configuration; ${verb} it there`,
    );
}

interface UpdateOptions {
  metadata?: string;
  name?: string;
  nameIdFormat?: NameIdFormat;
  attribute?: ReleasedAttribute[];
  attributeValue?: string[];
  signResponse?: boolean;
  signAssertion?: boolean;
  encryptAssertion?: boolean;
}

/** The attributes named with --attribute and --attribute-value, in that order; none when neither was given. */
function chosenAttributes(opts: {
  attribute?: ReleasedAttribute[];
  attributeValue?: string[];
}): ReleasedAttribute[] {
  const fixed: ReleasedAttribute[] = (opts.attributeValue ?? []).map((v) => {
    const at = v.indexOf('=');
    return { name: v.slice(0, at), value: v.slice(at + 1) };
  });
  return [...(opts.attribute ?? []), ...fixed];
}

function readMetadata(file: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (stat.size > MAX_METADATA_BYTES) throw new CliError(`${file} is larger than 512 KiB`);
  return fs.readFileSync(file, 'utf8');
}

export function registerSpCommands(program: Command): void {
  const sp = program.command('sp').description('manage SAML service providers (applications)');

  sp.command('add')
    .description('register a SAML service provider from its metadata (entityID, endpoints and certificates)')
    .requiredOption('--metadata <file>', "the SP's SAML metadata XML (one EntityDescriptor)")
    .option('--name <name>', 'name shown to users')
    .option('--name-id-format <format>', `${NAME_ID_FORMATS.join(', ')} (default: persistent)`, nameIdFormat)
    .option(
      '--attribute <source=name>',
      `release a user field under a name (repeatable; sources: ${ATTRIBUTE_SOURCES.join(', ')}; default: email=email, name=name, groups=groups)`,
      attributeOption,
    )
    .option(
      '--attribute-value <name=value>',
      'release an attribute with a fixed value (repeatable)',
      fixedAttributeOption,
    )
    .option('--sign-response', 'sign the whole response too (the assertion is signed by default)')
    .option('--no-sign-assertion', 'do not sign the assertion (then --sign-response is needed)')
    .option(
      '--no-encrypt-assertion',
      'do not encrypt assertions even when the SP publishes an encryption certificate',
    )
    .action(async (opts: AddOptions, cmd: Command) => {
      const xml = readMetadata(opts.metadata);
      const chosen = chosenAttributes(opts);
      const settings: ServiceProviderSettings = {
        ...(opts.name ? { name: opts.name } : {}),
        nameIdFormat: opts.nameIdFormat ?? 'persistent',
        attributes: chosen.length > 0 ? chosen : DEFAULT_ATTRIBUTES,
        signResponse: opts.signResponse === true,
        signAssertion: opts.signAssertion,
        ...(opts.encryptAssertion === false ? { encryptAssertion: false } : {}),
      };
      await withServices(cmd, async (services) => {
        const declared = (await services.serviceProviders.list()).filter((s) => s.source === 'config');
        const added = await recorded(services, async (db) => {
          const created = await new ServiceProviderRegistry(db, declared).add(xml, settings);
          return {
            result: created,
            changes: [
              {
                action: 'client.created',
                application: { id: created.entityId, protocol: 'saml' },
                details: {
                  name_id_format: settings.nameIdFormat,
                  attributes: settings.attributes.map((a) => a.name),
                  sign_response: settings.signResponse,
                  sign_assertion: settings.signAssertion,
                  encrypt_assertion: encrypts(created),
                },
              },
            ],
          };
        });
        print(`Added service provider ${added.entityId}`);
        showSp(added);
      });
    });

  sp.command('list')
    .description('list service providers, from the store and from the configuration file')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const all = await services.serviceProviders.list();
        if (opts.json) return printJson(all.map(summary));
        printTable(
          ['ENTITY_ID', 'NAME', 'NAMEID', 'ENCRYPTED', 'SOURCE'],
          all.map((s) => [
            s.entityId,
            s.settings.name ?? '-',
            s.settings.nameIdFormat,
            yesNo(encrypts(s)),
            s.source === 'config' ? 'config' : 'store',
          ]),
          'No service providers. Register one with "poort sp add --metadata <file>".',
        );
      });
    });

  sp.command('show')
    .description('show one service provider')
    .argument('<entityID>')
    .option('--json', 'print JSON')
    .action(async (entityId: string, opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const found = await services.serviceProviders.find(entityId);
        if (!found) throw new ServiceProviderError('not_found', `no service provider ${entityId}`);
        if (opts.json) printJson(summary(found));
        else showSp(found);
      });
    });

  sp.command('update')
    .description('change a service provider registered with "poort sp add"; what is not named stays as it is')
    .argument('<entityID>')
    .option('--metadata <file>', "the SP's new metadata (same entityID): new certificates, other endpoints")
    .option('--name <name>', 'name shown to users ("" removes it)')
    .option('--name-id-format <format>', NAME_ID_FORMATS.join(', '), nameIdFormat)
    .option(
      '--attribute <source=name>',
      'release a user field under a name (repeatable; replaces the attributes released now)',
      attributeOption,
    )
    .option(
      '--attribute-value <name=value>',
      'release an attribute with a fixed value (repeatable; replaces the attributes released now)',
      fixedAttributeOption,
    )
    .option('--sign-response', 'sign the whole response too')
    .option('--no-sign-response', 'sign only the assertion')
    .option('--sign-assertion', 'sign the assertion')
    .option('--no-sign-assertion', 'do not sign the assertion (the response must then be signed)')
    .option('--encrypt-assertion', 'encrypt assertions (the SP must publish an encryption certificate)')
    .option('--no-encrypt-assertion', 'do not encrypt assertions')
    .action(async (entityId: string, opts: UpdateOptions, cmd: Command) => {
      const xml = opts.metadata === undefined ? undefined : readMetadata(opts.metadata);
      const attributes = chosenAttributes(opts);
      const settings = (current: ServiceProviderSettings): ServiceProviderSettings => {
        const { name: _name, encryptAssertion: _encrypt, ...rest } = current;
        const name = opts.name === undefined ? current.name : opts.name || undefined;
        const encrypt = opts.encryptAssertion ?? current.encryptAssertion;
        return {
          ...rest,
          ...(name ? { name } : {}),
          ...(opts.nameIdFormat ? { nameIdFormat: opts.nameIdFormat } : {}),
          ...(attributes.length > 0 ? { attributes } : {}),
          ...(opts.signResponse !== undefined ? { signResponse: opts.signResponse } : {}),
          ...(opts.signAssertion !== undefined ? { signAssertion: opts.signAssertion } : {}),
          ...(encrypt !== undefined ? { encryptAssertion: encrypt } : {}),
        };
      };
      const named = [
        xml,
        opts.name,
        opts.nameIdFormat,
        attributes.length > 0 ? attributes : undefined,
        opts.signResponse,
        opts.signAssertion,
        opts.encryptAssertion,
      ];
      if (named.every((v) => v === undefined)) usageError(cmd, 'nothing to change: name at least one option');
      await withServices(cmd, async (services) => {
        const found = await services.serviceProviders.find(entityId);
        refuseDeclared(found, 'change');
        const { after, changes } = await recorded(services, async (db) => {
          const { before, after } = await new ServiceProviderRegistry(db).update(entityId, {
            ...(xml !== undefined ? { metadataXml: xml } : {}),
            settings,
          });
          const changes = serviceProviderChanges(before, after);
          return {
            result: { after, changes },
            changes:
              Object.keys(changes).length > 0
                ? [
                    {
                      action: 'client.updated',
                      application: { id: entityId, protocol: 'saml' },
                      details: changes,
                    },
                  ]
                : [],
          };
        });
        if (Object.keys(changes).length === 0) {
          print(`Service provider ${entityId} is already so; nothing changed`);
          return;
        }
        print(`Updated service provider ${entityId}: ${Object.keys(changes).join(', ')}`);
        showSp(after);
      });
    });

  sp.command('remove')
    .description('remove a service provider registered with "poort sp add"')
    .argument('<entityID>')
    .action(async (entityId: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const found = await services.serviceProviders.find(entityId);
        refuseDeclared(found, 'remove');
        await recorded(services, async (db) => {
          await new ServiceProviderRegistry(db).remove(entityId);
          return {
            result: undefined,
            changes: [{ action: 'client.removed', application: { id: entityId, protocol: 'saml' } }],
          };
        });
        print(`Removed service provider ${entityId}`);
      });
    });
}
