/* consentkit GPP: the IAB __gpp API (CMP API 1.1) with the usnat section, under the us_opt_out regime. */
(() => {
  'use strict';
  const w = window, d = document, me = d.currentScript;
  // Another CMP's __gpp (or this script, loaded twice) stays in charge; consentkit's stub hands over.
  if (!me || (w.__gpp && !w.__gpp.consentkitStub)) return;

  // Reading GPP strings: six bits a base64url character, Fibonacci-coded section ids.
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const reader = (text) => {
    const b = Array.from(text, (c) => B64.indexOf(c).toString(2).padStart(6, '0')).join('');
    let i = 0;
    return {
      int: (n) => parseInt(b.slice(i, (i += n)) || '0', 2),
      fib: () => {
        let a = 1, c = 2, v = 0, prev = '';
        for (;;) {
          const bit = b[i++];
          if (bit === undefined) throw new Error('consentkit: truncated GPP header');
          if (bit === '1' && prev === '1') return v;
          if (bit === '1') v += a;
          [a, c, prev] = [c, a + c, bit];
        }
      },
    };
  };
  const NOTICES = ['SharingNotice', 'SaleOptOutNotice', 'SharingOptOutNotice', 'TargetedAdvertisingOptOutNotice',
    'SensitiveDataProcessingOptOutNotice', 'SensitiveDataLimitUseNotice', 'SaleOptOut', 'SharingOptOut',
    'TargetedAdvertisingOptOut'];
  const TAIL = ['PersonalDataConsents', 'MspaCoveredTransaction', 'MspaOptOutOptionMode', 'MspaServiceProviderMode'];
  const usnat = (text) => {
    const [core, ...subs] = text.split('.');
    const r = reader(core), o = { Version: r.int(6) };
    for (const n of NOTICES) o[n] = r.int(2);
    const list = (n) => Array.from({ length: n }, () => r.int(2));
    o.SensitiveDataProcessing = list(o.Version === 1 ? 12 : 16);
    o.KnownChildSensitiveDataConsents = list(o.Version === 1 ? 2 : 3);
    for (const n of TAIL) o[n] = r.int(2);
    const out = [o];
    for (const s of subs) {
      const sr = reader(s);
      if (sr.int(2) === 1) out.push({ SubsectionType: 1, Gpc: sr.int(1) === 1 });
    }
    return out;
  };
  const parse = (gpp) => {
    const [head, ...texts] = gpp.split('~'), r = reader(head), ids = [], sections = {};
    r.int(12);
    let last = 0;
    for (let n = r.int(12); n > 0; n--) {
      const group = r.int(1), start = last + r.fib(), end = group ? start + r.fib() : start;
      for (let k = start; k <= end; k++) ids.push(k);
      last = end;
    }
    const at = ids.indexOf(7);
    if (at >= 0) sections.usnat = usnat(texts[at]);
    return { ids, sections };
  };

  const stub = w.__gpp, queue = (stub && stub.queue) || [], listeners = (stub && stub.events) || [];
  let lastId = listeners.reduce((m, l) => Math.max(m, l.id), 0), status = 'ready', gpp = '', state;
  const set = (value) => { gpp = value; state = parse(value); };
  set(me.dataset.gpp || '');
  const display = () => (d.getElementById('consentkit-banner') ? 'visible' : 'hidden');
  let shown = display();
  const copy = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)));
  const ping = () => ({
    gppVersion: '1.1', cmpStatus: 'loaded', cmpDisplayStatus: display(), signalStatus: status,
    supportedAPIs: ['7:usnat'], cmpId: 1, sectionList: state.ids.slice(), applicableSections: [7],
    gppString: gpp, parsedSections: copy(state.sections),
  });
  const fire = (eventName, data) => {
    for (const l of listeners.slice()) l.callback({ eventName, listenerId: l.id, data, pingData: ping() }, true);
  };
  const own = (prefix) => Object.prototype.hasOwnProperty.call(state.sections, prefix);
  const run = (cmd, cb, param) => {
    if (typeof cb !== 'function') return;
    if (cmd === 'ping') return cb(ping(), true);
    if (cmd === 'addEventListener') {
      const id = ++lastId;
      listeners.push({ id, callback: cb, parameter: param });
      return cb({ eventName: 'listenerRegistered', listenerId: id, data: true, pingData: ping() }, true);
    }
    if (cmd === 'removeEventListener') {
      const i = listeners.findIndex((l) => l.id === param);
      if (i >= 0) listeners.splice(i, 1);
      return cb(i >= 0, true);
    }
    if (cmd === 'hasSection') return cb(own(param), true);
    if (cmd === 'getSection') return cb(own(param) ? copy(state.sections[param]) : null, true);
    if (cmd === 'getField') {
      const [prefix, field] = String(param).split('.');
      const hit = own(prefix) && state.sections[prefix].find((s) => Object.prototype.hasOwnProperty.call(s, field));
      return cb(hit ? copy(hit[field]) : null, true);
    }
    cb(null, false);
  };
  const api = (cmd, cb, param) => run(cmd, cb, param);
  api.consentkit = true;
  w.__gpp = api;
  fire('cmpStatus', 'loaded');
  fire('signalStatus', 'ready');
  for (const [cmd, cb, param] of queue) run(cmd, cb, param);

  // A decision made on this page: the consent API's answer carries the new string.
  d.addEventListener('consentkit:change', (e) => {
    const next = e.detail && e.detail.gpp, now = display();
    const changed = typeof next === 'string' && next !== gpp;
    // "not ready" comes first and "ready" last whenever the string changes.
    if (changed) fire('signalStatus', (status = 'not ready'));
    if (now !== shown) fire('cmpDisplayStatus', (shown = now));
    if (!changed) return;
    set(next);
    fire('sectionChange', 'usnat');
    fire('signalStatus', (status = 'ready'));
  });

  // Ad tags in frames find this page by the __gppLocator frame and call it by postMessage.
  w.addEventListener('message', (e) => {
    let m = e.data;
    if (typeof m === 'string') try { m = JSON.parse(m); } catch { return; }
    const call = m && m.__gppCall;
    if (!call || !e.source) return;
    run(call.command, (returnValue, success) => {
      const out = { __gppReturn: { returnValue, success, callId: call.callId } };
      e.source.postMessage(typeof e.data === 'string' ? JSON.stringify(out) : out, '*');
    }, call.parameter);
  });
  if (!w.frames.__gppLocator) {
    const f = d.createElement('iframe');
    f.name = '__gppLocator';
    f.hidden = true;
    d.body.append(f);
  }
})();
