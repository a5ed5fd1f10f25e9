/*
 * Fingerprint worker: SHA-256, MD5 and PDQ of a file, computed on the device.
 *
 * Threat: the file may be a sexual image of a minor (real or generated). It must
 * never leave the device and never be shown. This worker only reads the File it is
 * given and posts back hex digests, a quality score and progress counters: never
 * pixels, never bytes. It uses no eval, and it fetches only its own scripts
 * (hash-wasm and the MD5 worker, GET from this origin): the policy its response
 * carries allows nothing else, no connection of any kind.
 *
 * Message in:  {file: File}
 * Messages out:
 *   {type: "progress", loaded, total}
 *   {type: "done", sha256, md5, pdq, pdqQuality, pdqVersion, pdqError, size, mime}
 *       pdq/pdqQuality are null when the file is not a decodable JPEG/PNG/WebP/GIF;
 *       pdqError then says why ("not-an-image" or "decode-failed").
 *   {type: "error", code}   ("no-file" or "read-failed"; no digests)
 *
 * SHA-256 and MD5 come from maintained code, never written here: WebCrypto's
 * native SHA-256 for a file small enough to hold in memory (WEBCRYPTO_MAX_BYTES),
 * and beyond it hash-wasm 4.13.0 (static/vendor/hash-wasm/, pinned, MIT), which
 * streams, because phones pick videos of hundreds of megabytes. MD5 of a large
 * file runs in a second worker (fingerprint-md5-worker.js) at the same time.
 * The file is read in 4 MiB slices into a reused buffer (fingerprint-slices.js).
 *
 * hash-wasm compiles WebAssembly, which a Content-Security-Policy refuses unless
 * it allows 'wasm-unsafe-eval'. That is granted to these worker scripts alone, by
 * the policy their own responses carry (settings.FINGERPRINT_WORKER_CSP); pages
 * keep `script-src 'self'`.
 *
 * PDQ must agree with vault/fingerprints.py (PDQ_PIPELINE_VERSION below). Both do:
 *   1. decode, apply the EXIF orientation;
 *   2. RGB, transparent pixels composited on white;
 *   3. k = ceil(longest side / 512); drop the last (side mod k) columns and rows;
 *      average each k x k block with Pillow's Image.reduce rounding;
 *   4. PDQ (Meta's reference algorithm) on the result.
 * The PDQ arithmetic below copies the reference C++ in float32 (Math.fround at
 * every step), so equal pixels give an equal hash, bit for bit.
 */
"use strict";

// Relative to this script, so that they come from wherever it was served.
// fingerprint-slices.js gives eachSlice() and SLICE_BYTES.
importScripts(
  "fingerprint-slices.js",
  "../vendor/hash-wasm/sha256.umd.min.js",
  "../vendor/hash-wasm/md5.umd.min.js",
);

const PDQ_PIPELINE_VERSION = "pdq-1:exif-transpose,rgb,max512-intbox";
// Files up to this size get WebCrypto's SHA-256 (see digestsInMemory).
const WEBCRYPTO_MAX_BYTES = 32 * 1024 * 1024;
const MD5_WORKER_URL = "fingerprint-md5-worker.js";
const PDQ_MAX_SIDE = 512;
// Pixels read back from the canvas per strip: bounds memory for 50-megapixel photos.
const STRIP_PIXELS = 4 * 1024 * 1024;

// ---------------------------------------------------------------- SHA-256 and MD5

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

// A file up to WEBCRYPTO_MAX_BYTES is assembled in memory and given to WebCrypto's
// native SHA-256 (several times faster than WebAssembly). digest() copies its
// input, so this costs about twice the file: at 32 MiB, ~64 MiB, half of the
// 128 MiB that the streaming path is held to for any size (bench/browser.py).
// Photos and screenshots, the files PDQ matters for, are far below it.
async function digestsInMemory(file, onProgress) {
  const md5 = await hashwasm.createMD5();
  const whole = new Uint8Array(file.size);
  await eachSlice(file, function (bytes, start, end) {
    whole.set(bytes, start);
    md5.update(bytes);
    onProgress(end);
  });
  const sha256 = await crypto.subtle.digest("SHA-256", whole);
  return { sha256: hex(sha256), md5: md5.digest("hex") };
}

