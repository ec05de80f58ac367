// 年度协商计划: a committee's plan for a year — items by kind and month, their state,
// linked topics and adjustments, a progress bar per kind, the roll-up over child units,
// the plan actions for the staff and leaders of the committee, and the plan as issued
// (.xlsx / CSV). Route: #/plans/<unit>?year=YYYY.
import { ApiError, explain, gql, session } from './api.js';
import { announce, badge, clear, errorBox, fmt, h } from './ui.js';

export const PLAN_KIND = {
  PLENARY: '全体会议', JOINT_MEETING: '联席会议', STANDING_COMMITTEE: '常委会议', BIMONTHLY: '双月协商',
  SPECIAL: '专题协商', PROPOSAL_HANDLING: '提案办理协商', COUNTERPART: '对口协商', SECTOR: '界别协商',
  LINKAGE: '市县联动协商', GRASSROOTS: '小微协商', SUPERVISION: '协商式监督', RESEARCH: '调研', OTHER: '其他',
};
const PLAN_STATE = { DRAFT: '草稿', SUBMITTED: '已报审', APPROVED: '已批准' };
const ITEM_STATE = { PLANNED: '计划中', DONE: '已完成', CANCELLED: '已取消' };
const ORIGINS = ['党委点题', '政府出题', '委员荐题', '社会征题', '部门提出', '其他'];
const EDITING = ['STAFF', 'LEADER'];

const PLAN = `id planId year state approvedAt issuedBy unit { code name }
  progress { kind planned done }
  items { itemId kind title leadLeader leadCommittee origin plannedFor state overdue doneAt meetingIds
          topics { topicId title } adjustments { change reason at actor { role } } }`;

const READ = `query Plan($unit: String!, $year: Int!) {
  unit(code: $unit) { code name }
  consultationPlan(unit: $unit, year: $year) { ${PLAN} }
  planProgress(unit: $unit, year: $year) { unit { code name } planned done overdue plan { state } }
}`;

// One literal document per plan command (the console-cost test reads every document).
const PLAN_MUTATIONS = {
  draftPlan: 'mutation DraftPlan($input: DraftPlanInput!) { draftPlan(input: $input) { position createdId } }',
  addPlanItem: 'mutation AddPlanItem($input: PlanItemInput!) { addPlanItem(input: $input) { position createdId } }',
  submitPlan: 'mutation SubmitPlan($input: PlanRefInput!) { submitPlan(input: $input) { position createdId } }',
  approvePlan: 'mutation ApprovePlan($input: ApprovePlanInput!) { approvePlan(input: $input) { position createdId } }',
  adjustPlanItem: 'mutation AdjustPlanItem($input: AdjustPlanItemInput!) { adjustPlanItem(input: $input) { position createdId } }',
  linkPlanItem: 'mutation LinkPlanItem($input: LinkPlanItemInput!) { linkPlanItem(input: $input) { position createdId } }',
  completePlanItem: 'mutation CompletePlanItem($input: PlanItemRefInput!) { completePlanItem(input: $input) { position createdId } }',
  cancelPlanItem: 'mutation CancelPlanItem($input: PlanItemReasonInput!) { cancelPlanItem(input: $input) { position createdId } }',
};
const DONE = {
  draftPlan: '已起草计划', addPlanItem: '已添加计划项', submitPlan: '已报审', approvePlan: '已批准印发',
  adjustPlanItem: '已调整计划项', linkPlanItem: '已关联议题', completePlanItem: '已标记完成', cancelPlanItem: '已取消计划项',
};

async function planCommand(name, input) {
  const data = await gql(PLAN_MUTATIONS[name], { input });
  return data[name];
}

export async function renderPlans(ctx, unit) {
  const { main, me } = ctx;
  const thisYear = Number(new Intl.DateTimeFormat('en', { timeZone: 'Asia/Shanghai', year: 'numeric' }).format(new Date()));
  const year = Number(ctx.params.get('year')) || thisYear;
  const data = await gql(READ, { unit, year });
  if (!data.unit) throw new ApiError('NOT_FOUND', 'UNIT_NOT_FOUND', `unit ${unit}`);
  const plan = data.consultationPlan;
  const mine = me.unit.code === unit && me.roles.some((r) => EDITING.includes(r));
  const leader = mine && me.roles.includes('LEADER');
  const rerender = async (message) => {
    await renderPlans(ctx, unit);
    announce(message, 'success');
  };
  const run = (name, input, formEl) => async (event) => {
    event?.preventDefault();
    const slot = formEl?.querySelector('.form-error');
    if (slot) clear(slot);
    try {
      await planCommand(name, input());
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const box = errorBox(explain(err));
      if (slot) slot.append(box); else announce(explain(err).plain, 'error');
      return;
    }
    await rerender(DONE[name]);
  };
  const yearLink = (y) => h('a', { href: `#/plans/${unit}?year=${y}` }, `${y}年`);
  clear(main,
    h('h1', {}, `${data.unit.name}${year}年度协商计划`),
    h('p', { class: 'year-nav' }, yearLink(year - 1), ' · ', h('strong', {}, `${year}年`), ' · ', yearLink(year + 1)),
    plan ? planBlock(plan, { mine, leader, run, unit, year }) : noPlan({ mine, run, unit, year }),
    rollup(data.planProgress, year, unit));
}

