/*
 * Evidence uploads with progress bars. Each chosen file is sent on its own request
 * (so one failure loses only that file), with its progress and any error shown next
 * to it. Empty files and files over the limit are refused here, before any byte is
 * sent (the server refuses them too). Without JavaScript the form posts normally and
 * the server answers with a message. Texts come from data-msg-* attributes,
 * translated by the server.
 *
 * window.AmparoUploads.sendPending() sends whatever was chosen and not yet sent, in
 * every upload form of the page, and resolves to true when nothing failed: the
 * evidence step calls it before continuing, so a chosen file is never dropped.
 *
 * A form marked data-step-form (the wizard's "Continue", the status page's "Add
 * these fingerprints") waits for fingerprints still being made (evidence-step.js),
 * then sends any file chosen and not yet sent; if one fails it stops and says so in
 * its [data-continue-error] box instead of going on without it.
 */
(function () {
  "use strict";
  var forms = [];

  document.querySelectorAll("form[data-upload-form]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var list = form.querySelector("[data-upload-list]");
    var chosen = form.querySelector("[data-upload-chosen]");
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    var maxBytes = parseInt(form.getAttribute("data-max-bytes") || "0", 10);
    var msg = function (name) { return form.getAttribute("data-msg-" + name) || ""; };

    function showChosen() {
      if (!chosen) return;
      var names = Array.prototype.map.call(input.files || [], function (f) { return f.name; });
      chosen.textContent = names.length ? msg("chosen") + " " + names.join(", ") : msg("none");
    }

    function row(file) {
      var li = document.createElement("li");
      li.className = "file-item";
      var name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      var state = document.createElement("span");
      state.className = "file-state";
      li.appendChild(name); li.appendChild(bar); li.appendChild(state);
      list.appendChild(li);
      return { li: li, bar: bar, state: state };
    }

    function refuse(ui, text) {
      ui.bar.value = 100;
      ui.state.textContent = text;
      ui.li.className += " file-failed";
      return Promise.resolve(false);
    }

    function send(file) {
      var ui = row(file);
      if (file.size === 0) return refuse(ui, msg("empty"));
      if (maxBytes && file.size > maxBytes) return refuse(ui, msg("toolarge"));
      ui.state.textContent = msg("sending");
      return new Promise(function (resolve) {
        var data = new FormData();
        data.append("csrfmiddlewaretoken", token);
        data.append("files", file);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.onprogress = function (e) {
          if (e.lengthComputable) ui.bar.value = Math.round((e.loaded / e.total) * 100);
        };
        xhr.onload = function () {
          var body = {};
          try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
          ui.bar.value = 100;
          ui.state.textContent = body.message || msg("failed");
          var ok = xhr.status === 200 && body.ok === true;
          if (!ok) ui.li.className += " file-failed";
          resolve(ok);
        };
        xhr.onerror = function () {
          resolve(refuse(ui, msg("network")));
        };
        xhr.send(data);
      });
    }

    function sendChosen() {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = "";
      showChosen();
      var allOk = true;
      return files.reduce(function (chain, file) {
        return chain.then(function () {
          return send(file).then(function (ok) { allOk = allOk && ok; });
        });
      }, Promise.resolve()).then(function () { return allOk; });
    }

    input.addEventListener("change", showChosen);
    showChosen();
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData || !input.files.length) return;
      event.preventDefault();
      sendChosen();
    });
    forms.push({ pending: function () { return input.files.length > 0; }, send: sendChosen });
  });

  window.AmparoUploads = {
    pending: function () { return forms.some(function (f) { return f.pending(); }); },
    sendPending: function () {
      return forms.reduce(function (chain, f) {
        return chain.then(function (ok) {
          if (!f.pending()) return ok;
          return f.send().then(function (sent) { return ok && sent; });
        });
      }, Promise.resolve(true));
    }
  };

  var stepForm = document.querySelector("form[data-step-form]");
  var problem = document.querySelector("[data-continue-error]");
  var ready = false;
  if (stepForm) {
    stepForm.addEventListener("submit", function (event) {
      if (ready) return;
      event.preventDefault();
      if (problem) problem.hidden = true;
      var fingerprints = window.AmparoFingerprintsDone ? window.AmparoFingerprintsDone() : null;
      Promise.resolve(fingerprints).then(function () {
        return window.AmparoUploads.sendPending();
      }).then(function (sent) {
        if (!sent && problem) {
          problem.textContent = problem.getAttribute("data-msg-failed") || "";
          problem.hidden = false;
          problem.focus();
          return;
        }
        ready = true;
        // submit(), not requestSubmit(): the form was already validated when it was sent,
        // and a second submit event would only come back here.
        stepForm.submit();
      });
    });
  }
})();
