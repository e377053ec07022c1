/**
 * The virtual board for tests that need one opened: builds firmware-bridge's host board (make -C firmware-bridge
 * host, so it runs the current C sources), starts apx_board on a pseudo terminal and opens a SerialDevice on it.
 */
import { buildHostBoard, startHostBoard, type HostBoard } from '../../src/devices/hostBoard.js';
import { SerialDevice } from '../../src/devices/serialDevice.js';

export interface OpenBoard {
  board: HostBoard;
  dev: SerialDevice;
  /** Closes the device and stops the board. */
  close(): Promise<void>;
}

export async function openVirtualBoard(): Promise<OpenBoard> {
  buildHostBoard();
  const board = await startHostBoard();
  const dev = new SerialDevice(board.path);
  try {
    await dev.open();
  } catch (e) {
    await board.stop();
    throw e;
  }
  return {
    board,
    dev,
    close: async () => {
      await dev.close();
      await board.stop();
    },
  };
}
