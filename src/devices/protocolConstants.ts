/**
 * Board serial protocol constants (docs/protocol.md). The single source of truth: the C board
 * (firmware-bridge/host/apx_board.c) includes firmware-bridge/include/protocol_constants.h, GENERATED from this
 * file by test-support/protocolHeader.ts; test/serialProtocolHeader.test.ts fails when the header is stale.
 * Every value is a plain integer.
 */

/** Protocol version spoken by this host; HELLO fails with BoardVersionError on any other. */
export const PROTOCOL_VERSION = 1;

/** Frame layout (before SLIP): type u8, flags u8, seq u32, ack u32, payload, crc32 u32 — all little-endian. */
export const FRAME = {
  headerBytes: 10,
  crcBytes: 4,
  /** Largest payload either side sends (the board may declare a smaller one in HELLO). */
  maxPayload: 4096,
} as const;

/** Frame flags. */
export const FLAG = {
  /** Start of a session: the receiver resets its expected sequence number to this frame's seq. */
  syn: 1,
} as const;

/** SLIP (RFC 1055) bytes. */
export const SLIP = {
  end: 0xc0,
  esc: 0xdb,
  escEnd: 0xdc,
  escEsc: 0xdd,
} as const;

/** Message types. Commands host → board; a success response is command | 0x80. */
export const MSG = {
  ack: 0x00,
  hello: 0x01,
  loadBegin: 0x02,
  loadChunk: 0x03,
  loadEnd: 0x04,
  stimulus: 0x05,
  run: 0x06,
  readWeights: 0x07,
  readState: 0x08,
  reset: 0x09,
  shutdown: 0x0a,
  response: 0x80,
  /** Board → host: a batch of per-tick records during RUN. */
  ticks: 0x90,
  error: 0xff,
} as const;

/** Error codes carried by an ERROR frame. */
export const ERR = {
  unknownCommand: 1,
  badPayload: 2,
  noProgram: 3,
  noLoad: 4,
  tooLarge: 5,
  loadIncomplete: 6,
  hashMismatch: 7,
  format: 8,
  invalid: 9,
  revision: 10,
  fit: 11,
  arena: 12,
  usage: 13,
  sequence: 14,
} as const;

/** LOAD_BEGIN response status. */
export const LOAD_STATUS = {
  proceed: 0,
  alreadyLoaded: 1,
} as const;

/** STIMULUS event operations. */
export const STIM_OP = {
  set: 0,
  clear: 1,
} as const;

/** RUN flags. */
export const RUN_FLAG = {
  digests: 1,
} as const;

/** Session timing: retransmission timeout (ms) and retransmissions before giving up. */
export const SESSION = {
  retransmitMs: 250,
  maxRetries: 8,
  /** Frames the host accepts unacknowledged from the board (declared in HELLO). */
  hostWindow: 32,
} as const;

/** Bytes of one per-tick record in a TICKS frame: spike count u32 + one u32 digest per core. */
export const TICK_RECORD_BYTES = 4 + 4 * 16;
