// The pipeline board: a deal moves by drag and drop between columns, by its "next stage" button or
// by its "move to" list (the keyboard's way). Each move is a POST the server signs with the staff
// member's keystore; a contract's refusal comes back decoded and is shown in #message.
import { api } from "/static/api.js";
import { Problem, h, readJson, showMessage, showProblem } from "/static/ui.js";

const DEAL_TYPE = "application/x-chaincrm-deal";
const OPEN = ["lead", "qualified", "proposal", "negotiation", "contracting"];
const UNREACHABLE = "The server cannot be reached right now; check that `chaincrm serve` runs and try again.";
const data = readJson("page-data") || { stages: [], loss_reasons: [] };
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const board = document.getElementById("board");

const title = (stage) => stage.charAt(0).toUpperCase() + stage.slice(1);
const words = (code) => String(code).replaceAll("_", " ");

function nextStage(stage) {
  const index = OPEN.indexOf(stage);
  if (index < 0) return null;
  return index + 1 < OPEN.length ? OPEN[index + 1] : "won";
}

/** POST JSON with the session's CSRF token; the answer, or a Problem with the server's code. */
function post(path, body) {
  return api(path, {
    method: "POST",
    body,
    headers: { "X-CSRF-Token": csrf },
    unreachable: UNREACHABLE,
    unexpected: (status) =>
      new Problem("unexpected", `The server answered ${status}; reload the page and try again.`),
  });
}

/** A card's buttons for its stage: none for a closed deal. */
function renderControls(card) {
  const id = card.dataset.dealId;
  const stage = card.dataset.stage;
  const box = card.querySelector(".deal-controls");
  box.replaceChildren();
  if (!OPEN.includes(stage)) {
    card.removeAttribute("draggable");
    return;
  }
  card.setAttribute("draggable", "true");
  const next = nextStage(stage);
  const selectId = `move-to-${id}`;
  const options = [...OPEN, "won"].map((name) => h("option", { value: name, selected: name === stage }, title(name)));
  const lost = h(
    "optgroup",
    { label: "Lost" },
    data.loss_reasons.map((reason) => h("option", { value: `lost:${reason}` }, `Lost: ${words(reason)}`)),
  );
  box.append(
    h(
      "button",
      { type: "button", class: "button move-next", dataset: { to: next }, "aria-label": `Move deal ${id} to ${next}` },
      `→ ${title(next)}`,
    ),
    h(
      "form",
      { class: "move-form" },
      h("label", { class: "visually-hidden", for: selectId }, `Move deal ${id} to`),
      h("select", { class: "move-to", id: selectId, name: "stage" }, options, lost),
      h("button", { type: "submit", class: "button move-go", "aria-label": `Move deal ${id}` }, "Move"),
    ),
  );
}

function column(stage) {
  return board.querySelector(`.stage-column[data-stage="${stage}"]`);
}

function bump(columnNode, delta) {
  const count = columnNode?.querySelector(".count");
  if (!count) return;
  const value = Math.max(0, Number(count.textContent) + delta);
  count.textContent = String(value);
  count.setAttribute("aria-label", `${value} deals`);
}

/** Put the card where the chain says the deal now is. */
function place(card, deal) {
  const from = card.closest(".stage-column");
  const to = column(deal.stage);
  card.dataset.stage = deal.stage;
  if (deal.invoice_id) {
    const invoice = card.querySelector(".deal-invoice");
    invoice.replaceChildren(h("a", { href: `/pay/${deal.invoice_id}` }, `invoice ${deal.invoice_id}`));
    invoice.hidden = false;
  }
  if (!to || to === from) return;
  const list = to.querySelector(".deal-list");
  if (OPEN.includes(deal.stage)) {
    const after = [...list.children].find((other) => Number(other.dataset.dealId) > Number(deal.id));
    list.insertBefore(card, after ?? null);
  } else {
    list.prepend(card); // closed columns: the most recent first
  }
  bump(from, -1);
  bump(to, 1);
}

