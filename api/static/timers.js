// Waiting timers: every alert still waiting for an answer counts up, second by second, against the
// 60 second and 3 minute targets. Past each, both the colour and the words change.
(function () {
  function words(secs) {
    const clock = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
    return clock + (secs >= 180 ? " · over 3 min" : secs >= 60 ? " · over 60 s" : "");
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll(".timer[data-raised]")) {
      const secs = Math.max(0, Math.floor((now - Date.parse(el.dataset.raised)) / 1000));
      const text = words(secs);
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("late", secs >= 60 && secs < 180);
      el.classList.toggle("overdue", secs >= 180);
    }
  }

  tick();
  setInterval(tick, 1000);
})();
