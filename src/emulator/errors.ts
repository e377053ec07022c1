/**
 * Typed errors. Every error a user can cause is an ApicalError: its message is one line that names the
 * problem, and `hint` says what to do about it. The CLI prints `apical: <message> (<hint>)` and exits 2.
 */
export class ApicalError extends Error {
  override name = 'ApicalError';
  constructor(
    message: string,
    readonly hint: string = '',
  ) {
    super(message);
  }
}

/** A .apx file that is not a Program, is truncated or corrupted, or has an unknown format version. */
export class ProgramFormatError extends ApicalError {
  override name = 'ProgramFormatError';
}

/** A Program that is well-formed but violates the chip spec (bad parameter, bad microcode, bad index). */
export class ProgramInvalidError extends ApicalError {
  override name = 'ProgramInvalidError';
}

/** A Program or network that does not fit the chip's capacities. */
export class ProgramFitError extends ApicalError {
  override name = 'ProgramFitError';
}

/** A Program compiled for another chip revision. */
export class ChipRevisionError extends ApicalError {
  override name = 'ChipRevisionError';
}

/** A misuse of the emulator API (unknown port, wrong input length...). */
export class UsageError extends ApicalError {
  override name = 'UsageError';
}
