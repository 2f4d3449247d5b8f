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
  const live = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key);
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
      if (entries.size >= maximumEntries) entries.delete(entries.keys().next().value!);
      // Copies: oidc-provider keeps mutating the objects it saved.
      entries.set(this.#key(id), { payload: structuredClone(payload), expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    }
    async find(id: string): Promise<AdapterPayload | undefined> {
      return live(this.#key(id));
    }
    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      for (const key of entries.keys()) if (key.startsWith(`${this.#model}:`) && live(key)?.uid === uid) return live(key);
      return undefined;
    }
    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      for (const key of entries.keys()) if (key.startsWith(`${this.#model}:`) && live(key)?.userCode === userCode) return live(key);
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const entry = entries.get(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      entries.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, entry] of entries) if (key.startsWith(`${this.#model}:`) && entry.payload.grantId === grantId) entries.delete(key);
    }
  };
}
