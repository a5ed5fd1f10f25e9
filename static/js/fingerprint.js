/*
 * Computes a picked file's fingerprints in a Web Worker, on the device.
 *
 *   <script src=".../fingerprint.js" data-worker-url=".../fingerprint-worker.js"></script>
 *   AmparoFingerprint.fingerprint(file, (loaded, total) => ...)
 *     .then(({sha256, md5, pdq, pdqQuality, pdqVersion, pdqError, size, mime}) => ...)
 *
 * The promise rejects with an Error whose `code` is "read-failed", "no-file" or
 * "worker-failed". Only digests come back from the worker; the file's bytes and
 * pixels stay inside it. The page works under `script-src 'self'; worker-src 'self'`;
 * the worker scripts need the policy of their own that WhiteNoise sends with them
 * (amparo/static_headers.py), which also allows WebAssembly for hash-wasm.
 */
(function () {
  "use strict";

  const script = document.currentScript;
  const defaultWorkerUrl = script ? script.getAttribute("data-worker-url") : null;

  function failure(code) {
    const error = new Error("Fingerprinting failed: " + code);
    error.code = code;
    return error;
  }

  function fingerprint(file, onProgress, workerUrl) {
    return new Promise(function (resolve, reject) {
      const url = workerUrl || defaultWorkerUrl;
      if (!url) {
        reject(failure("worker-failed"));
        return;
      }
      const worker = new Worker(url);
      worker.onmessage = function (event) {
        const message = event.data;
        if (message.type === "progress") {
          if (onProgress) {
            onProgress(message.loaded, message.total);
          }
        } else if (message.type === "done") {
          worker.terminate();
          resolve(message);
        } else {
          worker.terminate();
          reject(failure(message.code || "worker-failed"));
        }
      };
      worker.onerror = function (event) {
        event.preventDefault();
        worker.terminate();
        reject(failure("worker-failed"));
      };
      worker.postMessage({ file: file });
    });
  }

  window.AmparoFingerprint = { fingerprint: fingerprint };
})();
