/** A message to one person: an e-mail (with a subject) or a text message (text only). */
export interface Message {
  subject?: string;
  text: string;
}

/** Delivers messages to addresses or phone numbers; throws when the message could not be handed over. */
export interface MessageSender {
  /** what it delivers over, for logs: never the message itself */
  readonly description: string;
  send(to: string, message: Message): Promise<void>;
}

/** A message that could not be delivered; the message says why, never what was in it. */
export class SendError extends Error {
  override readonly name = 'SendError';
}

/** An error's message, for a log line or a SendError. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
