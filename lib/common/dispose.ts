/**
 * Node 20.0-20.3 have no `Symbol.dispose` / `Symbol.asyncDispose`: this module defines them as later Node versions do
 * (the registered symbols 'nodejs.dispose' / 'nodejs.asyncDispose'), so that `using` works there too; on newer Node
 * it changes nothing. Imported for its effect by every module that declares a dispose method.
 *
 * @module
 * @internal
 */
for (const [name, key] of [['dispose', 'nodejs.dispose'], ['asyncDispose', 'nodejs.asyncDispose']] as const) {
  if (typeof (Symbol as unknown as Record<string, unknown>)[name] !== 'symbol') Object.defineProperty(Symbol, name, { value: Symbol.for(key) });
}

export {};
