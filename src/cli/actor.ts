import os from 'node:os';

/** Who runs the CLI, for the audit trail: the operating-system account (and who became it with sudo). */
export function cliActor(): { type: 'cli'; name: string } {
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    name = process.env.USER ?? 'unknown';
  }
  const sudo = process.env.SUDO_USER;
  return { type: 'cli', name: sudo && sudo !== name ? `${sudo} (as ${name})` : name };
}
