/*
 * Progress bars for evidence uploads. Each chosen file is sent on its own request
 * (so one failure loses only that file), with its progress and any error shown next
 * to it. Without JavaScript the form posts normally and the server answers with a
 * message. Texts come from data-msg-* attributes, translated by the server.
 */
(function () {
  "use strict";
  document.querySelectorAll("form[data-upload-form]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var list = form.querySelector("[data-upload-list]");
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    var msg = function (name) { return form.getAttribute("data-msg-" + name) || ""; };

    function send(file) {
      return new Promise(function (resolve) {
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
        state.textContent = msg("sending");
        li.appendChild(name); li.appendChild(bar); li.appendChild(state);
        list.appendChild(li);

        var data = new FormData();
        data.append("csrfmiddlewaretoken", token);
        data.append("files", file);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.onprogress = function (e) {
          if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
        };
        xhr.onload = function () {
          var body = {};
          try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
          bar.value = 100;
          state.textContent = body.message || msg("failed");
          if (xhr.status !== 200) li.className += " file-failed";
          resolve();
        };
        xhr.onerror = function () {
          state.textContent = msg("network");
          li.className += " file-failed";
          resolve();
        };
        xhr.send(data);
      });
    }

    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData || !input.files.length) return;
      event.preventDefault();
      var files = Array.prototype.slice.call(input.files);
      files.reduce(function (chain, file) {
        return chain.then(function () { return send(file); });
      }, Promise.resolve()).then(function () { input.value = ""; });
    });
  });
})();
