import { WriteLoad, longestWriteGapMs, summariseWrites, writeGapAroundSwitch, type WriteAttempt } from '../../lib/load/write-load';

const ack = (id: string, doneAt: number): WriteAttempt => ({ id, sentAt: doneAt - 1, doneAt, acknowledged: true });
const fail = (id: string, doneAt: number): WriteAttempt => ({ id, sentAt: doneAt - 1, doneAt, acknowledged: false, error: 'ECONNRESET' });

describe('summariseWrites', () => {
  test('lost counts acknowledged writes missing on the target, not failed ones', () => {
    const attempts = [ack('1', 10), ack('2', 20), fail('3', 30), ack('4', 40)];
    expect(summariseWrites(attempts, new Set(['1', '4']))).toEqual({ attempted: 4, acknowledged: 3, failed: 1, lost: 1, lostIds: ['2'] });
  });
  test('a failed write that did land is not lost', () => {
    expect(summariseWrites([fail('9', 5)], new Set(['9'])).lost).toBe(0);
  });
});

describe('longestWriteGapMs', () => {
  test('takes the longest gap between acknowledgements that overlaps the switch window', () => {
    const attempts = [ack('1', 0), ack('2', 100), ack('3', 105), ack('4', 185), ack('5', 190), ack('6', 500)];
    // gaps: 100 (0-100), 5, 80 (105-185), 5, 310 (190-500)
    expect(longestWriteGapMs(attempts, { from: 110, to: 180 }, 600)).toBe(80);
    expect(longestWriteGapMs(attempts, { from: 0, to: 1000 }, 600)).toBe(310);
  });
  test('failed writes do not close a gap', () => {
    const attempts = [ack('1', 0), fail('2', 50), ack('3', 120)];
    expect(longestWriteGapMs(attempts, { from: 10, to: 20 }, 200)).toBe(120);
  });
  test('if writes never come back the gap runs to the end of the load', () => {
    expect(longestWriteGapMs([ack('1', 0), ack('2', 10)], { from: 20, to: 30 }, 3000)).toBe(2990);
  });
});

describe('writeGapAroundSwitch', () => {
  test('says how long before the freeze the last write landed and how long after the switch the first did', () => {
    const attempts = [ack('1', 0), ack('2', 90), fail('3', 95), ack('4', 260), ack('5', 300)];
    expect(writeGapAroundSwitch(attempts, 100, 250)).toEqual({ lastAckBeforeSwitch: 10, firstAckAfterSwitch: 10, acknowledgedDuringSwitch: 0, lastAckDuringSwitch: null });
    expect(writeGapAroundSwitch([ack('1', 0)], 100, 250)).toEqual({ lastAckBeforeSwitch: 100, firstAckAfterSwitch: null, acknowledgedDuringSwitch: 0, lastAckDuringSwitch: null });
  });

  test('writes acknowledged inside the switch window are counted, so the figures add up to the gap (a busy run read 19 + 362 + 336 ms against a 551 ms gap)', () => {
    // GIVEN the switch ran 100..250 and two writes sent before the freeze took effect were acknowledged inside it, at 120 and 130
    const attempts = [ack('1', 0), ack('2', 90), ack('3', 120), ack('4', 130), ack('5', 290)];
    const around = writeGapAroundSwitch(attempts, 100, 250);
    // THEN they are counted and the last one's offset from the switch's start is given
    expect(around).toEqual({ lastAckBeforeSwitch: 10, firstAckAfterSwitch: 40, acknowledgedDuringSwitch: 2, lastAckDuringSwitch: 30 });
    // and the longest gap is (switch - lastAckDuringSwitch) + firstAckAfterSwitch, not lastAck + switch + firstAck
    expect(longestWriteGapMs(attempts, { from: 100, to: 250 }, 400)).toBe(250 - 100 - 30 + 40);
  });

  test('a long rehearsal (more acknowledged writes than a call takes arguments) still gets its figures, not a RangeError', () => {
    // GIVEN 250,000 acknowledged writes (an hour at ~70 writes/s), switch between 200,000 and 200,100 ms
    const attempts: WriteAttempt[] = [];
    for (let i = 0; i < 250_000; i += 1) attempts.push(ack(String(i), i < 200_000 ? i : i + 150));
    // WHEN the gap around the switch is computed THEN it is the real one
    expect(writeGapAroundSwitch(attempts, 200_000, 200_100)).toEqual({ lastAckBeforeSwitch: 1, firstAckAfterSwitch: 50, acknowledgedDuringSwitch: 0, lastAckDuringSwitch: null });
  });
});

