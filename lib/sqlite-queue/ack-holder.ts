/**
 * Who holds a message of a SQLite ack queue: the 8-character tag an instance writes into `pq_owner`, and which
 * instance handed out each message object (so that a message from another queue or instance is refused instead of
 * naming some other row).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { ForeignMessageError } from '../common/errors.js';
import { messageId } from './ack-types.js';
import { TAG_LENGTH } from './schema.js';

/** A random holder tag: {@link TAG_LENGTH} characters of [0-9a-z], never `NO_OWNER` (schema.ts). */
export function newTag(): string {
  const b = randomBytes(TAG_LENGTH);
  let tag = '';
  for (let i = 0; i < TAG_LENGTH; i++) tag += (b[i]! % 36).toString(36);
  return tag;
}

/** One open ack queue instance, as the messages it hands out name it. */
export interface MessageIssuer {
  /** The table and the file, for error messages. */
  readonly where: string;
}

/** Which instance handed out each message object (weakly: a message dropped by its user is forgotten). */
const issuedBy = new WeakMap<object, MessageIssuer>();

/** Marks `msg` as handed out by `issuer`. */
export function markIssued(msg: object, issuer: MessageIssuer): void {
  issuedBy.set(msg, issuer);
}

/**
 * The id of `idOrMessage` for a call on `self`. A message object that another instance handed out (another queue,
 * table or file, or another instance of this queue) is a {@link ForeignMessageError}: its id would name some other
 * row here. A bare id (or an object this library did not make) is taken as an id of this queue.
 */
export function ownMessageId(idOrMessage: unknown, method: string, self: MessageIssuer): number {
  const id = messageId(idOrMessage, method);
  const from = idOrMessage !== null && typeof idOrMessage === 'object' ? issuedBy.get(idOrMessage) : undefined;
  if (from !== undefined && from !== self) {
    throw new ForeignMessageError(
      `${method}() was given message ${id} from another queue instance (${from.where}); this is ${self.where}. ` +
        'Ack, nack, fail or update a message through the instance whose get() returned it.',
    );
  }
  return id;
}
