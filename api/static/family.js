// The family page keeps itself current: when the live stream says one of this relative's alerts
// changed, and every two minutes, it fetches the changing parts again and copies them in. The
// headline is a status region, so a screen reader hears when it changes.
(function () {
  const root = document.getElementById("family-page");
  const state = document.getElementById("live-state");
  if (!root) return;
  const resident = root.dataset.resident;
  let pending = null;

  async function refresh() {
    pending = null;
    const response = await fetch(`/family/${resident}/live`, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const headline = document.getElementById("headline"), newHeadline = fresh.getElementById("headline");
    if (newHeadline && headline.textContent !== newHeadline.textContent) {
      headline.className = newHeadline.className;
      headline.innerHTML = newHeadline.innerHTML;
    }
    const live = document.getElementById("family-live"), newLive = fresh.getElementById("family-live");
    const focused = document.activeElement && document.activeElement.closest("#family-live") ? document.activeElement.id : null;
    if (newLive && live.innerHTML !== newLive.innerHTML) {
      live.innerHTML = newLive.innerHTML;
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    }
  }

  function soon() { if (!pending) pending = setTimeout(refresh, 200); }
  setInterval(soon, 120000);
  const source = new EventSource("/api/alerts/stream");
  source.addEventListener("ready", function () { state.textContent = "This page updates by itself."; });
  source.addEventListener("alert", soon);
  source.addEventListener("end", function () {
    source.close();
    state.textContent = "Updates stopped. Reload the page to see the latest.";
  });
})();
