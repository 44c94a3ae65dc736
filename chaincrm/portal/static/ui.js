// The page's one message line (#message, role=alert), a small element builder and page data.

/** A failure (or an outcome) to show: `kind` is the code in #message's data-kind. */
export class Problem extends Error {
  constructor(kind, message, detail = null) {
    super(message);
    this.name = "Problem";
    this.kind = kind;
    this.detail = detail;
  }
}

const messageBox = () => document.getElementById("message");

/** Show one plain sentence; `kind` goes to data-kind ("done" for a success). */
export function showMessage(kind, text) {
  const box = messageBox();
  if (!box) return;
  box.dataset.kind = kind;
  box.textContent = text;
  box.classList.toggle("is-done", kind === "done");
}

export function clearMessage(onlyKind = null) {
  const box = messageBox();
  if (!box || (onlyKind !== null && box.dataset.kind !== onlyKind)) return;
  box.dataset.kind = "";
  box.textContent = "";
  box.classList.remove("is-done");
}

export function messageKind() {
  return messageBox()?.dataset.kind ?? "";
}

/** Show a Problem, or any other error as an unexpected one (never a stack trace). */
export function showProblem(error) {
  if (error instanceof Problem) {
    showMessage(error.kind, error.message);
  } else {
    console.warn(error);
    showMessage("unexpected", "Something went wrong in this page; reload it and try again.");
  }
}

/** The JSON in <script type="application/json" id=...>, or null. */
export function readJson(id) {
  const node = document.getElementById(id);
  if (!node) return null;
  try {
    return JSON.parse(node.textContent || "null");
  } catch {
    return null;
  }
}

/** h("a", {href: "/pay/3", class: "x", dataset: {id: 3}}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "hidden" || key === "disabled") node[key] = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
  return node;
}

export function show(id, visible = true) {
  const node = typeof id === "string" ? document.getElementById(id) : id;
  if (node) node.hidden = !visible;
  return node;
}

/** Run `task` with the buttons disabled and marked busy; the caller decides what to enable after. */
export async function busy(buttons, task) {
  const list = Array.isArray(buttons) ? buttons : [buttons];
  for (const button of list) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await task();
  } finally {
    for (const button of list) button.removeAttribute("aria-busy");
  }
}
