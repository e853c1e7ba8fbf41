// A table or a block of text wider than the screen scrolls inside its own box (see the
// phone rules in tocsin.css). A keyboard can scroll only what it can focus: while such a box
// overflows and holds nothing focusable itself, it becomes a tab stop; when it fits
// again, it stops being one.
(function () {
  "use strict";
  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function mark() {
    for (const box of document.querySelectorAll("main table, main pre")) {
      const overflows = box.scrollWidth > box.clientWidth;
      if (overflows && !box.hasAttribute("tabindex") && !box.querySelector(FOCUSABLE)) {
        box.tabIndex = 0;
        box.dataset.scroller = "";
      } else if (!overflows && "scroller" in box.dataset) {
        box.removeAttribute("tabindex");
        delete box.dataset.scroller;
      }
    }
  }

  mark();
  window.addEventListener("resize", mark);
})();
