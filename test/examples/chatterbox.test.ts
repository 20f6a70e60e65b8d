import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, fold, type EventLog } from '../../src/index.js';
import { joinRoom, roomModel, type ChatSession } from '../../examples/chatterbox/room.js';
import { startChatServer } from '../../examples/chatterbox/server.js';
import { freePorts } from '../support/free-ports.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

describe('example: chatterbox, a room as a log-replicated model', () => {
  it('three clients chat through a server restart and end with the same membership and history', async () => {
    const dir = await tempDir('ordo-chatterbox');
    const [port, httpPort] = await freePorts(2);
    let server = await startChatServer({ dir, port, httpPort });
    const url = server.urls.tcp;
    const logs: EventLog[] = await Promise.all(
      [0, 1, 2].map(() => connect(url, { reconnectDelayMs: 20, timeoutMs: 30_000 })),
    );
    const names = ['ada', 'bob', 'cy'];
    const sessions: ChatSession[] = [];
    for (const [i, log] of logs.entries()) sessions.push(await joinRoom(log, 'lobby', names[i]!));
    // "X is typing…" reaches the others, live, and is never stored.
    const typing: string[] = [];
    sessions[1]!.onTyping((user) => typing.push(user));
    await sessions[0]!.typing();
    await until('bob to see ada typing', () => typing.includes('ada') || undefined);
    for (let i = 0; i < 10; i++) await sessions[i % 3]!.say(`before ${i}`);
    // The server goes away and comes back on the same address and data.
    await server.close();
    server = await startChatServer({ dir, port, httpPort });
    for (let i = 0; i < 10; i++) await sessions[i % 3]!.say(`after ${i}`);
    await sessions[2]!.leave();
    const expected = await fold(logs[0]!, {
      filter: roomModel('lobby').filter!,
      init: roomModel('lobby').init,
      apply: roomModel('lobby').apply,
    });
    assert.deepEqual(expected.state.members, ['ada', 'bob']);
    assert.equal(expected.state.messages.length, 20);
    assert.deepEqual(
      expected.state.messages.map((m) => m.text),
      [...Array.from({ length: 10 }, (_, i) => `before ${i}`), ...Array.from({ length: 10 }, (_, i) => `after ${i}`)],
    );
    for (const [i, session] of sessions.slice(0, 2).entries()) {
      await until(
        `${names[i]}'s room to hold all 20 messages and cy's leaving`,
        () => (session.room.state.messages.length === 20 && session.room.state.members.length === 2) || undefined,
        15_000,
      );
      assert.deepEqual(session.room.state, expected.state, `${names[i]} sees the room the log says`);
    }
    let typed = 0;
    for await (const event of logs[0]!.read('room-lobby')) if (event.type === 'Typing') typed++;
    assert.equal(typed, 0, 'typing notices are transient');
    // The hosted model kept the room hot on the server too.
    await until(
      'the server-hosted room at the head',
      () => server.hosted.models.get('room-lobby')!.status().state === 'live' || undefined,
    );
    for (const session of sessions.slice(0, 2)) await session.leave();
    for (const log of logs) await log.close();
    await server.close();
  });

  it('refuses a user name it cannot show', async () => {
    const dir = await tempDir('ordo-chatterbox-bad');
    const [port, httpPort] = await freePorts(2);
    const server = await startChatServer({ dir, port, httpPort });
    const log = await connect(server.urls.tcp);
    await assert.rejects(
      joinRoom(log, 'lobby', 'no spaces please'),
      /invalid user name "no spaces please": expected 1–32 letters/,
    );
    await log.close();
    await server.close();
  });
});
