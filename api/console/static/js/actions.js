// The commands a unit can give from the console, as forms made from the schema (see
// commands.js): the next step of the six-step loop first, then the rest the viewer may
// do now, and, on request, what it may not do and why. Every field is checked where it
// is typed (required, lengths, list sizes); a refusal of the platform comes back in
// Chinese with unit names, and marks the field it concerns.
import { ApiError, gql } from './api.js';
import { commandCatalogue, commandLabel, commandsFor, COMMANDS, LIMITS } from './commands.js';
import { describeRefusal } from './refusals.js';
import { clear, endOfChinaDay, errorBox, h, label, PARTICIPANT, SATISFACTION, SOURCE, STAGE, STEPS } from './ui.js';

const ENUM_LABELS = { Source: SOURCE, Satisfaction: SATISFACTION, ParticipantKind: PARTICIPANT };
const SUB_LABELS = { name: '姓名', kind: '身份', memberId: '委员编号（可不填）' };
const DEFAULT_PANEL = ['MEMBER', 'CADRE', 'DEPARTMENT', 'PUBLIC']; // 4+X

/**
 * The action block of `topic` for the viewer `me`: null for a read-only viewer.
 * `only`: the commands of an inbox row; `events`: the topic's timeline (topic page).
 */
export async function actionBar(topic, me, { events = null, only = null, taskId = null, onDone, explainUnavailable = true }) {
  if (me.roles.every((r) => r === 'AUDITOR')) return null; // auditors read, never act
  const mutations = await commandCatalogue();
  const { next, available, unavailable } = commandsFor(topic, me, mutations, { events, only });
  const ordered = next ? [next, ...available.filter((n) => n !== next)] : available;
  const main = ordered.filter((n) => !COMMANDS[n]?.comment);
  const comments = ordered.filter((n) => COMMANDS[n]?.comment);
  if (!ordered.length && !(explainUnavailable && unavailable.length)) return null;
  const byName = new Map(mutations.map((m) => [m.name, m]));
  const slot = h('div', { class: 'action-slot' });
  const buttons = [];
  const button = (name) => {
    const el = h('button', {
      type: 'button', 'aria-expanded': 'false', class: name === next ? 'primary' : null,
      dataset: { action: name }, title: byName.get(name).description || null,
    }, commandLabel(name));
    el.addEventListener('click', () => {
      const open = el.getAttribute('aria-expanded') === 'true';
      buttons.forEach((b) => b.setAttribute('aria-expanded', 'false'));
      clear(slot);
      if (open) return;
      el.setAttribute('aria-expanded', 'true');
      const close = () => { clear(slot); el.setAttribute('aria-expanded', 'false'); el.focus(); };
      slot.append(actionForm(byName.get(name), { topic, me, taskId, onDone, close }));
      slot.querySelector('input:not([type=hidden]), select, textarea, button[type=submit]')?.focus();
    });
    buttons.push(el);
    return el;
  };
  const step = STEPS.indexOf(topic.stage);
  return h('div', { class: 'actions-block', dataset: { next: next || '' } },
    next ? h('p', { class: 'next-step' },
      step >= 0 ? `六步议事第 ${step + 1} 步「${label(STAGE, topic.stage)}」· ` : '',
      '下一步：', h('strong', {}, commandLabel(next))) : null,
    main.length ? h('div', { class: 'action-bar', role: 'group', 'aria-label': `办理：${topic.title}` }, main.map(button)) : null,
    comments.length ? h('div', { class: 'comment-bar', role: 'group', 'aria-label': `评论：${topic.title}` }, comments.map(button)) : null,
    slot,
    explainUnavailable && unavailable.length ? whyNotList(unavailable, topic) : null);
}

let formCount = 0;

function whyNotList(unavailable, topic) {
  const id = `why${++formCount}`;
  return h('details', { class: 'unavailable' },
    h('summary', {}, `现在不能进行的操作（${unavailable.length} 项）及原因`),
    h('ul', { 'aria-label': `不能进行的操作：${topic.title}` }, unavailable.map(({ name, why }, i) => h('li', { dataset: { action: name } },
      h('button', { type: 'button', disabled: true, 'aria-describedby': `${id}-${i}` }, commandLabel(name)),
      h('span', { class: 'why', id: `${id}-${i}` }, why)))));
}

