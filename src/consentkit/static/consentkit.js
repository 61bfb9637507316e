/* consentkit: enhances the server-rendered banner, runs consented scripts. No dependencies. */
(() => {
  'use strict';
  const d = document, w = window, me = d.currentScript;
  if (!me || w.consentkit) return;
  const ds = me.dataset, prefix = ds.prefix, nonce = me.nonce || '';
  const words = (s) => (s || '').split(' ').filter(Boolean);
  let granted = new Set(words(ds.granted)), decl, dlg, opener;

  // Consent Mode v2: default, then the choice.
  const gcm = ds.gcm && JSON.parse(ds.gcm);
  const consentMode = (has) => {
    const out = {};
    for (const key in gcm) for (const type of gcm[key]) if (out[type] !== 'granted') out[type] = has(key) ? 'granted' : 'denied';
    return out;
  };
  const gcmUpdate = () => gcm && w.gtag('consent', 'update', consentMode((k) => granted.has(k)));
  if (gcm) {
    w.dataLayer ||= [];
    w.gtag ||= function () { w.dataLayer.push(arguments); };
    for (const a of JSON.parse(ds.gcmd)) w.gtag(...a);
    if (ds.decided === '1') gcmUpdate();
  }

  // Granted: gated frames and images load, gated scripts run.
  const ok = (e) => words(e.dataset.consent).every((k) => granted.has(k));
  const activate = () => {
    for (const e of d.querySelectorAll('[data-src][data-consent]')) {
      if (!ok(e)) continue;
      const p = e.previousElementSibling, v = e.dataset;
      if (p?.matches('.ck-ph')) p.remove(), e.hidden = false;
      if (v.srcset) e.srcset = v.srcset;
      e.src = v.src;
      delete v.src;
    }
    for (const old of d.querySelectorAll('script[type="text/plain"][data-consent]')) {
      if (old.dataset.consentkitRan || !ok(old)) continue;
      old.dataset.consentkitRan = '1';
      const s = d.createElement('script');
      for (const { name, value } of old.attributes) {
        if (!/^(type|data-consent|data-consentkit-ran)$/.test(name)) s.setAttribute(name, value);
      }
      if (old.dataset.type) s.type = old.dataset.type;
      if (nonce) s.nonce = nonce;
      if (s.src) s.async = false; else s.text = old.text;
      old.after(s);
    }
  };

  const apply = (state) => {
    granted = new Set(state.granted);
    d.getElementById('consentkit-banner')?.remove();
    gcmUpdate();
    activate();
    d.dispatchEvent(new CustomEvent('consentkit:change', { detail: state }));
  };

  const api = (body) => fetch(prefix, {
    method: body ? 'POST' : 'GET',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  }).then((r) => { if (!r.ok) throw new Error('consentkit: ' + r.status); return r.json(); });

  const rid = () => Array.from(crypto.getRandomValues(new Uint32Array(4)), (n) => 1e10 + n).join('');
  const decide = (action, categories, surface, decision_id = rid()) =>
    api({ action, categories: action === 'custom' ? categories : undefined, surface, decision_id }).then(apply);

  const h = (tag, props, ...kids) => {
    const e = d.createElement(tag);
    for (const k in props) if (k in e && !k.includes('-')) e[k] = props[k]; else e.setAttribute(k, props[k]);
    e.append(...kids);
    return e;
  };

  const build = () => {
    const t = decl.texts;
    const btn = (action, text) => h('button', { type: 'button', className: 'ck-btn', value: action }, text);
    const cats = decl.categories.map((c) => {
      const id = 'ck-s-' + c.key;
      return h('div', { className: 'ck-cat' },
        h('input', { className: 'ck-sw', type: 'checkbox', role: 'switch', id, value: c.key, disabled: c.required, 'aria-describedby': id + '-d' }),
        h('label', { htmlFor: id }, c.label, c.required ? h('span', { className: 'ck-badge' }, t.always_on) : ''),
        h('p', { className: 'ck-desc', id: id + '-d' }, c.description));
    });
    dlg = h('dialog', { className: 'ck ck-dialog', lang: decl.language, dir: decl.direction, 'aria-labelledby': 'ck-d-title' },
      h('button', { type: 'button', className: 'ck-x', 'aria-label': t.close }, '\u00d7'),
      h('h2', { id: 'ck-d-title', className: 'ck-title' }, t.preferences_title),
      h('p', { className: 'ck-text' }, t.preferences_text, ' ', h('a', { href: decl.privacy_path }, t.privacy_link)),
      h('div', { className: 'ck-cats' }, ...cats),
      h('div', { className: 'ck-row' }, btn('reject_all', t.reject_all), btn('accept_all', t.accept_all), btn('custom', t.save)));
    dlg.addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      if (!b.value) return dlg.close();
      const chosen = {};
      for (const box of dlg.querySelectorAll('.ck-sw:enabled')) chosen[box.value] = box.checked;
      decide(b.value, chosen, 'preferences').then(() => dlg.close(), () => { w.location.href = decl.privacy_path; });
    });
    dlg.addEventListener('close', () => (opener?.isConnected ? opener : d.body).focus());
    d.body.append(dlg);
  };

  const open = async (from) => {
    opener = from || d.activeElement;
    if (!decl) {
      const [state] = await Promise.all([api(), new Promise((done) =>
        d.head.append(h('link', { rel: 'stylesheet', href: ds.css, nonce, onload: done, onerror: done })))]);
      decl = state.declaration;
      granted = new Set(state.granted);
      build();
    }
    for (const box of dlg.querySelectorAll('.ck-sw')) box.checked = granted.has(box.value);
    dlg.showModal();
    dlg.querySelector('.ck-sw:enabled,.ck-btn').focus();
  };

  // Forms post natively if fetch fails.
  d.addEventListener('submit', (e) => {
    const form = e.target, button = e.submitter;
    if (form.dataset.native || !form.closest('#consentkit-banner,.ck-ph')) return;
    e.preventDefault();
    const chosen = {};
    for (const box of form.querySelectorAll('.ck-sw:enabled')) chosen[box.value] = box.checked;
    decide(button.value, chosen, form.surface.value, form.decision_id?.value).catch(() => {
      form.dataset.native = '1';
      form.requestSubmit(button);
    });
  });
  const banner = d.getElementById('consentkit-banner');
  if (banner) {
    const more = banner.querySelector('summary');
    if (more) more.addEventListener('click', (e) => {
      e.preventDefault();
      open(more).catch(() => { more.parentNode.open = true; });
    });
  }

  d.addEventListener('click', (e) => {
    const link = e.target.closest?.('[data-consentkit-open]');
    if (!link) return;
    e.preventDefault();
    open(link).catch(() => { if (link.href) w.location.href = link.href; });
  });

  w.consentkit = { open, decide, allows: (k) => granted.has(k) };
  activate();
})();
