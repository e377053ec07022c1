/**
 * Host-side seeded random numbers for building networks (initial weights, connectivity, data splits).
 * Not the chip PRNG (src/emulator/prng.ts): this one only decides what goes into a Program.
 * Generator: SplitMix32-style counter hashed by mix32; uniform doubles with 32 random bits.
 */
import { mix32 } from '../emulator/prng.js';

export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = mix32((seed ^ 0x5bd1e995) >>> 0);
  }
  /** Uniform uint32. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
