// 驾驶舱: the figures of one unit's subtree, its monthly trends, its children ranked;
// a child's name drills down, the breadcrumb goes back up (not above the viewer).
import { gql } from './api.js';
import { clear, fmt, h, label, LEVEL, LEVELS } from './ui.js';

const FIGURES = `total open closed overdue visits transfers returns ranked medianDaysToClose
  responseRate resolutionRate satisfactionRate onTimeSignRate onTimeCompletionRate returnRate redoRate`;

const STATS = `query Cockpit($unit: String!) {
  stats(unit: $unit) {
    ${FIGURES}
    unit { code name level ancestors { code name level } }
    months { month submitted closed visits satisfactionRate responseRate resolutionRate
             onTimeSignRate onTimeCompletionRate returnRate redoRate }
    children { ${FIGURES} unit { code name level } }
    ranking { unit { code } }
  }
}`;

export const RATES = [
  ['responseRate', '响应率', '联系到的回访 / 有效回访'],
  ['resolutionRate', '解决率', '已解决 / 有效回访'],
  ['satisfactionRate', '满意率', '（满意 + 0.9 × 基本满意）/ 有效回访'],
  ['onTimeSignRate', '及时签收率', '按时签收的任务 / 交办的任务'],
  ['onTimeCompletionRate', '按时办结率', '按期办结的任务 / 办结的任务'],
  ['returnRate', '退单率', '被退回的转交 / 全部转交'],
  ['redoRate', '重办率', '群众不满意重新办理 / 结果反馈'],
];

export async function renderCockpit(ctx, code) {
  const started = performance.now();
  const { stats } = await gql(STATS, { unit: code });
  const { main, me } = ctx;
  const unit = stats.unit;
  const rank = new Map(stats.ranking.map((r, i) => [r.unit.code, i + 1]));

  const trend = h('div', { class: 'chart', role: 'img', 'aria-label': `${unit.name}月度议题量趋势图` });
  const rateTrend = h('div', { class: 'chart', role: 'img', 'aria-label': `${unit.name}月度评价指标趋势图` });
  const rankChart = stats.ranking.length
    ? h('div', { class: 'chart', role: 'img', 'aria-label': `${unit.name}下级单位满意率排名图` })
    : null;
  if (rankChart) rankChart.style.height = `${Math.max(160, 30 * stats.ranking.length + 40)}px`;

  clear(main,
    breadcrumb(unit, me),
    h('div', { class: 'page-head' },
      h('h1', {}, `${unit.name} 驾驶舱`),
      h('a', { class: 'button', href: `#/cross?unit=${unit.code}` }, '查看跨层级议题')),
    h('section', { class: 'counts', 'aria-label': '议题数量' },
      count('议题总数', stats.total, 'total'),
      count('在办', stats.open, 'open'),
      count('逾期', stats.overdue, 'overdue', stats.overdue > 0 ? 'warn' : ''),
      count('已办结', stats.closed, 'closed'),
      count('办结用时中位数', fmt.days(stats.medianDaysToClose), 'median')),
    h('section', { class: 'rates', 'aria-label': '评价指标' },
      RATES.map(([key, name, formula]) => h('div', { class: 'rate', title: formula, dataset: { rate: key } },
        h('span', { class: 'rate-name' }, name),
        h('span', { class: 'rate-value' }, fmt.pct(stats[key])),
        h('span', { class: 'rate-formula' }, formula)))),
    h('p', { class: 'sample' },
      `样本：有效回访 ${fmt.num(stats.visits)} 次，转交 ${fmt.num(stats.transfers)} 次（退回 ${fmt.num(stats.returns)} 次）。`),
    h('div', { class: 'charts' },
      h('section', { class: 'card' }, h('h2', {}, '月度议题量'), trend),
      h('section', { class: 'card' }, h('h2', {}, '月度评价指标'), rateTrend)),
    monthTable(stats.months),
    childrenSection(stats, unit, rank, rankChart));

  performance.mark('cockpit-figures'); // counts, rates and tables are on the page
  drawTrend(await ctx.chart(trend), stats.months);
  drawRates(await ctx.chart(rateTrend), stats.months);
  if (rankChart) drawRanking(await ctx.chart(rankChart), stats);
  const ms = Math.round(performance.now() - started);
  main.dataset.cockpitMs = String(ms);
  performance.mark('cockpit-ready');
}

function breadcrumb(unit, me) {
  const from = LEVELS.indexOf(me.unit.level);
  const above = unit.ancestors.filter((a) => LEVELS.indexOf(a.level) >= from);
  return h('nav', { class: 'breadcrumb', 'aria-label': '层级导航' },
    h('ol', {},
      above.map((a) => h('li', {}, h('a', { href: `#/cockpit/${a.code}` }, a.name))),
      h('li', {}, h('span', { 'aria-current': 'page' }, unit.name))));
}

