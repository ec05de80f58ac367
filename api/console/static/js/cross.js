// 跨层级议题: topics that changed level, filtered by stage, category, source, overdue,
// stuck; each row shows its route across the levels and the days at each.
import { gql } from './api.js';
import { badge, clear, fmt, h, label, routeList, SOURCE, STAGE } from './ui.js';

const ROW = `topicId title category source stage overdue updatedAt
  owner { code name } route { unit { code name level } via days }`;

const FILTERED = `query Cross($filter: TopicFilter!, $after: String, $unit: String!) {
  unit(code: $unit) { name }
  topics(filter: $filter, first: 50, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${ROW} } }
  }
}`;

// `stuckDays` lives on crossLevelTopics only: with it, the other filters apply to its
// pages here in the page (the API's own filters are on `topics`).
const STUCK = `query Stuck($unit: String!, $stuckDays: Int!, $after: String) {
  unit(code: $unit) { name }
  crossLevelTopics(unit: $unit, stuckDays: $stuckDays, first: 100, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${ROW} } }
  }
}`;

const STUCK_CHOICES = [['', '不限'], ['7', '7 天无进展'], ['14', '14 天无进展'], ['30', '30 天无进展']];

export async function renderCross(ctx) {
  const { main, params } = ctx;
  const unit = params.get('unit') || ctx.me.unit.code;
  const chosen = {
    stage: params.get('stage') || '',
    category: params.get('category') || '',
    source: params.get('source') || '',
    overdue: params.get('overdue') === '1',
    stuck: params.get('stuck') || '',
  };
  const heading = h('h1', {}, '跨层级议题');
  const list = h('div', { class: 'cross-list' });
  const total = h('p', { class: 'total', 'aria-live': 'polite' });
  const more = h('div', { class: 'more' });
  clear(main,
    heading,
    h('p', { class: 'hint' }, '在各级之间上交、下放或提级办理过的议题，显示流转路线和在每一级停留的天数。'),
    filterForm(ctx, unit, chosen),
    total, list, more);

  let shown = 0;
  const load = async (after) => {
    const { connection, rows, name } = await fetchPage(unit, chosen, after);
    clear(heading, `跨层级议题 · ${name}`);
    shown += rows.length;
    if (!after) clear(list);
    list.append(...rows.map(row));
    clear(total, chosen.stuck
      ? `共 ${connection.totalCount} 个停滞议题，符合其他条件的已显示 ${shown} 个`
      : `共 ${connection.totalCount} 个议题，已显示 ${shown} 个`);
    if (!shown) clear(list, h('p', { class: 'empty' }, '没有符合条件的跨层级议题。'));
    clear(more, connection.pageInfo.hasNextPage
      ? h('button', { type: 'button', onclick: () => load(connection.pageInfo.endCursor) }, '加载更多')
      : null);
  };
  await load(null);
}

async function fetchPage(unit, chosen, after) {
  if (chosen.stuck) {
    const data = await gql(STUCK, { unit, stuckDays: Number(chosen.stuck), after });
    const connection = data.crossLevelTopics;
    const name = data.unit?.name ?? unit;
    const rows = connection.edges.map((e) => e.node).filter((t) => (!chosen.stage || t.stage === chosen.stage)
      && (!chosen.category || t.category.includes(chosen.category))
      && (!chosen.source || t.source === chosen.source)
      && (!chosen.overdue || t.overdue));
    return { connection, rows, name };
  }
  const filter = { unit, crossLevel: true };
  if (chosen.stage) filter.stage = [chosen.stage];
  if (chosen.category) filter.category = chosen.category;
  if (chosen.source) filter.source = chosen.source;
  if (chosen.overdue) filter.overdue = true;
  const data = await gql(FILTERED, { filter, after, unit });
  const connection = data.topics;
  return { connection, rows: connection.edges.map((e) => e.node), name: data.unit?.name ?? unit };
}

function filterForm(ctx, unit, chosen) {
  const select = (id, text, options, value) => h('div', { class: 'field' },
    h('label', { for: id }, text),
    h('select', { id, name: id }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));
  const form = h('form', { class: 'filters card', 'aria-label': '筛选' },
    select('stage', '阶段', [['', '全部'], ...Object.entries(STAGE)], chosen.stage),
    h('div', { class: 'field' },
      h('label', { for: 'category' }, '类别'),
      h('input', { id: 'category', name: 'category', value: chosen.category, maxlength: 200, placeholder: '如：供水' })),
    select('source', '来源', [['', '全部'], ...Object.entries(SOURCE)], chosen.source),
    select('stuck', '停滞', STUCK_CHOICES, chosen.stuck),
    h('div', { class: 'field check' },
      h('input', { id: 'overdue', name: 'overdue', type: 'checkbox', checked: chosen.overdue }),
      h('label', { for: 'overdue' }, '只看逾期')),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, '筛选'),
      h('a', { class: 'button', href: `#/cross?unit=${unit}` }, '清除')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const query = new URLSearchParams({ unit });
    for (const key of ['stage', 'category', 'source', 'stuck']) {
      const value = String(data.get(key) || '').trim();
      if (value) query.set(key, value);
    }
    if (data.get('overdue')) query.set('overdue', '1');
    ctx.go(`#/cross?${query}`);
  });
  return form;
}

function row(topic) {
  return h('article', { class: 'card topic-row', dataset: { topic: topic.topicId } },
    h('h2', {}, h('a', { href: `#/topic/${topic.topicId}` }, topic.title)),
    h('p', { class: 'meta' },
      badge(label(STAGE, topic.stage), 'stage'),
      topic.overdue ? badge('逾期', 'warn') : null,
      h('span', {}, `类别：${topic.category}`),
      h('span', {}, `来源：${label(SOURCE, topic.source)}`),
      h('span', {}, `当前承办：${topic.owner.name}`),
      h('span', {}, `最近更新：${fmt.date(topic.updatedAt)}`)),
    routeList(topic.route));
}
