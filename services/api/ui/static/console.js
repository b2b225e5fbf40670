// The console's only script (no framework, nothing fetched from elsewhere): live status over the gateway's
// event stream, panels swapped in without a reload, the upload with its progress bar, and the lag chart.
"use strict";
(function () {
  const TERMINAL = ["COMPLETED", "FAILED"];
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function setField(root, name, apply) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach(apply);
  }

  function showStatus(root, status, pct) {
    setField(root, "status", (el) => { el.textContent = status; el.className = "status " + status; });
    if (pct !== undefined && pct !== null) {
      setField(root, "progress", (el) => { el.value = pct; });
      setField(root, "pct", (el) => { el.textContent = Math.round(pct) + "%"; });
    }
  }

  // Follow a backtest's event stream; `onEnd` runs once it is COMPLETED or FAILED.
  function follow(url, root, onEnd) {
    const source = new EventSource(url);
    source.addEventListener("status", (e) => {
      const s = JSON.parse(e.data);
      showStatus(root, s.status, s.progress_pct);
    });
    source.addEventListener("end", (e) => {
      const s = JSON.parse(e.data);
      showStatus(root, s.status, s.status === "COMPLETED" ? 100 : null);
      source.close();
      if (onEnd) onEnd(s);
    });
    source.addEventListener("idle", () => { source.close(); setTimeout(() => follow(url, root, onEnd), 1000); });
    return source;
  }

  async function swap(el, url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.ok) el.innerHTML = await response.text();
    return response.ok;
  }

  // The backtests list: each row still running follows its own stream, 4 at a time (a browser opens at
  // most 6 connections to a host over HTTP/1.1: the rest stay free for navigation); the next starts as
  // one ends.
  const waiting = Array.from(document.querySelectorAll("tr[data-live]"));
  const followNext = () => {
    const row = waiting.shift();
    if (row) follow("/ui/backtests/" + row.dataset.backtest + "/events", row, followNext);
  };
  for (let i = 0; i < 4; i++) followNext();

  // One backtest: follow it, then swap in the finished panel (metrics, report, trades); wait for the report.
  const panel = document.getElementById("backtest-panel");
  if (panel) {
    const refreshUntilReport = async () => {
      for (let i = 0; i < 60 && panel.querySelector("[data-report-pending]"); i++) {
        await new Promise((r) => setTimeout(r, 1000));
        await swap(panel, panel.dataset.panel);
      }
    };
    if (panel.dataset.events) {
      follow(panel.dataset.events, panel, async () => { await swap(panel, panel.dataset.panel); refreshUntilReport(); });
    } else {
      refreshUntilReport();
    }
  }

  // A sweep: poll its panel until it has finished.
  const sweep = document.getElementById("sweep-panel");
  if (sweep && sweep.dataset.poll) {
    const timer = setInterval(async () => {
      await swap(sweep, sweep.dataset.poll);
      if (sweep.querySelector("[data-finished]")) clearInterval(timer);
    }, 2000);
  }

  // Selects that only change a view: apply at once (the button stays for keyboards without script).
  document.querySelectorAll("form[data-autosubmit] select").forEach((s) => {
    s.addEventListener("change", () => s.form.submit());
  });

  // The CSV upload: progress while sending, then the import job followed until it ends.
  const upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("submit", (event) => {
      event.preventDefault();
      const bar = document.getElementById("upload-progress");
      const state = document.getElementById("upload-state");
      const errors = document.getElementById("upload-errors");
      upload.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
      errors.hidden = true;
      bar.hidden = false; bar.value = 0;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", upload.action);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) { bar.value = (100 * e.loaded) / e.total; state.textContent = "sending " + Math.round(bar.value) + "%"; }
      });
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = { detail: xhr.statusText }; }
        if (xhr.status === 202) {
          bar.value = 100; state.textContent = "uploaded: importing";
          watchJob(body.job_id, state);
          return;
        }
        state.textContent = "refused (" + xhr.status + ")";
        let placed = false;
        (body.errors || []).forEach((e) => {
          const name = (e.field || "").split(".").pop();
          const slot = upload.querySelector('[data-error-for="' + name + '"]');
          if (slot) { slot.textContent = e.message; placed = true; }
        });
        if (!placed) { errors.textContent = body.detail || body.title || "the upload was refused"; errors.hidden = false; }
      });
      xhr.addEventListener("error", () => { state.textContent = "the upload failed (network)"; });
      xhr.send(new FormData(upload));
    });
  }

  async function watchJob(jobId, state) {
    const target = document.getElementById("upload-job");
    for (;;) {
      await swap(target, "/ui/data/imports/" + jobId);
      const card = target.querySelector("[data-job-status]");
      const status = card ? card.dataset.jobStatus : "";
      if (TERMINAL.includes(status)) { state.textContent = "import " + status.toLowerCase(); return; }
      await new Promise((r) => setTimeout(r, 700));
    }
  }

  // Operations: the gateway's health, and consumer lag every 2 s with the total's recent history.
  const health = document.getElementById("health");
  if (health) {
    const check = async (url, field) => {
      try {
        const r = await fetch(url);
        const body = await r.json();
        setField(health, field, (el) => { el.textContent = (r.ok ? "yes" : "NO") + " " + JSON.stringify(body); });
      } catch (e) { setField(health, field, (el) => { el.textContent = "unreachable"; }); }
    };
    check(health.dataset.health, "health"); check(health.dataset.ready, "ready");
  }
  const lag = document.getElementById("lag");
  if (lag) {
    const history = [];
    const cell = (text, left) => { const td = document.createElement("td"); td.textContent = text; if (left) td.className = "l"; return td; };
    const draw = () => {
      const line = document.querySelector("#lag-history polyline");
      const top = Math.max(1, ...history);
      line.setAttribute("points", history.map((v, i) => (i * 600 / Math.max(history.length - 1, 1)).toFixed(1) + "," + (80 - (v / top) * 76).toFixed(1)).join(" "));
    };
    const refresh = async () => {
      const r = await fetch(lag.dataset.lag, { credentials: "same-origin" });
      if (!r.ok) return;
      const rows = await r.json();
      const body = lag.querySelector('[data-field="lag-rows"]');
      body.replaceChildren(...rows.map((p) => {
        const tr = document.createElement("tr");
        tr.append(cell(p.group), cell(p.topic, true), cell(p.partition), cell(p.committed ?? "–"), cell(p.end_offset ?? "–"), cell(p.lag ?? "–"), cell(p.members.join(", "), true));
        return tr;
      }));
      const total = rows.reduce((sum, p) => sum + (p.lag || 0), 0);
      history.push(total); if (history.length > 60) history.shift();
      draw();
      setField(lag, "lag-total", (el) => { el.textContent = "total lag now: " + total; });
      setField(lag, "lag-updated", (el) => { el.textContent = "updated " + new Date().toLocaleTimeString(); });
    };
    refresh(); setInterval(refresh, 2000);
  }
})();