// MD5 in a second worker, reading the same File on its own: on a device with two
// cores both digests run at once. Returns {promise, stop}.
function md5InSecondWorker(file, onProgress) {
  let worker = null;
  const promise = new Promise(function (resolve, reject) {
    worker = new Worker(MD5_WORKER_URL);
    worker.onmessage = function (event) {
      const message = event.data;
      if (message.type === "progress") {
        onProgress(message.loaded);
        return;
      }
      worker.terminate();
      if (message.type === "done") {
        resolve(message.md5);
      } else {
        reject(new Error(message.code));
      }
    };
    worker.onerror = function (event) {
      event.preventDefault();
      worker.terminate();
      reject(new Error("md5-worker-failed"));
    };
    worker.postMessage({ file: file });
  });
  return {
    promise: promise,
    stop: function () {
      worker.terminate();
    },
  };
}

// Larger files stream through hash-wasm's SHA-256 here and its MD5 in a second
// worker (or here too where a worker cannot start workers): memory stays at a
// few slices whatever the size. Progress is the slower of the two.
async function digestsStreamed(file, onProgress) {
  const sha256 = await hashwasm.createSHA256();
  let shaLoaded = 0;
  let md5Loaded = 0;
  const report = function () {
    onProgress(Math.min(shaLoaded, md5Loaded));
  };
  if (typeof Worker === "undefined") {
    const md5 = await hashwasm.createMD5();
    await eachSlice(file, function (bytes, start, end) {
      sha256.update(bytes);
      md5.update(bytes);
      onProgress(end);
    });
    return { sha256: sha256.digest("hex"), md5: md5.digest("hex") };
  }
  const md5Job = md5InSecondWorker(file, function (loaded) {
    md5Loaded = loaded;
    report();
  });
  try {
    await eachSlice(file, function (bytes, start, end) {
      sha256.update(bytes);
      shaLoaded = end;
      report();
    });
    const md5 = await md5Job.promise;
    return { sha256: sha256.digest("hex"), md5: md5 };
  } finally {
    md5Job.stop();
  }
}

// ---------------------------------------------------------------- file type

// Decides from magic bytes whether to try decoding, so that a 500 MB video is
// never handed to the image decoder (which would read it whole into memory).
function sniffImageType(head) {
  const has = (offset, signature) => signature.every((v, i) => head[offset + i] === v);
  if (has(0, [0xff, 0xd8, 0xff])) {
    return "image/jpeg";
  }
  if (has(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return "image/png";
  }
  if (has(0, [0x47, 0x49, 0x46, 0x38])) {
    return "image/gif"; // "GIF8"
  }
  if (has(0, [0x52, 0x49, 0x46, 0x46]) && has(8, [0x57, 0x45, 0x42, 0x50])) {
    return "image/webp"; // "RIFF", size, "WEBP"
  }
  return null;
}

// ---------------------------------------------------------------- pixels

// Orientation applied, transparency on white, k x k block averages: the RGB
// pixels the server's pipeline produces. Returns {width, height, rgb}.
function reducedRgb(bitmap) {
  const width = bitmap.width;
  const height = bitmap.height;
  const k = Math.max(1, Math.ceil(Math.max(width, height) / PDQ_MAX_SIDE));
  const outWidth = Math.floor(width / k);
  const outHeight = Math.floor(height / k);
  const rgb = new Uint8Array(outWidth * outHeight * 3);
  if (outWidth === 0 || outHeight === 0) {
    return { width: outWidth, height: outHeight, rgb: rgb };
  }
  const usedWidth = outWidth * k;
  const sums = new Uint32Array(outWidth * 3);
  // Image.reduce rounding: ((sum + n/2) * M) >> 24, M = 2^32 / (256 n) in float32.
  const n = k * k;
  const half = Math.floor(n / 2);
  const multiplier = Math.floor(Math.fround(4294967296 / (256 * n)));

  const rowsPerStrip = k * Math.max(1, Math.floor(STRIP_PIXELS / (width * k)));
  const canvas = new OffscreenCanvas(width, Math.min(rowsPerStrip, outHeight * k));
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  for (let top = 0; top < outHeight * k; top += rowsPerStrip) {
    const rows = Math.min(rowsPerStrip, outHeight * k - top);
    ctx.globalCompositeOperation = "copy";
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, rows);
    ctx.globalCompositeOperation = "source-over";
    ctx.drawImage(bitmap, 0, top, width, rows, 0, 0, width, rows);
    const data = ctx.getImageData(0, 0, usedWidth, rows).data;
    for (let band = 0; band < rows; band += k) {
      sums.fill(0);
      for (let y = band; y < band + k; y++) {
        let p = y * usedWidth * 4;
        for (let ox = 0; ox < outWidth; ox++) {
          const s = ox * 3;
          for (let i = 0; i < k; i++, p += 4) {
            sums[s] += data[p];
            sums[s + 1] += data[p + 1];
            sums[s + 2] += data[p + 2];
          }
        }
      }
      const outRow = ((top + band) / k) * outWidth * 3;
      for (let i = 0; i < outWidth * 3; i++) {
        rgb[outRow + i] =
          k === 1 ? sums[i] : Math.floor(((sums[i] + half) * multiplier) / 16777216);
      }
    }
  }
  return { width: outWidth, height: outHeight, rgb: rgb };
}

