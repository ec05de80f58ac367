// The commands a unit can give from the console, as small forms. The domain decides:
// a refusal comes back with its rule, shown in plain words beside the platform's message.
import { ApiError, explain, gql } from './api.js';
import { clear, endOfChinaDay, errorBox, h } from './ui.js';

const note = (required = false) => ({ name: 'note', label: '说明', kind: 'textarea', required });
const task = { name: 'taskId', kind: 'task' };

const ACTIONS = {
  accept: { title: '接收', mutation: 'acceptTransfer', input: 'TopicNoteInput', fields: [note()], done: '已接收转交' },
  return: {
    title: '退回', mutation: 'returnTransfer', input: 'TopicReasonInput', done: '已退回转交',
    fields: [{ name: 'reason', label: '退回理由', kind: 'textarea', required: true }],
  },
  escalate: {
    title: '上交', mutation: 'escalateTopic', input: 'EscalateTopicInput', done: '已申请上交',
    fields: [{ name: 'toUnit', label: '上交给', kind: 'ancestor' },
      { name: 'reason', label: '上交理由（越级上交必须写明）', kind: 'textarea', required: true }],
  },
  delegate: {
    title: '下放', mutation: 'delegateTopic', input: 'DelegateTopicInput', done: '已指定下放',
    fields: [{ name: 'toUnit', label: '下放给（下级单位代码）', kind: 'descendant', required: true },
      { name: 'instructions', label: '办理要求', kind: 'textarea', required: true },
      { name: 'due', label: '办理期限（可不填）', kind: 'date' }],
  },
  assign: {
    title: '交办任务', mutation: 'assignTask', input: 'AssignTaskInput', done: '已交办任务',
    fields: [{ name: 'handlerUnit', label: '承办单位代码', kind: 'unit', required: true },
      { name: 'handler', label: '承办部门或责任人', kind: 'text', required: true },
      { name: 'requirement', label: '办理要求', kind: 'textarea', required: true },
      { name: 'due', label: '办理期限', kind: 'date', required: true }],
  },
  supervise: {
    title: '督办', mutation: 'superviseTask', input: 'TaskNoteInput', done: '已督办',
    fields: [{ name: 'taskId', label: '督办的任务', kind: 'openTask' }, { ...note(true), label: '督办意见' }],
  },
  sign: { title: '签收任务', mutation: 'signTask', input: 'TaskInput', fields: [task], done: '已签收任务' },
  progress: {
    title: '报告进展', mutation: 'reportTaskProgress', input: 'TaskNoteInput', done: '已报告进展',
    fields: [task, { ...note(true), label: '办理进展' }],
  },
  complete: {
    title: '办结任务', mutation: 'completeTask', input: 'CompleteTaskInput', done: '已办结任务',
    fields: [task, { name: 'result', label: '办理结果', kind: 'textarea', required: true }],
  },
  feedback: {
    title: '反馈结果', mutation: 'giveFeedback', input: 'FeedbackInput', done: '已反馈结果',
    fields: [{ name: 'reply', label: '答复群众', kind: 'textarea', required: true },
      { name: 'channel', label: '反馈渠道（如：电话、上门）', kind: 'text' }],
  },
};

const TERMINAL = new Set(['CLOSED', 'DECLINED', 'WITHDRAWN', 'MERGED']);

/** What the viewer can do with an inbox item (reason, taskId) on `topic`. */
export function actionsForItem(item) {
  switch (item.reason) {
    case 'TRANSFER_PENDING': return ['accept', 'return'];
    case 'TASK_TO_SIGN': return ['sign'];
    case 'TASK_TO_COMPLETE': return ['progress', 'complete'];
    case 'OWNED': return ownerActions(item.topic);
    default: return [];
  }
}

/** What the viewer's unit may try on a topic it opened (the domain has the last word). */
export function actionsForTopic(topic, me) {
  if (TERMINAL.has(topic.stage) || me.roles.every((r) => r === 'AUDITOR')) return [];
  const mine = me.unit.code;
  const pending = topic.pendingTransfer;
  if (pending && pending.toUnit.code === mine) return ['accept', 'return'];
  const names = [];
  if (topic.owner.code === mine && !pending) names.push(...ownerActions(topic));
  else if (openTasks(topic).length && topic.owner.ancestors.some((a) => a.code === mine)) names.push('supervise');
  for (const t of topic.tasks.filter((x) => x.handlerUnit.code === mine)) {
    if (t.status === 'ASSIGNED') names.push('sign');
    if (t.status === 'SIGNED') names.push('progress', 'complete');
  }
  return [...new Set(names)];
}

function ownerActions(topic) {
  if (topic.pendingTransfer) return [];
  const names = ['escalate', 'delegate', 'assign'];
  if (openTasks(topic).length) names.push('supervise');
  if (topic.stage === 'HANDLING') names.push('feedback');
  return names;
}

