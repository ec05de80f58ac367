// Sign-in: paste a token; the console shows whom it acts for before going on.
import { ApiError, explain, session, viewer } from './api.js';
import { clear, errorBox, h, label, LEVEL, ROLE } from './ui.js';

export function renderSignIn({ main, error, onSignedIn }) {
  const result = h('div', { class: 'signin-result' });
  const tokenField = h('textarea', {
    id: 'token', name: 'token', rows: 4, required: true, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'eyJhbGciOi…',
  });
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, '登录'),
    h('p', {}, '粘贴 ', h('code', {}, 'linkage token issue'), ' 签发的访问令牌，或打开演示程序打印的登录链接。'),
    h('label', { for: 'token' }, '访问令牌'),
    tokenField,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '登录')),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    session.signIn(tokenField.value);
    try {
      const me = await viewer();
      clear(result, identity(me));
      onSignedIn(me);
    } catch (err) {
      session.signOut();
      clear(result, errorBox(explain(err instanceof ApiError ? err : new ApiError('ERROR', '', err.message))));
      tokenField.focus();
    }
  });
  clear(main, form);
  if (error) clear(result, errorBox(explain(error)));
  tokenField.focus();
}

export function identity(me) {
  return h('dl', { class: 'identity' },
    h('dt', {}, '单位'), h('dd', {}, `${me.unit.name}（${label(LEVEL, me.unit.level)}，${me.unit.code}）`),
    h('dt', {}, '角色'), h('dd', {}, me.roles.map((r) => label(ROLE, r)).join('、')),
    h('dt', {}, '用户'), h('dd', {}, me.userId));
}