/** A command's form: one control per input field of its schema type. */
export function actionForm(mutation, { topic = null, me, taskId = null, onDone, close = null }) {
  const settings = COMMANDS[mutation.name] || {};
  const title = commandLabel(mutation.name);
  const id = `f${++formCount}`;
  const message = h('div', { class: 'form-message' });
  const submit = h('button', { type: 'submit', class: 'primary' }, `确认${title}`);
  const ctx = { topic, me, taskId, settings };
  const controls = mutation.fields.map((field) => control(field, `${id}-${field.name}`, ctx));
  const labels = Object.fromEntries(controls.filter(Boolean).map((c) => [c.field.name, c.label]));
  const form = h('form', { class: 'action-form card', 'aria-label': title, dataset: { form: mutation.name }, novalidate: true },
    h('h3', {}, topic ? `${title}：${topic.title}` : title),
    mutation.description && !COMMANDS[mutation.name] ? h('p', { class: 'hint' }, mutation.description) : null,
    controls.filter(Boolean).map((c) => c.element),
    message,
    h('div', { class: 'actions' }, submit, close ? h('button', { type: 'button', onclick: close }, '取消') : null));
  form.addEventListener('keydown', (event) => { if (event.key === 'Escape' && close) close(); });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    controls.forEach((c) => c?.mark(null));
    clear(message);
    const input = topic ? { topicId: topic.topicId } : {};
    let firstBad = null;
    for (const c of controls) {
      if (!c) continue;
      const { value, error } = c.read();
      if (error) {
        c.mark(error);
        firstBad ||= c;
      } else if (value !== undefined) input[c.field.name] = value;
    }
    if (firstBad) {
      clear(message, h('p', { class: 'form-error' }, '请按提示修改标出的内容。'));
      firstBad.focus();
      return;
    }
    submit.disabled = true;
    clear(message, h('p', { class: 'submitting' }, '正在提交…'));
    try {
      const data = await gql(`mutation Act($input: ${mutation.input}!) {
        ${mutation.name}(input: $input) { position topic { topicId title stage owner { code name } } }
      }`, { input });
      const payload = data[mutation.name];
      clear(message);
      const done = settings.done || `已${title}`;
      // `topic` is null when the unit no longer sees the topic after its command
      await onDone(payload, payload.topic
        ? `${done}：${payload.topic.title}（当前承办：${payload.topic.owner.name}）`
        : done);
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError('ERROR', '', err.message);
      const refusal = await describeRefusal(error, { label: title, fields: labels });
      const marked = refusal.field && controls.find((c) => c && c.field.name === refusal.field);
      if (marked) marked.mark(refusal.plain);
      clear(message, errorBox(refusal));
      submit.disabled = false;
      (marked || { focus: () => submit.focus() }).focus();
    }
  });
  return form;
}

// -- controls ----------------------------------------------------------------------

