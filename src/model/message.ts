/**
 * IMAP4rev1 ENVELOPE and BODYSTRUCTURE as data (RFC 3501 §7.4.2, §9). The values are what
 * the server sends, not a cleaned-up reading of the message: strings are raw header text
 * (folding line ends kept, RFC 2047 encoded-words kept), `null` is NIL, and defaults a server
 * fills in (Sender and Reply-To from From, `charset=us-ascii` on text parts) are already filled.
 * Everything here is plain JSON so it can be cached in the message document.
 *
 * Header bytes are held as UTF-8 when they are valid UTF-8 (RFC 6532), otherwise as Latin-1;
 * wire encoders count literal lengths in UTF-8 octets.
 */

// address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
/**
 * One IMAP address. A group is a start marker `{mailbox: group name, host: null}` followed by
 * its members and an end marker with every field null (RFC 3501 §7.4.2).
 */
export interface Address {
  /** Display name, unquoted; encoded-words are left encoded. */
  name: string | null;
  /** Obsolete source route (`@a,@b`). */
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

// envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to
//            SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  /** Defaults to `from` when the message has no (usable) Sender field. */
  sender: Address[] | null;
  /** Defaults to `from` when the message has no (usable) Reply-To field. */
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/**
 * body-fld-param: attribute/value pairs in header order, names and values as written (case
 * kept, duplicates kept, RFC 2231 sections joined but not decoded). `null` is NIL.
 */
export type BodyParams = Array<[name: string, value: string]> | null;

// body-fld-dsp = "(" string SP body-fld-param ")" / nil
export interface BodyDisposition {
  type: string;
  params: BodyParams;
}

/** Extension data common to every body (body-ext-1part / body-ext-mpart, after the params). */
export interface BodyExtension {
  disposition: BodyDisposition | null;
  /** body-fld-lang: language tags from Content-Language. */
  language: string[] | null;
  /** body-fld-loc. */
  location: string | null;
}

// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
export interface MultipartBody extends BodyExtension {
  kind: 'multipart';
  /** Never empty: a multipart without parts is given one empty text/plain part. */
  parts: BodyStructure[];
  subtype: string;
  params: BodyParams;
}

// body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
export interface SinglePartFields extends BodyExtension {
  type: string;
  subtype: string;
  params: BodyParams;
  id: string | null;
  description: string | null;
  encoding: string;
  /** Octets of the body as stored (transfer-encoded). */
  size: number;
  /** body-fld-md5 (extension data). */
  md5: string | null;
}

// body-type-basic = media-basic SP body-fields
export interface BasicBody extends SinglePartFields {
  kind: 'basic';
}

// body-type-text = media-text SP body-fields SP body-fld-lines
export interface TextBody extends SinglePartFields {
  kind: 'text';
  /** Line ends (LF) in the body. */
  lines: number;
}

// body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
export interface MessageBody extends SinglePartFields {
  kind: 'message';
  envelope: Envelope;
  body: BodyStructure;
  lines: number;
}

export type SinglePartBody = BasicBody | TextBody | MessageBody;
export type BodyStructure = MultipartBody | SinglePartBody;
