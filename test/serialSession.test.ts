/**
 * The session layer (src/devices/session.ts) between two Session endpoints over an in-process lossy line:
 * in-order exactly-once delivery under loss and corruption, BoardCrcError when every frame from the peer is
 * corrupted, BoardTimeoutError when the peer is silent.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BoardCrcError, BoardTimeoutError } from '../src/devices/boardErrors.js';
import { Session } from '../src/devices/session.js';

/** A pair of Duplex ends; fault(dir, n, chunk) returns the chunk to deliver (possibly altered) or null to drop it. */
function line(fault: (dir: 'ab' | 'ba', n: number, chunk: Buffer) => Buffer | null): [Duplex, Duplex] {
  const counts = { ab: 0, ba: 0 };
  const mk = (dir: 'ab' | 'ba', peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        const out = fault(dir, counts[dir]++, chunk);
        if (out) setImmediate(() => peer().push(out));
        cb();
      },
    });
  const a: Duplex = mk('ab', () => b);
  const b: Duplex = mk('ba', () => a);
  return [a, b];
}

const flip = (c: Buffer): Buffer => {
  const x = Buffer.from(c);
  x[Math.floor(x.length / 2)] ^= 0x01;
  return x;
};

describe('Session over a lossy line', () => {
  it('delivers every frame once, in order, despite dropped and corrupted frames in both directions', async () => {
    // Seeded pseudo-random faults, 10 % dropped and 10 % corrupted (a periodic pattern could align with the
    // go-back-N rounds and always hit the same frame).
    let state = 12345;
    const rand = (): number => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
    const [a, b] = line((_dir, _n, c) => {
      const r = rand();
      return r < 0.1 ? null : r < 0.2 ? flip(c) : c;
    });
    const host = new Session(a, { retransmitMs: 15, maxRetries: 100 });
    const peer = new Session(b, { retransmitMs: 15, maxRetries: 100 });
    host.window = 8;
    const got: number[] = [];
    peer.onFrame = (type, p) => got.push(type * 1000 + p[0]);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) sends.push(host.send(1 + (i % 3), Uint8Array.from([i, 0xc0, 0xdb])));
    await Promise.all(sends);
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => (1 + (i % 3)) * 1000 + i));
    expect(host.stats.retransmissions).toBeGreaterThan(0);
    expect(host.stats.crcErrors + peer.stats.crcErrors).toBeGreaterThan(0);
    host.close();
    peer.close();
  });

  it('fails with BoardCrcError when every frame from the peer is corrupted', async () => {
    const [a, b] = line((dir, _n, c) => (dir === 'ba' ? flip(c) : c));
    const host = new Session(a, { retransmitMs: 10, maxRetries: 3 });
    const peer = new Session(b);
    await expect(host.send(1, Uint8Array.from([1]))).rejects.toBeInstanceOf(BoardCrcError);
    peer.close();
  });

  it('fails with BoardTimeoutError when the peer never answers', async () => {
    const [a] = line(() => null);
    const host = new Session(a, { retransmitMs: 10, maxRetries: 3 });
    await expect(host.send(1, Uint8Array.from([1]))).rejects.toBeInstanceOf(BoardTimeoutError);
    expect(host.stats.retransmissions).toBe(3);
  });
});
