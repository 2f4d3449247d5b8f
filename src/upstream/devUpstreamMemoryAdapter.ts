// The dev upstream's storage: a bounded in-process map. It stands in for an
// external account service, so losing its sessions on restart is fine.
import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number | undefined;
}

const maximumEntries = 10_000;

export function createMemoryAdapter() {
  const entries = new Map<string, Entry>();
  // Lookups by uid (every interaction step) and by user code, without scanning.
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const remove = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    const model = key.slice(0, key.indexOf(':'));
    if (typeof entry.payload.uid === 'string' && byUid.get(`${model}:${entry.payload.uid}`) === key) byUid.delete(`${model}:${entry.payload.uid}`);
    if (typeof entry.payload.userCode === 'string' && byUserCode.get(`${model}:${entry.payload.userCode}`) === key) byUserCode.delete(`${model}:${entry.payload.userCode}`);
  };
  const live = (key: string | undefined): AdapterPayload | undefined => {
    const entry = key === undefined ? undefined : entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      remove(key!);
      return undefined;
    }
    return structuredClone(entry.payload);
  };

  return class MemoryAdapter implements Adapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string): string {
      return `${this.#model}:${id}`;
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.#key(id);
      remove(key);
      if (entries.size >= maximumEntries) remove(entries.keys().next().value!);
      // Copies: oidc-provider keeps mutating the objects it saved.
      entries.set(key, { payload: structuredClone(payload), expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      if (typeof payload.uid === 'string') byUid.set(`${this.#model}:${payload.uid}`, key);
      if (typeof payload.userCode === 'string') byUserCode.set(`${this.#model}:${payload.userCode}`, key);
    }
    async find(id: string): Promise<AdapterPayload | undefined> {
      return live(this.#key(id));
    }
    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return live(byUid.get(`${this.#model}:${uid}`));
    }
    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return live(byUserCode.get(`${this.#model}:${userCode}`));
    }
    async consume(id: string): Promise<void> {
      const entry = entries.get(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      remove(this.#key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, entry] of [...entries]) if (key.startsWith(`${this.#model}:`) && entry.payload.grantId === grantId) remove(key);
    }
  };
}
