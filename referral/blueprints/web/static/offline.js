// Offline intake: what a promoter records without a connection waits on the tablet,
// sealed in the vault (vault.js), and goes up through POST /api/v1/sync when the
// connection returns.
import { MIN_PIN_DIGITS, Vault, newId } from "./vault.js";

const panel = document.getElementById("offline");
const form = document.querySelector("form[data-offline-intake]");
const saved = document.getElementById("offline-saved");
const vault = panel ? new Vault(panel.dataset.username) : null;

function text(name, values = {}) {
  const template = document.querySelector(`[data-text="${name}"]`).textContent;
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

// -- the PIN ------------------------------------------------------------------------------

function ask(dialogId, reason) {
  const dialog = document.getElementById(dialogId);
  const error = dialog.querySelector("[data-pin-error]");
  error.textContent = "";
  const why = dialog.querySelector("[data-unlock-reason]");
  if (why) why.textContent = reason || "";
  dialog.querySelectorAll("input").forEach((input) => { input.value = ""; });
  if (!dialog.open) dialog.showModal();
  return { dialog, error };
}

function setUpPin() {
  return new Promise((resolve) => {
    const { dialog, error } = ask("pin-setup");
    const setup = dialog.querySelector("form");
    setup.onsubmit = async (event) => {
      event.preventDefault();
      const pin = dialog.querySelector("#pin-new").value;
      if (!new RegExp(`^[0-9]{${MIN_PIN_DIGITS},}$`).test(pin)) {
        error.textContent = text("pin-short");
        return;
      }
      if (pin !== dialog.querySelector("#pin-again").value) {
        error.textContent = text("pin-differ");
        return;
      }
      await vault.setPin(pin);
      dialog.close();
      resolve();
    };
  });
}

function unlock(reason) {
  return new Promise((resolve) => {
    const { dialog, error } = ask("pin-unlock", reason);
    dialog.querySelector("form").onsubmit = async (event) => {
      event.preventDefault();
      if (!(await vault.unlock(dialog.querySelector("#pin-enter").value))) {
        error.textContent = text("pin-wrong");
        return;
      }
      dialog.close();
      resolve();
    };
  });
}

async function ensureKey(reason) {
  if (vault.unlocked) return;
  await ((await vault.hasPin()) ? unlock(reason) : setUpPin());
}

// -- the form as the API's body ------------------------------------------------------------

function intakeBody(data) {
  const shape = JSON.parse(panel.dataset.shape);
  const body = {};
  const put = (path, value) => {
    const parts = path.split(".");
    let node = body;
    parts.slice(0, -1).forEach((part) => { node = node[part] = node[part] || {}; });
    node[parts[parts.length - 1]] = value;
  };
  shape.text.forEach((path) => {
    const value = (data.get(path) || "").trim();
    if (value) put(path, value);
  });
  shape.choices.forEach((path) => { if (data.get(path)) put(path, data.get(path)); });
  shape.lists.forEach((path) => put(path, data.getAll(path).filter(Boolean)));
  shape.booleans.forEach((path) => put(path, data.get(path) === "yes"));
  if (body.subject && body.subject.pseudonym) body.subject = { pseudonym: body.subject.pseudonym };
  if (body.subject && body.subject.age_estimate) {
    body.subject.age_estimate = Number(body.subject.age_estimate);
  }
  delete body.client_uuid;
  return body;
}

// -- offline intake and referral -----------------------------------------------------------

function showConsentError() {
  const box = form.querySelector("[name='consent.data_collection']").closest(".field");
  let error = box.querySelector(".field-error");
  if (!error) {
    error = document.createElement("p");
    error.className = "field-error";
    error.id = "consent-data_collection-error";
    box.appendChild(error);
  }
  error.textContent = text("no-consent");
  box.classList.add("invalid");
  box.scrollIntoView();
}

async function saveOffline() {
  const data = new FormData(form);
  const body = intakeBody(data);
  if (!body.consent.data_collection) {
    showConsentError();
    return;
  }
  await ensureKey();
  const caseId = newId();
  body.captured_at = new Date().toISOString();
  await vault.add("case", caseId, body);
  form.reset();
  form.hidden = true;
  document.getElementById("intake-title").hidden = true;
  saved.hidden = false;
  saved.querySelector("[data-reference]").textContent = caseId.slice(0, 8).toUpperCase();
  await offerReferrals(caseId, body);
  saved.focus();
  await showState();
}

function distanceKm(from, to) {
  const rad = (degrees) => (degrees * Math.PI) / 180;
  const dLat = rad(to[0] - from[0]);
  const dLon = rad(to[1] - from[1]);
  const a = Math.sin(dLat / 2) ** 2
    + Math.cos(rad(from[0])) * Math.cos(rad(to[0])) * Math.sin(dLon / 2) ** 2;
  return 6371 * 2 * Math.asin(Math.sqrt(a));
}

async function directory() {
  // The service worker answers with the copy it kept when there is no connection.
  const facilities = [];
  let fetchedAt = null;
  for (let page = 1; page < 50; page += 1) {
    const url = `/api/v1/facilities?per_page=200&page=${page}`;
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin" });
    } catch (offline) {
      // A page loaded before the worker took over is not served by it: read its cache.
      response = window.caches && await caches.match(url);
    }
    if (!response || !response.ok) break;
    fetchedAt = fetchedAt || response.headers.get("Date");
    const body = await response.json();
    facilities.push(...body.items);
    if (page * body.per_page >= body.total) break;
  }
  return { facilities, fetchedAt };
}