// ---------------------------------------------------------------- PDQ
// Port of facebook/ThreatExchange pdq/cpp (hashing/pdqhashing.cpp,
// downscaling/downscaling.cpp) as built into the pdqhash package the server uses.

const f32 = Math.fround;
const PDQ_MIN_HASHABLE_DIM = 5;

const DCT_MATRIX = (function () {
  const m = new Float32Array(16 * 64);
  const scale = f32(Math.sqrt(2.0 / 64));
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      m[i * 64 + j] = scale * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1));
    }
  }
  return m;
})();

function box1D(input, output, start, length, stride, fullWindow) {
  const halfWindow = Math.floor((fullWindow + 2) / 2);
  const phase1 = halfWindow - 1;
  const phase2 = fullWindow - halfWindow + 1;
  const phase3 = length - fullWindow;
  const phase4 = halfWindow - 1;
  let li = start;
  let ri = start;
  let oi = start;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < phase1; i++) {
    sum = f32(sum + input[ri]);
    count++;
    ri += stride;
  }
  for (let i = 0; i < phase2; i++) {
    sum = f32(sum + input[ri]);
    count++;
    output[oi] = sum / count;
    ri += stride;
    oi += stride;
  }
  for (let i = 0; i < phase3; i++) {
    sum = f32(sum + input[ri]);
    sum = f32(sum - input[li]);
    output[oi] = sum / count;
    li += stride;
    ri += stride;
    oi += stride;
  }
  for (let i = 0; i < phase4; i++) {
    sum = f32(sum - input[li]);
    count--;
    output[oi] = sum / count;
    li += stride;
    oi += stride;
  }
}

