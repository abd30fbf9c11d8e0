/**
 * TFRecord framing, the container of TensorBoard's event files: each record is
 *   uint64 length (little-endian), uint32 masked CRC32C of those 8 bytes, the data,
 *   uint32 masked CRC32C of the data.
 * CRC32C is the Castagnoli CRC (reflected polynomial 0x82F63B78, as in iSCSI, RFC 3720); the
 * mask rotates it right by 15 bits and adds 0xa282ead8, as TensorFlow's crc32c::Mask does.
 */

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * The CRC32C (Castagnoli) checksum of bytes.
 * @example crc32c(new Uint8Array(32)) // 0x8a9136aa (RFC 3720, 32 bytes of zeros)
 */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The masked CRC32C that TFRecord stores (a CRC of data holding CRCs is itself weak, hence the mask).
 * @example maskedCrc32c(Buffer.from("a"))
 */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/**
 * One TFRecord: the data framed with its length and both checksums.
 * @example appendFileSync("events.out.tfevents.1", tfRecord(eventBytes));
 */
export function tfRecord(data: Uint8Array): Buffer {
  const record = Buffer.alloc(8 + 4 + data.length + 4);
  record.writeBigUInt64LE(BigInt(data.length), 0);
  record.writeUInt32LE(maskedCrc32c(record.subarray(0, 8)), 8);
  record.set(data, 12);
  record.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return record;
}
