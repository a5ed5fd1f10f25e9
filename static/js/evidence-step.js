/*
 * The evidence step: fingerprints each chosen file on the device and keeps only
 * the digests in the form's hidden field. The file is never read by this page,
 * never displayed and never uploaded: only fingerprint.js's worker touches it.
 * Visible texts come from data-msg-* attributes (translated by the server).
 *
 * A form marked data-step-form waits for fingerprints still being made before it
 * is sent (see uploads.js).
 */
(function () {
  "use strict";
  var picker = document.querySelector("[data-fingerprint-picker]");
  var input = document.querySelector("[data-fingerprint-input]");
  var list = document.querySelector("[data-fingerprint-list]");
  var hidden = document.querySelector("input[name=fingerprints]");
  if (!picker || !input || !hidden || !window.AmparoFingerprint || !window.Worker) return;
  picker.hidden = false;
  var msg = function (name) { return picker.getAttribute("data-msg-" + name) || ""; };
  var items = [];
  try { items = JSON.parse(hidden.value || "[]"); } catch (e) { items = []; }

  function save() { hidden.value = JSON.stringify(items); }

  function row(label) {
    var li = document.createElement("li");
    li.className = "file-item";
    var name = document.createElement("span");
    name.className = "file-name";
    name.textContent = label;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", label);
    var state = document.createElement("span");
    state.className = "file-state";
    state.textContent = msg("working");
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(state);
    list.appendChild(li);
    return { li: li, bar: bar, state: state };
  }

  function removeButton(li, sha256) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.textContent = msg("remove");
    button.addEventListener("click", function () {
      items = items.filter(function (item) { return item.sha256 !== sha256; });
      save();
      li.remove();
    });
    li.appendChild(button);
  }

  function fingerprintOne(file) {
    var ui = row(file.name);
    return window.AmparoFingerprint.fingerprint(file, function (loaded, total) {
      ui.bar.value = total ? Math.round((loaded / total) * 100) : 100;
    }).then(function (result) {
      ui.bar.value = 100;
      if (items.some(function (item) { return item.sha256 === result.sha256; })) {
        ui.state.textContent = msg("duplicate");
        return;
      }
      items.push({
        sha256: result.sha256, md5: result.md5, pdq: result.pdq || "",
        pdqQuality: result.pdqQuality, pdqVersion: result.pdqVersion || "",
        size: result.size, media: result.pdq ? "image" : (/^video\//.test(result.mime || "") ? "video" : "other")
      });
      save();
      ui.state.textContent = result.pdq ? msg("done") : msg("nopdq");
      removeButton(ui.li, result.sha256);
    }, function () {
      ui.state.textContent = msg("failed");
      ui.li.className += " file-failed";
    });
  }

  var busy = Promise.resolve();
  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files || []);
    // One at a time: a phone should not hash several large videos at once.
    busy = busy.then(function () {
      return files.reduce(function (chain, file) {
        return chain.then(function () { return fingerprintOne(file); });
      }, Promise.resolve());
    }).then(function () { input.value = ""; });
  });

  // uploads.js waits for this before a data-step-form is sent.
  window.AmparoFingerprintsDone = function () { return busy; };
})();
