// consentkit scan: reports what scripts store and send, with the URL of the calling script.
// Installed in every frame before the page's own scripts; values are never reported.
(() => {
  const report = window.__consentkitScan;
  if (typeof report !== "function" || window.__consentkitScanHooked) return;
  window.__consentkitScanHooked = true;
  const page = location.href.split("#")[0];
  const caller = () => {
    const stack = String(new Error().stack || "");
    const match = stack.match(/(?:https?|file):\/\/[^\s)]+?(?=:\d+:\d+)/);
    if (!match) return "unknown";
    const url = match[0].split("#")[0];
    return url === page ? "inline script in " + url : url;
  };
  const send = (event) => {
    try { event.script = caller(); report(event); } catch (e) { /* never break the page */ }
  };
  const removes = (text) => /;\s*max-age\s*=\s*(-\d+|0)\s*(;|$)/i.test(text) ||
    /;\s*expires\s*=[^;]*19[0-6]\d/i.test(text);

  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  if (cookie && cookie.set) {
    Object.defineProperty(Document.prototype, "cookie", {
      configurable: true,
      enumerable: cookie.enumerable,
      get() { return cookie.get.call(this); },
      set(value) {
        const text = String(value);
        const name = text.split(";")[0].split("=")[0].trim();
        const domain = (text.match(/;\s*domain\s*=\s*([^;]+)/i) || [])[1];
        send({ kind: "cookie", name, domain: domain ? domain.trim() : null, removes: removes(text) });
        cookie.set.call(this, value);
      },
    });
  }
  if (window.CookieStore && CookieStore.prototype.set) {
    const set = CookieStore.prototype.set;
    CookieStore.prototype.set = function (first, second) {
      const options = typeof first === "object" && first ? first : { name: first, value: second };
      send({ kind: "cookie", name: String(options.name), domain: options.domain || null,
             removes: false, api: "cookieStore" });
      return set.apply(this, arguments);
    };
  }
  if (window.Storage) {
    const setItem = Storage.prototype.setItem;
    Storage.prototype.setItem = function (key) {
      let area = "session_storage";
      try { if (this === window.localStorage) area = "local_storage"; } catch (e) { /* blocked */ }
      send({ kind: area, name: String(key) });
      return setItem.apply(this, arguments);
    };
  }
  if (window.Navigator && Navigator.prototype.sendBeacon) {
    const beacon = Navigator.prototype.sendBeacon;
    Navigator.prototype.sendBeacon = function (url) {
      try { send({ kind: "beacon", name: new URL(String(url), location.href).href }); } catch (e) { /* bad URL */ }
      return beacon.apply(this, arguments);
    };
  }
  if (window.WebSocket) {
    window.WebSocket = new Proxy(window.WebSocket, {
      construct(target, args, newTarget) {
        try { send({ kind: "websocket", name: new URL(String(args[0]), location.href).href }); } catch (e) { /* bad URL */ }
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
  if (window.IDBFactory && IDBFactory.prototype.open) {
    const open = IDBFactory.prototype.open;
    IDBFactory.prototype.open = function (name) {
      send({ kind: "indexeddb", name: String(name) });
      return open.apply(this, arguments);
    };
  }
})();
