// A tiny element builder: no framework, no HTML strings (user log content is
// only ever set as text, never parsed as markup).
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Remove every child of el. */
export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** True when keyboard focus is in a text field (single-key shortcuts then type instead). */
export function typing(): boolean {
  const a = document.activeElement;
  if (!a) return false;
  if (a instanceof HTMLTextAreaElement || a instanceof HTMLSelectElement) return true;
  if (a instanceof HTMLInputElement) return !['button', 'checkbox', 'radio', 'submit', 'reset'].includes(a.type);
  return (a as HTMLElement).isContentEditable;
}
