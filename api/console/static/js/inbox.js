// 待办: what the viewer's unit must act on, overdue first, with the forms to act.
// After a command the list is read again at the command's position (consistentWith),
// so it shows the state the command left.
import { gql } from './api.js';
import { actionBar } from './actions.js';
import { commandsOfReason } from './commands.js';
import { announce, badge, clear, fmt, h, INBOX_REASON, label, STAGE, TRANSFER } from './ui.js';

// what the console needs to know which commands the viewer may give now (commands.js)
export const TOPIC_FOR_ACTIONS = `topicId title stage
  owner { code name level ancestors { code name } }
  pendingTransfer { kind fromUnit { code name } toUnit { code name } reason requestedAt due }
  tasks { taskId handlerUnit { code name } handler requirement due status overdue }
  coOrganizers { code name }
  meetings { meetingId place scheduledAt heldAt }
  returnVisits { satisfaction visitedAt }`;

const INBOX = `query Inbox($after: String, $consistentWith: Int) {
  inbox(first: 50, after: $after, consistentWith: $consistentWith) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { reason taskId due since overdue topic { ${TOPIC_FOR_ACTIONS} } } }
  }
}`;

export async function renderInbox(ctx, consistentWith = null) {
  const { main, me } = ctx;
  const list = h('ul', { class: 'inbox', 'aria-label': '待办事项' });
  const total = h('p', { class: 'total' });
  const more = h('div', { class: 'more' });
  const onDone = async (payload, message) => {
    await renderInbox(ctx, payload.position);
    announce(message, 'success');
  };
  const load = async (after) => {
    const { inbox } = await gql(INBOX, { after, consistentWith });
    list.append(...await Promise.all(inbox.edges.map((e) => item(e.node, me, onDone))));
    clear(total, `${me.unit.name}共有 ${inbox.totalCount} 项待办，逾期的排在前面。`);
    if (!inbox.totalCount) list.replaceWith(h('p', { class: 'empty' }, '没有待办事项。'));
    clear(more, inbox.pageInfo.hasNextPage
      ? h('button', { type: 'button', onclick: () => load(inbox.pageInfo.endCursor) }, '加载更多')
      : null);
  };
  const head = [h('h1', {}, '待办'), total];
  clear(main, head, list, more);
  await load(null);
}

async function item(node, me, onDone) {
  const { topic } = node;
  const task = node.taskId ? topic.tasks.find((t) => t.taskId === node.taskId) : null;
  const pending = node.reason === 'TRANSFER_PENDING' ? topic.pendingTransfer : null;
  return h('li', { class: `card inbox-item${node.overdue ? ' overdue' : ''}`, dataset: { topic: topic.topicId, reason: node.reason } },
    h('h2', {}, h('a', { href: `#/topic/${topic.topicId}` }, topic.title)),
    h('p', { class: 'meta' },
      badge(label(INBOX_REASON, node.reason), 'reason'),
      node.overdue ? badge('逾期', 'warn') : null,
      badge(label(STAGE, topic.stage), 'stage'),
      h('span', {}, `自 ${fmt.date(node.since)}`),
      node.due ? h('span', {}, `期限 ${fmt.date(node.due)}`) : null),
    pending ? h('p', { class: 'transfer' },
      `${pending.fromUnit.name} ${label(TRANSFER, pending.kind)}至 ${pending.toUnit.name}：${pending.reason}`) : null,
    task ? h('p', { class: 'task' }, `任务：${task.requirement}（${task.handler}）`) : null,
    // the row's primary action: what its reason asks for, or the topic's next step
    await actionBar(topic, me, { only: commandsOfReason(node.reason), taskId: node.taskId, onDone }));
}
