/** Typed errors of a board behind a serial link (docs/protocol.md). */
import { ApicalError } from '../emulator/errors.js';

/** The board speaks another protocol version or is another chip revision (checked by open(), before any load). */
export class BoardVersionError extends ApicalError {
  override name = 'BoardVersionError';
}
/** The board did not answer (or acknowledge) within the timeout after every retransmission. */
export class BoardTimeoutError extends ApicalError {
  override name = 'BoardTimeoutError';
}
/** The serial line closed (board unplugged, process gone). */
export class BoardDisconnectedError extends ApicalError {
  override name = 'BoardDisconnectedError';
}
/** Frames kept failing their CRC-32 after every retransmission. */
export class BoardCrcError extends ApicalError {
  override name = 'BoardCrcError';
}
/** The board answered a command with an error code (docs/protocol.md §5). */
export class BoardError extends ApicalError {
  override name = 'BoardError';
  constructor(
    message: string,
    readonly code: number,
    hint = '',
  ) {
    super(message, hint);
  }
}