function refused(error, id) {
  const revert = error.detail?.revert;
  if (error.kind === "contract_refused" && revert) {
    const args = Object.entries(revert.args || {})
      .map(([key, value]) => `${key}=${value}`)
      .join(", ");
    showMessage("contract_refused", `The contract refused to move deal ${id}: ${revert.name}(${args}).`);
    document.getElementById("message").dataset.revert = revert.name;
    return;
  }
  showProblem(error);
}

async function move(card, stage, reason = null, refocus = false) {
  if (card.getAttribute("aria-busy") === "true") return;
  const id = card.dataset.dealId;
  card.setAttribute("aria-busy", "true");
  for (const control of card.querySelectorAll("button, select")) control.disabled = true;
  delete document.getElementById("message").dataset.revert;
  showMessage("pending", `Sending the move of deal ${id} to ${stage}…`);
  try {
    const answer = await post(`/staff/api/deals/${id}/move`, reason ? { stage, reason } : { stage });
    place(card, answer.deal);
    showMessage("done", `Deal ${id} moved to ${answer.deal.stage} (block ${answer.block_number}).`);
  } catch (error) {
    refused(error, id);
  } finally {
    card.removeAttribute("aria-busy");
    renderControls(card);
    if (refocus) (card.querySelector(".move-next") ?? card).focus();
  }
}

// ------------------------------------------------------------------ buttons and lists

board.addEventListener("click", (event) => {
  const button = event.target.closest("button.move-next");
  if (!button) return;
  move(button.closest(".deal-card"), button.dataset.to, null, true);
});

board.addEventListener("submit", (event) => {
  const form = event.target.closest("form.move-form");
  if (!form) return;
  event.preventDefault();
  const [stage, reason] = form.querySelector("select.move-to").value.split(":");
  move(form.closest(".deal-card"), stage, reason ?? null, true);
});

// ------------------------------------------------------------------ drag and drop

function clearTargets() {
  for (const target of board.querySelectorAll(".is-drop-target")) target.classList.remove("is-drop-target");
}

board.addEventListener("dragstart", (event) => {
  const card = event.target.closest?.(".deal-card[draggable='true']");
  if (!card || card.getAttribute("aria-busy") === "true") return;
  event.dataTransfer.setData(DEAL_TYPE, card.dataset.dealId);
  event.dataTransfer.setData("text/plain", `deal ${card.dataset.dealId}`);
  event.dataTransfer.effectAllowed = "move";
  card.classList.add("is-dragging");
});

board.addEventListener("dragend", (event) => {
  event.target.closest?.(".deal-card")?.classList.remove("is-dragging");
  clearTargets();
});

board.addEventListener("dragover", (event) => {
  const target = event.target.closest?.(".stage-column");
  if (!target || !event.dataTransfer.types.includes(DEAL_TYPE)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "move";
  if (!target.classList.contains("is-drop-target")) {
    clearTargets();
    target.classList.add("is-drop-target");
  }
});

board.addEventListener("dragleave", (event) => {
  const target = event.target.closest?.(".stage-column");
  if (target && !target.contains(event.relatedTarget)) target.classList.remove("is-drop-target");
});

board.addEventListener("drop", (event) => {
  const target = event.target.closest?.(".stage-column");
  if (!target) return;
  event.preventDefault();
  clearTargets();
  const id = event.dataTransfer.getData(DEAL_TYPE);
  const card = board.querySelector(`.deal-card[data-deal-id="${CSS.escape(id)}"]`);
  if (!card || card.dataset.stage === target.dataset.stage) return;
  const stage = target.dataset.stage;
  const reason = stage === "lost" ? document.getElementById("lost-reason").value : null;
  move(card, stage, reason);
});

for (const card of board.querySelectorAll(".deal-card")) {
  card.tabIndex = -1;
  renderControls(card);
}
