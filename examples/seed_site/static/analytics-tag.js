/* The demo's analytics tag: a local stand-in for a third-party tag such as Google's.
   consentkit inserts it from the config (Category.scripts): live once the visitor allows
   "analytics", inert before. It reads the queue the inline part filled and sets its cookie. */
(function () {
  var queue = window.demoTag || [];
  var seen = [];
  var record = function (event) { seen.push(event); };
  queue.forEach(record);
  window.demoTag = { push: record, seen: seen };
  document.cookie = "demo_tag=" + seen.length + "; path=/; SameSite=Lax";
})();
