// 议题详情: the six steps, route, co-organisers, tasks, meetings, return visits and the
// full timeline; a time slider shows the topic as it stood after any of its events
// (`topic(id, asOf)` replays the history up to that instant).
import { gql } from './api.js';
import { actionBar } from './actions.js';
import { TOPIC_FOR_ACTIONS } from './inbox.js';
import {
  announce, badge, clear, EVENT, fmt, h, label, PARTICIPANT, ROLE, routeList, SATISFACTION, SOURCE, STAGE,
  STEPS, TASK_STATUS, TRANSFER,
} from './ui.js';

const TOPIC = `query Topic($id: ID!, $asOf: DateTime, $consistentWith: Int) {
  topic(id: $id, asOf: $asOf, consistentWith: $consistentWith) {
    ${TOPIC_FOR_ACTIONS}
    description category source overdue version submittedAt updatedAt closedAt asOf
    returns reopened mergedInto feedback
    locationUnit { code name }
    owner { level }
    pendingTransfer { skipLevel }
    route { unit { code name level } enteredAt leftAt via reason days }
    tasks { assignedAt signedAt completedAt result supervisions extensions }
    meetings { meetingId scheduledAt place format participants { name kind memberId }
               heldAt attendance minutes recommendations }
    returnVisits { contacted solved satisfaction comment visitedAt }
  }
}`;

const TIMELINE = `query Timeline($id: ID!, $after: String) {
  timeline(topicId: $id, first: 100, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { position version type occurredAt reason data actor { userId role unit { code name } } } }
  }
}`;

const MAX_EVENTS = 1000; // a topic's history is tens of events; this bounds a runaway one

export async function renderTopic(ctx, id, consistentWith = null) {
  const { main } = ctx;
  // both at once; a topic out of sight reads as null, and its timeline as NOT_FOUND.
  // After a command the timeline waits for the topic, whose consistentWith waits for
  // the read models to hold the command (the timeline query takes no consistentWith).
  const asked = gql(TOPIC, { id, consistentWith });
  const ready = consistentWith === null ? Promise.resolve() : asked;
  const [{ topic }, events] = await Promise.all([
    asked,
    ready.then(() => timeline(id)).catch((err) => (err.code === 'NOT_FOUND' ? [] : Promise.reject(err))),
  ]);
  if (!topic) {
    clear(main, h('h1', {}, '议题不存在'),
      h('p', { class: 'empty' }, '找不到该议题，或它不在您的管辖和参与范围内。'),
      h('p', {}, h('a', { href: '#/cross' }, '返回跨层级议题')));
    return;
  }
  const body = h('div', { class: 'topic-body' });
  const slider = timeSlider(events, async (index) => {
    const latest = index === events.length - 1;
    const past = latest ? topic : (await gql(TOPIC, { id, asOf: events[index].occurredAt })).topic;
    draw(past, latest);
  });
  const onDone = async (payload, message) => {
    await renderTopic(ctx, id, payload.position);
    announce(message, 'success');
  };
  const actions = await actionBar(topic, ctx.me, { events, onDone });
  const draw = (shown, latest) => {
    clear(body,
      latest ? null : h('p', { class: 'as-of', role: 'note' }, `历史状态：截至 ${fmt.time(shown.asOf)}（第 ${shown.version} 个事件之后）`),
      latest && actions ? h('section', { class: 'card actions-card', 'aria-label': '办理' }, h('h2', {}, '办理'), actions) : null,
      details(shown),
      timelineSection(events, shown.version));
  };
  clear(main,
    h('nav', { class: 'breadcrumb', 'aria-label': '返回' }, h('a', { href: '#/cross' }, '跨层级议题'), ' / 议题详情'),
    h('h1', {}, topic.title),
    slider,
    body);
  draw(topic, true);
}

async function timeline(id) {
  const events = [];
  let after = null;
  do {
    const page = (await gql(TIMELINE, { id, after })).timeline;
    events.push(...page.edges.map((e) => e.node));
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after && events.length < MAX_EVENTS);
  return events;
}

