// On a narrow screen a wide table scrolls sideways inside its own box (tecwatch.css): such a
// table is made focusable, so that keyboard users can scroll it too.
(function () {
  function mark() {
    for (const table of document.querySelectorAll("table")) {
      const scrolls = table.scrollWidth > table.clientWidth + 1;
      if (scrolls && !table.hasAttribute("tabindex")) {
        table.tabIndex = 0;
        table.dataset.scrolls = "";
      } else if (!scrolls && "scrolls" in table.dataset) {
        table.removeAttribute("tabindex");
        delete table.dataset.scrolls;
      }
    }
  }
  mark();
  window.addEventListener("resize", mark);
  new MutationObserver(mark).observe(document.body, { childList: true, subtree: true });
})();
