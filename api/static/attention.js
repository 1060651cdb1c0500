// Getting the operator's attention when a new P1 alarm arrives: a short tone (once the operator
// has switched sound on: browsers allow audio only after a click or key press), the tab's title
// flashing "(2) New alarm - tecwatch" until they use the page, a desktop notification if they
// allowed them, and a screen-reader announcement naming each new alarm. On the console,
// console.js says when the queue has been swapped in ("queue-updated"); on an alert's page this
// script follows the live stream itself.
(function () {
  const toggle = document.getElementById("sound-toggle");
  const allow = document.getElementById("notify-allow");
  const state = document.getElementById("attention-state");
  const announce = document.getElementById("announce");
  const body = document.body;
  const baseTitle = document.title;
  let audio = null;
  let unseen = 0;
  let flasher = null;
  let known = new Set([...document.querySelectorAll("tr[data-alert-id]")].map((r) => r.dataset.alertId));

  function soundOn() { return toggle.getAttribute("aria-pressed") === "true"; }

  function setSound(on) {
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = `Sound for new P1 alarms: ${on ? "on" : "off"}`;
    try { localStorage.setItem("tecwatch-sound", on ? "on" : "off"); } catch (e) { /* private mode */ }
    if (on) {
      audio = audio || new AudioContext();
      audio.resume().then(() => { body.dataset.audio = audio.state; });
    } else if (audio) {
      audio.suspend();
    }
    body.dataset.audio = audio ? audio.state : "none";
  }

  function tone() {
    if (!audio || !soundOn()) return;
    if (audio.state !== "running") audio.resume();
    const t = audio.currentTime;
    for (const [start, freq] of [[0, 880], [0.25, 660], [0.5, 880]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t + start);
      gain.gain.exponentialRampToValueAtTime(0.3, t + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + start + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + start);
      osc.stop(t + start + 0.22);
    }
    body.dataset.tones = String(Number(body.dataset.tones || 0) + 1);
  }

  function flash() {
    body.dataset.flashing = String(unseen);
    let lit = false;
    const show = () => {
      lit = !lit;
      document.title = lit ? `(${unseen}) New alarm - tecwatch` : baseTitle;
    };
    if (flasher) clearInterval(flasher);
    show();
    flasher = setInterval(show, 1000);
  }

  function seen() {
    if (!flasher) return;
    clearInterval(flasher);
    flasher = null;
    unseen = 0;
    delete body.dataset.flashing;
    document.title = baseTitle;
  }

  function notify(text) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      new Notification("New alarm - tecwatch", { body: text, tag: `tecwatch-${text}` });
      body.dataset.notified = String(Number(body.dataset.notified || 0) + 1);
    } catch (e) { /* some browsers allow notifications from service workers only */ }
  }

  toggle.addEventListener("click", () => setSound(!soundOn()));
  let saved = null;
  try { saved = localStorage.getItem("tecwatch-sound"); } catch (e) { /* private mode */ }
  if (saved === "on") {
    setSound(true);  // may stay suspended until the first click or key press
    const wake = () => { if (audio) audio.resume().then(() => { body.dataset.audio = audio.state; }); };
    document.addEventListener("pointerdown", wake, { once: true });
    document.addEventListener("keydown", wake, { once: true });
  } else {
    setSound(false);
  }

  if ("Notification" in window && Notification.permission === "default") allow.hidden = false;
  allow.addEventListener("click", async () => {
    const answer = await Notification.requestPermission();
    allow.hidden = answer === "granted";
    state.textContent = answer === "granted" ? "Desktop notifications are on."
      : "The browser did not allow desktop notifications.";
  });

  for (const kind of ["keydown", "pointerdown"]) document.addEventListener(kind, seen);

  function consider(rows) {
    const fresh = rows.filter((r) => !known.has(r.dataset.alertId) && r.dataset.state === "raised");
    known = new Set(rows.map((r) => r.dataset.alertId));
    if (!fresh.length) return;
    const said = fresh.map((r) => `${r.dataset.title} at ${r.dataset.where}, P${r.dataset.priority}`);
    announce.textContent = said.join(". ") + ".";
    const urgent = fresh.filter((r) => r.dataset.priority === "1");
    if (!urgent.length) return;
    unseen += urgent.length;
    tone();
    flash();
    urgent.forEach((r) => notify(said[fresh.indexOf(r)]));
  }

  async function queueRows() {
    const response = await fetch("/console/queue", { credentials: "same-origin" });
    if (!response.ok) return null;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    return [...doc.querySelectorAll("tr[data-alert-id]")];
  }

  if (document.getElementById("queue")) {
    // The console swaps the queue in itself (console.js) and says when.
    document.addEventListener("queue-updated", () => consider([...document.querySelectorAll("tr[data-alert-id]")]));
    return;
  }
  // Another console page (an alert's call screen): a stream of its own, and the queue fetched
  // when an alert is raised, so a new P1 is not missed during a call.
  queueRows().then((rows) => { if (rows) known = new Set(rows.map((r) => r.dataset.alertId)); });
  const source = new EventSource("/api/alerts/stream");
  let pending = null;
  source.addEventListener("alert", (event) => {
    if (JSON.parse(event.data).kind !== "raised" || pending) return;
    pending = setTimeout(async () => {
      pending = null;
      const rows = await queueRows();
      if (rows) consider(rows);
    }, 200);
  });
  source.addEventListener("end", () => source.close());
})();
