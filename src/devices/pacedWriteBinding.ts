/**
 * The serial binding apical opens ports with: `serialport`'s detected binding, except that on Unix a write the
 * kernel cannot take at once (EAGAIN: the tty's buffer is full) is retried on a 1 ms timer instead of through the
 * binding's fd poller.
 *
 * Why: in @serialport/bindings-cpp (13.0.0 and 13.0.1) `Poller::poll` restarts its uv_poll handle with only the
 * event it was just asked for (`uv_poll_start(handle, events, …)`, not the accumulated mask). A write waiting for
 * "writable" loses that interest as soon as the read side re-arms "readable", and then waits until data arrives.
 * With a board that has acknowledged everything it received and waits for more, nothing arrives: the upload of a
 * 2 MB Program to the virtual board stalled in about one run of four (`SerialDevice.load` ending in
 * BoardTimeoutError after 8 retransmissions, with ~290 kB queued in the port and no write system call). Writes
 * that never see EAGAIN, and reads, are unchanged.
 */
import { write as fsWrite } from 'node:fs';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';

type Binding = typeof SerialPort.binding;
type OpenOptions = Parameters<Binding['open']>[0];
/** The part of a Unix port binding this file uses (LinuxPortBinding / DarwinPortBinding of bindings-cpp). */
interface UnixPortBinding {
  readonly isOpen: boolean;
  fd?: number | null;
  writeOperation?: Promise<void> | null;
  write(buffer: Buffer): Promise<void>;
}

const writeAsync = promisify(fsWrite);
/** Delay before retrying a write the tty refused (EAGAIN / EWOULDBLOCK / EINTR), ms. */
const RETRY_MS = 1;

/** Writes all of `buffer` to `fd`; EAGAIN waits RETRY_MS and retries; other errors are thrown (EBADF etc. mark a disconnect). */
async function writeAll(port: { readonly isOpen: boolean }, fd: number, buffer: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    if (!port.isOpen) throw new Error('Port is not open');
    try {
      const { bytesWritten } = await writeAsync(fd, buffer, offset, buffer.length - offset);
      offset += bytesWritten;
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { disconnect?: boolean };
      if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK' || err.code === 'EINTR') {
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        continue;
      }
      // As the binding does: these mean the device went away (the stream then closes as disconnected).
      if (err.code === 'EBADF' || err.code === 'ENXIO' || err.code === 'UNKNOWN' || err.errno === -1) err.disconnect = true;
      throw err;
    }
  }
}

async function open(options: OpenOptions) {
  const port = await (SerialPort.binding.open as (o: OpenOptions) => ReturnType<Binding['open']>)(options);
  const unix = port as unknown as UnixPortBinding;
  if (process.platform === 'win32' || typeof unix.fd !== 'number') return port;
  unix.write = async (buffer: Buffer): Promise<void> => {
    if (!Buffer.isBuffer(buffer)) throw new TypeError('"buffer" is not a Buffer');
    if (!unix.isOpen || typeof unix.fd !== 'number') throw new Error('Port is not open');
    const fd = unix.fd;
    // drain() awaits writeOperation before tcdrain, as with the binding's own write.
    const op = buffer.length === 0 ? Promise.resolve() : writeAll(unix, fd, buffer);
    const pending: Promise<void> = op.then(() => {
      if (unix.writeOperation === pending) unix.writeOperation = null;
    });
    unix.writeOperation = pending;
    return pending;
  };
  return port;
}

export const pacedWriteBinding = { ...SerialPort.binding, open } as Binding;

/** Options for `new SerialPort(…)` that open the port with pacedWriteBinding (its option type omits `binding`). */
export function pacedPortOptions(path: string, baudRate: number): ConstructorParameters<typeof SerialPort>[0] {
  return { path, baudRate, autoOpen: false, binding: pacedWriteBinding } as ConstructorParameters<typeof SerialPort>[0];
}
