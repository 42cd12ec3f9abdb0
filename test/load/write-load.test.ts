import { longestWriteGapMs, summariseWrites, type WriteAttempt } from '../../lib/load/write-load';

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
