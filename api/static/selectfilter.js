// A long drop-down (select[data-filter]) gets a box above it that narrows its options as you
// type, and says how many are left; without scripts the drop-down works as it is.
(function () {
  document.querySelectorAll("select[data-filter]").forEach(function (select) {
    const options = Array.from(select.options).filter(function (o) { return o.value !== ""; });
    const label = document.createElement("label");
    const box = document.createElement("input");
    const count = document.createElement("small");
    box.type = "search";
    box.id = select.id + "-filter";
    box.autocomplete = "off";
    label.htmlFor = box.id;
    label.textContent = select.dataset.filter;
    count.id = select.id + "-filter-count";
    count.setAttribute("aria-live", "polite");
    box.setAttribute("aria-describedby", count.id);
    select.before(label, box, count);
    box.addEventListener("input", function () {
      const words = box.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      options.forEach(function (o) {
        const text = o.textContent.toLowerCase();
        const match = words.every(function (w) { return text.includes(w); });
        o.hidden = !match && !o.selected;
        if (match) shown += 1;
      });
      count.textContent = words.length ? shown + " of " + options.length + " match" : "";
      const only = options.filter(function (o) { return !o.hidden; });
      if (only.length === 1 && words.length) only[0].selected = true;
    });
  });
})();
