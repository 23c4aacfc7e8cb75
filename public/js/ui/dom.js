// Small DOM helpers. Text always goes in through textContent: nothing from the network is parsed as HTML.

/** Creates an element. props: className, text, attrs (attributes), dataset, hidden; children: nodes or strings. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  if (props.hidden) node.hidden = true;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [name, value] of Object.entries(props.dataset ?? {})) node.dataset[name] = String(value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export const byId = (id) => document.getElementById(id);

/** Sets the text of a node, and hides it when the text is empty. */
export function setText(node, text) {
  node.textContent = text ?? '';
  node.hidden = !text;
}

/**
 * Makes `list`'s children match `items`, in order, reusing the child whose data-key matches an item's key.
 * A reused child whose data-rev differs from the item's rev is rebuilt. Children already in place are not
 * moved, and focus inside the list is put back on the same item if a rebuild or a move took it away.
 */
export function reconcile(list, items, { key, rev, render }) {
  const active = document.activeElement;
  const focusedKey = list.contains(active) ? active.closest('[data-key]')?.dataset.key : undefined;
  const existing = new Map();
  for (const child of list.children) existing.set(child.dataset.key, child);
  let cursor = list.firstElementChild;
  for (const item of items) {
    const k = String(key(item));
    const r = String(rev(item));
    let node = existing.get(k);
    if (node) existing.delete(k);
    if (!node || node.dataset.rev !== r) {
      const fresh = render(item);
      fresh.dataset.key = k;
      fresh.dataset.rev = r;
      if (node) {
        node.replaceWith(fresh);
        if (node === cursor) cursor = fresh;
      }
      node = fresh;
    }
    if (node === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(node, cursor);
  }
  for (const stale of existing.values()) stale.remove();
  if (focusedKey !== undefined && !list.contains(document.activeElement)) {
    const again = [...list.children].find((c) => c.dataset.key === focusedKey);
    const target = again?.matches('button, a, [tabindex]') ? again : again?.querySelector('button, a, [tabindex]');
    target?.focus();
  }
}