async function offerReferrals(caseId, body) {
  const list = saved.querySelector("[data-options]");
  const note = saved.querySelector("[data-directory-date]");
  list.replaceChildren();
  if (!body.consent.referral_sharing) {
    note.textContent = text("no-sharing");
    return;
  }
  const needs = JSON.parse(panel.dataset.serviceOfNeed);
  const wanted = Object.keys(needs).filter((need) => (body.needs || []).includes(need));
  const service = wanted.length ? needs[wanted[0]] : "primary_care";
  let found;
  try {
    found = await directory();
  } catch (error) {
    found = { facilities: [], fetchedAt: null };
  }
  if (!found.fetchedAt) {
    note.textContent = text("no-directory");
    return;
  }
  note.textContent = text("directory-date", {
    date: new Date(found.fetchedAt).toLocaleString(document.documentElement.lang) });
  const origin = JSON.parse(panel.dataset.origin);
  const options = found.facilities
    .filter((f) => f.active && f.services.includes(service) && f.id !== panel.dataset.facilityId)
    .map((f) => ({ ...f, km: f.latitude == null || origin[0] == null ? null
      : distanceKm(origin, [f.latitude, f.longitude]) }))
    .sort((a, b) => (a.km ?? 1e9) - (b.km ?? 1e9))
    .slice(0, 5);
  if (!options.length) {
    note.textContent += ` ${text("no-option")}`;
    return;
  }
  options.forEach((facility) => {
    const item = document.createElement("li");
    item.className = "card option";
    const name = document.createElement("h4");
    name.textContent = facility.name;
    item.appendChild(name);
    if (facility.km != null) {
      const where = document.createElement("p");
      where.className = "hint";
      where.textContent = text("km", { km: Math.round(facility.km) });
      item.appendChild(where);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = text("refer-to", { name: facility.name });
    button.addEventListener("click", async () => {
      await vault.add("referral", newId(), {
        case_client_uuid: caseId, to_facility_id: facility.id, services: [service],
        share: "minimum",
      });
      list.replaceChildren();
      note.textContent = text("referral-saved", { name: facility.name });
      await showState();
    }, { once: true });
    item.appendChild(button);
    list.appendChild(item);
  });
}

function newIntake() {
  saved.hidden = true;
  form.hidden = false;
  document.getElementById("intake-title").hidden = false;
  form.querySelector("[name=client_uuid]").value = newId();
  window.scrollTo(0, 0);
}

// -- sync -----------------------------------------------------------------------------------

let syncing = false;

async function sync() {
  if (syncing || !navigator.onLine) return;
  // Taken before the first await: coming back online and unlocking both call sync, and
  // each must not send the queue while the other is sending it.
  syncing = true;
  try {
    const items = await vault.waiting();
    if (!items.length || !vault.unlocked) return; // locked: showState asks for the PIN
    const session = await fetch("/session.json", { credentials: "same-origin",
                                                   cache: "no-store" }).then((r) => r.json());
    if (session.username !== vault.user) {
      panel.querySelector("[data-needs-sign-in]").hidden = false;
      return;
    }
    const batch = [];
    for (const item of items) {
      batch.push({ client_uuid: item.id, kind: item.kind, payload: await vault.unseal(item.sealed) });
    }
    const response = await fetch("/api/v1/sync", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": session.csrf_token },
      body: JSON.stringify({ device_id: await vault.deviceId(), items: batch }),
    });
    if (response.status === 401) {
      panel.querySelector("[data-needs-sign-in]").hidden = false;
      return;
    }
    if (!response.ok) return;
    const { results } = await response.json();
    for (const [index, result] of results.entries()) {
      const item = items[index];
      if (result.status === "rejected") {
        await vault.refused(item, result.error);
      } else {
        await vault.remove(item.id); // on the server now: no copy left here
        if (item.kind === "case") showSent(result.id);
      }
    }
    await vault.synced();
  } catch (error) {
    // The connection dropped again: everything stays queued for the next try.
  } finally {
    syncing = false;
    await showState();
  }
}