describe('WriteLoad reconnects like an application pool', () => {
  test('a refused connection is tried again at the next request, not in a tight loop (a real pool does not hammer a frozen server)', async () => {
    // GIVEN one connection at 50 writes/s (one request every 20 ms) whose connects are all refused
    let connects = 0;
    const load = new WriteLoad({
      connections: 1,
      ratePerSecond: 50,
      connect: async () => {
        connects += 1;
        throw new Error('Access denied, this account is locked');
      },
    });
    // WHEN it runs for a while (as long as the machine lets it: the bound below holds at any speed)
    load.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await load.stop();
    const ranMs = load.stoppedAt - load.startedAt;
    // THEN it tried at most once per request slot (plus the first), and recorded each try
    expect(connects).toBeGreaterThan(0);
    expect(connects).toBeLessThanOrEqual(Math.ceil(ranMs / 20) + 2);
    expect(load.connects).toHaveLength(connects);
    expect(load.connects.every((c) => !c.ok && c.client === 1 && c.doneAt >= c.startedAt)).toBe(true);
    expect(load.connectErrors).toBe(connects);
    // and a refused connect is not a write attempt (failed writes count requests that reached a server)
    expect(load.attempts).toEqual([]);
  });
});

/** A stand-in connection for the load's loop: `end()` is the server ending it while idle (what the driver's 'end' event reports). */
function standInConnection(name: string, log: string[]) {
  let ended = false;
  return {
    get ended() {
      return ended;
    },
    end: () => (ended = true),
    writes: 0,
    async write(id: string) {
      // A request sent into a socket the server closed fails at once, as mysql2's and pg's do.
      if (ended) throw Object.assign(new Error("Can't add new command when connection is in closed state"), { code: 'CLOSED' });
      this.writes += 1;
      log.push(`${name} ${id}`);
    },
    async close() {
      ended = true;
    },
  };
}

describe('WriteLoad replaces a connection the server ended while idle, as a pool does', () => {
  test('the request after an idle kill is written on a fresh connection at once, not failed into the dead socket (mysql2 PoolConnection leaves the pool on end/error)', async () => {
    // GIVEN one connection at 100 writes/s whose first connection the server ends after its third write, while idle
    const log: string[] = [];
    const opened: Array<ReturnType<typeof standInConnection>> = [];
    const load = new WriteLoad({
      connections: 1,
      ratePerSecond: 100,
      connect: async () => {
        const connection = standInConnection(`connection${opened.length + 1}`, log);
        const write = connection.write.bind(connection);
        connection.write = async (id: string) => {
          await write(id);
          if (opened.length === 1 && connection.writes === 3) connection.end();
        };
        opened.push(connection);
        return connection;
      },
    });
    // WHEN it runs on past the kill (until the second connection has written, however slow the machine)
    load.start();
    for (let waited = 0; waited < 10000 && !((opened[1]?.writes ?? 0) >= 2); waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    await load.stop();
    // THEN no request was sent into the dead connection: every write was acknowledged
    expect(load.attempts.filter((a) => !a.acknowledged)).toEqual([]);
    // and the request right after the kill was the first one on the fresh connection
    expect(log.slice(0, 4).map((line) => line.split(' ')[0])).toEqual(['connection1', 'connection1', 'connection1', 'connection2']);
    expect(load.connects.map((c) => c.ok)).toEqual([true, true]);
  });

  test('a write in flight when its session dies still fails, and the next request reconnects', async () => {
    // GIVEN a connection whose second write fails on the wire (killed mid-statement)
    let connectCount = 0;
    const load = new WriteLoad({
      connections: 1,
      ratePerSecond: 100,
      connect: async () => {
        connectCount += 1;
        const first = connectCount === 1;
        let writes = 0;
        return {
          async write() {
            writes += 1;
            if (first && writes === 2) throw Object.assign(new Error('Connection was killed'), { code: 'ER_CONNECTION_KILLED' });
          },
          async close() {},
        };
      },
    });
    load.start();
    for (let waited = 0; waited < 10000 && load.attempts.filter((a) => a.acknowledged).length < 3; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    await load.stop();
    // THEN that write counts as failed (its outcome is unknown to the application), and a new connection took the next one
    expect(load.attempts.filter((a) => !a.acknowledged).map((a) => a.error)).toEqual(['ER_CONNECTION_KILLED']);
    expect(connectCount).toBe(2);
    expect(load.attempts[2].acknowledged).toBe(true);
  });
});

describe('writeGapAroundSwitch with the connection attempts', () => {
  test('splits the time after the switch into reconnecting and the first write, and counts refused connects during the switch', () => {
    const attempts = [ack('1', 0), ack('2', 90), ack('4', 290)];
    const connects = [
      { client: 1, startedAt: 100, doneAt: 110, ok: false },
      { client: 2, startedAt: 150, doneAt: 160, ok: false },
      { client: 1, startedAt: 255, doneAt: 270, ok: true },
      { client: 2, startedAt: 260, doneAt: 280, ok: true },
    ];
    expect(writeGapAroundSwitch(attempts, 100, 250, connects)).toEqual({ lastAckBeforeSwitch: 10, firstAckAfterSwitch: 40, acknowledgedDuringSwitch: 0, lastAckDuringSwitch: null, firstConnectAfterSwitch: 20, connectsRefusedDuringSwitch: 2 });
    expect(writeGapAroundSwitch(attempts, 100, 250, [])).toEqual({ lastAckBeforeSwitch: 10, firstAckAfterSwitch: 40, acknowledgedDuringSwitch: 0, lastAckDuringSwitch: null, firstConnectAfterSwitch: null, connectsRefusedDuringSwitch: 0 });
  });
});
