// The sign-in page: posts to /api/auth/login (the server sets the session cookie), then
// goes to the account's panel (or back where the visitor came from).

import { api, PANEL } from './api.js';
import { el, field } from './ui.js';

const next = new URLSearchParams(location.search).get('next');

/** The account's panel; the page that sent us here when it is that panel (e.g. a chat link). */
function go(role) {
  const home = PANEL[role] || '/';
  let back = null;
  if (next && next.startsWith('/') && !next.startsWith('//')) {
    const u = new URL(next, location.origin);
    if (u.origin === location.origin && (u.pathname === home || (role === 'user' && u.pathname === '/user'))) back = u.pathname + u.search + u.hash;
  }
  location.replace(back || home);
}

const email = el('input', { name: 'email', type: 'email', required: true, autocomplete: 'username', autofocus: true });
const password = el('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' });
const role = el('select', { name: 'role' },
  el('option', { value: 'user', text: 'Customer' }), el('option', { value: 'worker', text: 'Worker' }), el('option', { value: 'admin', text: 'Admin' }));
const roleField = field('Sign in as', role, 'This email has more than one account.');
roleField.hidden = true;
const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
const submit = el('button', { class: 'btn primary wide', type: 'submit', text: 'Sign in' });
const firstRun = el('div', { class: 'notice first-run', role: 'status', hidden: true });
const form = el('form', { class: 'login-form', novalidate: false },
  field('Email', email), field('Password', password), roleField, error, submit);

/** What went wrong, said for a person rather than as the API's text. */
function loginError(err) {
  if (err.code === 'rate_limited') return 'Too many attempts. Wait a minute and try again.';
  if (err.status === 409) return 'This email has more than one account. Choose which one to sign in to.';
  if (err.status === 401) return "That email and password don't match an account. Check them and try again.";
  if (err.status === 403) return 'This account cannot sign in right now. Ask your administrator.';
  if (err.status === 400 || err.status === 422) return 'Enter your email address and password.';
  if (!err.status || err.status >= 500) return 'The chat server cannot be reached. Check your connection and try again.';
  return 'Signing in did not work. Try again.';
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  submit.textContent = 'Signing in…';
  try {
    const r = await api.post('/api/auth/login', {
      email: email.value, password: password.value, role: roleField.hidden ? null : role.value,
    });
    go(r.account.role);
    return;
  } catch (err) {
    if (err.status === 409) {
      roleField.hidden = false;
      role.focus();
    }
    error.textContent = loginError(err);
    error.hidden = false;
  }
  submit.disabled = false;
  submit.textContent = 'Sign in';
});

document.body.replaceChildren(el('main', { class: 'login' },
  el('div', { class: 'login-card' },
    el('div', { class: 'login-brand' }, el('img', { src: '/assets/icon.svg', alt: '', width: 44, height: 44 }),
      el('div', {}, el('strong', { text: 'Nati Automotive' }), el('span', { class: 'muted', text: 'Support chat' }))),
    el('h1', { text: 'Sign in' }),
    el('p', { class: 'muted', text: 'Customers, workshop staff and admins sign in here.' }),
    firstRun,
    form,
    el('p', { class: 'login-foot muted' }, 'No account? ', el('a', { href: '/guest', text: 'Chat with us as a guest' })))));
email.focus();

// A fresh install has no admin yet: say how to create one (the server prints the same).
api.get('/api/setup').then((s) => {
  if (!s?.needs_admin) return;
  firstRun.replaceChildren(
    el('strong', { text: 'New installation: nobody can sign in yet.' }),
    el('span', { text: ' On the server, create the first admin (it asks for a password), then sign in here:' }),
    el('code', { text: 'nati-chat account create --role admin --email you@example.com --name "Your Name"' }));
  firstRun.hidden = false;
}).catch(() => {});
