// The tablet's vault: what waits to be sent, sealed under a key derived from the PIN.
//
// AES-GCM under a key derived with PBKDF2-SHA256 from the promoter's offline PIN. The key
// lives only in this page's memory; what is stored is the salt and a sealed check value,
// so a wrong PIN is told apart without keeping the key or the PIN. The username is bound
// to every sealed item as additional data: one account's items never open as another's.
import { openDB } from "./vendor/idb/index.js";

export const PBKDF2_ITERATIONS = 600000; // OWASP's figure for PBKDF2-HMAC-SHA256
export const MIN_PIN_DIGITS = 6;
const CHECK = "referral: offline PIN check";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const database = openDB("referral-offline", 1, {
  upgrade(db) {
    db.createObjectStore("pins"); // username -> {salt, check}
    db.createObjectStore("queue", { keyPath: "id" }); // one sealed item each
    db.createObjectStore("meta"); // device id, last sync per user
  },
});

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function deriveKey(pin, salt) {
  const material = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false,
                                                 ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    material, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

export class Vault {
  constructor(user) {
    this.user = user;
    this.key = null; // CryptoKey, never stored
  }

  get unlocked() {
    return this.key !== null;
  }

  async seal(value, key = this.key) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(this.user) }, key,
      encoder.encode(JSON.stringify(value)));
    return { iv, data };
  }

  async unseal(box, key = this.key) {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: box.iv, additionalData: encoder.encode(this.user) }, key, box.data);
    return JSON.parse(decoder.decode(plain));
  }

  async hasPin() {
    return Boolean(await (await database).get("pins", this.user));
  }

  async setPin(pin) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const key = await deriveKey(pin, salt);
    await (await database).put("pins", { salt, check: await this.seal(CHECK, key) }, this.user);
    this.key = key;
  }

  /** True and unlocked when the PIN is right; false, and nothing kept, when it is not. */
  async unlock(pin) {
    const record = await (await database).get("pins", this.user);
    const candidate = await deriveKey(pin, record.salt);
    try {
      if ((await this.unseal(record.check, candidate)) !== CHECK) return false;
    } catch (wrong) {
      return false;
    }
    this.key = candidate;
    return true;
  }

  async add(kind, id, payload) {
    const order = Date.now() + Math.random();
    await (await database).put("queue", { id, user: this.user, kind, order,
                                          sealed: await this.seal(payload), error: null });
  }

  async waiting() {
    const items = (await (await database).getAll("queue")).filter(
      (item) => item.user === this.user);
    return items.sort((a, b) => a.order - b.order);
  }

  async refused(item, error) {
    await (await database).put("queue", { ...item, error });
  }

  async remove(id) {
    await (await database).delete("queue", id);
  }

  async deviceId() {
    const db = await database;
    let id = await db.get("meta", "device");
    if (!id) {
      id = `web-${newId()}`;
      await db.put("meta", id, "device");
    }
    return id;
  }

  async lastSync() {
    return (await database).get("meta", `last-sync:${this.user}`);
  }

  async synced() {
    await (await database).put("meta", new Date().toISOString(), `last-sync:${this.user}`);
  }
}
