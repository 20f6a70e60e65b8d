import { defineModel, eventJson, type EventLog, type Model, openModel, type ModelDefinition } from '../../src/index.js';

/** A room as every client sees it: who is in it, and what was said, in the log's order. */
export interface RoomState {
  readonly members: readonly string[];
  readonly messages: ReadonlyArray<{ readonly from: string; readonly text: string; readonly position: number }>;
}

export const roomStream = (room: string) => `room-${room}`;

/**
 * The room as a log-replicated model: the stream `room-<name>` holds Joined, Left and
 * Said events; every client folds them the same way and so holds the same room. A server
 * that hosts this model (`startChatServer`) keeps snapshots, so a client joining a long-lived
 * room loads the newest one and folds only what came after.
 */
export function roomModel(room: string): ModelDefinition<RoomState> {
  return defineModel<RoomState>({
    name: `room-${room}`,
    version: 1,
    filter: { streams: [roomStream(room)] },
    snapshotEvery: 100,
    init: () => ({ members: [], messages: [] }),
    apply: (state, event) => {
      const { user, text } = eventJson<{ user: string; text?: string }>(event);
      switch (event.type) {
        case 'Joined':
          return state.members.includes(user) ? state : { ...state, members: [...state.members, user].sort() };
        case 'Left':
          return { ...state, members: state.members.filter((member) => member !== user) };
        case 'Said':
          return {
            ...state,
            messages: [...state.messages, { from: user, text: text ?? '', position: event.position }],
          };
        default:
          return state;
      }
    },
  });
}

export interface ChatSession {
  readonly room: Model<RoomState>;
  say(text: string): Promise<void>;
  /** "X is typing…": a transient event, seen live by whoever is in the room, never stored. */
  typing(): Promise<void>;
  /** Called with the user whenever somebody else is typing. */
  onTyping(listener: (user: string) => void): void;
  leave(): Promise<void>;
}

/** Joins `room` as `user` on any EventLog (a client of the chat server, or an embedded log). */
export async function joinRoom(log: EventLog, room: string, user: string): Promise<ChatSession> {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(user))
    throw new Error(`invalid user name ${JSON.stringify(user)}: expected 1–32 letters, digits, '_' or '-'`);
  const stream = roomStream(room);
  const model = openModel(log, roomModel(room));
  await model.ready;
  const typingListeners = new Set<(user: string) => void>();
  const live = log.subscribe({ from: 'end', filter: { streams: [stream], types: ['Typing'] }, transient: true });
  void (async () => {
    for await (const item of live) {
      if (!('transient' in item)) continue;
      const who = eventJson<{ user: string }>(item).user;
      if (who !== user) for (const listener of typingListeners) listener(who);
    }
  })();
  await log.append(stream, { type: 'Joined', data: { user } });
  return {
    room: model,
    say: async (text) => void (await log.append(stream, { type: 'Said', data: { user, text } })),
    typing: () => log.publishTransient(stream, { type: 'Typing', data: { user } }),
    onTyping: (listener) => void typingListeners.add(listener),
    leave: async () => {
      await log.append(stream, { type: 'Left', data: { user } });
      live.close();
      await model.close();
    },
  };
}
