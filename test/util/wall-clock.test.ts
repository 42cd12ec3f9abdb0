import { makeWallClock, wallClockMs } from '../../lib/util/time';

describe('wall clock (timestamps compared across processes and with Date.now())', () => {
  test('follows the system clock when it is stepped after the process started (NTP, a resumed VM)', () => {
    // GIVEN a process whose monotonic clock ran 60 s while the system clock was stepped back 4.5 s
    let mono = 0;
    let wall = 1_796_241_000_000;
    const clock = makeWallClock(() => wall, () => mono);
    const first = clock();
    mono += 60_000.25;
    wall += 60_000 - 4_500;
    // THEN the clock reads the stepped time (within a millisecond), not the process start's anchor
    expect(Math.abs(clock() - wall)).toBeLessThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(1_796_241_000_001);
  });

  test('keeps sub-millisecond resolution and never runs backwards while the system clock is steady', () => {
    // (Date.now() is whole milliseconds: the system clock below is the true time rounded down)
    let mono = 10.4;
    const wall = () => Math.floor(1_000.7 + mono - 10.4);
    const clock = makeWallClock(wall, () => mono);
    const readings: number[] = [];
    for (let i = 0; i < 50; i++) {
      mono += 0.3;
      readings.push(clock());
    }
    for (let i = 1; i < readings.length; i++) expect(readings[i]).toBeGreaterThan(readings[i - 1]);
    expect(readings.some((r) => !Number.isInteger(r))).toBe(true);
  });

  test('the shared clock is within a millisecond of Date.now()', () => {
    const before = Date.now();
    const reading = wallClockMs();
    const after = Date.now();
    expect(reading).toBeGreaterThanOrEqual(before - 1);
    expect(reading).toBeLessThanOrEqual(after + 1);
  });
});
