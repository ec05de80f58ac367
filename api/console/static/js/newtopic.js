// 新建议题: the schema's submitTopic, as a form made from its input type (commands.js);
// the new topic opens at once, read at the command's position.
import { actionForm } from './actions.js';
import { commandCatalogue, SUBMITTING } from './commands.js';
import { clear, flash, h } from './ui.js';

export async function renderNewTopic(ctx) {
  const { main, me } = ctx;
  if (!me.roles.some((r) => SUBMITTING.includes(r))) {
    clear(main, h('h1', {}, '新建议题'),
      h('p', { class: 'empty' }, '您的角色不能提交议题；可以提交议题的角色：工作人员、领导、政协委员、接入系统。'));
    return;
  }
  const mutations = await commandCatalogue();
  const submit = mutations.find((m) => m.name === 'submitTopic');
  const onDone = async (payload, message) => {
    flash(message);
    ctx.go(`#/topic/${payload.topic.topicId}?at=${payload.position}`);
  };
  clear(main,
    h('h1', {}, '新建议题'),
    h('p', { class: 'hint' }, `以${me.unit.name}的名义收集议题（六步议事第 1 步「收集议题」）；带 * 的为必填项。`),
    actionForm(submit, { me, onDone }));
}
