import { z } from 'zod';

/** Where an attribute's value comes from: a field of the user, or a fixed value. */
export const ATTRIBUTE_SOURCES = [
  'email',
  'given_name',
  'family_name',
  'name',
  'username',
  'groups',
] as const;
export type AttributeSource = (typeof ATTRIBUTE_SOURCES)[number];

export const NAME_ID_FORMATS = ['persistent', 'emailAddress', 'unspecified'] as const;
export type NameIdFormat = (typeof NAME_ID_FORMATS)[number];

/** An attribute name as SAML carries it: a URI or a plain name, never markup. */
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.:/#-]{1,256}$/;

export const releasedAttributeSchema = z
  .object({
    name: z.string().regex(ATTRIBUTE_NAME, { message: 'expected a name of letters, digits and _ . : / # -' }),
    source: z.enum(ATTRIBUTE_SOURCES).optional(),
    value: z.string().max(1024).optional(),
  })
  .strict()
  .refine((a) => (a.source === undefined) !== (a.value === undefined), {
    message: 'give exactly one of source and value',
  });

export type ReleasedAttribute = z.infer<typeof releasedAttributeSchema>;

/** Released when a service provider names none: e-mail, display name and groups under their plain names. */
export const DEFAULT_ATTRIBUTES: ReleasedAttribute[] = [
  { source: 'email', name: 'email' },
  { source: 'name', name: 'name' },
  { source: 'groups', name: 'groups' },
];

export const serviceProviderConfigSchema = z
  .object({
    /** the SP's SAML metadata: a file (relative to the configuration file) or the XML itself */
    metadata_file: z.string().min(1).optional(),
    metadata: z.string().min(1).optional(),
    name: z.string().max(200).optional(),
    name_id_format: z.enum(NAME_ID_FORMATS).default('persistent'),
    attributes: z.array(releasedAttributeSchema).max(64).optional(),
    sign_response: z.boolean().default(false),
    sign_assertion: z.boolean().default(true),
    /** default: encrypt when the metadata has an encryption certificate */
    encrypt_assertion: z.boolean().optional(),
  })
  .strict()
  .refine((sp) => (sp.metadata_file === undefined) !== (sp.metadata === undefined), {
    message: 'give exactly one of metadata_file and metadata',
  });

export type ServiceProviderConfig = z.infer<typeof serviceProviderConfigSchema>;

export const samlConfigSchema = z
  .object({
    /** the IdP's entityID; default <issuer>/saml/metadata */
    entity_id: z.string().min(1).max(1024).optional(),
    /** refuse unsigned AuthnRequests and LogoutRequests from every service provider */
    require_signed_requests: z.boolean().default(false),
    service_providers: z.array(serviceProviderConfigSchema).default([]),
  })
  .strict();

export type SamlConfig = z.infer<typeof samlConfigSchema>;
