// The campaign page's test sends: while one is queued or being sent, ask the server every
// second what became of it and show its status and the server's reply in its row.
(function () {
  "use strict";
  const table = document.getElementById("test-sends");
  if (!table) return;
  const WAITING = new Set(["queued", "claimed"]);
  const waiting = () =>
    [...table.querySelectorAll('[data-field="status"]')].some((cell) =>
      WAITING.has(cell.textContent.trim())
    );

  function show(rows) {
    for (const sent of rows) {
      const row = table.querySelector('tr[data-test-send="' + sent.id + '"]');
      if (!row) continue;
      row.querySelector('[data-field="status"]').textContent = sent.status;
      row.querySelector('[data-field="reply"]').textContent = sent.reply;
    }
  }

  function poll() {
    if (!waiting()) return;
    fetch(table.dataset.poll, { credentials: "same-origin", cache: "no-store" })
      .then((answer) => (answer.ok ? answer.json() : Promise.reject(answer.status)))
      .then((answer) => show(answer.test_sends))
      .catch(() => {}) // a missed answer is retried on the next tick
      .finally(() => setTimeout(poll, 1000));
  }

  setTimeout(poll, 1000);
})();