function count(name, value, key, kind = '') {
  return h('div', { class: `count ${kind}`, dataset: { count: key } },
    h('span', { class: 'count-name' }, name),
    h('span', { class: 'count-value' }, typeof value === 'number' ? fmt.num(value) : value));
}

function monthTable(months) {
  return h('details', { class: 'card' },
    h('summary', {}, '月度数据表'),
    h('div', { class: 'table-wrap' },
      h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '月份'), h('th', { scope: 'col' }, '受理'),
          h('th', { scope: 'col' }, '办结'), h('th', { scope: 'col' }, '回访'),
          RATES.map(([, name]) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, months.map((m) => h('tr', {},
          h('th', { scope: 'row' }, m.month), h('td', {}, m.submitted), h('td', {}, m.closed),
          h('td', {}, m.visits), RATES.map(([key]) => h('td', {}, fmt.pct(m[key])))))))));
}

function childrenSection(stats, unit, rank, rankChart) {
  if (!stats.children.length) {
    return h('section', { class: 'card' }, h('h2', {}, '下级单位'),
      h('p', {}, `${unit.name}是${label(LEVEL, unit.level)}级单位，没有下级单位。`));
  }
  const rows = [...stats.children].sort((a, b) => (rank.get(a.unit.code) ?? 1e9) - (rank.get(b.unit.code) ?? 1e9)
    || b.total - a.total || a.unit.code.localeCompare(b.unit.code));
  return h('section', { class: 'card children' },
    h('h2', {}, '下级单位排名'),
    h('p', { class: 'hint' }, '按满意率排名；有效回访少于最低样本量的单位不参加排名，以免个别小单位排在首尾。点击单位名称逐级查看。'),
    rankChart,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'child-table' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, '排名'), h('th', { scope: 'col' }, '单位'),
          h('th', { scope: 'col' }, '议题'), h('th', { scope: 'col' }, '在办'), h('th', { scope: 'col' }, '逾期'),
          h('th', { scope: 'col' }, '已办结'), h('th', { scope: 'col' }, '满意率'),
          h('th', { scope: 'col' }, '回访样本'))),
        h('tbody', {}, rows.map((c) => h('tr', { dataset: { unit: c.unit.code } },
          h('td', {}, rank.has(c.unit.code) ? String(rank.get(c.unit.code)) : h('span', { class: 'muted' }, '样本不足')),
          h('th', { scope: 'row' }, h('a', { href: `#/cockpit/${c.unit.code}` }, c.unit.name)),
          h('td', {}, fmt.num(c.total)), h('td', {}, fmt.num(c.open)),
          h('td', { class: c.overdue ? 'warn' : '' }, fmt.num(c.overdue)), h('td', {}, fmt.num(c.closed)),
          h('td', {}, c.ranked ? fmt.pct(c.satisfactionRate) : '—'), h('td', {}, fmt.num(c.visits))))))));
}

const PALETTE = ['#b3261e', '#1f5fa8', '#2e7d32', '#8e5a00', '#6a3ea1', '#00838f', '#5d4037'];

function drawTrend(chart, months) {
  chart.setOption({
    color: ['#1f5fa8', '#2e7d32'],
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: months.map((m) => m.month) },
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { name: '受理', type: 'bar', data: months.map((m) => m.submitted) },
      { name: '办结', type: 'bar', data: months.map((m) => m.closed) },
    ],
    animation: false,
  });
}

function drawRates(chart, months) {
  const percent = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  chart.setOption({
    color: PALETTE,
    tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined ? '—' : `${v}%`) },
    legend: { top: 0, type: 'scroll' },
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: months.map((m) => m.month) },
    yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    series: RATES.map(([key, name]) => ({
      name, type: 'line', connectNulls: true, data: months.map((m) => percent(m[key])),
    })),
    animation: false,
  });
}

function drawRanking(chart, stats) {
  const ranked = stats.children.filter((c) => c.ranked)
    .sort((a, b) => (a.satisfactionRate ?? 0) - (b.satisfactionRate ?? 0));
  chart.setOption({
    color: ['#b3261e'],
    tooltip: { trigger: 'axis', valueFormatter: (v) => `${v}%` },
    grid: { left: 110, right: 24, top: 8, bottom: 24 },
    xAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    yAxis: { type: 'category', data: ranked.map((c) => c.unit.name) },
    series: [{ name: '满意率', type: 'bar', data: ranked.map((c) => Math.round((c.satisfactionRate ?? 0) * 1000) / 10) }],
    animation: false,
  });
}