function noPlan({ mine, run, unit, year }) {
  const form = h('form', { 'aria-label': '起草计划' });
  form.append(h('div', { class: 'form-error' }),
    h('button', { type: 'submit', class: 'primary' }, '起草计划'));
  form.addEventListener('submit', run('draftPlan', () => ({ unit, year }), form));
  return h('section', {}, h('p', { class: 'empty' }, '本年度尚无协商计划。'), mine ? form : null);
}

function planBlock(plan, opts) {
  const { mine, leader, run } = opts;
  const parts = [
    h('p', { class: 'plan-state' }, badge(PLAN_STATE[plan.state] || plan.state, plan.state === 'APPROVED' ? 'ok' : ''),
      plan.approvedAt ? ` 批准于 ${fmt.time(plan.approvedAt)}` : null,
      plan.issuedBy.length ? ` · 联合印发：${plan.issuedBy.join('、')}` : null),
    exportLinks(plan, opts),
    progressBars(plan),
    itemsTable(plan, opts),
  ];
  if (mine && plan.state !== 'APPROVED') parts.push(addItemForm(plan, run));
  if (mine && plan.state === 'DRAFT') {
    const form = h('form', { 'aria-label': '报审计划' }, h('div', { class: 'form-error' }),
      h('button', { type: 'submit' }, '报审计划'));
    form.addEventListener('submit', run('submitPlan', () => ({ planId: plan.planId }), form));
    parts.push(form);
  }
  if (leader && plan.state === 'SUBMITTED') {
    const issued = h('input', { id: 'issued-by', required: true, value: '党委办、政府办、政协办' });
    const form = h('form', { 'aria-label': '批准印发' },
      h('label', { for: 'issued-by' }, '联合印发单位（用顿号分隔）'), issued,
      h('div', { class: 'form-error' }), h('button', { type: 'submit', class: 'primary' }, '批准印发'));
    form.addEventListener('submit', run('approvePlan', () => ({
      planId: plan.planId,
      issuedBy: issued.value.split(/[、,，;；]/).map((s) => s.trim()).filter(Boolean),
    }), form));
    parts.push(form);
  }
  return h('section', { 'aria-label': '计划' }, parts);
}

