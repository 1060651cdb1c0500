// The responder's call-outs keep themselves current: when the live stream says the call log or an
// alert's state changed, the list is fetched again. If it changed it is swapped in, and announced,
// unless access information is on screen: then the page says so and leaves it to be reloaded.
(function () {
  const list = document.getElementById("callouts");
  const state = document.getElementById("live-state");
  if (!list) return;
  let pending = null;

  async function refresh() {
    pending = null;
    const response = await fetch("/responder", { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("callouts");
    if (!fresh || fresh.dataset.alerts === list.dataset.alerts) return;
    if (document.querySelector(".access-info")) {
      state.textContent = "Your call-outs have changed: reload the page to see them.";
      return;
    }
    list.innerHTML = fresh.innerHTML;
    list.dataset.alerts = fresh.dataset.alerts;
    state.textContent = "Your call-outs have changed.";
  }

  const source = new EventSource("/api/alerts/stream");
  source.addEventListener("alert", function (event) {
    const kind = JSON.parse(event.data).kind;
    if (["call", "resolved", "cancelled"].includes(kind) && !pending) pending = setTimeout(refresh, 200);
  });
  source.addEventListener("end", function () { source.close(); });
})();