const openTasks = (topic) => topic.tasks.filter((t) => t.status !== 'COMPLETED');

/** Buttons for `names`, each opening its form below them; `onDone(payload, message)`. */
export function actionBar(names, { topic, taskId = null, onDone }) {
  if (!names.length) return null;
  const slot = h('div', { class: 'action-slot' });
  const bar = h('div', { class: 'action-bar', role: 'group', 'aria-label': `办理：${topic.title}` });
  const buttons = names.map((name) => {
    const button = h('button', { type: 'button', 'aria-expanded': 'false', dataset: { action: name } }, ACTIONS[name].title);
    button.addEventListener('click', () => {
      const open = button.getAttribute('aria-expanded') === 'true';
      buttons.forEach((b) => b.setAttribute('aria-expanded', 'false'));
      clear(slot);
      if (open) return;
      button.setAttribute('aria-expanded', 'true');
      const close = () => { clear(slot); button.setAttribute('aria-expanded', 'false'); button.focus(); };
      slot.append(actionForm(name, { topic, taskId, onDone, close }));
      slot.querySelector('input:not([type=hidden]), select, textarea, button[type=submit]')?.focus();
    });
    return button;
  });
  bar.append(...buttons);
  return h('div', { class: 'actions-block' }, bar, slot);
}

let formCount = 0;

function actionForm(name, { topic, taskId, onDone, close }) {
  const action = ACTIONS[name];
  const id = `f${++formCount}`;
  const message = h('div', { class: 'form-message' });
  const submit = h('button', { type: 'submit', class: 'primary' }, `确认${action.title}`);
  const form = h('form', { class: 'action-form card', 'aria-label': action.title, dataset: { form: name } },
    h('h3', {}, `${action.title}：${topic.title}`),
    action.fields.map((field) => fieldFor(field, `${id}-${field.name}`, topic, taskId)),
    message,
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, '取消')));
  form.addEventListener('keydown', (event) => { if (event.key === 'Escape') close(); });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = { topicId: topic.topicId };
    for (const field of action.fields) {
      const raw = String(new FormData(form).get(field.name) ?? '').trim();
      if (!raw) continue;
      input[field.name] = field.kind === 'date' ? endOfChinaDay(raw) : raw;
    }
    submit.disabled = true;
    clear(message, h('p', {}, '正在提交…'));
    try {
      const data = await gql(`mutation Act($input: ${action.input}!) {
        ${action.mutation}(input: $input) { position topic { topicId title stage owner { code name } } }
      }`, { input });
      const payload = data[action.mutation];
      clear(message);
      // `topic` is null when the unit no longer sees the topic after its command
      const done = payload.topic
        ? `${action.done}：${payload.topic.title}（当前承办：${payload.topic.owner.name}）`
        : action.done;
      await onDone(payload, done);
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError('ERROR', '', err.message);
      clear(message, errorBox(explain(error)));
      submit.disabled = false;
    }
  });
  return form;
}

function fieldFor(field, id, topic, taskId) {
  const labelled = (control) => h('div', { class: 'field' }, h('label', { for: id }, field.label), control);
  const common = { id, name: field.name, required: field.required || null };
  switch (field.kind) {
    case 'task':
      return h('input', { type: 'hidden', name: field.name, value: taskId });
    case 'textarea':
      return labelled(h('textarea', { ...common, rows: 3, maxlength: 2000 }));
    case 'date':
      return labelled(h('input', { ...common, type: 'date' }));
    case 'ancestor': {
      const ancestors = [...topic.owner.ancestors].reverse(); // the parent first: the default
      return labelled(h('select', common, ancestors.map((a) => h('option', { value: a.code }, `${a.name}（${a.code}）`))));
    }
    case 'openTask':
      return labelled(h('select', common, openTasks(topic).map((t) => h('option', { value: t.taskId, selected: t.taskId === taskId },
        `${t.requirement}（${t.handlerUnit.name}）`))));
    case 'unit':
    case 'descendant': {
      const list = `${id}-units`;
      const options = h('datalist', { id: list });
      if (field.kind === 'unit') options.append(h('option', { value: topic.owner.code }, topic.owner.name));
      loadChildren(topic.owner.code, options);
      return labelled([h('input', { ...common, list, inputmode: 'numeric', autocomplete: 'off', pattern: '\\d{2,12}' }), options]);
    }
    default:
      return labelled(h('input', { ...common, type: 'text', maxlength: 500 }));
  }
}

async function loadChildren(code, datalist) {
  try {
    const data = await gql('query Kids($p: String) { units(parent: $p, first: 100) { edges { node { code name } } } }', { p: code });
    datalist.append(...data.units.edges.map((e) => h('option', { value: e.node.code }, e.node.name)));
  } catch {
    // suggestions only: a code typed by hand still goes to the domain
  }
}
