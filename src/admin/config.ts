import { z } from 'zod';
import { duration } from '../config/duration.js';
import { isValidGroupName } from '../directory/groups.js';

const groupNames = z.array(
  z.string().refine(isValidGroupName, { message: 'expected a group name (letters, digits, space . _ : -)' }),
);

/**
 * The administration console (/admin): which groups hold each administrative role, what the console demands of a
 * sign-in, and whether one person may hold duties that should be kept apart.
 */
export const adminConfigSchema = z
  .object({
    /** false: /admin answers 404 and administration is done with the CLI alone */
    enabled: z.boolean().default(true),
    /** the groups whose members hold each role; a group that does not exist gives the role to nobody */
    roles: z
      .object({
        helpdesk: groupNames.default(['poort-helpdesk']),
        security_officer: groupNames.default(['poort-security-officers']),
        auditor: groupNames.default(['poort-auditors']),
      })
      .strict()
      .prefault({}),
    /**
     * whose membership of those groups counts: users of these directories (`local`, `ldap`, `upstream` for every
     * upstream provider, or `upstream:<id>` for one). A directory group named like a role group grants it only
     * where its directory is trusted to say who administers Poort
     */
    role_directories: z
      .array(
        z.string().regex(/^(local|ldap|upstream|upstream:[a-z0-9][a-z0-9-]{0,31})$/, {
          message: 'expected local, ldap, upstream or upstream:<id>',
        }),
      )
      .default(['local', 'ldap', 'upstream']),
    /** the second factor every console sign-in must show: any, or a passkey or security key */
    require: z.enum(['any', 'phishing_resistant']).default('any'),
    /** refuse the console to a person holding roles that must be kept apart (ISO 27001 A.5.3) */
    separate_duties: z.boolean().default(true),
    /** how long a console session lasts after its sign-in */
    session_lifetime: duration
      .default(900)
      .refine((s) => s >= 60 && s <= 8 * 3600, { message: 'expected between 1m and 8h' }),
  })
  .strict();

export type AdminConfig = z.infer<typeof adminConfigSchema>;
