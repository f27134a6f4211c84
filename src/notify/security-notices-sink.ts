/** The name of the security notices' cursor on the audit trail. */
export const SECURITY_NOTICES_SINK = 'security-notices';
