/** Writes a stream to a new file (mode 0600, refused if it exists) and fsyncs it; the file is removed on failure. */
import { promises as fsp, rmSync } from 'node:fs';

export async function writeStreamToFile(file: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
  const fh = await fsp.open(file, 'wx', 0o600);
  let total = 0;
  try {
    for await (const piece of body) {
      let off = 0;
      while (off < piece.length) off += (await fh.write(piece, off, piece.length - off)).bytesWritten;
      total += piece.length;
    }
    await fh.sync();
    await fh.close();
    return total;
  } catch (e) {
    await fh.close().catch(() => undefined);
    rmSync(file, { force: true });
    throw e;
  }
}
