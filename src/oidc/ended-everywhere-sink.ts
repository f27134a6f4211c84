/** The name of the cursor on the audit trail of the sink that tells applications of a sign-out everywhere. */
export const ENDED_EVERYWHERE_SINK = 'oidc-sessions-ended';
