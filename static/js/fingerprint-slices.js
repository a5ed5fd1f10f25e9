/*
 * Reads a File in 4 MiB slices for the fingerprint workers (importScripts).
 *
 * eachSlice(file, onSlice) calls onSlice(bytes, start, end) for consecutive slices
 * of SLICE_BYTES (the last may be shorter; an empty file gives one empty slice)
 * and rejects if the file cannot be read or changes size while it is read.
 *
 * Memory: a byte stream's BYOB reader fills one reused 4 MiB buffer, so a 500 MB
 * video costs a few MiB. `file.slice().arrayBuffer()` makes a new buffer for
 * every slice and the worker's garbage collector lets them pile up (+200 MiB
 * measured for a 200 MiB file); it is only the fallback where the browser's
 * Blob stream is not a byte stream. The bytes given to onSlice are valid only
 * during that call.
 */
"use strict";

const SLICE_BYTES = 4 * 1024 * 1024;

async function eachSlice(file, onSlice) {
  let reader = null;
  try {
    reader = file.stream().getReader({ mode: "byob" });
  } catch (e) {
    reader = null; // not a byte stream here
  }
  const loaded = await (reader ? slicesFromStream(reader, onSlice) : slicesByCopy(file, onSlice));
  if (loaded !== file.size) {
    throw new Error("the file changed while it was read");
  }
}

async function slicesFromStream(reader, onSlice) {
  let buffer = new ArrayBuffer(SLICE_BYTES);
  let loaded = 0;
  let done = false;
  do {
    let filled = 0;
    while (filled < SLICE_BYTES && !done) {
      // read() takes the buffer over and hands it back, filled, as result.value.
      const result = await reader.read(new Uint8Array(buffer, filled, SLICE_BYTES - filled));
      done = result.done;
      if (result.value === undefined) {
        throw new Error("the file could not be read");
      }
      buffer = result.value.buffer;
      filled += result.value.byteLength;
    }
    if (filled > 0 || loaded === 0) {
      onSlice(new Uint8Array(buffer, 0, filled), loaded, loaded + filled);
    }
    loaded += filled;
  } while (!done);
  return loaded;
}

async function slicesByCopy(file, onSlice) {
  const total = file.size;
  let loaded = 0;
  // The next slice is asked for before this one is hashed: reading overlaps hashing.
  let next = file.slice(0, Math.min(total, SLICE_BYTES)).arrayBuffer();
  do {
    const bytes = new Uint8Array(await next);
    const end = loaded + bytes.length;
    if (bytes.length === 0 && end < total) {
      throw new Error("the file shrank while it was read");
    }
    if (end < total) {
      next = file.slice(end, Math.min(total, end + SLICE_BYTES)).arrayBuffer();
    }
    onSlice(bytes, loaded, end);
    loaded = end;
  } while (loaded < total);
  return loaded;
}
