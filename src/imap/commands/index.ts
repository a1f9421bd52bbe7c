/**
 * Every command the server knows, in one typed map (STYLE 1): the key is what dispatch looks
 * up ("UID FETCH" for the UID forms), the value the command's own file.
 */
import type { CommandSpec } from '../command.js';
import { append } from './append.js';
import { authenticate } from './authenticate.js';
import { capability } from './capability.js';
import { close, unselect } from './close.js';
import { copy, move } from './copy.js';
import { enable } from './enable.js';
import { expunge } from './expunge.js';
import { fetch } from './fetch.js';
import { id } from './id.js';
import { idle } from './idle.js';
import { list, lsub } from './list.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { create, del, rename, subscribe, unsubscribe } from './mailboxes.js';
import { namespace } from './namespace.js';
import { check, noop } from './noop.js';
import { search } from './search.js';
import { examine, select } from './select.js';
import { starttls } from './starttls.js';
import { status } from './status.js';
import { sort } from './sort.js';
import { store } from './store.js';
import { thread } from './thread.js';

const plain: Array<CommandSpec<any>> = [
  capability, noop, logout, starttls, authenticate, login, enable, id, namespace, select, examine,
  create, del, rename, subscribe, unsubscribe, list, lsub, status, append, idle,
  check, close, unselect, expunge, search, fetch, store, copy, move, sort, thread,
];

/** Commands that also have a UID form (RFC 3501 §6.4.8, RFC 4315, RFC 6851). */
const withUid: Array<CommandSpec<any>> = [copy, move, fetch, store, search, expunge, sort, thread];

export const COMMANDS: ReadonlyMap<string, CommandSpec<any>> = new Map([
  ...plain.map((c) => [c.name, c] as const),
  ...withUid.map((c) => [`UID ${c.name}`, c] as const),
]);
