/*
 * MD5 of a large file, for fingerprint-worker.js, which starts this worker so that
 * MD5 runs alongside its SHA-256 on a second core. Same threat and rules as that
 * worker: it only reads the File it is given and posts back a hex digest and
 * progress counters, never bytes; no network request, no eval. hash-wasm 4.13.0
 * (static/vendor/hash-wasm/) does the hashing; its WebAssembly needs the
 * 'wasm-unsafe-eval' that this script's own response policy grants.
 *
 * Message in:  {file: File}
 * Messages out: {type: "progress", loaded}, {type: "done", md5},
 *               {type: "error", code} ("no-file" or "read-failed")
 */
"use strict";

// fingerprint-slices.js gives eachSlice().
importScripts("fingerprint-slices.js", "../vendor/hash-wasm/md5.umd.min.js");

async function md5Of(file) {
  const md5 = await hashwasm.createMD5();
  await eachSlice(file, function (bytes, start, end) {
    md5.update(bytes);
    self.postMessage({ type: "progress", loaded: end });
  });
  return md5.digest("hex");
}

self.onmessage = function (event) {
  const file = event.data && event.data.file;
  if (!(file instanceof Blob)) {
    self.postMessage({ type: "error", code: "no-file" });
    return;
  }
  md5Of(file).then(
    function (md5) {
      self.postMessage({ type: "done", md5: md5 });
    },
    function () {
      self.postMessage({ type: "error", code: "read-failed" });
    },
  );
};