function jaroszWindow(oldDimension, newDimension) {
  return Math.floor((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
}

// Float32Array stores round to float32, which is the reference's float arithmetic.
function pdqFromRgb(rgb, width, height) {
  if (width < PDQ_MIN_HASHABLE_DIM || height < PDQ_MIN_HASHABLE_DIM) {
    return { hex: "0".repeat(64), quality: 0 };
  }
  const count = width * height;
  const buffer1 = new Float32Array(count);
  const buffer2 = new Float32Array(count);
  for (let i = 0, p = 0; i < count; i++, p += 3) {
    // Same operation order as pdqhash: float64 sum, then float32.
    buffer1[i] = rgb[p] * 0.299 + rgb[p + 1] * 0.587 + rgb[p + 2] * 0.114;
  }

  const block = new Float32Array(64 * 64);
  if (width === 64 && height === 64) {
    block.set(buffer1);
  } else {
    const windowAlongRows = jaroszWindow(width, 64);
    const windowAlongCols = jaroszWindow(height, 64);
    for (let pass = 0; pass < 2; pass++) {
      for (let y = 0; y < height; y++) {
        box1D(buffer1, buffer2, y * width, width, 1, windowAlongRows);
      }
      for (let x = 0; x < width; x++) {
        box1D(buffer2, buffer1, x, height, width, windowAlongCols);
      }
    }
    for (let i = 0; i < 64; i++) {
      const row = Math.floor(((i + 0.5) * height) / 64);
      for (let j = 0; j < 64; j++) {
        const col = Math.floor(((j + 0.5) * width) / 64);
        block[i * 64 + j] = buffer1[row * width + col];
      }
    }
  }

  const quality = pdqQuality(block);

  // B = D A D^t, only the 16 x 16 lowest non-DC frequencies.
  const t = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) {
        sum = f32(sum + f32(DCT_MATRIX[i * 64 + k] * block[k * 64 + j]));
      }
      t[i * 64 + j] = sum;
    }
  }
  const dct = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) {
        sum = f32(sum + f32(t[i * 64 + k] * DCT_MATRIX[j * 64 + k]));
      }
      dct[i * 16 + j] = sum;
    }
  }

  // The reference's Torben median of 256 values is the 128th smallest.
  const median = Float32Array.from(dct).sort()[127];
  // Bit i*16+j is set when dct[i][j] > median; the reference prints the sixteen
  // 16-bit words from the last to the first, each as four hex digits.
  let hex = "";
  for (let i = 15; i >= 0; i--) {
    let word = 0;
    for (let j = 0; j < 16; j++) {
      if (dct[i * 16 + j] > median) {
        word |= 1 << j;
      }
    }
    hex += word.toString(16).padStart(4, "0");
  }
  return { hex: hex, quality: quality };
}

function pdqQuality(block) {
  let gradientSum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      const d = f32(f32(f32(block[i * 64 + j] - block[(i + 1) * 64 + j]) * 100) / 255);
      gradientSum += Math.abs(Math.trunc(d));
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      const d = f32(f32(f32(block[i * 64 + j] - block[i * 64 + j + 1]) * 100) / 255);
      gradientSum += Math.abs(Math.trunc(d));
    }
  }
  return Math.min(100, Math.floor(gradientSum / 90));
}

// ---------------------------------------------------------------- worker

async function fingerprintFile(file) {
  const total = file.size;
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const imageType = sniffImageType(head);
  // Each figure once, in order; an empty file reports its single 0 of 0.
  let reported = total > 0 ? 0 : -1;
  const onProgress = function (loaded) {
    if (loaded > reported) {
      reported = loaded;
      self.postMessage({ type: "progress", loaded: loaded, total: total });
    }
  };
  const inMemory = total <= WEBCRYPTO_MAX_BYTES && self.crypto && self.crypto.subtle;
  const digests = await (inMemory ? digestsInMemory : digestsStreamed)(file, onProgress);
  const result = {
    type: "done",
    sha256: digests.sha256,
    md5: digests.md5,
    pdq: null,
    pdqQuality: null,
    pdqVersion: PDQ_PIPELINE_VERSION,
    pdqError: null,
    size: total,
    mime: imageType || file.type || "application/octet-stream",
  };
  if (imageType === null) {
    result.pdqError = "not-an-image";
    return result;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: "from-image",
      // The server ignores embedded colour profiles; so must we.
      colorSpaceConversion: "none",
      premultiplyAlpha: "default",
    });
  } catch (e) {
    result.pdqError = "decode-failed";
    return result;
  }
  try {
    const reduced = reducedRgb(bitmap);
    const pdq = pdqFromRgb(reduced.rgb, reduced.width, reduced.height);
    result.pdq = pdq.hex;
    result.pdqQuality = pdq.quality;
  } catch (e) {
    result.pdqError = "decode-failed";
  } finally {
    bitmap.close();
  }
  return result;
}

self.onmessage = function (event) {
  const file = event.data && event.data.file;
  if (!(file instanceof Blob)) {
    self.postMessage({ type: "error", code: "no-file" });
    return;
  }
  fingerprintFile(file).then(
    function (result) {
      self.postMessage(result);
    },
    function () {
      self.postMessage({ type: "error", code: "read-failed" });
    },
  );
};
