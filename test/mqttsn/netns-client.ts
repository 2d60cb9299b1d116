/**
 * Run inside the client's network namespace by discovery-netns.test.ts: finds the gateway by
 * ADVERTISE and by SEARCHGW on the group, connects to the address the answers came from and
 * publishes once at QoS 1; prints one JSON line with what it saw.
 *   node netns-client.js GROUP PORT INTERFACE_ADDRESS
 */
import { MqttSnClient } from './client.js';

const [group, port, iface] = process.argv.slice(2) as [string, string, string];
const l = await MqttSnClient.listen({ multicastAddress: group, port: Number(port), interface: iface });
const advertise = await l.nextAdvertise(10_000);
l.close();
const gwinfo = await MqttSnClient.searchGateway(1, { multicastAddress: group, port: Number(port), interface: iface, retryMs: 500, retries: 10, listenOnGroup: false });
const c = await MqttSnClient.create({ host: gwinfo.address, port: gwinfo.port, retryMs: 1000, maxRetries: 3 });
await c.connect({ clientId: 'netns-1', cleanSession: true, duration: 60 });
await c.publish('netns/hello', Buffer.from('found you'), { qos: 1 });
await c.disconnect();
process.stdout.write(JSON.stringify({ advertise: { gwId: advertise.gwId, address: advertise.address, port: advertise.port }, gwinfo: { gwId: gwinfo.gwId, address: gwinfo.address, port: gwinfo.port } }) + '\n');
process.exit(0);
