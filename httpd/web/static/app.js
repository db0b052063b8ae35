// Valise's page script: uploads on the compose page (tus-js-client, resumable across
// reloads), the password generator and the copy buttons. No inline script: the pages load
// this file, and every message comes from the page's data-msg-* attributes.
(function () {
  "use strict";

  var lang = document.documentElement.lang === "en" ? "en" : "fr";

  // formatSize writes bytes in decimal units: Mo/Go in French, MB/GB in English.
  function formatSize(n) {
    var units = lang === "fr" ? ["octets", "ko", "Mo", "Go", "To"] : ["bytes", "kB", "MB", "GB", "TB"];
    if (n < 1000) { return n + " " + units[0]; }
    var v = n / 1000, u = 1;
    while (v >= 999.95 && u < units.length - 1) { v /= 1000; u++; }
    return v.toLocaleString(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + "\u00a0" + units[u];
  }

  // shown makes a file name safe to show: control characters and the bidirectional overrides
  // and marks (which make "exe.pdf" look like "fdp.exe") become U+FFFD, visible as such. The
  // server refuses such names anyway; the page must not be fooled by them meanwhile.
  function shown(name) {
    return name.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\u2028\u2029]/g, "\ufffd");
  }

  // formatDuration writes seconds as h:mm:ss or m:ss.
  function formatDuration(s) {
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (h > 0 && m < 10 ? "0" : "") + m, ss = (sec < 10 ? "0" : "") + sec;
    return (h > 0 ? h + ":" : "") + mm + ":" + ss;
  }

  // Copy buttons: data-copy-from names the input whose value is copied.
  function initCopy() {
    document.querySelectorAll("button[data-copy-from]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var src = document.getElementById(btn.getAttribute("data-copy-from"));
        if (!src || !src.value) { return; }
        var label = btn.textContent;
        var done = function () {
          var form = document.getElementById("send-form");
          btn.textContent = (form && form.dataset.msgCopied) || document.body.dataset.msgCopied || "✓";
          setTimeout(function () { btn.textContent = label; }, 1500);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(src.value).then(done, function () { src.select(); });
        } else {
          src.select();
          done();
        }
      });
    });
  }

  // generatePassword returns 20 characters from an alphabet without look-alikes.
  function generatePassword() {
    var alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    var out = "", buf = new Uint32Array(20);
    crypto.getRandomValues(buf);
    for (var i = 0; i < buf.length; i++) { out += alphabet[buf[i] % alphabet.length]; }
    return out;
  }

  var addressRe = /^[^\s@<>(),;:"\[\]]+@[^\s@<>(),;:"\[\]]+\.[^\s@<>(),;:"\[\]]+$/;

  // splitAddresses returns the addresses of a field as the server reads it (send.go's
  // splitAddresses): bare ones separated by commas, semicolons, spaces or line breaks, or
  // "Display Name <address>" entries pasted from a mail client; a comma separates entries
  // only after an address, never inside a quoted name or angle brackets.
  function splitAddresses(s) {
    var pieces = [], cur = "", quoted = false, angle = false, escaped = false, sawAt = false;
    for (var i = 0; i < s.length; i++) {
      var c = s.charAt(i);
      if (c === "@") { sawAt = true; }
      if (escaped) { escaped = false; }
      else if (quoted && c === "\\") { escaped = true; }
      else if (c === '"' && !angle) { quoted = !quoted; }
      else if (c === "<" && !quoted) { angle = true; }
      else if (c === ">" && !quoted) { angle = false; }
      else if (!quoted && !angle && (c === ";" || c === "\n" || c === "\r" || (c === "," && sawAt))) {
        pieces.push(cur); cur = ""; sawAt = false; continue;
      }
      cur += c;
    }
    pieces.push(cur);
    var out = [];
    pieces.forEach(function (p) {
      p = p.trim();
      var lt = p.lastIndexOf("<");
      if (lt >= 0 && p.charAt(p.length - 1) === ">") { out.push(p.slice(lt + 1, -1).trim()); return; }
      p.split(/[,\s]+/).forEach(function (a) { if (a !== "") { out.push(a); } });
    });
    return out;
  }

  // collect walks dropped files and folders and resolves to the files, each with its path
  // inside the dropped folder as valiseRelativePath.
  function collect(entries) {
    var out = [];
    function walk(entry) {
      if (entry.isFile) {
        return new Promise(function (resolve, reject) {
          entry.file(function (f) {
            f.valiseRelativePath = entry.fullPath.replace(/^\//, "");
            out.push(f);
            resolve();
          }, reject);
        });
      }
      var reader = entry.createReader();
      return new Promise(function (resolve, reject) {
        var all = [];
        (function more() {
          reader.readEntries(function (batch) {
            if (batch.length === 0) {
              Promise.all(all.map(walk)).then(resolve, reject);
              return;
            }
            all = all.concat(Array.prototype.slice.call(batch));
            more();
          }, reject);
        })();
      });
    }
    return Promise.all(entries.map(walk)).then(function () { return out; });
  }

  function initCompose(form) {
    var msg = form.dataset;
    var csrf = form.querySelector("input[name=csrf]").value;
    var input = document.getElementById("files");
    var drop = document.getElementById("drop");
    var list = document.getElementById("file-list");
    var ids = document.getElementById("file-ids");
    var box = document.getElementById("overall-box");
    var overall = document.getElementById("overall");
    var overallText = document.getElementById("overall-text");
    var pauseBtn = document.getElementById("pause");
    var formError = document.getElementById("form-error");
    var items = []; // {file, upload, li, bar, text, sent, done, failed}
    var paused = false;
    var maxActive = 2; // uploads running at once (pump)
    var submitWhenDone = false;
    var samples = []; // [time ms, bytes] for the speed, over the last seconds

    function showError(text) {
      formError.textContent = text;
      formError.hidden = false;
      formError.setAttribute("tabindex", "-1");
      formError.focus();
    }
    function clearError() { formError.hidden = true; formError.textContent = ""; }

    function totals() {
      var sent = 0, total = 0, pending = 0;
      items.forEach(function (it) {
        if (it.removed) { return; }
        sent += it.sent; total += it.file.size;
        if (!it.done && !it.failed) { pending++; }
      });
      return { sent: sent, total: total, pending: pending };
    }

    function refresh() {
      var t = totals();
      box.hidden = items.length === 0;
      pauseBtn.hidden = t.pending === 0 && !paused; // nothing left to pause
      overall.value = t.total > 0 ? Math.floor(100 * t.sent / t.total) : 100;
      var now = Date.now();
      samples.push([now, t.sent]);
      while (samples.length > 2 && now - samples[0][0] > 5000) { samples.shift(); }
      var speed = 0;
      if (samples.length > 1) {
        var dt = (now - samples[0][0]) / 1000, db = t.sent - samples[0][1];
        if (dt > 0) { speed = db / dt; }
      }
      if (paused) {
        overallText.textContent = msg.msgPaused;
      } else if (t.pending === 0) {
        overallText.textContent = msg.msgDone;
      } else {
        var text = msg.msgUploading.replace("%done%", formatSize(t.sent)).replace("%total%", formatSize(t.total)).replace("%speed%", formatSize(Math.round(speed)));
        if (speed > 0) { text += " — " + msg.msgRemaining.replace("%eta%", formatDuration((t.total - t.sent) / speed)); }
        overallText.textContent = text;
      }
      if (t.pending === 0 && submitWhenDone) {
        submitWhenDone = false;
        form.requestSubmit();
      }
    }

    // errorText turns a tus-js-client error into a sentence for the user.
    function errorText(err) {
      var res = err && err.originalResponse;
      var status = res ? res.getStatus() : 0;
      switch (status) {
        case 400: return msg.msgBadname;
        case 401: case 403: return msg.msgSession;
        case 413: return msg.msgToolarge.replace("%max%", formatSize(parseInt(msg.maxFile, 10) || 0)).replace(/ : $|: $/, "");
        case 460: return msg.msgChecksum;
        case 0: return msg.msgNetwork;
      }
      var body = res ? (res.getBody() || "") : "";
      try { var j = JSON.parse(body); if (j && j.message) { return j.message; } } catch (e) { /* not JSON */ }
      return status + " " + body.substring(0, 200);
    }

    function addID(it, id) {
      var h = document.createElement("input");
      h.type = "hidden"; h.name = "file"; h.value = id;
      ids.appendChild(h);
      it.hidden = h;
    }

    // metadataOf names the file for the server: its name, and its path inside a folder that
    // was picked or dropped (validated by the server, used in the zip).
    function metadataOf(file) {
      var md = { filename: file.name, filetype: file.type || "application/octet-stream" };
      var rel = file.valiseRelativePath || file.webkitRelativePath || "";
      if (rel !== "" && rel !== file.name) { md.relativePath = rel; }
      return md;
    }

    function addFile(file) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = shown(file.valiseRelativePath || file.webkitRelativePath || file.name) + " (" + formatSize(file.size) + ")";
      var bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", shown(file.name));
      var text = document.createElement("span");
      text.className = "hint";
      text.setAttribute("aria-live", "polite");
      var rm = document.createElement("button");
      rm.type = "button"; rm.textContent = msg.msgRemove;
      rm.setAttribute("aria-label", msg.msgRemove + " " + shown(file.name));
      li.appendChild(name); li.appendChild(text); li.appendChild(rm); li.appendChild(bar);
      list.appendChild(li);
      var it = { file: file, li: li, bar: bar, text: text, sent: 0, done: false, removed: false };
      rm.addEventListener("click", function () {
        it.removed = true;
        if (it.upload && !it.done) { it.upload.abort(true).catch(function () {}); }
        if (it.hidden) { it.hidden.remove(); }
        li.remove();
        pump();
        refresh();
      });
      it.upload = new tus.Upload(file, {
        endpoint: msg.endpoint,
        headers: { "X-CSRF-Token": csrf },
        metadata: metadataOf(file),
        retryDelays: [0, 1000, 3000, 5000, 10000],
        removeFingerprintOnSuccess: true,
        onProgress: function (sent, total) {
          it.sent = sent;
          bar.value = total > 0 ? Math.floor(100 * sent / total) : 100;
          refresh();
        },
        onSuccess: function () {
          it.done = true; it.sent = file.size; bar.value = 100;
          text.textContent = msg.msgDone;
          var url = it.upload.url || "";
          addID(it, url.substring(url.lastIndexOf("/") + 1));
          pump();
          refresh();
        },
        onError: function (err) {
          it.failed = true;
          var detail = errorText(err);
          text.textContent = msg.msgFailed + detail;
          showError(shown(file.name) + " — " + msg.msgFailed + detail);
          submitWhenDone = false;
          pump();
          refresh();
        }
      });
      items.push(it);
      // Resume after a reload: the same file picked again continues where it stopped.
      it.upload.findPreviousUploads().then(function (previous) {
        if (previous.length > 0) {
          it.upload.resumeFromPreviousUpload(previous[0]);
          text.textContent = msg.msgResumed;
        }
        it.ready = true;
        pump();
      });
      refresh();
    }

    // pump starts the next uploads, at most maxActive at a time: the node admits a few
    // transfers per user into its memory budget and answers the rest 503, so starting every
    // file of a large folder at once would only make them wait and retry.
    function pump() {
      if (paused) { return; }
      var active = 0;
      items.forEach(function (it) {
        if (it.started && !it.done && !it.failed && !it.removed) { active++; }
      });
      items.forEach(function (it) {
        if (active >= maxActive || it.started || !it.ready || it.removed) { return; }
        it.started = true;
        active++;
        it.upload.start();
      });
    }

    // addFiles checks sizes and quota before any byte flows, then starts the uploads.
    function addFiles(fileList) {
      clearError();
      var maxFile = parseInt(msg.maxFile, 10) || 0;
      var quotaLeft = parseInt(msg.quotaLeft, 10);
      var adding = 0, i;
      for (i = 0; i < fileList.length; i++) {
        if (maxFile > 0 && fileList[i].size > maxFile) {
          showError(msg.msgToolarge.replace("%max%", formatSize(maxFile)) + shown(fileList[i].name));
          return;
        }
        adding += fileList[i].size;
      }
      // Every file added on this page counts: the quota was measured when it loaded, and
      // they all go in this send.
      var queued = 0, count = 0;
      items.forEach(function (it) { if (!it.removed) { queued += it.file.size; count++; } });
      var maxFiles = parseInt(msg.maxFiles, 10) || 0;
      if (maxFiles > 0 && count + fileList.length > maxFiles) {
        showError(msg.msgToomany.replace("%max%", maxFiles));
        return;
      }
      var maxSend = parseInt(msg.maxSend, 10) || 0;
      if (maxSend > 0 && queued + adding > maxSend) {
        showError(msg.msgSendsize.replace("%max%", formatSize(maxSend)));
        return;
      }
      if (!isNaN(quotaLeft) && quotaLeft >= 0 && queued + adding > quotaLeft) {
        showError(msg.msgQuota.replace("%left%", formatSize(quotaLeft)));
        return;
      }
      for (i = 0; i < fileList.length; i++) { addFile(fileList[i]); }
    }

    input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      var dt = e.dataTransfer;
      if (!dt) { return; }
      var entries = [];
      if (dt.items) {
        for (var i = 0; i < dt.items.length; i++) {
          var en = dt.items[i].webkitGetAsEntry && dt.items[i].webkitGetAsEntry();
          if (en) { entries.push(en); }
        }
      }
      if (entries.length === 0) { addFiles(dt.files); return; }
      collect(entries).then(addFiles, function () { showError(msg.msgFolder); });
    });
    var folderInput = document.getElementById("folder");
    if (folderInput) {
      folderInput.addEventListener("change", function () { addFiles(folderInput.files); folderInput.value = ""; });
    }

    // While uploads run, tell the server the user is still there: one long upload request
    // would otherwise let the session end idle under it.
    var keepaliveMs = parseInt(msg.keepaliveMs, 10) || 0;
    if (keepaliveMs > 0) {
      setInterval(function () {
        if (paused || totals().pending === 0) { return; }
        fetch("/keepalive", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
          .then(function (res) { if (res.status === 403) { showError(msg.msgSession); } }, function () {});
      }, keepaliveMs);
    }

    pauseBtn.addEventListener("click", function () {
      paused = !paused;
      pauseBtn.textContent = paused ? msg.msgResume : msg.msgPause;
      pauseBtn.setAttribute("aria-pressed", paused ? "true" : "false");
      items.forEach(function (it) {
        if (it.done || it.removed || it.failed) { return; }
        if (!it.started) { return; }
        if (paused) { it.upload.abort(); } else { it.upload.start(); }
      });
      pump();
      samples = [];
      refresh();
    });

    document.getElementById("generate").addEventListener("click", function () {
      document.getElementById("password").value = generatePassword();
    });

    form.addEventListener("submit", function (e) {
      clearError();
      var to = splitAddresses(document.getElementById("to").value);
      var all = to.concat(splitAddresses(document.getElementById("cc").value), splitAddresses(document.getElementById("bcc").value));
      if (to.length === 0 && all.length === 0) { e.preventDefault(); showError(msg.msgNorecipient); return; }
      for (var i = 0; i < all.length; i++) {
        if (!addressRe.test(all[i])) { e.preventDefault(); showError(msg.msgBadaddress + all[i]); return; }
      }
      if (ids.querySelectorAll("input[name=file]").length === 0 && totals().pending === 0) {
        e.preventDefault(); showError(msg.msgNofiles); return;
      }
      if (totals().pending > 0) {
        e.preventDefault();
        submitWhenDone = true;
        overallText.textContent = msg.msgWait;
        return;
      }
      // The form goes: say so, and keep a second click from sending twice. (A file still
      // being scanned does not hold the answer: the send waits for the antivirus.)
      var btn = document.getElementById("send-submit");
      btn.disabled = true;
      btn.setAttribute("aria-busy", "true");
      var status = document.getElementById("submit-status");
      if (status) { status.textContent = msg.msgSending; status.hidden = false; }
    });
    // Back to this page from the browser's cache: the form may be sent again.
    window.addEventListener("pageshow", function (e) {
      if (!e.persisted) { return; }
      var btn = document.getElementById("send-submit");
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
      var status = document.getElementById("submit-status");
      if (status) { status.hidden = true; }
    });
  }

  // Forms with data-confirm ask before they are sent (revoking cannot be undone).
  function initConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.dataset.confirm)) { e.preventDefault(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initCopy();
    initConfirm();
    // The links page answers a POST: point the address bar at the send's page, so that a
    // reload shows the send instead of sending it again.
    var created = document.getElementById("created");
    if (created && created.dataset.detailUrl && window.history && history.replaceState) {
      history.replaceState(null, "", created.dataset.detailUrl);
    }
    var form = document.getElementById("send-form");
    if (form && window.tus) { initCompose(form); }
  });
})();
