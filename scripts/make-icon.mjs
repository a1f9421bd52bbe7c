#!/usr/bin/env node
// Draws assets/tray.png (32x32, a wax-seal disc) so the icon is reproducible from source.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const size = 32;
const rows = [];
for (let y = 0; y < size; y++) {
  const row = [0];
  for (let x = 0; x < size; x++) {
    const d = Math.hypot(x - 15.5, y - 15.5);
    const wobble = 13.5 + 1.2 * Math.sin(Math.atan2(y - 15.5, x - 15.5) * 9);
    const inside = d < wobble;
    const ring = Math.abs(d - 8) < 1.1;
    const [r, g, b] = ring ? [0xf3, 0xc9, 0xd2] : [0x8f, 0x1d, 0x2c];
    row.push(r, g, b, inside ? 255 : 0);
  }
  rows.push(Buffer.from(row));
}
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc(td));
  return Buffer.concat([len, td, c]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(size, 0);
ihdr.writeUInt32BE(size, 4);
ihdr.set([8, 6, 0, 0, 0], 8);
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(Buffer.concat(rows))),
  chunk('IEND', Buffer.alloc(0)),
]);
writeFileSync(new URL('../assets/tray.png', import.meta.url), png);
