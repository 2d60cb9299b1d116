/** Aedes as a benchmark peer: plain net server on argv[2], MQTT over WebSocket (ws) on argv[3]. */
import http from 'node:http';
import net from 'node:net';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const wsPort = Number(process.argv[3] ?? 0);
const aedes = await Aedes.createBroker();
net.createServer((s) => aedes.handle(s)).listen(port, '127.0.0.1');
if (wsPort) {
  const server = http.createServer();
  new WebSocketServer({ server, path: '/mqtt' }).on('connection', (ws) => aedes.handle(createWebSocketStream(ws) as unknown as net.Socket));
  server.listen(wsPort, '127.0.0.1');
}
