/**
 * The openpgp.js settings every call in Waxseal uses, in one place.
 *
 * - No AEAD (SEIPDv2) on what we write: GnuPG 2.2, which most correspondents run, cannot read
 *   it. We still read it.
 * - No compression on what we write (gpg -z 0 style): it saves little on mail that is mostly
 *   text or already-compressed attachments, and compression under encryption has leaked
 *   plaintext before (CRIME-like). We still read compressed messages, up to a cap.
 * - A cap on decompressed size: a few KB of compressed zeros can inflate to gigabytes.
 * - No version or comment lines in armor: they identify the software to every recipient.
 */
import { config as defaults, enums, type Config, type PartialConfig } from 'openpgp';

/** Largest plaintext we will inflate from a compressed packet (bytes). */
export const MAX_DECOMPRESSED = 64 * 1024 * 1024;

/** Largest key block we parse from a header, attachment or network answer (bytes). */
export const MAX_KEY_BYTES = 256 * 1024;

export const PGP_CONFIG: PartialConfig = {
  aeadProtect: false,
  preferredCompressionAlgorithm: enums.compression.uncompressed,
  preferredHashAlgorithm: enums.hash.sha256,
  maxDecompressedMessageSize: MAX_DECOMPRESSED,
  showVersion: false,
  showComment: false,
};

/** Key methods (getSigningKey, update, ...) take a whole Config, not a partial one. */
export const FULL_CONFIG: Config = { ...defaults, ...PGP_CONFIG };
