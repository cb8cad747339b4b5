/**
 * Queue table names, as Python persist-queue names its SQLite tables (the PostgreSQL backend uses the same names,
 * lower-cased).
 */

/** The table of a queue, named as Python persist-queue names it. */
export function tableName(o: { ack: boolean; order: 'fifo' | 'filo' | 'priority'; unique: boolean; name: string }): string {
  if (o.ack) return `${o.unique ? 'ack_unique_queue' : o.order === 'filo' ? 'ack_filo_queue' : 'ack_queue'}_${o.name}`;
  if (o.unique) return `unique_queue_${o.name}`;
  return `${o.order === 'filo' ? 'filo_queue' : o.order === 'priority' ? 'priority_queue' : 'queue'}_${o.name}`;
}
