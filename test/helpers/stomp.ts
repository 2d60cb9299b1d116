/** Helpers around npm @stomp/stompjs (over WebSocket with `ws`, over TCP with @stomp/tcp-wrapper). */
import { Client } from '@stomp/stompjs';
import type { IFrame, IMessage, IStompSocket, StompConfig } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import WebSocket from 'ws';

export type { IMessage };

export function stompOverWs(url: string, extra: StompConfig = {}): Promise<Client> {
  return activate(new Client({
    webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']) as unknown as IStompSocket,
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    ...extra,
  }));
}

export function stompOverTcp(port: number, extra: StompConfig = {}): Promise<Client> {
  return activate(new Client({
    webSocketFactory: () => new TCPWrapper('127.0.0.1', port) as unknown as IStompSocket,
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    ...extra,
  }));
}

function activate(client: Client): Promise<Client> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('STOMP connect timeout')), 5000);
    client.onConnect = () => {
      clearTimeout(t);
      resolve(client);
    };
    client.onStompError = (f: IFrame) => {
      clearTimeout(t);
      reject(new Error(`STOMP ERROR: ${f.headers.message} ${f.body}`));
    };
    client.activate();
  });
}

/** Queue of received messages with `next()`. */
export class StompInbox {
  private readonly items: IMessage[] = [];
  private waiters: Array<(m: IMessage) => void> = [];
  readonly onMessage = (m: IMessage): void => {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.items.push(m);
  };
  next(ms = 3000): Promise<IMessage> {
    const m = this.items.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no STOMP message within timeout')), ms);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }
}

/** Subscribe and wait for the broker's RECEIPT so the subscription is in place. */
export async function subscribeWithReceipt(client: Client, destination: string, inbox: StompInbox, headers: Record<string, string> = {}): Promise<void> {
  const receipt = `sub-${Math.random().toString(36).slice(2)}`;
  const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
  client.subscribe(destination, inbox.onMessage, { ...headers, receipt });
  await done;
}

export async function publishWithReceipt(client: Client, destination: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<void> {
  const receipt = `pub-${Math.random().toString(36).slice(2)}`;
  const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
  if (typeof body === 'string') client.publish({ destination, body, headers: { ...headers, receipt } });
  else client.publish({ destination, binaryBody: body, headers: { 'content-type': 'application/octet-stream', ...headers, receipt } });
  await done;
}
