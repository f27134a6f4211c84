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

export { errorMessage } from '../log/error-message.js';