function showSent(caseId) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = `/cases/${caseId}`;
  link.textContent = text("sent-case");
  item.appendChild(link);
  panel.querySelector("[data-sent]").appendChild(item);
}

async function showState() {
  const items = await vault.waiting();
  const last = await vault.lastSync();
  panel.querySelector("[data-waiting]").textContent = items.length
    ? text("waiting", { n: items.length }) : text("none-waiting");
  panel.querySelector("[data-last-sync]").textContent = last
    ? text("last-sync", { when: new Date(last).toLocaleString(document.documentElement.lang) })
    : text("never-synced");
  panel.querySelector("[data-when-offline]").hidden = navigator.onLine;
  panel.querySelector("[data-needs-pin]").hidden = !(items.length && !vault.unlocked);
  const rejected = panel.querySelector("[data-rejected]");
  rejected.replaceChildren();
  items.filter((item) => item.error).forEach((item) => {
    const row = document.createElement("li");
    row.className = "flash error";
    const fields = Object.entries(item.error.fields || {})
      .map(([name, messages]) => `${name}: ${messages.join(" ")}`).join("; ");
    row.textContent = `${text(item.kind)} · ${text("rejected")} ${item.error.message}`
      + (fields ? ` (${fields})` : "");
    const discard = document.createElement("button");
    discard.type = "button";
    discard.textContent = text("discard");
    discard.addEventListener("click", async () => {
      if (!window.confirm(text("discard-confirm"))) return;
      await vault.remove(item.id);
      await showState();
    });
    row.appendChild(discard);
    rejected.appendChild(row);
  });
}

// -- wiring ---------------------------------------------------------------------------------

async function start() {
  if (!panel || !form || !window.crypto || !crypto.subtle || !window.indexedDB) return;
  panel.hidden = false;
  form.addEventListener("submit", async (event) => {
    if (navigator.onLine) return; // the server takes it now, as without script
    event.preventDefault();
    await saveOffline();
  });
  saved.querySelector("[data-new-intake]").addEventListener("click", newIntake);
  panel.querySelector("[data-unlock]").addEventListener("click", async () => {
    await ensureKey();
    await sync();
  });
  window.addEventListener("online", sync);
  window.addEventListener("offline", showState);
  document.querySelectorAll("dialog [data-later]").forEach((button) => {
    button.addEventListener("click", () => button.closest("dialog").close());
  });
  if (navigator.onLine) {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.ready.then((registration) => {
        registration.active.postMessage("keep-for-offline");
      });
    }
  }
  await showState();
  if ((await vault.waiting()).length) {
    await ensureKey(text("unlock-waiting"));
    await sync();
  } else if (!(await vault.hasPin()) && navigator.onLine) {
    await setUpPin(); // set once after sign-in, before it is needed offline
  }
}

start();
