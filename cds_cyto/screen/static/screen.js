// cds-cyto screen: mirrors the focused or hovered chart mark's accessible name into the details line, and moves
// the focus along a series with the arrow keys. The page is complete without it: every mark has a <title>.
(function () {
  "use strict";
  var detail = document.getElementById("detail");
  function show(el) {
    if (detail && el) {
      detail.textContent = el.getAttribute("aria-label") || "";
    }
  }
  function mark(target) {
    return target && target.closest ? target.closest(".pt, .ev") : null;
  }
  document.addEventListener("focusin", function (e) { var m = mark(e.target); if (m) { show(m); } });
  document.addEventListener("mouseover", function (e) { var m = mark(e.target); if (m) { show(m); } });
  document.addEventListener("keydown", function (e) {
    var m = mark(e.target);
    if (!m || (e.key !== "ArrowRight" && e.key !== "ArrowLeft")) { return; }
    var group = m.parentNode;
    var marks = Array.prototype.filter.call(group.children, function (c) {
      return c.classList.contains("pt") || c.classList.contains("ev");
    });
    var i = marks.indexOf(m) + (e.key === "ArrowRight" ? 1 : -1);
    if (i >= 0 && i < marks.length) {
      marks[i].focus();
      e.preventDefault();
    }
  });
})();
