// Imports a peer of the PostgreSQL part from bench/postgres/peers/node_modules (a bare specifier resolves from here).
export const load = (name) => import(name);
