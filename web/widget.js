/*! Nati Chat widget loader. Add to any page:
 *    <script src="https://CHAT-HOST/widget.js" async></script>
 *  Optional: data-label="Chat with us", data-position="left".
 *  Until the visitor opens the bubble, nothing else is fetched and no socket is opened;
 *  then the chat opens in an iframe (/widget) served from the chat's own origin. */
(function () {
  var script = document.currentScript;
  if (!script || window.NatiChat) return;
  var origin = new URL(script.src, location.href).origin;
  var label = script.getAttribute('data-label') || 'Chat with Nati Automotive';
  var NS = 'http://www.w3.org/2000/svg';
  var KEY = 'nati_chat_guest';
  var css =
    ':host{all:initial}' +
    '.launch{position:fixed;bottom:20px;right:20px;z-index:2147483646;width:58px;height:58px;border-radius:50%;border:0;margin:0;padding:0;' +
    'background:#1d4ed8;color:#fff;box-shadow:0 8px 24px rgba(15,23,42,.28);cursor:pointer;display:flex;align-items:center;justify-content:center;transition:transform .15s,background .15s}' +
    '.launch:hover{transform:scale(1.06);background:#1e40af}.launch:focus-visible{outline:3px solid #93c5fd;outline-offset:3px}' +
    'svg{width:27px;height:27px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}' +
    '.badge{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;padding:0 6px;box-sizing:border-box;border-radius:10px;background:#e11d48;color:#fff;' +
    'font:700 12px/20px system-ui,-apple-system,sans-serif;text-align:center;box-shadow:0 0 0 2px #fff}' +
    '.panel{position:fixed;bottom:92px;right:20px;z-index:2147483647;width:380px;height:min(640px,calc(100vh - 112px));border-radius:18px;overflow:hidden;' +
    'background:#fff;box-shadow:0 16px 56px rgba(15,23,42,.3);opacity:0;transform:translateY(14px) scale(.98);transform-origin:bottom right;transition:opacity .18s,transform .18s}' +
    '.panel.open{opacity:1;transform:none}[hidden]{display:none!important}' +
    'iframe{display:block;width:100%;height:100%;border:0;color-scheme:light}' +
    ':host(.left) .launch,:host(.left) .panel{right:auto;left:20px}' +
    '@media (max-width:480px){.panel{inset:0;width:auto;height:auto;border-radius:0}:host(.open) .launch{display:none}}' +
    '@media (prefers-reduced-motion:reduce){.panel,.launch{transition:none}}' +
    '@media (prefers-color-scheme:dark){.panel{background:#161c25}}';

  function svg(d) {
    var s = document.createElementNS(NS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    var p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    s.appendChild(p);
    return s;
  }
  function make(tag, cls) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  var host = make('div');
  host.setAttribute('data-nati-chat', '');
  if (script.getAttribute('data-position') === 'left') host.className = 'left';
  var root = host.attachShadow({ mode: 'open' });
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    var st = make('style');
    st.textContent = css;
    root.appendChild(st);
  }

  var chatIcon = svg('M4 5.5h16v10H9l-5 4z');
  var closeIcon = svg('M6 9l6 6 6-6');
  var btn = make('button', 'launch');
  btn.type = 'button';
  btn.setAttribute('aria-label', label);
  btn.setAttribute('aria-expanded', 'false');
  btn.setAttribute('aria-controls', 'nati-chat-panel');
  btn.title = label;
  var badge = make('span', 'badge');
  badge.hidden = true;
  btn.appendChild(chatIcon);
  btn.appendChild(badge);
  var panel = make('div', 'panel');
  panel.id = 'nati-chat-panel';
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', label);
  panel.hidden = true;
  var frame = null;
  var open = false;
  var hideTimer;

  function tell() {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ type: 'nati:visible', visible: open }, origin);
  }
  function setOpen(v) {
    if (v === open) return;
    open = v;
    clearTimeout(hideTimer);
    if (v && !frame) {
      frame = make('iframe');
      frame.src = origin + '/widget';
      frame.title = label;
      frame.addEventListener('load', tell);
      panel.appendChild(frame);
    }
    btn.setAttribute('aria-expanded', String(v));
    btn.replaceChild(v ? closeIcon : chatIcon, v ? chatIcon : closeIcon);
    host.classList.toggle('open', v);
    if (v) {
      panel.hidden = false;
      badge.hidden = true;
      requestAnimationFrame(function () {
        panel.classList.add('open');
        frame.focus();
      });
    } else {
      panel.classList.remove('open');
      hideTimer = setTimeout(function () { panel.hidden = true; }, 200);
    }
    tell();
  }

  btn.addEventListener('click', function () { setOpen(!open); });
  root.addEventListener('keydown', function (e) { if (e.key === 'Escape' && open) { setOpen(false); btn.focus(); } });
  window.addEventListener('message', function (e) {
    if (!frame || e.source !== frame.contentWindow || e.origin !== origin) return;
    var d = e.data || {};
    if (d.type === 'nati:close') {
      setOpen(false);
      btn.focus();
    } else if (d.type === 'nati:ready') {
      // Browsers that block storage in third-party frames: the frame keeps its guest
      // session here, in this site's storage, and gets it back on every load.
      var kept = null;
      try { kept = localStorage.getItem(KEY); } catch (x) { /* no storage */ }
      frame.contentWindow.postMessage({ type: 'nati:hello', visible: open, stored: kept }, origin);
    } else if (d.type === 'nati:store') {
      try {
        if (typeof d.value === 'string') localStorage.setItem(KEY, d.value);
        else localStorage.removeItem(KEY);
      } catch (x) { /* no storage */ }
    } else if (d.type === 'nati:unread') {
      var n = Math.max(0, d.count | 0);
      badge.textContent = n > 9 ? '9+' : String(n);
      badge.hidden = open || !n;
      btn.setAttribute('aria-label', n && !open ? label + ' (' + n + ' new)' : label);
    }
  });

  root.appendChild(panel);
  root.appendChild(btn);
  (document.body || document.documentElement).appendChild(host);
  window.NatiChat = { open: function () { setOpen(true); }, close: function () { setOpen(false); } };
})();
