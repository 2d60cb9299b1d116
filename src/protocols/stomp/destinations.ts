/**
 * STOMP destinations <-> the core topic space.
 *
 *   /topic/<t>    the MQTT topic <t> (same '/' levels; SUBSCRIBE may use '+' and '#')
 *   /queue/<q>    the queue <q>: MQTT topic `$queue/<q>`, consumed by the shared group <q>
 *                 (MQTT clients join it with `$share/<q>/$queue/<q>`)
 */

export type Destination =
  | { kind: 'topic'; topic: string }
  | { kind: 'queue'; name: string; topic: string };

export function parseDestination(dest: string): Destination | null {
  if (dest.startsWith('/topic/')) {
    const topic = dest.slice(7);
    return topic.length > 0 ? { kind: 'topic', topic } : null;
  }
  if (dest.startsWith('/queue/')) {
    const name = dest.slice(7);
    if (name.length === 0 || name.includes('+') || name.includes('#')) return null;
    return { kind: 'queue', name, topic: `$queue/${name}` };
  }
  return null;
}

/** The STOMP destination for a core topic (used in MESSAGE frames and reply-to). */
export function destinationOf(topic: string): string {
  if (topic.startsWith('$queue/')) return `/queue/${topic.slice(7)}`;
  return `/topic/${topic}`;
}

/** reply-to header -> MQTT Response Topic; anything not a known prefix passes unchanged. */
export function topicOfReplyTo(replyTo: string): string {
  const d = parseDestination(replyTo);
  return d === null ? replyTo : d.topic;
}
