/** Topic filter matching for stores (filters on stored records), without the core's trie. */

/** Does `filter` match `topic`? '+' one level, '#' the rest; `$` topics not by a leading wildcard [MQTT-4.7.2-1]. */
export function topicMatchesRecord(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
