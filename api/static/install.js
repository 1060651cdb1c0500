// The install checklist: ask the server every second or so which devices have sent their test
// event, show each one's state in its row, and add each new arrival to the "received" log, which
// screen readers announce ("Pendant pressed in the lounge: received at 10:02:13").
(function () {
  const table = document.getElementById("checklist");
  if (!table) return;
  const log = document.querySelector("#received ul");
  const live = document.getElementById("live-state");
  const hub = document.getElementById("hub-state");
  const every = Number(table.dataset.pollMs) || 1000;
  const body = new URLSearchParams({ since: table.dataset.since });

  function show(device) {
    const row = table.querySelector(`tr[data-device="${device.id}"]`);
    if (!row) return;
    const cell = row.querySelector(".state");
    if (cell.textContent !== device.state) cell.textContent = device.state;
    if (device.received && !log.querySelector(`li[data-device="${device.id}"]`)) {
      row.classList.add("received");
      const item = document.createElement("li");
      item.dataset.device = device.id;
      item.textContent = device.announce;
      log.appendChild(item);
    }
  }

  async function ask() {
    let again = true;
    try {
      const response = await fetch(table.dataset.check, { method: "POST", body: body, credentials: "same-origin",
                                                          headers: { "Accept": "application/json" } });
      const json = (response.headers.get("content-type") || "").includes("application/json");
      if (!json) {  // sent to sign in: the session ended
        live.textContent = "Signed out: sign in again and reload the checklist.";
        again = false;
      } else if (response.ok) {
        const data = await response.json();
        data.devices.forEach(show);
        hub.textContent = data.hub;
        live.textContent = "Watching for test events.";
      } else {
        const problem = await response.json();
        live.textContent = problem.detail;
        again = response.status >= 500;  // a store that is down may come back; the rest need a reload
      }
    } catch (err) {
      live.textContent = "Cannot reach the server; still trying.";
    }
    if (again) setTimeout(ask, every);
  }
  ask();
})();
