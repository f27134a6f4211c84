import { z } from 'zod';
import { duration } from '../../config/duration.js';

const ldapUrl = z
  .string()
  .regex(/^ldaps?:\/\/[^/?#\s]+\/?$/i, { message: 'expected ldap://host[:port] or ldaps://host[:port]' });

/** An attribute description: a name such as `mail` or `sAMAccountName`, or a numeric OID. */
const attribute = z.string().regex(/^([A-Za-z][A-Za-z0-9-]{0,63}|\d+(\.\d+)+)$/, {
  message: 'expected an LDAP attribute name such as mail',
});

/** A search filter in RFC 4515 form, parenthesised, as the administrator writes it (nothing of the user's is in it). */
const filter = z.string().regex(/^\(.*\)$/s, {
  message: 'expected an LDAP filter in parentheses, such as (objectClass=inetOrgPerson)',
});

const dn = z.string().min(3).max(1024);

/**
 * An LDAP server or Active Directory as a directory of the sign-in flow: passwords are checked by a bind as the
 * user, and what Poort needs of the entry (name, address, groups) is copied into its own store at each sign-in and
 * sync. Attributes and filters left out take the defaults of `type` (src/directory/ldap/settings.ts).
 */
export const ldapConfigSchema = z
  .object({
    /** false keeps the settings but signs nobody in through LDAP */
    enabled: z.boolean().default(true),
    /** `openldap` for OpenLDAP and other RFC 4519 directories (inetOrgPerson, groupOfNames); `active_directory` */
    type: z.enum(['openldap', 'active_directory']).default('openldap'),
    /** one server, or several tried in order (domain controllers) */
    url: z.union([ldapUrl, z.array(ldapUrl).min(1)]).optional(),
    /** upgrade ldap:// with StartTLS; ldaps:// is TLS from the start */
    start_tls: z.boolean().default(false),
    tls: z
      .object({
        /** PEM file with the CA certificates the server's certificate must chain to (default: Node's bundle) */
        ca_file: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** the service account that searches for users; without it the searches are anonymous */
    bind_dn: dn.optional(),
    /** its password (also POORT_LDAP_BIND_PASSWORD), or a file holding it */
    bind_password: z.string().min(1).optional(),
    bind_password_file: z.string().min(1).optional(),
    /** how long one operation (connect, bind, search) may take before the directory counts as unreachable */
    timeout: duration.default(5),
    users: z
      .object({
        base_dn: dn,
        /** which entries are users who may sign in (default by type) */
        filter: filter.optional(),
        /** the attribute people sign in with, and their Poort username (uid; AD: sAMAccountName) */
        username_attribute: attribute.optional(),
        /** the entry's stable id, kept when it is renamed or moved (entryUUID; AD: objectGUID) */
        id_attribute: attribute.optional(),
        email_attribute: attribute.default('mail'),
        /** the display name (cn; AD: displayName) */
        name_attribute: attribute.optional(),
        given_name_attribute: attribute.default('givenName'),
        family_name_attribute: attribute.default('sn'),
      })
      .strict(),
    groups: z
      .object({
        /**
         * `search`: groups whose member attribute names the user (groupOfNames, posixGroup); `member_of`: the
         * user's memberOf attribute (Active Directory, OpenLDAP's memberof overlay); `none`: no groups from LDAP
         */
        membership: z.enum(['search', 'member_of', 'none']).optional(),
        /** where groups are searched for; with member_of, only groups under it count (default: all) */
        base_dn: dn.optional(),
        filter: filter.optional(),
        /** the attribute of a group that lists its members (member; posixGroup: memberUid) */
        member_attribute: attribute.default('member'),
        /** what that attribute holds of a member: their DN, or their username (posixGroup's memberUid) */
        member_value: z.enum(['dn', 'username']).default('dn'),
        /** the group's name in Poort: this attribute of the group, or the first value of its DN */
        name_attribute: attribute.default('cn'),
        /** make Poort groups for LDAP groups it does not have yet; else only existing Poort groups are filled */
        create_missing: z.boolean().default(true),
        /**
         * also the groups a user is in through other groups (a member of Teachers, itself a member of Staff, is in
         * both), followed up to 10 levels; with `search` through the groups' member attribute, with `member_of`
         * through each group's own memberOf
         */
        nested: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /**
     * how often each running Poort (one node at a time) checks the users it knows from LDAP against the directory:
     * a user gone or disabled there is disabled in Poort and signed out everywhere; others get their name, address
     * and groups refreshed. 0 turns it off (`poort ldap sync` from cron then).
     */
    sync_interval: duration.default(900),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.enabled) return;
    if (c.url === undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'required when enabled' });
    if (c.bind_password !== undefined && c.bind_password_file !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bind_password_file'],
        message: 'give bind_password or bind_password_file, not both',
      });
    }
    if (c.bind_dn !== undefined && c.bind_password === undefined && c.bind_password_file === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bind_password'],
        message: 'bind_dn needs bind_password or bind_password_file (or POORT_LDAP_BIND_PASSWORD)',
      });
    }
    const membership = c.groups.membership ?? (c.type === 'active_directory' ? 'member_of' : 'search');
    if (membership === 'search' && c.groups.base_dn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['groups', 'base_dn'],
        message:
          'required where groups are searched for (groups.membership: search); or set membership: none',
      });
    }
    if (c.groups.nested && membership === 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['groups', 'nested'],
        message: 'nested groups need groups from the directory (groups.membership: search or member_of)',
      });
    }
    if (c.groups.nested && membership === 'search' && c.groups.member_value === 'username') {
      ctx.addIssue({
        code: 'custom',
        path: ['groups', 'nested'],
        message:
          'nested groups need member_value: dn (a group is listed in another by its DN, not by a username)',
      });
    }
    const urls = typeof c.url === 'string' ? [c.url] : (c.url ?? []);
    if (c.start_tls && urls.some((u) => /^ldaps:/i.test(u))) {
      ctx.addIssue({
        code: 'custom',
        path: ['start_tls'],
        message: 'StartTLS is for ldap:// URLs; ldaps:// is TLS already',
      });
    }
  });

export type LdapConfig = z.infer<typeof ldapConfigSchema>;
