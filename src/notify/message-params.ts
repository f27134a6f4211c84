/** What every e-mail to a person about their account says of them and of the organisation, for the translations. */
export function personParams(
  settings: { organisation: string },
  user: { username: string; name?: string | null | undefined },
): { organisation: string; name: string; username: string } {
  return { organisation: settings.organisation, name: user.name ?? user.username, username: user.username };
}