function exportLinks(plan, { unit, year }) {
  const download = (format) => async () => {
    const response = await fetch(`/api/v1/plans/${unit}/${year}/export?format=${format}`, {
      headers: { Authorization: `Bearer ${session.token}` },
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      announce(explain(new ApiError(body.code || 'ERROR', body.rule || '', body.detail || '')).plain, 'error');
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const a = h('a', { href: url, download: `${plan.unit.name}${year}年度协商计划.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  return h('p', { class: 'exports' }, '导出：',
    h('button', { type: 'button', class: 'link', onclick: download('xlsx') }, 'Excel（.xlsx）'), ' ',
    h('button', { type: 'button', class: 'link', onclick: download('csv') }, 'CSV'));
}

function progressBars(plan) {
  if (!plan.progress.length) return null;
  return h('section', { 'aria-label': '按协商形式的完成进度', class: 'plan-progress' },
    h('h2', {}, '完成进度'),
    h('ul', {}, plan.progress.map((p) => h('li', { dataset: { kind: p.kind } },
      h('span', { class: 'kind' }, PLAN_KIND[p.kind] || p.kind),
      h('progress', { max: String(Math.max(p.planned, 1)), value: String(p.done), 'aria-label': `${PLAN_KIND[p.kind]}完成 ${p.done}/${p.planned}` }),
      h('span', { class: 'count' }, `${p.done}/${p.planned}`)))));
}

function itemsTable(plan, { mine, leader, run }) {
  if (!plan.items.length) return h('p', { class: 'empty' }, '尚无计划项。');
  const items = [...plan.items].sort((a, b) => a.plannedFor.localeCompare(b.plannedFor) || a.kind.localeCompare(b.kind));
  return h('table', { class: 'plan-items' },
    h('caption', {}, '计划项（按计划时间）'),
    h('thead', {}, h('tr', {}, ['计划时间', '协商形式', '议题名称', '牵头', '来源', '状态', '关联议题', '调整记录', mine ? '操作' : null]
      .filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, items.map((item) => h('tr', { dataset: { item: item.itemId } },
      h('td', {}, item.plannedFor),
      h('td', {}, PLAN_KIND[item.kind] || item.kind),
      h('td', {}, item.title),
      h('td', {}, [item.leadLeader, item.leadCommittee].filter(Boolean).join(' / ') || '—'),
      h('td', {}, item.origin || '—'),
      h('td', { class: 'item-state' }, badge(ITEM_STATE[item.state] || item.state, item.state === 'DONE' ? 'ok' : ''),
        item.overdue ? badge('逾期', 'overdue') : null,
        item.doneAt ? ` ${fmt.date(item.doneAt)}` : null),
      h('td', {}, item.topics.length ? item.topics.map((t) => h('a', { href: `#/topic/${t.topicId}` }, t.title)) : '—'),
      h('td', {}, item.adjustments.length ? h('ul', {}, item.adjustments.map((a) => h('li', {}, `${a.change}（${a.reason}，${fmt.date(a.at)}）`))) : '—'),
      mine ? h('td', {}, itemActions(plan, item, { leader, run })) : null))));
}

function itemActions(plan, item, { leader, run }) {
  if (item.state === 'CANCELLED') return '—';
  const ref = { planId: plan.planId, itemId: item.itemId };
  const approved = plan.state === 'APPROVED';
  const topic = h('input', { 'aria-label': `关联议题编号：${item.title}`, placeholder: '议题编号' });
  const link = h('form', { class: 'inline', 'aria-label': `关联议题：${item.title}` }, topic,
    h('button', { type: 'submit' }, '关联'), h('div', { class: 'form-error' }));
  link.addEventListener('submit', run('linkPlanItem', () => ({ ...ref, topicId: topic.value.trim() }), link));
  const forms = [link];
  if (item.state === 'PLANNED') {
    const done = h('form', { class: 'inline', 'aria-label': `标记完成：${item.title}` },
      h('button', { type: 'submit' }, '标记完成'), h('div', { class: 'form-error' }));
    done.addEventListener('submit', run('completePlanItem', () => ref, done));
    forms.push(done);
  }
  if (!approved || leader) {
    const reason = h('input', { 'aria-label': `取消原因：${item.title}`, placeholder: '原因（批准后必填）' });
    const cancel = h('form', { class: 'inline', 'aria-label': `取消计划项：${item.title}` }, reason,
      h('button', { type: 'submit' }, '取消'), h('div', { class: 'form-error' }));
    cancel.addEventListener('submit', run('cancelPlanItem', () => ({ ...ref, reason: reason.value }), cancel));
    forms.push(cancel);
  }
  return forms;
}

function addItemForm(plan, run) {
  const field = (id, text, control) => h('div', { class: 'field' }, h('label', { for: id }, text), control);
  const kind = h('select', { id: 'item-kind' }, Object.entries(PLAN_KIND).map(([k, v]) => h('option', { value: k }, v)));
  const title = h('input', { id: 'item-title', required: true, maxlength: '200' });
  const period = h('input', { id: 'item-period', required: true, placeholder: `${plan.year}-05 或 ${plan.year}-Q2`, pattern: '\\d{4}-(0[1-9]|1[0-2]|Q[1-4])' });
  const leaderInput = h('input', { id: 'item-leader', maxlength: '100' });
  const committee = h('input', { id: 'item-committee', maxlength: '100' });
  const origin = h('select', { id: 'item-origin' }, h('option', { value: '' }, '—'), ORIGINS.map((o) => h('option', { value: o }, o)));
  const form = h('form', { 'aria-label': '添加计划项', class: 'plan-item-form' },
    h('h2', {}, '添加计划项'),
    field('item-kind', '协商形式 *', kind),
    field('item-title', '议题名称 *', title),
    field('item-period', '计划时间 *（月 YYYY-MM 或季度 YYYY-Qn）', period),
    field('item-leader', '牵头领导', leaderInput),
    field('item-committee', '牵头专委会', committee),
    field('item-origin', '议题来源', origin),
    h('div', { class: 'form-error' }),
    h('button', { type: 'submit' }, '添加'));
  form.addEventListener('submit', run('addPlanItem', () => ({
    planId: plan.planId,
    kind: kind.value,
    title: title.value,
    plannedFor: period.value.trim(),
    leadLeader: leaderInput.value.trim() || null,
    leadCommittee: committee.value.trim() || null,
    origin: origin.value || null,
  }), form));
  return form;
}

function rollup(rows, year, unit) {
  const children = rows.filter((r) => r.unit.code !== unit);
  if (!children.length) return null;
  return h('section', { 'aria-label': '下级计划汇总' },
    h('h2', {}, '下级计划完成情况'),
    h('table', { class: 'plan-rollup' },
      h('thead', {}, h('tr', {}, ['单位', '计划状态', '计划', '完成', '逾期'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', { dataset: { unit: r.unit.code } },
        h('td', {}, h('a', { href: `#/plans/${r.unit.code}?year=${year}` }, r.unit.name)),
        h('td', {}, r.plan ? PLAN_STATE[r.plan.state] : '无计划'),
        h('td', {}, fmt.num(r.planned)), h('td', {}, fmt.num(r.done)), h('td', {}, fmt.num(r.overdue)))))));
}
