/*
 * Fingerprint worker: SHA-256, MD5 and PDQ of a file, computed on the device.
 *
 * Threat: the file may be a sexual image of a minor (real or generated). It must
 * never leave the device and never be shown. This worker only reads the File it is
 * given and posts back hex digests, a quality score and progress counters: never
 * pixels, never bytes. It makes no network request and uses no eval.
 *
 * Message in:  {file: File}
 * Messages out:
 *   {type: "progress", loaded, total}
 *   {type: "done", sha256, md5, pdq, pdqQuality, pdqVersion, pdqError, size, mime}
 *       pdq/pdqQuality are null when the file is not a decodable JPEG/PNG/WebP/GIF;
 *       pdqError then says why ("not-an-image" or "decode-failed").
 *   {type: "error", code}   ("no-file" or "read-failed"; no digests)
 *
 * SHA-256 and MD5 are incremental, written here, because WebCrypto's digest() needs
 * the whole file in memory and phones pick files of hundreds of megabytes. The file
 * is read in 4 MiB slices.
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

const PDQ_PIPELINE_VERSION = "pdq-1:exif-transpose,rgb,max512-intbox";
const SLICE_BYTES = 4 * 1024 * 1024;
const PDQ_MAX_SIDE = 512;
// Pixels read back from the canvas per strip: bounds memory for 50-megapixel photos.
const STRIP_PIXELS = 4 * 1024 * 1024;

// ---------------------------------------------------------------- SHA-256 (FIPS 180-4)

const SHA256_K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
  0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
  0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
  0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
  0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
  0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

class Sha256 {
  constructor() {
    this.h = new Int32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
      0x5be0cd19,
    ]);
    this.w = new Int32Array(64);
    this.pending = new Uint8Array(64);
    this.pendingLength = 0;
    this.byteCount = 0;
  }

  update(bytes) {
    absorb(this, bytes);
  }

  blocks(p, start, length) {
    const w = this.w;
    const h = this.h;
    for (let base = start; base < start + length; base += 64) {
      for (let i = 0; i < 16; i++) {
        const j = base + i * 4;
        w[i] = (p[j] << 24) | (p[j + 1] << 16) | (p[j + 2] << 8) | p[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15];
        const b = w[i - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = h[0];
      let b = h[1];
      let c = h[2];
      let d = h[3];
      let e = h[4];
      let f = h[5];
      let g = h[6];
      let hh = h[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + S1 + ch + SHA256_K[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        hh = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0;
      h[1] = (h[1] + b) | 0;
      h[2] = (h[2] + c) | 0;
      h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0;
      h[5] = (h[5] + f) | 0;
      h[6] = (h[6] + g) | 0;
      h[7] = (h[7] + hh) | 0;
    }
  }

  hex() {
    const tail = padding(this.byteCount, true);
    this.update(tail);
    let out = "";
    for (let i = 0; i < 8; i++) {
      out += (this.h[i] >>> 0).toString(16).padStart(8, "0");
    }
    return out;
  }
}

// ---------------------------------------------------------------- MD5 (RFC 1321)
// MD5 is broken for collisions; it is kept only because platforms and hotlines
// still match on it. SHA-256 and PDQ are the identifiers the project relies on.

const MD5_S = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
  14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
  21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];
// floor(abs(sin(i + 1)) * 2^32), written out: Math.sin's precision varies by engine.
const MD5_K = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
  0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
  0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
  0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
  0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
  0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
  0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
  0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
  0xeb86d391,
]);

class Md5 {
  constructor() {
    this.h = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
    this.x = new Int32Array(16);
    this.pending = new Uint8Array(64);
    this.pendingLength = 0;
    this.byteCount = 0;
  }

  update(bytes) {
    absorb(this, bytes);
  }

  blocks(p, start, length) {
    const x = this.x;
    const h = this.h;
    for (let base = start; base < start + length; base += 64) {
      for (let i = 0; i < 16; i++) {
        const j = base + i * 4;
        x[i] = p[j] | (p[j + 1] << 8) | (p[j + 2] << 16) | (p[j + 3] << 24);
      }
      let a = h[0];
      let b = h[1];
      let c = h[2];
      let d = h[3];
      for (let i = 0; i < 64; i++) {
        let f;
        let g;
        if (i < 16) {
          f = (b & c) | (~b & d);
          g = i;
        } else if (i < 32) {
          f = (d & b) | (~d & c);
          g = (5 * i + 1) & 15;
        } else if (i < 48) {
          f = b ^ c ^ d;
          g = (3 * i + 5) & 15;
        } else {
          f = c ^ (b | ~d);
          g = (7 * i) & 15;
        }
        const t = (a + f + MD5_K[i] + x[g]) | 0;
        a = d;
        d = c;
        c = b;
        b = (b + ((t << MD5_S[i]) | (t >>> (32 - MD5_S[i])))) | 0;
      }
      h[0] = (h[0] + a) | 0;
      h[1] = (h[1] + b) | 0;
      h[2] = (h[2] + c) | 0;
      h[3] = (h[3] + d) | 0;
    }
  }

  hex() {
    this.update(padding(this.byteCount, false));
    let out = "";
    for (let i = 0; i < 4; i++) {
      const v = this.h[i];
      for (let b = 0; b < 4; b++) {
        out += ((v >>> (8 * b)) & 0xff).toString(16).padStart(2, "0");
      }
    }
    return out;
  }
}

// Feeds bytes to a hasher's 64-byte block function, keeping a partial block
// between calls so that slices of any length can be fed in turn.
function absorb(hasher, bytes) {
  hasher.byteCount += bytes.length;
  let offset = 0;
  if (hasher.pendingLength > 0) {
    offset = Math.min(64 - hasher.pendingLength, bytes.length);
    hasher.pending.set(bytes.subarray(0, offset), hasher.pendingLength);
    hasher.pendingLength += offset;
    if (hasher.pendingLength < 64) {
      return;
    }
    hasher.blocks(hasher.pending, 0, 64);
    hasher.pendingLength = 0;
  }
  const whole = (bytes.length - offset) & ~63;
  hasher.blocks(bytes, offset, whole);
  offset += whole;
  hasher.pending.set(bytes.subarray(offset), 0);
  hasher.pendingLength = bytes.length - offset;
}

// Merkle-Damgard padding: 0x80, zeros, then the length in bits as 64 bits
// (big-endian for SHA-256, little-endian for MD5). Files may exceed 512 MiB, so the
// bit count does not fit in 32 bits.
function padding(byteCount, bigEndian) {
  const padLength = ((55 - byteCount) & 63) + 1;
  const tail = new Uint8Array(padLength + 8);
  tail[0] = 0x80;
  const bits = byteCount * 8;
  const high = Math.floor(bits / 4294967296);
  const low = bits >>> 0;
  for (let i = 0; i < 4; i++) {
    const lowByte = (low >>> (8 * i)) & 0xff;
    const highByte = (high >>> (8 * i)) & 0xff;
    if (bigEndian) {
      tail[padLength + 7 - i] = lowByte;
      tail[padLength + 3 - i] = highByte;
    } else {
      tail[padLength + i] = lowByte;
      tail[padLength + 4 + i] = highByte;
    }
  }
  return tail;
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
  const sha256 = new Sha256();
  const md5 = new Md5();
  let imageType = null;
  let loaded = 0;
  do {
    const end = Math.min(total, loaded + SLICE_BYTES);
    const bytes = new Uint8Array(await file.slice(loaded, end).arrayBuffer());
    if (loaded === 0) {
      imageType = sniffImageType(bytes);
    }
    sha256.update(bytes);
    md5.update(bytes);
    loaded = end;
    self.postMessage({ type: "progress", loaded: loaded, total: total });
  } while (loaded < total);
  const result = {
    type: "done",
    sha256: sha256.hex(),
    md5: md5.hex(),
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