function timeSlider(events, onMove) {
  if (!events.length) return null;
  const last = events.length - 1;
  const output = h('output', { for: 'as-of', class: 'slider-value' });
  const describe = (i) => `${fmt.time(events[i].occurredAt)} · ${label(EVENT, events[i].type)}（${i + 1}/${events.length}）`;
  const input = h('input', {
    id: 'as-of', type: 'range', min: 0, max: last, step: 1, value: last,
    'aria-valuetext': describe(last),
  });
  clear(output, describe(last));
  let timer = null;
  let asked = 0;
  const move = () => {
    const index = Number(input.value);
    input.setAttribute('aria-valuetext', describe(index));
    clear(output, describe(index));
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const ticket = ++asked;
      input.closest('.slider').dataset.loading = '1';
      try {
        await onMove(index);
      } finally {
        if (ticket === asked) {
          delete input.closest('.slider').dataset.loading;
          input.closest('.slider').dataset.index = String(index);
        }
      }
    }, 120);
  };
  input.addEventListener('input', move);
  input.addEventListener('change', move);
  return h('section', { class: 'slider card', 'aria-label': '时间回放', dataset: { index: String(last) } },
    h('label', { for: 'as-of' }, '时间回放：拖动或用方向键查看议题在任一时刻的状态'),
    input, output,
    h('button', { type: 'button', onclick: () => { input.value = String(last); move(); } }, '回到当前'));
}

function details(topic) {
  return [
    progress(topic),
    h('section', { class: 'card facts', 'aria-label': '基本信息' },
      h('dl', {},
        fact('当前阶段', label(STAGE, topic.stage), 'stage'),
        fact('当前承办', topic.owner.name, 'owner'),
        fact('发生地', topic.locationUnit.name),
        fact('类别', topic.category),
        fact('来源', label(SOURCE, topic.source)),
        fact('提交时间', fmt.time(topic.submittedAt)),
        topic.closedAt ? fact('办结时间', fmt.time(topic.closedAt)) : null,
        fact('联办单位', topic.coOrganizers.map((u) => u.name).join('、') || '无', 'co-organizers'),
        topic.returns ? fact('被退回', `${topic.returns} 次`) : null,
        topic.reopened ? fact('重新办理', `${topic.reopened} 次`) : null,
        topic.overdue ? fact('逾期', '是') : null),
      h('p', { class: 'description' }, topic.description),
      topic.pendingTransfer ? h('p', { class: 'transfer' }, badge('待接收', 'warn'), ' ',
        `${topic.pendingTransfer.fromUnit.name}${label(TRANSFER, topic.pendingTransfer.kind)}至${topic.pendingTransfer.toUnit.name}`
        + `${topic.pendingTransfer.skipLevel ? '（越级）' : ''}：${topic.pendingTransfer.reason}`) : null),
    h('section', { class: 'card' }, h('h2', {}, '流转路线'), routeTable(topic.route)),
    h('section', { class: 'card' }, h('h2', {}, '任务'), tasksTable(topic.tasks)),
    h('section', { class: 'card' }, h('h2', {}, '协商会议（4+X）'), meetings(topic.meetings)),
    h('section', { class: 'card' }, h('h2', {}, '结果反馈与回访'), feedback(topic)),
  ];
}

function fact(name, value, key = null) {
  return h('div', { dataset: key ? { fact: key } : {} }, h('dt', {}, name), h('dd', {}, value));
}

function progress(topic) {
  const at = STEPS.indexOf(topic.stage);
  const closed = topic.stage === 'CLOSED';
  const ended = !closed && at < 0; // declined, withdrawn, merged
  return h('section', { class: 'card', 'aria-label': '六步议事进度' },
    h('ol', { class: 'steps' }, STEPS.map((step, i) => {
      const state = closed || i < at ? 'done' : i === at ? 'current' : 'todo';
      return h('li', { class: `step ${ended ? 'ended' : state}`, 'aria-current': state === 'current' ? 'step' : null },
        h('span', { class: 'step-no' }, String(i + 1)), h('span', { class: 'step-name' }, label(STAGE, step)));
    })),
    closed ? h('p', { class: 'ok' }, '六步闭环已完成，议题办结。') : null,
    ended ? h('p', { class: 'warn' }, `议题${label(STAGE, topic.stage)}${topic.mergedInto ? `（并入 ${topic.mergedInto}）` : ''}。`) : null);
}

function routeTable(route) {
  return [
    routeList(route),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['单位', '方式', '进入', '离开', '停留', '理由'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, route.map((hop) => h('tr', {},
        h('th', { scope: 'row' }, hop.unit.name), h('td', {}, hop.via ? label(TRANSFER, hop.via) : '提交'),
        h('td', {}, fmt.time(hop.enteredAt)), h('td', {}, hop.leftAt ? fmt.time(hop.leftAt) : '至今'),
        h('td', {}, fmt.days(hop.days)), h('td', {}, hop.reason || '—')))))),
  ];
}

