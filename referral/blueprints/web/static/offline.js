// Offline intake: what a promoter records without a connection waits on the tablet,
// encrypted, and goes up through POST /api/v1/sync when the connection returns.
//
// Encryption: AES-GCM under a key derived with PBKDF2-SHA256 from the promoter's offline
// PIN. The key lives only in this page's memory; what is stored is the salt and a sealed
// check value, so a wrong PIN is told apart without keeping the key or the PIN.
import { openDB } from "./vendor/idb/index.js";

const PBKDF2_ITERATIONS = 600000; // OWASP's figure for PBKDF2-HMAC-SHA256
const MIN_PIN_DIGITS = 6;
const CHECK = "referral: offline PIN check";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const panel = document.getElementById("offline");
const form = document.querySelector("form[data-offline-intake]");
const saved = document.getElementById("offline-saved");

function text(name, values = {}) {
  const template = document.querySelector(`[data-text="${name}"]`).textContent;
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// -- storage ---------------------------------------------------------------------------

const database = openDB("referral-offline", 1, {
  upgrade(db) {
    db.createObjectStore("pins"); // username -> {salt, check}
    db.createObjectStore("queue", { keyPath: "id" }); // one sealed item each
    db.createObjectStore("meta"); // device id, last sync per user
  },
});

const user = panel ? panel.dataset.username : null;
let key = null; // CryptoKey, never stored

async function deriveKey(pin, salt) {
  const material = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false,
                                                 ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    material, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

async function seal(value, withKey = key) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(user) }, withKey,
    encoder.encode(JSON.stringify(value)));
  return { iv, data };
}

async function unseal(box, withKey = key) {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: box.iv, additionalData: encoder.encode(user) }, withKey, box.data);
  return JSON.parse(decoder.decode(plain));
}

async function deviceId() {
  const db = await database;
  let id = await db.get("meta", "device");
  if (!id) {
    id = `web-${newId()}`;
    await db.put("meta", id, "device");
  }
  return id;
}

async function waitingItems() {
  const db = await database;
  const items = (await db.getAll("queue")).filter((item) => item.user === user);
  return items.sort((a, b) => a.order - b.order);
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
      const salt = crypto.getRandomValues(new Uint8Array(16));
      const newKey = await deriveKey(pin, salt);
      const db = await database;
      await db.put("pins", { salt, check: await seal(CHECK, newKey) }, user);
      key = newKey;
      dialog.close();
      resolve(key);
    };
  });
}

function unlock(reason) {
  return new Promise((resolve) => {
    const { dialog, error } = ask("pin-unlock", reason);
    dialog.querySelector("form").onsubmit = async (event) => {
      event.preventDefault();
      const db = await database;
      const record = await db.get("pins", user);
      const candidate = await deriveKey(dialog.querySelector("#pin-enter").value, record.salt);
      try {
        if ((await unseal(record.check, candidate)) !== CHECK) throw new Error("check");
      } catch (wrong) {
        error.textContent = text("pin-wrong");
        return;
      }
      key = candidate;
      dialog.close();
      resolve(key);
    };
  });
}

async function ensureKey(reason) {
  if (key) return key;
  const db = await database;
  return (await db.get("pins", user)) ? unlock(reason) : setUpPin();
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

async function queue(kind, id, payload) {
  const db = await database;
  const order = Date.now() + Math.random();
  await db.put("queue", { id, user, kind, order, sealed: await seal(payload), error: null });
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
  await queue("case", caseId, body);
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
      await queue("referral", newId(), {
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
  const items = await waitingItems();
  if (!items.length) return;
  if (!key) {
    await showState();
    return;
  }
  syncing = true;
  try {
    const session = await fetch("/session.json", { credentials: "same-origin",
                                                   cache: "no-store" }).then((r) => r.json());
    if (session.username !== user) {
      panel.querySelector("[data-needs-sign-in]").hidden = false;
      return;
    }
    const batch = [];
    for (const item of items) {
      batch.push({ client_uuid: item.id, kind: item.kind, payload: await unseal(item.sealed) });
    }
    const response = await fetch("/api/v1/sync", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": session.csrf_token },
      body: JSON.stringify({ device_id: await deviceId(), items: batch }),
    });
    if (response.status === 401) {
      panel.querySelector("[data-needs-sign-in]").hidden = false;
      return;
    }
    if (!response.ok) return;
    const { results } = await response.json();
    const db = await database;
    for (const [index, result] of results.entries()) {
      const item = items[index];
      if (result.status === "rejected") {
        await db.put("queue", { ...item, error: result.error });
      } else {
        await db.delete("queue", item.id); // on the server now: no copy left here
        if (item.kind === "case") showSent(result.id);
      }
    }
    await db.put("meta", new Date().toISOString(), `last-sync:${user}`);
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
  const items = await waitingItems();
  const db = await database;
  const last = await db.get("meta", `last-sync:${user}`);
  panel.querySelector("[data-waiting]").textContent = items.length
    ? text("waiting", { n: items.length }) : text("none-waiting");
  panel.querySelector("[data-last-sync]").textContent = last
    ? text("last-sync", { when: new Date(last).toLocaleString(document.documentElement.lang) })
    : text("never-synced");
  panel.querySelector("[data-when-offline]").hidden = navigator.onLine;
  panel.querySelector("[data-needs-pin]").hidden = !(items.length && !key);
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
      await (await database).delete("queue", item.id);
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
  const db = await database;
  if ((await waitingItems()).length) {
    await ensureKey(text("unlock-waiting"));
    await sync();
  } else if (!(await db.get("pins", user)) && navigator.onLine) {
    await setUpPin(); // set once after sign-in, before it is needed offline
  }
}

start();
