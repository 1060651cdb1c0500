// Live queue: the server pushes a note of every alert change; the page then fetches the queue
// table again and swaps it in, and tells screen-reader users what changed (attention.js names
// new alarms, once the table is in).
(function () {
  const queue = document.getElementById("queue");
  const announce = document.getElementById("announce");
  const state = document.getElementById("live-state");
  let pending = null;

  async function refresh() {
    pending = null;
    const response = await fetch("/console/queue", { credentials: "same-origin" });
    if (response.ok) {
      const focused = document.activeElement && document.activeElement.closest("tr[data-alert-id]");
      queue.innerHTML = await response.text();
      if (focused) {  // keep keyboard users where they were
        const again = queue.querySelector(`tr[data-alert-id="${focused.dataset.alertId}"] button, tr[data-alert-id="${focused.dataset.alertId}"] a`);
        if (again) again.focus();
      }
      document.dispatchEvent(new CustomEvent("queue-updated"));
    }
  }

  const source = new EventSource("/api/alerts/stream");
  source.addEventListener("ready", function () { state.textContent = "Live."; });
  source.addEventListener("alert", function (event) {
    const change = JSON.parse(event.data);
    if (change.kind !== "raised") announce.textContent = `Alert ${change.alert_id} at ${change.home_id}: ${change.kind}.`;
    if (!pending) pending = setTimeout(refresh, 200);  // several changes at once: one fetch
  });
  // The server ends the stream when this session may no longer see it (signed out, account
  // disabled): stop rather than reconnect, and say so.
  source.addEventListener("end", function (event) {
    source.close();
    const reason = JSON.parse(event.data).reason;
    state.textContent = `Live updates stopped (${reason}). Reload the page to carry on.`;
  });
  source.onerror = function () { state.textContent = "Reconnecting to live updates…"; };
})();