function tasksTable(tasks) {
  if (!tasks.length) return h('p', { class: 'empty' }, '尚未交办任务。');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'tasks' },
    h('thead', {}, h('tr', {}, ['任务', '承办', '状态', '期限', '签收', '办结', '督办', '结果'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, tasks.map((t) => h('tr', { class: t.overdue ? 'overdue' : '', dataset: { task: t.taskId } },
      h('th', { scope: 'row' }, t.requirement),
      h('td', {}, `${t.handler}（${t.handlerUnit.name}）`),
      h('td', {}, label(TASK_STATUS, t.status)),
      h('td', {}, fmt.date(t.due), t.overdue ? [' ', badge('逾期', 'warn')] : null,
        t.extensions ? h('span', { class: 'muted' }, ` 延期 ${t.extensions} 次`) : null),
      h('td', {}, fmt.date(t.signedAt)), h('td', {}, fmt.date(t.completedAt)),
      h('td', {}, t.supervisions ? `${t.supervisions} 次` : '—'),
      h('td', {}, t.result || '—'))))));
}

function meetings(list) {
  if (!list.length) return h('p', { class: 'empty' }, '尚未安排协商会议。');
  return list.map((m) => h('article', { class: 'meeting' },
    h('h3', {}, `${fmt.time(m.scheduledAt)} · ${m.place} · ${m.format}`),
    h('p', {}, m.heldAt ? `已于 ${fmt.time(m.heldAt)} 召开，出席 ${m.attendance.length} 人` : '尚未召开'),
    h('ul', { class: 'participants', 'aria-label': '参会人员' },
      m.participants.map((p) => h('li', {}, badge(label(PARTICIPANT, p.kind)), ' ', p.name))),
    m.minutes ? h('p', {}, `会议纪要：${m.minutes}`) : null,
    m.recommendations.length ? [h('h4', {}, '协商建议清单'), h('ol', {}, m.recommendations.map((r) => h('li', {}, r)))] : null));
}

function feedback(topic) {
  if (!topic.feedback && !topic.returnVisits.length) return h('p', { class: 'empty' }, '尚未反馈。');
  return [
    topic.feedback ? h('p', {}, `答复：${topic.feedback}`) : null,
    topic.returnVisits.map((v) => h('p', { class: 'visit' },
      `${fmt.time(v.visitedAt)} 回访：${v.contacted ? '已联系' : '未联系上'}，${v.solved ? '已解决' : '未解决'}，`,
      badge(label(SATISFACTION, v.satisfaction), v.satisfaction === 'UNSATISFIED' ? 'warn' : 'ok'),
      v.comment ? `（${v.comment}）` : '')),
  ];
}

function timelineSection(events, version) {
  return h('section', { class: 'card' },
    h('h2', {}, `决策记录（${events.length} 个事件）`),
    h('ol', { class: 'timeline' }, events.map((e) => h('li', {
      class: e.version > version ? 'future' : '', dataset: { version: String(e.version) },
    },
    h('div', { class: 'when' }, fmt.time(e.occurredAt)),
    h('div', { class: 'what' },
      h('strong', {}, label(EVENT, e.type)),
      h('span', { class: 'who' }, ` ${e.actor.unit.name} · ${label(ROLE, e.actor.role)} · ${e.actor.userId}`),
      e.version > version ? h('span', { class: 'muted' }, '（此时尚未发生）') : null),
    e.reason ? h('div', { class: 'why' }, `理由：${e.reason}`) : null,
    detail(e)))));
}

function detail(e) {
  const text = summary(e);
  return text && text !== e.reason ? h('div', { class: 'data' }, text) : null;
}

// name and phone reach only the owning unit's staff and leaders; others get null
function submitter(s) {
  if (!s) return '';
  if (s.erased) return '提交人：已删除';
  return `提交人：${[s.name, s.phone].filter(Boolean).join(' ')}`;
}

function summary(e) {
  const d = e.data || {};
  switch (e.type) {
    case 'TopicSubmitted': return [`${d.title || ''} · ${d.category || ''}`, submitter(d.submitter)].filter(Boolean).join(' · ');
    case 'EscalationRequested': case 'DelegationRequested': return d.to_unit ? `至 ${d.to_unit}` : '';
    case 'TaskAssigned': return `${d.handler || ''}：${d.requirement || ''}，期限 ${fmt.date(d.due)}`;
    case 'TaskCompleted': return d.result || '';
    case 'DeliberationHeld': return (d.recommendations || []).join('；');
    case 'ReturnVisitRecorded': return label(SATISFACTION, d.satisfaction);
    default: return d.note || d.text || d.summary || '';
  }
}
