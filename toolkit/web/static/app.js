// Keyboard shortcuts of `review serve`: a key clicks the button marked data-key="<key>";
// p/c/s follow the navigation links. Nothing happens while a text field has the focus
// (Escape or Enter leaves it). After the first decision key the page ignores further keys
// until the next page is shown, so a double press never sends a second decision.
(function () {
  "use strict";
  let sent = false;
  document.addEventListener("submit", function () { sent = true; });
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof HTMLElement && t.matches("input, textarea, select")) {
      if (ev.key === "Escape" || (ev.key === "Enter" && t.id === "note")) {
        ev.preventDefault();
        t.blur();
      }
      return;
    }
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (key === "n") {
      const note = document.getElementById("note");
      if (note) { ev.preventDefault(); note.focus(); }
      return;
    }
    if (key === "?") {
      const help = document.getElementById("help");
      if (help) help.open = !help.open;
      return;
    }
    const nav = document.querySelector('a[data-nav="' + key + '"]');
    if (nav) { ev.preventDefault(); window.location.assign(nav.href); return; }
    const button = document.querySelector('button[data-key="' + CSS.escape(key) + '"]');
    if (!button || button.disabled) return;
    ev.preventDefault();
    if (sent) return;
    sent = true;
    button.click();
  });
  // a decision or undo is answered with the next card itself: give the page the address of
  // the card, so a reload asks for the card and does not send the form again
  if (document.getElementById("decide") || document.getElementById("done")) {
    if (window.location.pathname !== "/screen") history.replaceState(null, "", "/screen");
  }
  // back/forward cache: a page shown again may be submitted again
  window.addEventListener("pageshow", function () { sent = false; });
})();
