// mqtt.js's browser build (dist/mqtt.esm.js) has the package's own types.
declare module 'mqtt/dist/mqtt.esm' {
  import mqtt from 'mqtt';
  export default mqtt;
}
