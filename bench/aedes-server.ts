/** Aedes as a benchmark peer: plain net server on argv[2], WebSocket (ws) on argv[3]. */
import net from 'node:net';
import http from 'node:http';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const wsPort = Number(process.argv[3]);
const aedes = await Aedes.createBroker();
net.createServer((s) => aedes.handle(s)).listen(port, '127.0.0.1');
if (wsPort) {
  const server = http.createServer();
  new WebSocketServer({ server }).on('connection', (ws) => aedes.handle(createWebSocketStream(ws) as unknown as net.Socket));
  server.listen(wsPort, '127.0.0.1');
}
