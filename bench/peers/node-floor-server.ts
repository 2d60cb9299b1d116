/**
 * The floor Node itself sets for an idle connection: a bare net server that answers CONNECT
 * and SUBSCRIBE with fixed bytes and keeps the socket. Used by the idle-connections scenario to
 * show how much of Switchboard's per-connection memory is the runtime's (net.Socket, streams,
 * libuv handle) rather than the broker's.
 */
import net from 'node:net';

const sockets: net.Socket[] = [];
net
  .createServer((s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => {
      const type = d[0]! >> 4;
      if (type === 1) s.write(Buffer.from([0x20, 2, 0, 0]));
      else if (type === 8) s.write(Buffer.from([0x90, 3, d[2]!, d[3]!, 0]));
    });
    s.on('error', () => {});
  })
  .listen(Number(process.argv[2]), '127.0.0.1');