function control(field, id, ctx) {
  if (field.name === 'topicId' && ctx.topic) return null;
  const setting = ctx.settings.fields?.[field.name] || {};
  const text = setting.label || field.description || field.name;
  const required = field.required || Boolean(setting.required);
  const errorId = `${id}-error`;
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const as = setting.as || defaultKind(field);
  const built = build(as, field, id, ctx, setting);
  const wrap = h('div', { class: 'field', dataset: { field: field.name } },
    built.labelled === false ? null : h('label', { for: id }, text, required && as !== 'checkbox' ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    built.element, error);
  const target = built.focusable || wrap.querySelector('input, select, textarea');
  if (target) {
    target.setAttribute('aria-describedby', errorId);
    if (required) target.setAttribute('aria-required', 'true');
  }
  return {
    field,
    label: shortLabel(setting, field),
    element: wrap,
    focus: () => target?.focus(),
    mark(message) {
      error.hidden = !message;
      clear(error, message || '');
      wrap.classList.toggle('invalid', Boolean(message));
      if (target) {
        if (message) target.setAttribute('aria-invalid', 'true');
        else target.removeAttribute('aria-invalid');
      }
    },
    read: () => validate(built.read(), field, required, shortLabel(setting, field), setting),
  };
}

function defaultKind(field) {
  if (field.kind === 'ENUM') return 'enum';
  if (field.kind === 'INPUT_OBJECT') return field.list ? 'rows' : 'text';
  if (field.list) return 'lines';
  switch (field.type) {
    case 'Boolean': return 'checkbox';
    case 'DateTime': return 'datetime';
    case 'Int': case 'Float': return 'number';
    default: return 'text';
  }
}

const maxOf = (as, setting) => setting.max || (as === 'textarea' ? LIMITS.text : LIMITS.short);

/** The value to send, or the error to show at the field (Chinese). */
function validate(raw, field, required, name, setting) {
  if (raw && raw.error) return raw;
  if (field.list) {
    const items = raw || [];
    if (!items.length) return required ? { error: `请填写${name}（至少一项）。` } : { value: undefined };
    if (items.length > LIMITS.items) return { error: `${name}最多 ${LIMITS.items} 项，现在有 ${items.length} 项。` };
    const max = setting.max || LIMITS.short;
    const long = items.findIndex((x) => typeof x === 'string' && x.length > max);
    if (long >= 0) return { error: `${name}第 ${long + 1} 项有 ${items[long].length} 个字，每项最多 ${max} 个字。` };
    return { value: items };
  }
  if (raw === '' || raw === null || raw === undefined) {
    return required ? { error: `请填写${name}。` } : { value: undefined };
  }
  return { value: raw };
}

function build(as, field, id, ctx, setting) {
  const common = { id, name: field.name };
  const { topic } = ctx;
  switch (as) {
    case 'textarea': case 'text': {
      const max = maxOf(as, setting);
      const el = as === 'textarea' ? h('textarea', { ...common, rows: 3 }) : h('input', { ...common, type: 'text' });
      return {
        element: el,
        read: () => {
          const value = el.value.trim();
          if (value.length <= max) return value;
          return { error: `${shortLabel(setting, field)}有 ${value.length} 个字，最多只能填写 ${max} 个字。` };
        },
      };
    }
    case 'number': {
      const el = h('input', { ...common, type: 'number' });
      return { element: el, read: () => (el.value === '' ? '' : Number(el.value)) };
    }
    case 'checkbox': {
      const el = h('input', { ...common, type: 'checkbox' });
      const box = h('label', { class: 'check' }, el, ' ', setting.label || field.description || field.name);
      return { element: box, focusable: el, labelled: false, read: () => el.checked };
    }
    case 'date': {
      const el = h('input', { ...common, type: 'date' });
      return { element: el, read: () => (el.value ? endOfChinaDay(el.value) : (el.validity.badInput ? { error: '日期格式不正确。' } : '')) };
    }
    case 'datetime': {
      const el = h('input', { ...common, type: 'datetime-local' });
      return { element: el, read: () => (el.value ? `${el.value.length === 16 ? `${el.value}:00` : el.value}+08:00` : '') };
    }
    case 'enum': {
      const names = ENUM_LABELS[field.type] || {};
      const el = h('select', common, field.required ? null : h('option', { value: '' }, '（不填）'),
        field.values.map((v) => h('option', { value: v }, names[v] || v)));
      return { element: el, read: () => el.value };
    }
    case 'lines': {
      const el = h('textarea', { ...common, rows: 4 });
      return { element: el, read: () => el.value.split('\n').map((x) => x.trim()).filter(Boolean) };
    }
    case 'rows': return rows(field, id, ctx);
    case 'ancestor': {
      const ancestors = [...topic.owner.ancestors].reverse(); // the parent first: the default
      const el = h('select', common, ancestors.map((a) => h('option', { value: a.code }, a.name)));
      return { element: el, read: () => el.value };
    }
    case 'task': case 'openTask': {
      const status = ctx.settings.task;
      const mine = ctx.me.unit.code;
      const tasks = topic.tasks.filter((t) => (as === 'task' ? t.handlerUnit.code === mine && t.status === status : t.status !== 'COMPLETED'));
      const el = h('select', common, tasks.map((t) => h('option', { value: t.taskId, selected: t.taskId === ctx.taskId },
        `${t.requirement}（${t.handlerUnit.name}）`)));
      return { element: el, read: () => el.value };
    }
    case 'meeting': {
      const meetings = (topic.meetings || []).filter((m) => !m.heldAt);
      const el = h('select', common, meetings.map((m) => h('option', { value: m.meetingId }, `${m.place}（${m.meetingId}）`)));
      return { element: el, read: () => el.value };
    }
    case 'unit': case 'descendant': {
      const list = `${id}-units`;
      const options = h('datalist', { id: list });
      const home = topic ? topic.owner : ctx.me.unit;
      if (as === 'unit') options.append(h('option', { value: home.code }, home.name));
      loadChildren(home.code, options);
      const el = h('input', { ...common, list, inputmode: 'numeric', autocomplete: 'off', value: !topic && field.name === 'locationUnit' ? home.code : null });
      return {
        element: [el, options, h('span', { class: 'hint' }, '填写单位代码，或从列表中选择')],
        focusable: el,
        read: () => {
          const v = el.value.trim();
          if (v && !/^\d{2,12}$/.test(v)) return { error: '单位代码是 2 至 12 位数字，请从列表中选择单位。' };
          return v;
        },
      };
    }
    default: {
      const el = h('input', { ...common, type: 'text' });
      return { element: el, read: () => el.value.trim() };
    }
  }
}

const shortLabel = (setting, field) => (setting.label || field.description || field.name).replace(/（.*$/, '');

/** A list of nested inputs (participants): one row each, rows added on demand. */
function rows(field, id, ctx) {
  const body = h('div', { class: 'rows' });
  let count = 0;
  const addRow = (preset = {}) => {
    if (body.children.length >= LIMITS.items) return;
    const n = ++count;
    const cells = field.fields.map((sub) => {
      const cid = `${id}-${n}-${sub.name}`;
      const names = ENUM_LABELS[sub.type] || {};
      const el = sub.kind === 'ENUM'
        ? h('select', { id: cid, name: `${field.name}.${sub.name}` }, sub.values.map((v) => h('option', { value: v, selected: v === preset[sub.name] }, names[v] || v)))
        : h('input', { id: cid, name: `${field.name}.${sub.name}`, type: 'text', maxlength: 100 });
      return h('span', { class: 'cell' }, h('label', { for: cid }, `${SUB_LABELS[sub.name] || sub.name} ${n}`), el);
    });
    const remove = h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, `删除第 ${n} 行`);
    const row = h('div', { class: 'row', dataset: { row: String(n) } }, cells, remove);
    body.append(row);
  };
  if (field.name === 'participants') DEFAULT_PANEL.forEach((kind) => addRow({ kind }));
  else addRow();
  const add = h('button', { type: 'button', onclick: () => addRow() }, '添加一行');
  const read = () => {
    const items = [];
    for (const row of body.children) {
      const entry = {};
      for (const sub of field.fields) {
        const v = row.querySelector(`[name="${field.name}.${sub.name}"]`).value.trim();
        if (v) entry[sub.name] = v;
      }
      const subs = field.fields.filter((s) => s.kind !== 'ENUM');
      if (!subs.some((s) => entry[s.name])) continue; // an empty row
      const missing = field.fields.find((s) => s.required && !entry[s.name]);
      if (missing) return { error: `第 ${row.dataset.row} 行请填写${SUB_LABELS[missing.name] || missing.name}。` };
      items.push(entry);
    }
    return items;
  };
  return { element: h('fieldset', { class: 'rows-field', id }, body, add), focusable: null, labelled: true, read };
}

async function loadChildren(code, datalist) {
  try {
    const data = await gql('query Kids($p: String) { units(parent: $p, first: 100) { edges { node { code name } } } }', { p: code });
    datalist.append(...data.units.edges.map((e) => h('option', { value: e.node.code }, e.node.name)));
  } catch {
    // suggestions only: a code typed by hand still goes to the domain
  }
}
