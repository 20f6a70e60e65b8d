/**
 * Where the fields of a record sit, from the start of the record (its length field): one
 * layout for the log's files (docs/format.md) and the wire (docs/protocol.md), so stored
 * records travel as they are.
 */
export const RECORD_AT = {
  FLAGS: 4,
  STREAM_LENGTH: 6,
  TYPE_LENGTH: 8,
  /** u16: bytes of claim changes after the data (0 for most records; see types/claims.ts). */
  CLAIMS_LENGTH: 10,
  INDEX: 12,
  ID: 20,
  METADATA_LENGTH: 36,
  DATA_LENGTH: 40,
  /** Stream, type, metadata, data and claim changes follow the 44-byte header. */
  FIELDS: 44,
} as const;
