// A test wallet that behaves like a browser extension: one EIP-1193 provider per configured
// wallet, announced through EIP-6963, the first one also set as window.ethereum. It runs before
// any page script (Playwright's add_init_script). Every request goes to Python through a binding
// (Playwright's expose_binding), as an extension's page script talks to its background worker:
// the keys and the node connection live there, so the page itself never talks to the node.
//
// Python substitutes __CONFIG__ with {"binding": name, "emitter": name, "wallets": [info...],
// "ethereum": index | null} before injecting the script.
(() => {
  "use strict";
  const config = __CONFIG__;
  const call = (...args) => window[config.binding](...args);

  class ProviderRpcError extends Error {
    constructor({ code, message, data }) {
      super(message);
      this.name = "ProviderRpcError";
      this.code = code;
      if (data !== undefined) this.data = data;
    }
  }

  const providers = config.wallets.map((info, index) => {
    const listeners = new Map();
    const emit = (event, payload) => {
      for (const listener of [...(listeners.get(event) || [])]) {
        try {
          listener(payload);
        } catch (error) {
          console.warn("a wallet listener threw", error);
        }
      }
    };
    const provider = {
      async request(args) {
        if (!args || typeof args !== "object" || typeof args.method !== "string") {
          throw new ProviderRpcError({ code: -32600, message: "request({method, params}) expects an object" });
        }
        const params = args.params === undefined ? [] : args.params;
        const answer = await call(index, args.method, JSON.parse(JSON.stringify(params)));
        for (const [event, payload] of answer.events || []) emit(event, payload);
        if (answer.error) throw new ProviderRpcError(answer.error);
        return answer.result;
      },
      on(event, listener) {
        if (!listeners.has(event)) listeners.set(event, new Set());
        listeners.get(event).add(listener);
        return provider;
      },
      removeListener(event, listener) {
        listeners.get(event)?.delete(listener);
        return provider;
      },
    };
    provider.off = provider.removeListener;
    provider.addListener = provider.on;
    Object.defineProperty(provider, "_emit", { value: emit, enumerable: false });
    return Object.freeze(provider);
  });

  // Python pushes events the user causes in the wallet (another account selected).
  Object.defineProperty(window, config.emitter, {
    value: (index, event, payload) => providers[index]._emit(event, payload),
    enumerable: false,
  });

  const details = config.wallets.map((info, index) =>
    Object.freeze({ info: Object.freeze({ ...info }), provider: providers[index] }),
  );
  const announce = () => {
    for (const detail of details) {
      window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
    }
  };
  window.addEventListener("eip6963:requestProvider", announce);
  announce();

  if (config.ethereum !== null && providers[config.ethereum]) {
    Object.defineProperty(window, "ethereum", { value: providers[config.ethereum], configurable: true });
  }
})();
