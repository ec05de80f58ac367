// The console's shell: hash routes, the navigation, the viewer, sign-in links.
import { ApiError, explain, session, viewer } from './api.js';
import { announce, clear, errorBox, h, label, ROLE, takeFlash } from './ui.js';
import { SUBMITTING } from './commands.js';
import { renderNewTopic } from './newtopic.js';
import { renderSignIn } from './signin.js';
import { renderCockpit } from './cockpit.js';
import { renderCross } from './cross.js';
import { renderTopic } from './topic.js';
import { renderInbox } from './inbox.js';
import { renderPlans } from './plans.js';

const main = document.getElementById('main');
const echartsReady = new Promise((resolve, reject) => {
  if (window.echarts?.init) resolve(window.echarts);
  const tag = document.getElementById('echarts-script');
  tag.addEventListener('load', () => resolve(window.echarts));
  tag.addEventListener('error', () => reject(new Error('ECharts 加载失败')));
});
const charts = []; // ECharts instances of the current page, disposed on leaving it

/** The page context every page gets: where to draw, its route, the viewer. */
function context(params, me) {
  return {
    main,
    params,
    me,
    go: (hash) => { window.location.hash = hash; },
    async chart(el) {
      const echarts = await echartsReady;
      const chart = echarts.init(el, null, { renderer: 'canvas' });
      charts.push(chart);
      return chart;
    },
  };
}

const ROUTES = [
  [/^\/?$/, (ctx) => ctx.go(`#/cockpit/${ctx.me.unit.code}`)],
  [/^\/cockpit\/?$/, (ctx) => ctx.go(`#/cockpit/${ctx.me.unit.code}`)],
  [/^\/cockpit\/(\d+)$/, (ctx, code) => renderCockpit(ctx, code)],
  [/^\/cross$/, (ctx) => renderCross(ctx)],
  [/^\/topic\/([0-9a-fA-F-]{36})$/, (ctx, id) => renderTopic(ctx, id, Number(ctx.params.get('at')) || null)],
  [/^\/new$/, (ctx) => renderNewTopic(ctx)],
  [/^\/inbox$/, (ctx) => renderInbox(ctx)],
  [/^\/plans\/?$/, (ctx) => ctx.go(`#/plans/${ctx.me.unit.code}`)],
  [/^\/plans\/(\d+)$/, (ctx, code) => renderPlans(ctx, code)],
];

function parseHash() {
  const raw = window.location.hash.replace(/^#/, '');
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

async function route() {
  loading(true);
  try {
    await show();
  } finally {
    loading(false);
  }
}

/** While a page loads: the old one dimmed and marked busy, a loading line shown. */
function loading(on) {
  main.setAttribute('aria-busy', on ? 'true' : 'false');
  main.classList.toggle('stale', on);
  document.getElementById('loading').hidden = !on;
}

async function show() {
  for (const chart of charts.splice(0)) chart.dispose();
  const notice = takeFlash();
  announce('');
  delete main.dataset.ready;
  const { path, params } = parseHash();
  if (path.startsWith('token=')) {
    // a sign-in link: keep the token for this tab, then drop it from the address bar
    session.signIn(decodeURIComponent(path.slice('token='.length)));
    window.history.replaceState(null, '', `${window.location.pathname}#/`);
    return show();
  }
  if (path === '/signin' || !session.token) {
    renderNav(null);
    return renderSignIn({ main, params, onSignedIn: () => { window.location.hash = '#/'; } });
  }
  let me;
  try {
    me = await viewer();
  } catch (err) {
    return signInAgain(err);
  }
  renderNav(me, path);
  const ctx = context(params, me);
  for (const [pattern, render] of ROUTES) {
    const match = path.match(pattern);
    if (match) {
      try {
        await render(ctx, ...match.slice(1));
      } catch (err) {
        if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') return signInAgain(err);
        const refusal = err instanceof ApiError;
        clear(main, h('h1', {}, '出错了'), errorBox(explain(refusal ? err : new ApiError('ERROR', '', err.message))));
        if (!refusal) console.error(err); // a bug in the page, not an answer of the platform
      }
      main.dataset.ready = path;
      if (notice) announce(notice, 'success');
      return undefined;
    }
  }
  clear(main, h('h1', {}, '页面不存在'), h('p', {}, h('a', { href: '#/' }, '回到驾驶舱')));
  return undefined;
}

function signInAgain(err) {
  session.signOut();
  renderNav(null);
  renderSignIn({ main, params: new URLSearchParams(), error: err, onSignedIn: () => { window.location.hash = '#/'; } });
}

function renderNav(me, path = '') {
  const nav = document.getElementById('nav');
  const who = document.getElementById('viewer');
  if (!me) {
    clear(nav);
    clear(who);
    return;
  }
  const link = (hash, text, active) => h('a', { href: hash, 'aria-current': active ? 'page' : null }, text);
  clear(nav,
    link(`#/cockpit/${me.unit.code}`, '驾驶舱', path.startsWith('/cockpit')),
    link('#/cross', '跨层级议题', path.startsWith('/cross')),
    link('#/inbox', '待办', path.startsWith('/inbox')),
    link(`#/plans/${me.unit.code}`, '年度计划', path.startsWith('/plans')),
    me.roles.some((r) => SUBMITTING.includes(r)) ? link('#/new', '新建议题', path.startsWith('/new')) : null);
  clear(who,
    h('span', { class: 'viewer-unit', 'data-testid': 'viewer-unit' }, me.unit.name),
    h('span', { class: 'viewer-roles' }, me.roles.map((r) => label(ROLE, r)).join('、')),
    h('button', {
      type: 'button',
      class: 'link',
      onclick: () => { session.signOut(); window.location.hash = '#/signin'; },
    }, '退出'));
}

document.getElementById('skip').addEventListener('click', () => main.focus());
// One route at a time, in order: a page still loading when the address changes
// finishes first, then the new one renders over it (never a stale page over a new one);
// a page that hangs holds the next one back for at most 10 s.
let routing = Promise.resolve();
function navigate() {
  const previous = Promise.race([routing, new Promise((done) => { setTimeout(done, 10000); })]);
  routing = previous.then(route, route);
  return routing;
}
window.addEventListener('hashchange', navigate);
window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
navigate();
